#include <catch2/catch.hpp>

#include "fcgi/request_parser.h"
#include "fcgi/request_writer.h"
#include "fcgi/response_writer.h"
#include "fcgi/stream_parser.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using namespace fcgi::test;

TEST_CASE("request_writer output parses back with RequestParser", "[fcgi][roundtrip]") {
  const std::string cookie(70000, 'c');  // forces PARAMS over two records, mid-pair
  const std::string n127(127, 'n'), v128(128, 'v');
  const std::string body(65535 + 100, 'b');
  const Param params[] = {{"REQUEST_METHOD", "POST"}, {"HTTP_COOKIE", cookie}, {n127, v128},
                          {"EMPTY", ""}};
  StringSink out;
  write_get_values(std::vector<std::string_view>{kMaxConns, kMaxReqs}, out);
  write_begin_request(0xffff, Role::Responder, true, out);
  write_params(0xffff, params, out);
  write_stdin(0xffff, bytes(body), nullptr, out);
  write_stdin_end(0xffff, out);
  write_abort_request(0xffff, out);
  const std::string wire = out.take();

  const Events expected{{
      "get_values FCGI_MAX_CONNS FCGI_MAX_REQS",
      "begin 65535 role=1 flags=1",
      "param 65535 REQUEST_METHOD=POST",
      "param 65535 HTTP_COOKIE=" + cookie,
      "param 65535 " + n127 + "=" + v128,
      "param 65535 EMPTY=",
      "params_end 65535",
      "in 65535 " + body,
      "in 65535 <end>",
      "abort 65535",
  }, std::nullopt};
  CHECK(parse_whole<RequestParser, RecordingRequestHandler>(wire) == expected);
  CHECK(parse_bytewise<RequestParser, RecordingRequestHandler>(wire) == expected);
  // Every 997th offset: the whole range would be 140k full parses of 140 KB.
  for (size_t i = 0; i <= wire.size(); i += 997) {
    CAPTURE(i);
    CHECK(parse_split_at<RequestParser, RecordingRequestHandler>(wire, i) == expected);
  }
}

TEST_CASE("response_writer output parses back with StreamParser", "[fcgi][roundtrip]") {
  const std::string page = "Status: 200 OK\r\n\r\n" + std::string(140000, 'p');
  StringSink out;
  write_stdout(1, page, out);
  write_stderr(2, "oops", out, uint8_t(200));
  write_stderr_end(2, out);
  write_stdout_end(1, out);
  write_end_request(1, 0xffffffff, ProtocolStatus::RequestComplete, out);
  write_end_request(2, 3, ProtocolStatus::UnknownRole, out);
  const std::pair<std::string_view, std::string_view> values[] = {{kMpxsConns, "1"}};
  write_get_values_result(values, out);
  write_unknown_type(99, out);
  const std::string wire = out.take();

  const Events expected{{
      "out 1 " + page,
      "err 2 oops",
      "err 2 <end>",
      "out 1 <end>",
      "end 1 4294967295 REQUEST_COMPLETE",
      "end 2 3 UNKNOWN_ROLE",
      "values FCGI_MPXS_CONNS=1",
      "unknown_type 99",
  }, std::nullopt};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
  for (size_t i = 0; i <= wire.size(); i += 991) {
    CAPTURE(i);
    CHECK(parse_split_at(wire, i) == expected);
  }
}
