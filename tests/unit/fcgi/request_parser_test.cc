#include <catch2/catch.hpp>

#include "fcgi/params.h"
#include "fcgi/request_parser.h"
#include "fcgi/request_writer.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using namespace fcgi::test;

namespace {

Events parse_req(std::string_view wire) {
  return parse_whole<RequestParser, RecordingRequestHandler>(wire);
}
Events parse_req_bytewise(std::string_view wire) {
  return parse_bytewise<RequestParser, RecordingRequestHandler>(wire);
}
Events parse_req_split(std::string_view wire, size_t i) {
  return parse_split_at<RequestParser, RecordingRequestHandler>(wire, i);
}

std::string pair(std::string_view n, std::string_view v) {
  std::string out;
  encode_pair(n, v, out);
  return out;
}

std::string begin_body(uint16_t role, uint8_t flags) {
  return std::string{char(role >> 8), char(role & 0xff), char(flags), 0, 0, 0, 0, 0};
}

}  // namespace

TEST_CASE("the request parser gives the same events for any split", "[fcgi][request_parser]") {
  // Two interleaved requests; request 1's pairs straddle its PARAMS records,
  // one pair split inside its 4-byte length.
  const std::string p1 = pair("SCRIPT_NAME", "/app") + pair("LONG", std::string(200, 'L'));
  std::string w;
  const std::string names = pair("FCGI_MAX_CONNS", "") + pair("FCGI_MPXS_CONNS", "");
  w += record(RecordType::GetValues, 0, names, 3);
  w += record(RecordType::BeginRequest, 1, begin_body(1, 1));
  w += record(RecordType::BeginRequest, 2, begin_body(3, 0), 8);
  w += record(RecordType::Params, 1, p1.substr(0, 20), 4);
  w += record(RecordType::Params, 2, pair("A", "b"));
  w += record(RecordType::Params, 1, p1.substr(20, 3));  // inside LONG's value length
  w += record(RecordType::Params, 2, "");
  w += record(RecordType::Params, 1, p1.substr(23), 255);
  w += record(RecordType::Params, 1, "");
  w += record(RecordType::Stdin, 1, "body", 4);
  w += record(RecordType::Data, 2, "filterdata");
  w += record(RecordType::Stdin, 1, "");
  w += record(RecordType::AbortRequest, 2, "");
  w += record(uint8_t(42), 0, "what?");
  w += record(uint8_t(42), 7, "ignored");
  const Events expected{{
      "get_values FCGI_MAX_CONNS FCGI_MPXS_CONNS",
      "begin 1 role=1 flags=1",
      "begin 2 role=3 flags=0",
      "param 1 SCRIPT_NAME=/app",
      "param 2 A=b",
      "params_end 2",
      "param 1 LONG=" + std::string(200, 'L'),
      "params_end 1",
      "in 1 body",
      "data 2 filterdata",
      "in 1 <end>",
      "abort 2",
      "unknown_management 42",
  }, std::nullopt};
  SECTION("whole") { CHECK(parse_req(w) == expected); }
  SECTION("byte by byte") { CHECK(parse_req_bytewise(w) == expected); }
  SECTION("every two-way split") {
    for (size_t i = 0; i <= w.size(); ++i) {
      CAPTURE(i);
      CHECK(parse_req_split(w, i) == expected);
    }
  }
}

TEST_CASE("the request parser rejects what a client must not send", "[fcgi][request_parser]") {
  const std::string begin1 = record(RecordType::BeginRequest, 1, begin_body(1, 0));
  auto [wire, error] = GENERATE_COPY(table<std::string, ParseError>({
      {record(RecordType::Stdout, 1, "x"), ParseError::UnexpectedRecord},
      {record(RecordType::Stderr, 1, ""), ParseError::UnexpectedRecord},
      {record(RecordType::EndRequest, 1, std::string(8, '\0')), ParseError::UnexpectedRecord},
      {record(RecordType::GetValuesResult, 0, ""), ParseError::UnexpectedRecord},
      {record(RecordType::UnknownType, 0, std::string(8, '\0')), ParseError::UnexpectedRecord},
      {record(RecordType::BeginRequest, 0, begin_body(1, 0)), ParseError::UnexpectedRecord},
      {record(RecordType::BeginRequest, 1, "short"), ParseError::BadLength},
      {begin1 + begin1, ParseError::UnexpectedRecord},
      {record(RecordType::Params, 1, ""), ParseError::UnexpectedRecord},
      {record(RecordType::Stdin, 0, ""), ParseError::UnexpectedRecord},
      {record(RecordType::GetValues, 1, ""), ParseError::UnexpectedRecord},
      {record(RecordType::GetValues, 0, std::string(5000, '\0')), ParseError::BadLength},
      {begin1 + record(RecordType::Params, 1, pair("AB", "cd").substr(0, 3)) +
           record(RecordType::Params, 1, ""),
       ParseError::TruncatedPair},
      {begin1 + record(RecordType::Params, 1, std::string("\x01\xff\xff\xff\xff", 5)),
       ParseError::PairTooLong},
      {record(uint8_t(RecordType::Stdin), 1, "", 0, 0), ParseError::BadVersion},
  }));
  CHECK(parse_req(wire).error == error);
  CHECK(parse_req_bytewise(wire).error == error);
}

TEST_CASE("a role the spec does not define is passed on", "[fcgi][request_parser]") {
  const std::string wire = record(RecordType::BeginRequest, 5, begin_body(0x1234, 0));
  CHECK(parse_req(wire) == Events{{"begin 5 role=4660 flags=0"}, std::nullopt});
}

TEST_CASE("a request id can be reused once its params have ended", "[fcgi][request_parser]") {
  StringSink out;
  for (int i = 0; i < 2; ++i) {
    write_begin_request(1, Role::Responder, true, out);
    write_params(1, {}, out);
    write_stdin_end(1, out);
  }
  const Events e = parse_req_bytewise(out.bytes());
  CHECK_FALSE(e.error);
  CHECK(e.list.size() == 6);
}

TEST_CASE("pairs before a PairTooLong in the same piece are reported for any split",
          "[fcgi][request_parser]") {
  // Found by fcgi_request_parser_fuzz: fed whole, the pair completed before
  // the over-long length was dropped with the error; fed in pieces, it was
  // reported. The events must not depend on the split.
  const std::string w = record(RecordType::BeginRequest, 1, begin_body(1, 0)) +
                        record(RecordType::Params, 1, pair("A", "1") + pair(std::string(100, 'B'), "2"));
  auto parse = [&](const std::vector<size_t>& cuts) {
    return parse_pieces<RequestParser, RecordingRequestHandler>(w, cuts, RequestParser(64, 64));
  };
  const Events whole = parse({});
  CHECK(whole.list == std::vector<std::string>{"begin 1 role=1 flags=0", "param 1 A=1"});
  CHECK(whole.error == ParseError::PairTooLong);
  for (size_t i = 1; i < w.size(); ++i) {
    CAPTURE(i);
    CHECK(parse({i}) == whole);
  }
}
