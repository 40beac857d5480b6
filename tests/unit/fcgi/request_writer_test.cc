#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "fcgi/params.h"
#include "fcgi/request_writer.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using fcgi::test::bytes;
using fcgi::test::record;

TEST_CASE("BEGIN_REQUEST golden bytes", "[fcgi][writer]") {
  StringSink out;
  SECTION("responder, keep-conn, id 0xFFFF") {
    write_begin_request(0xffff, Role::Responder, true, out);
    CHECK(out.bytes() == std::string("\x01\x01\xff\xff\x00\x08\x00\x00"
                                     "\x00\x01\x01\x00\x00\x00\x00\x00", 16));
  }
  SECTION("filter, no keep-conn, id 1") {
    write_begin_request(1, Role::Filter, false, out);
    CHECK(out.bytes() == std::string("\x01\x01\x00\x01\x00\x08\x00\x00"
                                     "\x00\x03\x00\x00\x00\x00\x00\x00", 16));
  }
}

TEST_CASE("PARAMS golden bytes: pairs, padding to 8, empty terminator", "[fcgi][writer]") {
  StringSink out;
  const Param params[] = {{"A", "bc"}, {"HTTPS", "on"}};
  write_params(7, params, out);
  // A=bc is 5 bytes, HTTPS=on 9: 14 bytes of content, 2 of padding.
  CHECK(out.bytes() == std::string("\x01\x04\x00\x07\x00\x0e\x02\x00"
                                   "\x01\x02" "Abc" "\x05\x02" "HTTPSon" "\x00\x00"
                                   "\x01\x04\x00\x07\x00\x00\x00\x00", 32));
}

TEST_CASE("owned params are framed exactly as views of them", "[fcgi][writer]") {
  // write_owned_params() (the gateway's CGI params) must be byte for byte
  // write_params(), in one record and past 65535 bytes.
  for (size_t big : {size_t(3), size_t(70000)}) {
    CAPTURE(big);
    const std::vector<std::pair<std::string, std::string>> owned = {
        {"GATEWAY_INTERFACE", "CGI/1.1"}, {"BIG", std::string(big, 'v')}, {"EMPTY", ""}};
    std::vector<Param> views;
    for (const auto& [k, v] : owned) views.push_back({k, v});
    StringSink a, b;
    write_params(3, views, a);
    write_owned_params(3, owned, b);
    CHECK(a.bytes() == b.bytes());
  }
}

TEST_CASE("PARAMS with 127 and 128 byte names and values", "[fcgi][writer]") {
  const std::string n127(127, 'n'), v128(128, 'v');
  const Param params[] = {{n127, v128}};
  StringSink out;
  write_params(1, params, out);
  const std::string content = std::string("\x7f\x80\x00\x00\x80", 5) + n127 + v128;  // 260 bytes
  REQUIRE(content.size() == 260);
  CHECK(out.bytes() == std::string("\x01\x04\x00\x01\x01\x04\x04\x00", 8) + content +
                           std::string(4, '\0') + record(RecordType::Params, 1, ""));
}

TEST_CASE("no params is just the empty PARAMS record", "[fcgi][writer]") {
  StringSink out;
  write_params(1, {}, out);
  CHECK(out.bytes() == record(RecordType::Params, 1, ""));
}

TEST_CASE("params over 65535 bytes continue in the next record, mid-pair", "[fcgi][writer]") {
  const std::string big(70000, 'v');
  const Param params[] = {{"BIG", big}, {"X", "y"}};
  StringSink out;
  write_params(2, params, out);
  const std::string& w = out.bytes();
  // 1 + 4 + 3 + 70000 + 1 + 1 + 1 + 1 = 70012 bytes of pairs.
  REQUIRE(w.size() == 8 + 65535 + 1 + 8 + (70012 - 65535) + padding_for(70012 - 65535) + 8);
  CHECK(w.substr(0, 8) == std::string("\x01\x04\x00\x02\xff\xff\x01\x00", 8));
  const size_t second = 8 + 65535 + 1;
  CHECK(w.substr(second, 8) == std::string("\x01\x04\x00\x02\x11\x7d\x03\x00", 8));
  CHECK(w.substr(w.size() - 8) == record(RecordType::Params, 2, ""));
}

TEST_CASE("PARAMS of exactly 65535 bytes are one record; one more byte starts a second", "[fcgi][writer]") {
  // NAME=value pairs of 1 + 4 + 4 + v bytes (v >= 128): pick v so that the
  // content is exactly 65535, then 65536.
  for (const size_t total : {size_t{65535}, size_t{65536}}) {
    CAPTURE(total);
    const std::string value(total - 1 - 4 - 4, 'v');
    const Param params[] = {{"NAME", value}};
    StringSink out;
    write_params(3, params, out);
    const std::string content = std::string("\x04\x80\x00", 3) + std::string(1, char((value.size() >> 8) & 0xff)) +
                                std::string(1, char(value.size() & 0xff)) + "NAME" + value;
    REQUIRE(content.size() == total);
    std::string expected;
    if (total == 65535) {
      expected = std::string("\x01\x04\x00\x03\xff\xff\x01\x00", 8) + content + std::string(1, '\0');
    } else {
      expected = std::string("\x01\x04\x00\x03\xff\xff\x01\x00", 8) + content.substr(0, 65535) +
                 std::string(1, '\0') + std::string("\x01\x04\x00\x03\x00\x01\x07\x00", 8) +
                 content.substr(65535) + std::string(7, '\0');
    }
    expected += record(RecordType::Params, 3, "");
    CHECK(out.bytes() == expected);
  }
}

TEST_CASE("PARAMS with many small pairs are one record, in order", "[fcgi][writer]") {
  std::vector<std::string> names, values;
  for (int i = 0; i < 40; ++i) {
    names.push_back("N" + std::to_string(i));
    values.push_back(std::string(size_t(i * 7), char('a' + i % 26)));
  }
  std::vector<Param> params;
  std::string content;
  for (size_t i = 0; i < names.size(); ++i) {
    params.push_back({names[i], values[i]});
    encode_pair(names[i], values[i], content);
  }
  StringSink out;
  write_params(9, params, out);
  REQUIRE(content.size() < 65535);
  const uint8_t pad = padding_for(content.size());
  std::string expected = record(RecordType::Params, 9, content, pad);
  expected.replace(expected.size() - pad, pad, std::string(pad, '\0'));  // we pad with zeros
  expected += record(RecordType::Params, 9, "");
  CHECK(out.bytes() == expected);
}

TEST_CASE("STDIN: split at 65535, padded, empty body writes nothing", "[fcgi][writer]") {
  StringSink out;
  SECTION("65535 + 1 bytes") {
    const std::string body(65536, 'b');
    write_stdin(0xffff, bytes(body), nullptr, out);
    const std::string& w = out.bytes();
    REQUIRE(w.size() == 8 + 65535 + 1 + 8 + 1 + 7);
    CHECK(w.substr(0, 8) == std::string("\x01\x05\xff\xff\xff\xff\x01\x00", 8));
    CHECK(w.substr(8 + 65535, 1) == std::string(1, '\0'));
    CHECK(w.substr(8 + 65536, 8) == std::string("\x01\x05\xff\xff\x00\x01\x07\x00", 8));
  }
  SECTION("empty") {
    write_stdin(1, {}, nullptr, out);
    CHECK(out.bytes().empty());
  }
  SECTION("the end record") {
    write_stdin_end(1, out);
    CHECK(out.bytes() == std::string("\x01\x05\x00\x01\x00\x00\x00\x00", 8));
  }
}

TEST_CASE("ABORT_REQUEST and GET_VALUES golden bytes", "[fcgi][writer]") {
  StringSink out;
  SECTION("abort") {
    write_abort_request(0x1234, out);
    CHECK(out.bytes() == std::string("\x01\x02\x12\x34\x00\x00\x00\x00", 8));
  }
  SECTION("get values") {
    const std::string_view names[] = {kMaxConns, kMaxReqs, kMpxsConns};
    write_get_values(names, out);
    // 16 + 15 + 17 = 48 bytes: a multiple of 8, no padding.
    CHECK(out.bytes() == std::string("\x01\x09\x00\x00\x00\x30\x00\x00", 8) +
                             std::string("\x0e\x00" "FCGI_MAX_CONNS", 16) +
                             std::string("\x0d\x00" "FCGI_MAX_REQS", 15) +
                             std::string("\x0f\x00" "FCGI_MPXS_CONNS", 17));
  }
}

TEST_CASE("encoded params are framed exactly as the pairs they encode", "[fcgi][writer]") {
  // write_encoded_params() (the gateway encodes its CGI params once) must be
  // byte for byte write_params(): in one record, none, and past 65535 bytes
  // (a pair then straddles two records).
  for (size_t big : {size_t(0), size_t(3), size_t(65535), size_t(70000)}) {
    CAPTURE(big);
    std::vector<Param> views;
    const std::string value(big, 'v');
    if (big > 0) views = {{"GATEWAY_INTERFACE", "CGI/1.1"}, {"BIG", value}, {"EMPTY", ""}};
    std::string encoded;
    for (const Param& p : views) encode_pair(p.name, p.value, encoded);
    StringSink a, b;
    write_params(9, views, a);
    write_encoded_params(9, std::as_bytes(std::span(encoded.data(), encoded.size())), b);
    CHECK(a.bytes() == b.bytes());
  }
}
