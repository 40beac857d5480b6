#include <catch2/catch.hpp>

#include "fcgi/stream_parser.h"
#include "fcgi_test_support.h"

#include <map>

using namespace fcgi;
using namespace fcgi::test;

namespace {

// STDOUT and STDERR of two interleaved requests, every padding style, a
// skipped record, and both ends: what a multiplexing worker might send.
std::string golden_wire() {
  std::string w;
  w += record(RecordType::Stdout, 1, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", 3);
  w += record(RecordType::Stderr, 0xffff, "warning: slow", 255);
  w += record(RecordType::Stdout, 0xffff, std::string(1000, 'x'), 0);
  w += record(RecordType::Stdout, 1, "hello", 7);
  w += record(uint8_t(12), 1, "future", 2);
  w += record(RecordType::Stdout, 1, "");
  w += record(RecordType::Stderr, 0xffff, "", 5);
  w += record(RecordType::GetValuesResult, 0, std::string("\x0e\x02" "FCGI_MAX_CONNS" "10", 18), 6);
  w += record(RecordType::EndRequest, 1, end_request_body(0, 0));
  w += record(RecordType::Stdout, 0xffff, "", 0);
  w += record(RecordType::UnknownType, 0, std::string("\x0c\0\0\0\0\0\0\0", 8));
  w += record(RecordType::EndRequest, 0xffff, end_request_body(0xffffffff, 2), 8);
  return w;
}

Events golden_expected() {
  return Events{{
      "out 1 Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n",
      "err 65535 warning: slow",
      "out 65535 " + std::string(1000, 'x'),
      "out 1 hello",
      "skipped 12 1",
      "out 1 <end>",
      "err 65535 <end>",
      "values FCGI_MAX_CONNS=10",
      "end 1 0 REQUEST_COMPLETE",
      "out 65535 <end>",
      "unknown_type 12",
      "end 65535 4294967295 OVERLOADED",
  }, std::nullopt};
}

}  // namespace

TEST_CASE("the parser gives the same events for any split of its input", "[fcgi][parser]") {
  const std::string wire = golden_wire();
  const Events expected = golden_expected();
  SECTION("whole") { CHECK(parse_whole(wire) == expected); }
  SECTION("byte by byte") { CHECK(parse_bytewise(wire) == expected); }
  SECTION("every two-way split") {
    for (size_t i = 0; i <= wire.size(); ++i) {
      CAPTURE(i);
      CHECK(parse_split_at(wire, i) == expected);
    }
  }
}

TEST_CASE("at_record_boundary is true exactly between records", "[fcgi][parser]") {
  const std::string a = record(RecordType::Stdout, 1, "abc", 5);
  const std::string wire = a + record(RecordType::EndRequest, 1, end_request_body(0, 0));
  StreamParser p;
  RecordingStreamHandler h;
  CHECK(p.at_record_boundary());
  for (size_t i = 0; i < wire.size(); ++i) {
    REQUIRE(p.feed(bytes(std::string_view(wire).substr(i, 1)), h));
    const bool boundary = i + 1 == a.size() || i + 1 == wire.size();
    CAPTURE(i);
    CHECK(p.at_record_boundary() == boundary);
  }
}

TEST_CASE("padding of every length 0..255 is skipped", "[fcgi][parser]") {
  for (int pad = 0; pad <= 255; ++pad) {
    CAPTURE(pad);
    const std::string wire = record(RecordType::Stdout, 5, "abc", uint8_t(pad)) +
                             record(RecordType::Stdout, 5, "def", uint8_t(255 - pad)) +
                             record(RecordType::Stdout, 5, "", uint8_t(pad));
    const Events expected{{"out 5 abcdef", "out 5 <end>"}, std::nullopt};
    CHECK(parse_whole(wire) == expected);
    CHECK(parse_bytewise(wire) == expected);
  }
}

TEST_CASE("STDOUT content is delivered as it arrives, not when the record ends", "[fcgi][parser]") {
  const std::string content(65535, 'z');
  const std::string wire = record(RecordType::Stdout, 9, content, 1);
  StreamParser p;
  RecordingStreamHandler h;
  REQUIRE(p.feed(bytes(std::string_view(wire).substr(0, 8 + 1000)), h));
  CHECK(h.stdout_piece_sizes == std::vector<size_t>{1000});
  REQUIRE(p.feed(bytes(std::string_view(wire).substr(8 + 1000, 30000)), h));
  CHECK(h.stdout_piece_sizes == std::vector<size_t>{1000, 30000});
  REQUIRE(p.feed(bytes(std::string_view(wire).substr(8 + 31000)), h));
  CHECK(h.stdout_piece_sizes == std::vector<size_t>{1000, 30000, 34535});
  CHECK(p.at_record_boundary());
  // Only the header so far: no empty piece is reported for a non-empty record.
  StreamParser q;
  RecordingStreamHandler g;
  REQUIRE(q.feed(bytes(std::string_view(wire).substr(0, 8)), g));
  CHECK(g.stdout_piece_sizes.empty());
}

TEST_CASE("an empty STDOUT record is reported with an empty span", "[fcgi][parser]") {
  RecordingStreamHandler h;
  StreamParser p;
  REQUIRE(p.feed(bytes(record(RecordType::Stdout, 3, "")), h));
  CHECK(h.stdout_piece_sizes == std::vector<size_t>{0});
  CHECK(h.events.list == std::vector<std::string>{"out 3 <end>"});
}

TEST_CASE("END_REQUEST carries every protocol status and the full app status", "[fcgi][parser]") {
  auto [app, status, name] = GENERATE(table<uint32_t, uint8_t, std::string>({
      {0, 0, "REQUEST_COMPLETE"},
      {0xffffffff, 0, "REQUEST_COMPLETE"},
      {0x80000001, 1, "CANT_MPX_CONN"},
      {1, 2, "OVERLOADED"},
      {255, 3, "UNKNOWN_ROLE"},
      {0x01020304, 9, "UNKNOWN"},  // passed on raw; to_string says it is unknown
  }));
  const std::string wire = record(RecordType::EndRequest, 0xffff, end_request_body(app, status), 0);
  const Events expected{{"end 65535 " + std::to_string(app) + " " + name}, std::nullopt};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
}

TEST_CASE("END_REQUEST with a content length other than 8 is BadLength", "[fcgi][parser]") {
  const size_t len = GENERATE(0, 1, 7, 9, 16, 65535);
  const std::string wire = record(RecordType::EndRequest, 1, std::string(len, '\0'));
  const Events expected{{}, ParseError::BadLength};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
}

TEST_CASE("UNKNOWN_TYPE with a content length other than 8 is BadLength", "[fcgi][parser]") {
  const std::string wire = record(RecordType::UnknownType, 0, std::string(7, '\0'));
  CHECK(parse_whole(wire).error == ParseError::BadLength);
}

TEST_CASE("records only a client sends are UnexpectedRecord", "[fcgi][parser]") {
  const RecordType type = GENERATE(RecordType::BeginRequest, RecordType::AbortRequest,
                                   RecordType::Params, RecordType::Stdin, RecordType::Data,
                                   RecordType::GetValues);
  const uint16_t id = GENERATE(0, 1);
  CAPTURE(to_string(type), id);
  const std::string wire = record(RecordType::Stdout, 1, "before") + record(type, id, "xxxxxxxx");
  const Events expected{{"out 1 before"}, ParseError::UnexpectedRecord};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
}

TEST_CASE("request records on id 0 and management records on a request id are UnexpectedRecord",
          "[fcgi][parser]") {
  auto wire = GENERATE(
      record(RecordType::Stdout, 0, "data"), record(RecordType::Stdout, 0, ""),
      record(RecordType::Stderr, 0, "data"),
      record(RecordType::EndRequest, 0, end_request_body(0, 0)),
      record(RecordType::GetValuesResult, 1, ""),
      record(RecordType::UnknownType, 1, std::string(8, '\x0c')));
  CHECK(parse_whole(wire) == Events{{}, ParseError::UnexpectedRecord});
}

TEST_CASE("undefined record types are skipped whole, content and padding", "[fcgi][parser]") {
  const int type = GENERATE(0, 12, 13, 100, 255);
  const uint16_t id = GENERATE(0, 1, 0xffff);
  CAPTURE(type, id);
  const std::string wire = record(uint8_t(type), id, std::string(300, '\x01'), 200) +
                           record(RecordType::Stdout, 1, "after");
  const Events expected{{"skipped " + std::to_string(type) + " " + std::to_string(id),
                         "out 1 after"},
                        std::nullopt};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
}

TEST_CASE("a version other than 1 is BadVersion, after the good records", "[fcgi][parser]") {
  const std::string wire = record(RecordType::Stdout, 1, "ok") +
                           record(uint8_t(RecordType::Stdout), 1, "bad", 0, /*version=*/2);
  const Events expected{{"out 1 ok"}, ParseError::BadVersion};
  CHECK(parse_whole(wire) == expected);
  CHECK(parse_bytewise(wire) == expected);
  for (size_t i = 0; i <= wire.size(); ++i) {
    CAPTURE(i);
    CHECK(parse_split_at(wire, i) == expected);
  }
}

TEST_CASE("after an error the parser returns it again and reads nothing", "[fcgi][parser]") {
  StreamParser p;
  RecordingStreamHandler h;
  auto r = p.feed(bytes(record(RecordType::Stdin, 1, "")), h);
  REQUIRE_FALSE(r);
  auto again = p.feed(bytes(record(RecordType::Stdout, 1, "more")), h);
  REQUIRE_FALSE(again);
  CHECK(again.error() == ParseError::UnexpectedRecord);
  CHECK(h.events.list.empty());
}

TEST_CASE("GET_VALUES_RESULT is decoded; over the cap or malformed it is an error",
          "[fcgi][parser]") {
  std::string body;
  body += std::string("\x0e\x02" "FCGI_MAX_CONNS" "16", 18);
  body += std::string("\x0d\x01" "FCGI_MAX_REQS" "8", 16);
  body += std::string("\x0f\x01" "FCGI_MPXS_CONNS" "1", 18);
  SECTION("decoded") {
    const Events expected{{"values FCGI_MAX_CONNS=16 FCGI_MAX_REQS=8 FCGI_MPXS_CONNS=1"},
                          std::nullopt};
    CHECK(parse_bytewise(record(RecordType::GetValuesResult, 0, body, 4)) == expected);
  }
  SECTION("empty") {
    CHECK(parse_whole(record(RecordType::GetValuesResult, 0, "")) == Events{{"values"}, {}});
  }
  SECTION("over the cap, refused at the header") {
    const std::string wire = record(RecordType::GetValuesResult, 0, body);
    CHECK(parse_whole(wire, StreamParser(body.size())).error == std::nullopt);
    CHECK(parse_whole(wire, StreamParser(body.size() - 1)) == Events{{}, ParseError::BadLength});
    // The header alone is enough to refuse it.
    CHECK(parse_whole(wire.substr(0, 8), StreamParser(10)) == Events{{}, ParseError::BadLength});
  }
  SECTION("a pair cut short") {
    const std::string wire = record(RecordType::GetValuesResult, 0, body.substr(0, 20));
    CHECK(parse_bytewise(wire) == Events{{}, ParseError::TruncatedPair});
  }
}

TEST_CASE("arbitrary bytes never crash the parser", "[fcgi][parser]") {
  // A cheap deterministic stand-in for the fuzzer: mutate the golden stream
  // one byte at a time and check each result is stable across splits.
  const std::string base = golden_wire();
  for (size_t i = 0; i < base.size(); i += 7) {
    std::string wire = base;
    wire[i] = char(wire[i] ^ 0x5a);
    CAPTURE(i);
    CHECK(parse_whole(wire) == parse_bytewise(wire));
  }
}

TEST_CASE("mutated and truncated streams give errors, not crashes, for every parser",
          "[fcgi][parser][request_parser]") {
  // Deterministic mutations (a tiny LCG), run under ASan/UBSan in CI: any
  // out-of-bounds read would be reported there. Each input must also give the
  // same outcome whole and byte by byte.
  const std::string base = golden_wire();
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int round = 0; round < 300; ++round) {
    std::string wire = base.substr(0, next() % (base.size() + 1));
    const int flips = 1 + int(next() % 4);
    for (int f = 0; f < flips && !wire.empty(); ++f) wire[next() % wire.size()] = char(next() >> 16);
    CAPTURE(round);
    CHECK(parse_whole(wire) == parse_bytewise(wire));
    CHECK(parse_whole<RequestParser, RecordingRequestHandler>(wire) ==
          parse_bytewise<RequestParser, RecordingRequestHandler>(wire));
  }
}

namespace {
// Per request id: its STDOUT bytes joined, and how many END_REQUESTs it got.
struct PerRequest {
  std::map<uint16_t, std::string> out;
  std::map<uint16_t, int> ends;
  bool operator==(const PerRequest&) const = default;
};
PerRequest gather(const Events& got) {
  PerRequest r;
  for (const std::string& e : got.list) {
    const size_t sp1 = e.find(' ');
    const size_t sp2 = e.find(' ', sp1 + 1);
    const std::string kind = e.substr(0, sp1);
    const auto id = uint16_t(std::stoul(e.substr(sp1 + 1, sp2 - sp1 - 1)));
    const std::string rest = sp2 == std::string::npos ? "" : e.substr(sp2 + 1);
    if (kind == "out" && rest != "<end>") r.out[id] += rest;
    if (kind == "end") ++r.ends[id];
  }
  return r;
}
}  // namespace

TEST_CASE("records of a hundred requests interleaved on one connection stay with their request",
          "[fcgi][parser][multiplex]") {
  // What a multiplexing worker sends when a hundred requests progress at
  // once: each one's STDOUT in several records, round-robin across ids (not
  // in id order), STDERR in between, and each ends with its own END_REQUEST.
  std::string wire;
  std::vector<uint16_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(uint16_t(1 + (i * 37) % 1000));
  for (int round = 0; round < 3; ++round)
    for (uint16_t id : ids) {
      wire += record(RecordType::Stdout, id, "r" + std::to_string(round) + "-" + std::to_string(id) + ";",
                     uint8_t(id % 8));
      if (id % 10 == 0) wire += record(RecordType::Stderr, id, "note " + std::to_string(id));
    }
  for (uint16_t id : ids) {
    wire += record(RecordType::Stdout, id, "");
    wire += record(RecordType::EndRequest, id, end_request_body(id, 0));
  }
  const Events whole = parse_whole(wire);
  REQUIRE_FALSE(whole.error);
  const PerRequest got = gather(whole);
  REQUIRE(got.out.size() == ids.size());
  for (uint16_t id : ids) {
    CAPTURE(id);
    const std::string s = std::to_string(id);
    CHECK(got.out.at(id) == "r0-" + s + ";r1-" + s + ";r2-" + s + ";");
    CHECK(got.ends.at(id) == 1);
  }
  // The same per request for any split of the stream: byte by byte, and
  // two-way splits across it.
  CHECK(gather(parse_bytewise(wire)) == got);
  for (size_t i = 0; i <= wire.size(); i += 97) {
    CAPTURE(i);
    CHECK(gather(parse_split_at(wire, i)) == got);
  }
}
