#include <catch2/catch.hpp>

#include "fcgi/request_writer.h"
#include "fcgi/response_writer.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using namespace fcgi::test;

TEST_CASE("END_REQUEST golden bytes", "[fcgi][response_writer]") {
  auto [app, status, wire] = GENERATE(table<uint32_t, ProtocolStatus, std::string>({
      {0, ProtocolStatus::RequestComplete,
       std::string("\x01\x03\xff\xff\x00\x08\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00", 16)},
      {0xffffffff, ProtocolStatus::CantMpxConn,
       std::string("\x01\x03\xff\xff\x00\x08\x00\x00" "\xff\xff\xff\xff\x01\x00\x00\x00", 16)},
      {0x01020304, ProtocolStatus::Overloaded,
       std::string("\x01\x03\xff\xff\x00\x08\x00\x00" "\x01\x02\x03\x04\x02\x00\x00\x00", 16)},
      {0x80000000, ProtocolStatus::UnknownRole,
       std::string("\x01\x03\xff\xff\x00\x08\x00\x00" "\x80\x00\x00\x00\x03\x00\x00\x00", 16)},
  }));
  StringSink out;
  write_end_request(0xffff, app, status, out);
  CHECK(out.bytes() == wire);
}

TEST_CASE("STDOUT and STDERR: split at 65535, padded, explicit padding",
          "[fcgi][response_writer]") {
  StringSink out;
  SECTION("text") {
    write_stdout(1, "Status: 200\r\n\r\n", out);
    write_stdout_end(1, out);
    CHECK(out.bytes() == std::string("\x01\x06\x00\x01\x00\x0f\x01\x00", 8) +
                             "Status: 200\r\n\r\n" + std::string(1, '\0') +
                             std::string("\x01\x06\x00\x01\x00\x00\x00\x00", 8));
  }
  SECTION("65535 + 1 bytes of stderr") {
    write_stderr(2, std::string(65536, 'e'), out);
    write_stderr_end(2, out);
    const std::string& w = out.bytes();
    REQUIRE(w.size() == 8 + 65535 + 1 + 8 + 1 + 7 + 8);
    CHECK(w.substr(0, 8) == std::string("\x01\x07\x00\x02\xff\xff\x01\x00", 8));
    CHECK(w.substr(65544, 8) == std::string("\x01\x07\x00\x02\x00\x01\x07\x00", 8));
    CHECK(w.substr(w.size() - 8) == std::string("\x01\x07\x00\x02\x00\x00\x00\x00", 8));
  }
  SECTION("explicit padding on every record") {
    write_stdout(1, std::string(65536, 'o'), out, uint8_t(255));
    REQUIRE(out.bytes().size() == 8 + 65535 + 255 + 8 + 1 + 255);
    CHECK(uint8_t(out.bytes()[6]) == 255);
  }
  SECTION("empty content writes nothing") {
    write_stdout(1, std::string_view(), out);
    write_stderr(1, std::span<const std::byte>(), out);
    CHECK(out.bytes().empty());
  }
}

TEST_CASE("GET_VALUES_RESULT and UNKNOWN_TYPE golden bytes", "[fcgi][response_writer]") {
  StringSink out;
  SECTION("values") {
    const std::pair<std::string_view, std::string_view> values[] = {{kMaxConns, "10"},
                                                                     {kMpxsConns, "1"}};
    write_get_values_result(values, out);
    // 18 + 18 = 36 bytes, padded by 4.
    CHECK(out.bytes() == std::string("\x01\x0a\x00\x00\x00\x24\x04\x00", 8) +
                             std::string("\x0e\x02" "FCGI_MAX_CONNS" "10", 18) +
                             std::string("\x0f\x01" "FCGI_MPXS_CONNS" "1", 18) +
                             std::string(4, '\0'));
  }
  SECTION("unknown type") {
    write_unknown_type(200, out);
    CHECK(out.bytes() == std::string("\x01\x0b\x00\x00\x00\x08\x00\x00"
                                     "\xc8\x00\x00\x00\x00\x00\x00\x00", 16));
  }
}
