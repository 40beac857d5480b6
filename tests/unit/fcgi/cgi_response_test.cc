#include <catch2/catch.hpp>

#include "fcgi/cgi_response.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using fcgi::test::bytes;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The outcome of feeding a whole STDOUT stream in pieces cut at |cuts|: the
// head (if complete), the body bytes after it, or the error.
struct Outcome {
  std::optional<CgiError> error;
  bool complete = false;
  int status = 0;
  std::string reason;
  Headers headers;
  std::optional<std::string> location;
  std::optional<uint64_t> content_length;
  std::string body;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{error=" << (o.error ? to_string(*o.error) : "none") << " complete=" << o.complete
     << " status=" << o.status << " reason=" << o.reason << " headers=" << o.headers.size()
     << " body=" << o.body << "}";
  return os;
}

Outcome run(std::string_view stdout_bytes, const std::vector<size_t>& cuts, size_t max = 4096) {
  CgiResponseParser p(max);
  Outcome o;
  size_t at = 0;
  std::vector<size_t> all = cuts;
  all.push_back(stdout_bytes.size());
  for (size_t c : all) {
    const std::string_view piece = stdout_bytes.substr(at, c - at);
    at = c;
    if (p.head_complete()) {
      o.body += piece;  // what the caller does once the head is done
      continue;
    }
    auto r = p.feed(bytes(piece));
    if (!r) {
      o.error = r.error();
      return o;
    }
    REQUIRE(r->consumed <= piece.size());
    if (r->head_complete) {
      o.body += piece.substr(r->consumed);
    } else {
      REQUIRE(r->consumed == piece.size());  // all of it belongs to the head
    }
  }
  if (auto f = p.finish(); !f) {
    o.error = f.error();
    return o;
  }
  o.complete = true;
  const CgiResponseHead& h = p.head();
  o.status = h.status;
  o.reason = h.reason;
  o.headers = h.headers;
  o.location = h.location;
  o.content_length = h.content_length;
  return o;
}

Outcome whole(std::string_view s, size_t max = 4096) { return run(s, {}, max); }

// Checks whole, byte-by-byte and every two-way split agree, and returns the outcome.
Outcome every_split(std::string_view s, size_t max = 4096) {
  const Outcome w = whole(s, max);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
  CHECK(run(s, cuts, max) == w);
  for (size_t i = 0; i <= s.size(); ++i) {
    CAPTURE(i);
    CHECK(run(s, {i}, max) == w);
  }
  return w;
}

}  // namespace

TEST_CASE("Status sets code and reason, and is not kept as a header", "[fcgi][cgi]") {
  const Outcome o = every_split("Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>");
  CHECK_FALSE(o.error);
  CHECK(o.status == 404);
  CHECK(o.reason == "Not Found");
  CHECK(o.headers == Headers{{"Content-Type", "text/html"}});
  CHECK(o.body == "<h1>");
}

TEST_CASE("bare LF line endings and mixed endings work", "[fcgi][cgi]") {
  const Outcome o = every_split("Content-Type: text/plain\nX-A: 1\r\n\nbody\r\n");
  CHECK(o.status == 200);
  CHECK(o.headers == Headers{{"Content-Type", "text/plain"}, {"X-A", "1"}});
  CHECK(o.body == "body\r\n");
}

TEST_CASE("defaults: Location without Status is 302, otherwise 200", "[fcgi][cgi]") {
  SECTION("Location") {
    const Outcome o = every_split("Location: http://example.com/x\r\n\r\n");
    CHECK(o.status == 302);
    CHECK(o.location == "http://example.com/x");
    CHECK(o.headers == Headers{{"Location", "http://example.com/x"}});
  }
  SECTION("Location with Status keeps the Status") {
    const Outcome o = every_split("location: /y\r\nStatus: 301 Moved\r\n\r\n");
    CHECK(o.status == 301);
    CHECK(o.location == "/y");
  }
  SECTION("neither") { CHECK(whole("X: y\r\n\r\n").status == 200); }
  SECTION("an empty head") {
    const Outcome o = every_split("\r\nbody");
    CHECK(o.status == 200);
    CHECK(o.headers.empty());
    CHECK(o.body == "body");
  }
}

TEST_CASE("Status without a reason, and reason whitespace", "[fcgi][cgi]") {
  auto [line, code, reason] = GENERATE(table<std::string, int, std::string>({
      {"Status: 200", 200, ""},
      {"Status:503", 503, ""},
      {"STATUS: 100 Continue", 100, "Continue"},
      {"status:\t999  Custom  Reason \t", 999, "Custom  Reason"},
      {"Status: 200 ", 200, ""},
  }));
  const Outcome o = whole(line + "\r\n\r\n");
  CAPTURE(line);
  REQUIRE_FALSE(o.error);
  CHECK(o.status == code);
  CHECK(o.reason == reason);
}

TEST_CASE("Status that is not three digits 100..999 is BadStatus", "[fcgi][cgi]") {
  const std::string value = GENERATE("", "20", "2000", "099", "abc", "2x0", "200OK", "-200", "1e2",
                                     "20 0");
  CAPTURE(value);
  CHECK(whole("Status: " + value + "\r\n\r\n").error == CgiError::BadStatus);
}

TEST_CASE("a second Status line is BadStatus", "[fcgi][cgi]") {
  CHECK(whole("Status: 200\r\nStatus: 404\r\n\r\n").error == CgiError::BadStatus);
}

TEST_CASE("repeated headers stay separate and in order", "[fcgi][cgi]") {
  const Outcome o = every_split(
      "Set-Cookie: a=1\r\nContent-Type: text/plain\r\nSet-Cookie: b=2; Path=/\r\n"
      "set-cookie: c=3\r\n\r\n");
  CHECK(o.headers == Headers{{"Set-Cookie", "a=1"},
                             {"Content-Type", "text/plain"},
                             {"Set-Cookie", "b=2; Path=/"},
                             {"set-cookie", "c=3"}});
}

TEST_CASE("whitespace around values is trimmed; inner whitespace kept", "[fcgi][cgi]") {
  const Outcome o = whole("X-A:   spaced  out \t\r\nX-B:\r\nX-C: \t \r\n\r\n");
  CHECK(o.headers == Headers{{"X-A", "spaced  out"}, {"X-B", ""}, {"X-C", ""}});
}

TEST_CASE("malformed header lines", "[fcgi][cgi]") {
  const std::string line = GENERATE(as<std::string>{},
      "no colon here", ": empty name", "Bad Name: x", "Bad(Name): x", "Name : x",
      " Folded: x", "\tX: y", "X-A: a\rb", std::string("X-A: a\0b", 8), "X-A: \x7f",
      "Content-Length: abc", "Content-Length: -1", "Content-Length: 1 2", "Content-Length:",
      "Content-Length: 99999999999999999999999");
  CAPTURE(line);
  CHECK(whole("Content-Type: text/plain\r\n" + line + "\r\n\r\n").error ==
        CgiError::MalformedHeader);
}

TEST_CASE("Content-Length is parsed; duplicates must agree", "[fcgi][cgi]") {
  SECTION("valid") {
    const Outcome o = whole("Content-Length: 0012\r\n\r\n");
    CHECK(o.content_length == 12u);
    CHECK(o.headers == Headers{{"Content-Length", "0012"}});
  }
  SECTION("largest") {
    CHECK(whole("content-length: 18446744073709551615\r\n\r\n").content_length ==
          18446744073709551615u);
  }
  SECTION("absent") { CHECK(whole("X: y\r\n\r\n").content_length == std::nullopt); }
  SECTION("same twice") {
    CHECK(whole("Content-Length: 5\r\nContent-Length: 5\r\n\r\n").content_length == 5u);
  }
  SECTION("different twice") {
    CHECK(whole("Content-Length: 5\r\nContent-Length: 6\r\n\r\n").error ==
          CgiError::MalformedHeader);
  }
}

TEST_CASE("the head size cap counts every head byte, line endings included", "[fcgi][cgi]") {
  const std::string head = "Content-Type: text/plain\r\n\r\n";  // 28 bytes
  REQUIRE(head.size() == 28);
  SECTION("exactly at the cap") {
    const Outcome o = every_split(head + "body", 28);
    CHECK_FALSE(o.error);
    CHECK(o.body == "body");
  }
  SECTION("one over") { CHECK(every_split(head + "body", 27).error == CgiError::HeadTooLarge); }
  SECTION("a head without any line break is refused once past the cap") {
    CgiResponseParser p(100);
    const std::string junk(64, 'x');
    REQUIRE(p.feed(bytes(junk)));
    auto r = p.feed(bytes(junk));
    REQUIRE_FALSE(r);
    CHECK(r.error() == CgiError::HeadTooLarge);
    // The error sticks.
    auto again = p.feed(bytes("\r\n\r\n"));
    REQUIRE_FALSE(again);
    CHECK(again.error() == CgiError::HeadTooLarge);
  }
}

TEST_CASE("the end of the stream before the blank line is IncompleteHead", "[fcgi][cgi]") {
  auto s = GENERATE(as<std::string>{}, "", "Status: 200", "Status: 200\r\n", "X: y\r\n\r");
  CAPTURE(s);
  CHECK(every_split(s).error == CgiError::IncompleteHead);
}

TEST_CASE("body bytes are never consumed, and feed after the head consumes nothing",
          "[fcgi][cgi]") {
  CgiResponseParser p(4096);
  const std::string in = "X: 1\n\nStatus: 500\n\n";
  auto r = p.feed(bytes(in));
  REQUIRE(r);
  CHECK(r->head_complete);
  CHECK(r->consumed == 6);
  CHECK(p.head().status == 200);  // the Status line is body
  auto again = p.feed(bytes("more"));
  REQUIRE(again);
  CHECK(again->head_complete);
  CHECK(again->consumed == 0);
  CHECK(p.finish());
}

TEST_CASE("mutated heads give the same outcome for any split", "[fcgi][cgi]") {
  const std::string base =
      "Status: 404 Not Found\r\nSet-Cookie: a=1\r\nLocation: /x\r\nContent-Length: 4\r\n\r\nbody";
  uint32_t seed = 777;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (int round = 0; round < 200; ++round) {
    std::string s = base.substr(0, next() % (base.size() + 1));
    if (!s.empty()) s[next() % s.size()] = char(next() >> 16);
    CAPTURE(round, s);
    const Outcome w = whole(s, 64);
    std::vector<size_t> cuts;
    for (size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
    CHECK(run(s, cuts, 64) == w);
  }
}

TEST_CASE("a reset parser parses the next response as a new one would", "[fcgi][cgi][recycle]") {
  CgiResponseParser p(64);
  SECTION("after a complete head") {
    REQUIRE(p.feed(bytes("Status: 404 Gone\r\nLocation: /x\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc")));
    REQUIRE(p.head_complete());
  }
  SECTION("after an error") {
    REQUIRE_FALSE(p.feed(bytes("no colon here\r\n")));
  }
  SECTION("in the middle of a line") {
    REQUIRE(p.feed(bytes("Status: 500 Half")));
  }
  p.reset(4096);
  auto r = p.feed(bytes("Content-Type: text/plain\r\n\r\nbody"));
  REQUIRE(r);
  CHECK(r->head_complete);
  CHECK(r->consumed == 28);
  CHECK(p.head().status == 200);
  CHECK(p.head().reason.empty());
  CHECK_FALSE(p.head().location);
  CHECK_FALSE(p.head().content_length);
  CHECK(p.head().headers == Headers{{"Content-Type", "text/plain"}});
  CHECK(p.finish());
}

TEST_CASE("reset() sets the new head size cap", "[fcgi][cgi][recycle]") {
  CgiResponseParser p(4096);
  p.reset(10);
  CHECK(p.feed(bytes("X-Long: 0123456789\r\n\r\n")).error() == CgiError::HeadTooLarge);
}
