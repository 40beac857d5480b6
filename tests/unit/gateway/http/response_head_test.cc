#include "gateway/http/response_head.h"

#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace fcgimux;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The head without its Date line, which changes every second.
std::string without_date(std::string head) {
  const size_t at = head.find("Date: ");
  REQUIRE(at != std::string::npos);
  const size_t end = head.find("\r\n", at);
  head.erase(at, end + 2 - at);
  return head;
}

}  // namespace

TEST_CASE("response framing follows status, method, version and length", "[http][response]") {
  auto [status, is_head, minor, length, keep, framing, keep_out, tail] =
      GENERATE(table<int, bool, unsigned, std::optional<uint64_t>, bool, BodyFraming, bool, std::string>({
          {200, false, 1, 5, true, BodyFraming::ContentLength, true, "Content-Length: 5\r\n\r\n"},
          {200, false, 1, std::nullopt, true, BodyFraming::Chunked, true, "Transfer-Encoding: chunked\r\n\r\n"},
          {200, false, 1, std::nullopt, false, BodyFraming::Chunked, false, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"},
          {200, false, 0, std::nullopt, true, BodyFraming::Close, false, "Connection: close\r\n\r\n"},
          {200, false, 0, 5, true, BodyFraming::ContentLength, true, "Content-Length: 5\r\nConnection: keep-alive\r\n\r\n"},
          {200, false, 0, 5, false, BodyFraming::ContentLength, false, "Content-Length: 5\r\nConnection: close\r\n\r\n"},
          {200, true, 1, 1234, true, BodyFraming::None, true, "Content-Length: 1234\r\n\r\n"},
          {200, true, 1, std::nullopt, true, BodyFraming::None, true, "\r\n"},
          {200, true, 0, std::nullopt, true, BodyFraming::None, true, "Connection: keep-alive\r\n\r\n"},
          {204, false, 1, 5, true, BodyFraming::None, true, "\r\n"},
          {304, false, 1, std::nullopt, true, BodyFraming::None, true, "\r\n"},
          {304, false, 1, 7, true, BodyFraming::None, true, "Content-Length: 7\r\n\r\n"},
          {103, false, 1, std::nullopt, true, BodyFraming::None, true, "\r\n"},
          {404, false, 1, 0, true, BodyFraming::ContentLength, true, "Content-Length: 0\r\n\r\n"},
      }));
  CAPTURE(status, is_head, minor, length, keep);
  const Headers headers{{"Content-Type", "text/html"}};
  ResponseHeadInput in;
  in.status = status;
  in.headers = &headers;
  in.content_length = length;
  in.request_is_head = is_head;
  in.http_minor = minor;
  in.keep_alive = keep;
  const ResponseHead out = build_response_head(in);
  CHECK(out.framing == framing);
  CHECK(out.keep_alive == keep_out);
  const std::string expected = "HTTP/1.1 " + std::to_string(status) + " " +
                               std::string(reason_phrase(status)) + "\r\nContent-Type: text/html\r\n" + tail;
  CHECK(without_date(out.bytes) == expected);
}

TEST_CASE("hop-by-hop headers from the application are dropped", "[http][response]") {
  const Headers headers{
      {"Content-Type", "text/plain"},   {"Connection", "close, X-Secret"}, {"Keep-Alive", "timeout=5"},
      {"Proxy-Connection", "x"},        {"Transfer-Encoding", "chunked"},   {"TE", "trailers"},
      {"Trailer", "X"},                 {"Upgrade", "h2c"},                 {"x-secret", "1"},
      {"Content-Length", "999"},        {"Status", "200 OK"},               {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"},            {"X-Bad", "a\r\nInjected: 1"},      {"X-Nul", std::string("a\0b", 3)},
      {"Bad Name", "x"},                {"X-Tab", "a\tb"},
  };
  ResponseHeadInput in;
  in.status = 200;
  in.headers = &headers;
  in.content_length = 3;
  const ResponseHead out = build_response_head(in);
  CHECK(without_date(out.bytes) ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
        "X-Tab: a\tb\r\nContent-Length: 3\r\n\r\n");
}

TEST_CASE("headers named by Connection are dropped, however many it names", "[http][response]") {
  // Names as long as the hop-by-hop ones are kept unless Connection names them.
  std::string many = "x-a";
  for (int i = 0; i < 12; ++i) many += ", X-T" + std::to_string(i);
  const Headers headers{
      {"Connection", many}, {"X-A", "dropped"}, {"X-T0", "dropped"}, {"X-T11", "dropped"},
      {"Set-Cookie", "kept"},  // 10 bytes, like Connection
      {"Content-Typo", "kept"}, {"Trailers", "kept"}, {"TF", "kept"}, {"Statue", "kept"},
      {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
  };
  ResponseHeadInput in;
  in.headers = &headers;
  in.content_length = 0;
  const ResponseHead out = build_response_head(in);
  CHECK(out.bytes ==
        "HTTP/1.1 200 OK\r\nSet-Cookie: kept\r\nContent-Typo: kept\r\nTrailers: kept\r\nTF: kept\r\n"
        "Statue: kept\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("status line, reason and Date", "[http][response]") {
  ResponseHeadInput in;
  in.status = 418;
  in.reason = "I'm a teapot";
  in.content_length = 0;
  ResponseHead out = build_response_head(in);
  CHECK(out.bytes.rfind("HTTP/1.1 418 I'm a teapot\r\nDate: ", 0) == 0);

  in.status = 299;
  in.reason = "";
  CHECK(build_response_head(in).bytes.rfind("HTTP/1.1 299 Unknown\r\n", 0) == 0);

  in.reason = "Evil\r\nX: y";
  CHECK(build_response_head(in).bytes.rfind("HTTP/1.1 299 Unknown\r\n", 0) == 0);

  SECTION("the application's Date wins over ours") {
    const Headers headers{{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}};
    in.status = 200;
    in.headers = &headers;
    out = build_response_head(in);
    CHECK(out.bytes ==
          "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
  }
}

TEST_CASE("http_date_now is an IMF-fixdate", "[http][response]") {
  const std::regex imf(R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT)");
  const std::string d{http_date_now()};
  CHECK(std::regex_match(d, imf));
  std::string other;
  std::thread t([&] { other = std::string(http_date_now()); });
  t.join();
  CHECK(std::regex_match(other, imf));
}

TEST_CASE("error responses", "[http][response]") {
  SECTION("503 with Retry-After, keep-alive") {
    const std::string r = build_error_response(503, "no worker available", true, false, 5u);
    const std::string body = "503 Service Unavailable: no worker available\n";
    CHECK(without_date(r) ==
          "HTTP/1.1 503 Service Unavailable\r\nServer: fcgimux\r\n"
          "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\nConnection: keep-alive\r\nRetry-After: 5\r\n\r\n" + body);
  }
  SECTION("400, closing, no detail") {
    const std::string r = build_error_response(400, "", false, false, std::nullopt);
    CHECK(without_date(r) ==
          "HTTP/1.1 400 Bad Request\r\nServer: fcgimux\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n");
  }
  SECTION("HEAD gets the head only, with the body's length") {
    const std::string r = build_error_response(504, "timeout", false, true, std::nullopt);
    CHECK(without_date(r) ==
          "HTTP/1.1 504 Gateway Timeout\r\nServer: fcgimux\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 29\r\nConnection: close\r\n\r\n");
  }
  SECTION("control characters in the detail are blanked") {
    const std::string r = build_error_response(502, "a\r\nb", false, false, std::nullopt);
    CHECK(r.find("502 Bad Gateway: a  b\n") != std::string::npos);
  }
}

TEST_CASE("reason phrases, continue and chunk framing", "[http][response]") {
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(501) == "Not Implemented");
  CHECK(reason_phrase(502) == "Bad Gateway");
  CHECK(reason_phrase(503) == "Service Unavailable");
  CHECK(reason_phrase(504) == "Gateway Timeout");
  CHECK(reason_phrase(799) == "Unknown");
  CHECK(continue_response() == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(chunk_header(0) == "0\r\n");
  CHECK(chunk_header(26) == "1a\r\n");
  CHECK(chunk_header(0x1a2b) == "1a2b\r\n");
  CHECK(chunk_header(65536) == "10000\r\n");
  CHECK(kLastChunk == "0\r\n\r\n");
  CHECK(kChunkTrailer == "\r\n");
}

TEST_CASE("a head appended to queued bytes is the head built on its own", "[http][response]") {
  // The exchange appends its head to the client connection's output buffer,
  // which may hold the end of an earlier response (pipelining).
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "text/plain"}, {"Connection", "X-A"}, {"X-A", "dropped"}, {"X-B", "kept"}};
  ResponseHeadInput in;
  in.headers = &headers;
  for (const std::optional<uint64_t> length : {std::optional<uint64_t>(), std::optional<uint64_t>(5)}) {
    for (unsigned minor : {0u, 1u}) {
      CAPTURE(length.has_value(), minor);
      in.content_length = length;
      in.http_minor = minor;
      const ResponseHead alone = build_response_head(in);
      std::string out = "earlier response bytes";
      const ResponseFraming f = append_response_head(in, out);
      const std::string earlier = "earlier response bytes";
      REQUIRE(out.compare(0, earlier.size(), earlier) == 0);
      CHECK(without_date(out.substr(earlier.size())) == without_date(alone.bytes));  // a second may tick
      CHECK(f.framing == alone.framing);
      CHECK(f.keep_alive == alone.keep_alive);
    }
  }
}
