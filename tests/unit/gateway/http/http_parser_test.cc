#include "gateway/http/http_parser.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using namespace fcgimux;
using namespace std::string_literals;

namespace {

struct Parsed {
  RequestHead head;
  std::string body;
  bool complete = false;
};

struct Outcome {
  std::vector<Parsed> requests;
  std::optional<Error> error;
};

class Recorder : public HttpRequestSink {
 public:
  std::vector<Parsed> requests;
  bool order_ok = true;
  void on_request_head(RequestHead& head) override {
    if (!requests.empty() && !requests.back().complete) order_ok = false;
    requests.push_back({std::move(head), {}, false});
  }
  void on_request_body(std::span<const std::byte> bytes) override {
    if (requests.empty() || requests.back().complete) order_ok = false;
    if (bytes.empty()) order_ok = false;  // no empty pieces
    requests.back().body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void on_request_complete() override {
    if (requests.empty() || requests.back().complete) order_ok = false;
    requests.back().complete = true;
  }
};

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Feeds |wire| cut into pieces at |cuts| (ascending offsets), as a connection
// would: unconsumed bytes are kept and fed again after resume().
Outcome run(std::string_view wire, const std::vector<size_t>& cuts, HttpLimits limits = {}) {
  Recorder rec;
  HttpParser parser(limits, rec);
  Outcome out;
  std::string pending;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t end : ends) {
    pending.append(wire.substr(from, end - from));
    from = end;
    while (!pending.empty()) {
      Result<size_t> r = parser.feed(bytes_of(pending));
      if (!r) {
        out.error = r.error();
        out.requests = std::move(rec.requests);
        return out;
      }
      pending.erase(0, *r);
      if (!parser.paused()) {
        REQUIRE(pending.empty());  // not paused: everything was consumed
        break;
      }
      parser.resume();
    }
    if (parser.paused()) parser.resume();
  }
  REQUIRE(rec.order_ok);
  out.requests = std::move(rec.requests);
  return out;
}

Outcome run_whole(std::string_view wire, HttpLimits limits = {}) { return run(wire, {}, limits); }

Outcome run_bytewise(std::string_view wire, HttpLimits limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return run(wire, cuts, limits);
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.error != b.error || a.requests.size() != b.requests.size()) return false;
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const Parsed& x = a.requests[i];
    const Parsed& y = b.requests[i];
    if (x.body != y.body || x.complete != y.complete) return false;
    if (x.head.method != y.head.method || x.head.target != y.head.target ||
        x.head.path != y.head.path || x.head.query != y.head.query ||
        x.head.headers != y.head.headers || x.head.keep_alive != y.head.keep_alive ||
        x.head.chunked != y.head.chunked || x.head.content_length != y.head.content_length ||
        x.head.expect_continue != y.head.expect_continue ||
        x.head.version_minor != y.head.version_minor || x.head.authority != y.head.authority)
      return false;
  }
  return true;
}

// Whole, byte by byte, and every two-way split must agree.
Outcome run_all_splits(std::string_view wire, HttpLimits limits = {}) {
  const Outcome whole = run_whole(wire, limits);
  CHECK(same(whole, run_bytewise(wire, limits)));
  for (size_t i = 0; i <= wire.size(); ++i) {
    CAPTURE(i);
    CHECK(same(whole, run(wire, {i}, limits)));
  }
  return whole;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("a simple GET is parsed the same for any split", "[http][parser]") {
  const std::string wire =
      "GET /a/b%20c?x=1&y=%41 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n"
      "Accept:  */*  \r\nX-Empty:\r\n\r\n";
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  const RequestHead& h = o.requests[0].head;
  CHECK(h.method == "GET");
  CHECK(h.target == "/a/b%20c?x=1&y=%41");
  CHECK(h.path == "/a/b%20c");
  CHECK(h.query == "x=1&y=%41");
  CHECK(h.version_major == 1);
  CHECK(h.version_minor == 1);
  CHECK(h.headers == Headers{{"Host", "example.com"}, {"User-Agent", "t"}, {"Accept", "*/*"},
                             {"X-Empty", ""}});
  CHECK(h.keep_alive);
  CHECK_FALSE(h.chunked);
  CHECK_FALSE(h.content_length);
  CHECK_FALSE(h.has_body());
  CHECK(o.requests[0].complete);
  CHECK(o.requests[0].body.empty());
  REQUIRE(h.find("user-agent") != nullptr);
  CHECK(*h.find("USER-AGENT") == "t");
  CHECK(h.find("Cookie") == nullptr);
}

TEST_CASE("a Content-Length body is delivered whole for any split", "[http][parser]") {
  const std::string wire =
      "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n"
      "hello world";
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.content_length == 11u);
  CHECK(o.requests[0].head.has_body());
  CHECK(o.requests[0].body == "hello world");
  CHECK(o.requests[0].complete);
}

TEST_CASE("Content-Length: 0 completes at the head", "[http][parser]") {
  const Outcome o = run_all_splits("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.content_length == 0u);
  CHECK_FALSE(o.requests[0].head.has_body());
  CHECK(o.requests[0].complete);
}

TEST_CASE("chunked bodies with extensions and trailers are de-chunked", "[http][parser]") {
  const std::string wire =
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value;q=\"a b;c\"\r\nhello\r\n"
      "1 ; ext\r\n \r\n"
      "00000A\r\n0123456789\r\n"
      "0;last\r\nX-Checksum: abc\r\nX-Other:\t1 2\r\n\r\n";
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.chunked);
  CHECK_FALSE(o.requests[0].head.content_length);
  CHECK(o.requests[0].head.has_body());
  CHECK(o.requests[0].body == "hello 0123456789");
  CHECK(o.requests[0].complete);
}

TEST_CASE("an empty chunked body completes", "[http][parser]") {
  const Outcome o =
      run_all_splits("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n");
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.chunked);
  CHECK(o.requests[0].body.empty());
  CHECK(o.requests[0].complete);
}

TEST_CASE("leading OWS before chunked is legal and accepted", "[http][parser]") {
  auto wire = GENERATE(as<std::string>{},
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:   chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n1\r\nz\r\n0\r\n\r\n");
  CAPTURE(wire);
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.chunked);
  CHECK(o.requests[0].body == "z");
}

TEST_CASE("a sink may resume from inside on_request_complete", "[http][parser]") {
  struct Eager : Recorder {
    HttpParser* parser = nullptr;
    void on_request_complete() override {
      Recorder::on_request_complete();
      parser->resume();
    }
  } rec;
  HttpParser parser({}, rec);
  rec.parser = &parser;
  const std::string wire =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"
      "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
  Result<size_t> r = parser.feed(bytes_of(wire));
  REQUIRE(r);
  CHECK(*r == wire.size());
  REQUIRE(rec.requests.size() == 3);
  CHECK(rec.requests[1].body == "x");
  CHECK(rec.order_ok);
}

TEST_CASE("pipelined requests are parsed one at a time", "[http][parser]") {
  const std::string first = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second =
      "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third =
      "PUT /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  const std::string fourth = "GET /four HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string wire = first + second + third + fourth;

  SECTION("feed pauses after each request and consumes nothing while paused") {
    Recorder rec;
    HttpParser parser({}, rec);
    std::string_view rest = wire;
    Result<size_t> r = parser.feed(bytes_of(rest));
    REQUIRE(r);
    CHECK(*r == first.size());
    CHECK(parser.paused());
    CHECK_FALSE(parser.in_request());
    REQUIRE(rec.requests.size() == 1);
    CHECK(rec.requests[0].complete);

    rest.remove_prefix(*r);
    Result<size_t> again = parser.feed(bytes_of(rest));
    REQUIRE(again);
    CHECK(*again == 0);  // paused: the second request waits
    CHECK(rec.requests.size() == 1);

    parser.resume();
    r = parser.feed(bytes_of(rest));
    REQUIRE(r);
    CHECK(*r == second.size());
    REQUIRE(rec.requests.size() == 2);
    CHECK(rec.requests[1].head.path == "/two");
    CHECK(rec.requests[1].body == "abc");

    rest.remove_prefix(*r);
    parser.resume();
    r = parser.feed(bytes_of(rest));
    REQUIRE(r);
    CHECK(*r == third.size());
    CHECK(rec.requests[2].body == "xy");

    rest.remove_prefix(*r);
    parser.resume();
    r = parser.feed(bytes_of(rest));
    REQUIRE(r);
    CHECK(*r == fourth.size());
    CHECK_FALSE(rec.requests[3].head.keep_alive);
    parser.resume();
    CHECK(parser.finish());
  }

  SECTION("any split gives the same four requests") {
    const Outcome o = run_all_splits(wire);
    REQUIRE_FALSE(o.error);
    REQUIRE(o.requests.size() == 4);
    CHECK(o.requests[0].head.path == "/one");
    CHECK(o.requests[1].body == "abc");
    CHECK(o.requests[2].body == "xy");
    CHECK(o.requests[3].head.path == "/four");
    for (const auto& r : o.requests) CHECK(r.complete);
  }
}

TEST_CASE("empty lines before a request are skipped", "[http][parser]") {
  const Outcome o = run_all_splits("GET /a HTTP/1.1\r\nHost: h\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 2);
  CHECK(o.requests[1].head.path == "/b");
}

TEST_CASE("keep-alive follows the version and Connection", "[http][parser]") {
  auto [wire, keep] = GENERATE(table<std::string, bool>({
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nHost: h\r\nConnection: close\r\n\r\n", false},
  }));
  CAPTURE(wire);
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.keep_alive == keep);
}

TEST_CASE("HTTP/1.0 keep-alive requests can follow each other", "[http][parser]") {
  const Outcome o = run_all_splits(
      "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "POST /b HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi");
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 2);
  CHECK(o.requests[0].head.version_minor == 0);
  CHECK(o.requests[1].body == "hi");
  CHECK(o.requests[1].head.keep_alive);
}

TEST_CASE("Expect: 100-continue is noted for HTTP/1.1 only", "[http][parser]") {
  auto [wire, expect] = GENERATE(table<std::string, bool>({
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", true},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", true},
      {"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", false},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx", false},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", false},
  }));
  CAPTURE(wire);
  const Outcome o = run_whole(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.expect_continue == expect);
}

TEST_CASE("request-target forms", "[http][parser]") {
  auto [wire, path, query, authority] = GENERATE(table<std::string, std::string, std::string, std::string>({
      {"GET http://example.com/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n", "/p/q", "x=1", "example.com"},
      {"GET HTTP://Example.com:8080 HTTP/1.1\r\nHost: e\r\n\r\n", "/", "", "Example.com:8080"},
      {"GET https://[::1]:8443?a HTTP/1.1\r\nHost: e\r\n\r\n", "/", "a", "[::1]:8443"},
      {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", "", ""},
      {"GET /?only HTTP/1.1\r\nHost: h\r\n\r\n", "/", "only", ""},
      {"GET /x? HTTP/1.1\r\nHost: h\r\n\r\n", "/x", "", ""},
  }));
  CAPTURE(wire);
  const Outcome o = run_all_splits(wire);
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 1);
  CHECK(o.requests[0].head.path == path);
  CHECK(o.requests[0].head.query == query);
  CHECK(o.requests[0].head.authority == authority);
}

TEST_CASE("Upgrade is ignored: the request is plain HTTP and parsing goes on", "[http][parser]") {
  const Outcome o = run_all_splits(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE_FALSE(o.error);
  REQUIRE(o.requests.size() == 2);
  CHECK(o.requests[0].head.keep_alive);
  CHECK(o.requests[1].head.path == "/next");
}

// The smuggling table: each row fails with exactly this error, however split.
TEST_CASE("malformed and ambiguous requests fail with the right error", "[http][parser][smuggling]") {
  const std::string te = "POST / HTTP/1.1\r\nHost: h\r\n";
  auto [name, wire, error] = GENERATE_REF(table<std::string, std::string, Error>({
      // Content-Length / Transfer-Encoding conflicts.
      {"CL then TE", te + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE then CL", te + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"CL then TE gzip", te + "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\nhello", Error::BadRequest},
      {"two differing CLs", te + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", Error::BadRequest},
      {"two identical CLs", te + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", Error::BadRequest},
      {"CL list", te + "Content-Length: 5, 5\r\n\r\nhello", Error::BadRequest},
      {"CL sign", te + "Content-Length: +5\r\n\r\nhello", Error::BadRequest},
      {"CL hex", te + "Content-Length: 0x5\r\n\r\nhello", Error::BadRequest},
      {"CL empty", te + "Content-Length:\r\n\r\n", Error::BadRequest},
      {"CL overflow", te + "Content-Length: 99999999999999999999999\r\n\r\n", Error::BadRequest},
      {"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      // Transfer codings we do not implement, and obfuscated "chunked".
      {"TE xchunked", te + "Transfer-Encoding: xchunked\r\n\r\n", Error::UnknownCoding},
      {"TE gzip", te + "Transfer-Encoding: gzip\r\n\r\n", Error::UnknownCoding},
      {"TE gzip, chunked", te + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE chunked, gzip", te + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE chunked, chunked", te + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE chunked twice", te + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE chunked then x", te + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE chunked;x=1", te + "Transfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE quoted", te + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE trailing space", te + "Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE trailing tab", te + "Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n", Error::UnknownCoding},
      {"TE empty", te + "Transfer-Encoding:\r\n\r\n", Error::UnknownCoding},
      {"TE obs-fold ' Transfer-Encoding'", te + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE obs-fold value", te + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE space before colon", te + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE vertical tab", te + "Transfer-Encoding: \x0b" "chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE form feed", te + "Transfer-Encoding:\x0c" "chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE name with LF", te + "Transfer-Encoding\n: chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      {"TE after bare LF", te + "X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Error::BadRequest},
      // Line endings, folding, controls.
      {"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", Error::BadRequest},
      {"bare LF header", "GET / HTTP/1.1\r\nHost: h\n\r\n", Error::BadRequest},
      {"bare LF end", "GET / HTTP/1.1\r\nHost: h\r\n\n", Error::BadRequest},
      {"bare CR header", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", Error::BadRequest},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", Error::BadRequest},
      {"NUL in target", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, Error::BadRequest},
      {"NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s, Error::BadRequest},
      {"NUL in name", "GET / HTTP/1.1\r\nHost: h\r\nX\0: ab\r\n\r\n"s, Error::BadRequest},
      {"control in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", Error::BadRequest},
      {"DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n", Error::BadRequest},
      {"space in name", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", Error::BadRequest},
      {"empty name", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", Error::BadRequest},
      // Chunked framing.
      {"chunk size not hex", te + "Transfer-Encoding: chunked\r\n\r\nz\r\n", Error::BadRequest},
      {"chunk size 0x", te + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"chunk size empty", te + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"chunk size negative", te + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"chunk size trailing space", te + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"chunk size bare LF", te + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"chunk data not followed by CRLF", te + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", Error::BadRequest},
      {"chunk data bare LF", te + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", Error::BadRequest},
      {"chunk ext with control", te + "Transfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n0\r\n\r\n", Error::BadRequest},
      {"last chunk bare LF end", te + "Transfer-Encoding: chunked\r\n\r\n0\r\n\n", Error::BadRequest},
      {"trailer obs-fold", te + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", Error::BadRequest},
      {"trailer without colon", te + "Transfer-Encoding: chunked\r\n\r\n0\r\nX\r\n\r\n", Error::BadRequest},
      {"trailer bare LF", te + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n", Error::BadRequest},
      // Request line.
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"unknown method", "FROB / HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", Error::BadRequest},
      {"asterisk for GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"userinfo in absolute-form", "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      {"leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", Error::BadRequest},
      // Host (RFC 9112 section 3.2).
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", Error::BadRequest},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Error::BadRequest},
      {"bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Error::BadRequest},
      {"bad Host port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", Error::BadRequest},
  }));
  CAPTURE(name);
  const Outcome whole = run_whole(wire);
  REQUIRE(whole.error);
  CHECK(*whole.error == error);
  CHECK(same(whole, run_bytewise(wire)));
  for (size_t i = 0; i <= wire.size(); ++i) {
    CAPTURE(i);
    CHECK(same(whole, run(wire, {i})));
  }
}

TEST_CASE("an error is final: the parser keeps returning it", "[http][parser]") {
  Recorder rec;
  HttpParser parser({}, rec);
  Result<size_t> r = parser.feed(bytes_of("GET / HTTP/1.1\nHost: h\r\n\r\n"));
  REQUIRE_FALSE(r);
  CHECK(r.error() == Error::BadRequest);
  Result<size_t> again = parser.feed(bytes_of("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  REQUIRE_FALSE(again);
  CHECK(again.error() == Error::BadRequest);
  CHECK(rec.requests.empty());
}

TEST_CASE("max_header_size covers the request line and headers exactly", "[http][parser][limits]") {
  // 16 + 9 + 2 = 27 bytes without padding.
  const std::string line = "GET / HTTP/1.1\r\n";
  auto wire_of_size = [&](size_t total) {
    const size_t fixed = line.size() + std::string("X: \r\nHost: h\r\n\r\n").size();
    REQUIRE(total >= fixed);
    return line + "Host: h\r\nX: " + std::string(total - fixed, 'a') + "\r\n\r\n";
  };
  HttpLimits limits;
  limits.max_header_size = 200;

  SECTION("exactly at the cap") {
    const std::string wire = wire_of_size(200);
    REQUIRE(wire.size() == 200);
    const Outcome o = run_all_splits(wire + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", limits);
    REQUIRE_FALSE(o.error);
    REQUIRE(o.requests.size() == 2);
  }
  SECTION("one over the cap") {
    const std::string wire = wire_of_size(201);
    REQUIRE(wire.size() == 201);
    const Outcome o = run_all_splits(wire, limits);
    REQUIRE(o.error);
    CHECK(*o.error == Error::HeadTooLarge);
    CHECK(o.requests.empty());
  }
  SECTION("a head that never ends") {
    const Outcome o = run_whole(line + "X: " + std::string(1000, 'a'), limits);
    REQUIRE(o.error);
    CHECK(*o.error == Error::HeadTooLarge);
  }
  SECTION("the limit applies to each request of a pipeline on its own") {
    const std::string one = wire_of_size(200);
    const Outcome o = run_whole(one + one + one, limits);
    REQUIRE_FALSE(o.error);
    CHECK(o.requests.size() == 3);
  }
  SECTION("trailers count against it too") {
    const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    const Outcome ok = run_whole(head + "T: " + std::string(190, 'a') + "\r\n\r\n", limits);
    CHECK_FALSE(ok.error);
    const Outcome over = run_whole(head + "T: " + std::string(300, 'a') + "\r\n\r\n", limits);
    REQUIRE(over.error);
    CHECK(*over.error == Error::HeadTooLarge);
  }
}

TEST_CASE("max_body_size bounds Content-Length and chunked totals exactly", "[http][parser][limits]") {
  HttpLimits limits;
  limits.max_body_size = 10;
  const std::string post = "POST / HTTP/1.1\r\nHost: h\r\n";

  SECTION("Content-Length at the cap") {
    const Outcome o = run_all_splits(post + "Content-Length: 10\r\n\r\n0123456789", limits);
    REQUIRE_FALSE(o.error);
    CHECK(o.requests[0].body == "0123456789");
  }
  SECTION("Content-Length one over: reported at the head, before any body") {
    Recorder rec;
    HttpParser parser(limits, rec);
    Result<size_t> r = parser.feed(bytes_of(post + "Content-Length: 11\r\n\r\n"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Error::BodyTooLarge);
    CHECK(rec.requests.empty());
  }
  SECTION("chunked total at the cap") {
    const Outcome o = run_all_splits(
        post + "Transfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n", limits);
    REQUIRE_FALSE(o.error);
    CHECK(o.requests[0].body == "0123456789");
  }
  SECTION("chunked total one over") {
    const Outcome o = run_all_splits(
        post + "Transfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n7\r\n456789X\r\n0\r\n\r\n", limits);
    REQUIRE(o.error);
    CHECK(*o.error == Error::BodyTooLarge);
    REQUIRE(o.requests.size() == 1);
    CHECK(o.requests[0].body == "0123");  // the over-size chunk is refused at its size line
  }
  SECTION("a huge chunk size is refused without overflow") {
    const Outcome o = run_whole(
        post + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n", limits);
    REQUIRE(o.error);
    CHECK(*o.error == Error::BodyTooLarge);
  }
}

TEST_CASE("finish() tells a clean close from one in mid-request", "[http][parser]") {
  Recorder rec;
  HttpParser parser({}, rec);
  auto feed = [&](std::string_view s) {
    Result<size_t> r = parser.feed(bytes_of(s));
    REQUIRE(r);
    return *r;
  };
  SECTION("before anything") { CHECK(parser.finish()); }
  SECTION("after empty lines only") {
    feed("\r\n\r\n");
    CHECK_FALSE(parser.in_request());
    CHECK(parser.finish());
  }
  SECTION("mid-head") {
    feed("GET / HT");
    CHECK(parser.in_request());
    Result<void> r = parser.finish();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Error::BadRequest);
  }
  SECTION("mid-body") {
    feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab");
    CHECK(parser.in_request());
    Result<void> r = parser.finish();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Error::BadRequest);
  }
  SECTION("mid-chunked-body") {
    feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
    CHECK_FALSE(parser.finish());
  }
  SECTION("after a complete request") {
    feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_FALSE(parser.in_request());
    parser.resume();
    CHECK(parser.finish());
  }
}

TEST_CASE("a head the sink leaves behind is cleared before the next request is parsed into it",
          "[http][parser][recycle]") {
  // The server's sink swaps in the head of a finished request (recycled,
  // for its capacity): nothing of it may show in the next head.
  class Swapper : public HttpRequestSink {
   public:
    std::vector<RequestHead> heads;
    void on_request_head(RequestHead& head) override {
      RequestHead old;
      old.method = "PATCH";
      old.target = old.path = "/left/behind/by/an/earlier/request";
      old.query = "stale=1";
      old.authority = "stale.example";
      old.version_minor = 0;
      old.headers = {{"X-Stale", "1"}, {"Content-Length", "5"}};
      old.keep_alive = false;
      old.chunked = true;
      old.content_length = 5;
      old.expect_continue = true;
      heads.push_back(std::move(head));
      head = std::move(old);
    }
    void on_request_body(std::span<const std::byte>) override {}
    void on_request_complete() override {}
  } sink;
  HttpParser parser({}, sink);
  const std::string wire = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    REQUIRE(parser.feed(bytes_of(wire)));
    parser.resume();
  }
  REQUIRE(sink.heads.size() == 3);
  for (const RequestHead& h : sink.heads) {
    CHECK(h.method == "GET");
    CHECK(h.target == "/a");
    CHECK(h.path == "/a");
    CHECK(h.query.empty());
    CHECK(h.authority.empty());
    CHECK(h.version_minor == 1);
    REQUIRE(h.headers.size() == 1);
    CHECK(h.headers[0] == std::pair<std::string, std::string>("Host", "h"));
    CHECK(h.keep_alive);
    CHECK_FALSE(h.chunked);
    CHECK_FALSE(h.content_length);
    CHECK_FALSE(h.expect_continue);
  }
}
