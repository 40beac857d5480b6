// Large and chunked request bodies reach the application intact, and large
// responses reach the client intact (by length and SHA-256).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>

#include "harness.h"

using namespace e2e;

namespace {

// |n| pseudo-random bytes (xorshift64), the same for every run.
std::string noise(size_t n, uint64_t seed = 0x9e3779b97f4a7c15ULL) {
  std::string out(n, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = char(x >> 56);
  }
  return out;
}

struct Site {
  TempDir dir;
  Worker django = spawn_uwsgi_django(dir, "django-1");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "django") +
                                      pool_toml("django", {&django}));
};

} // namespace

TEST_CASE("body: a 10 MB POST reaches Django intact", "[e2e][body][django]") {
  Site site;
  const std::string body = noise(10 * 1000 * 1000);
  HttpClient c(site.gw.port, 60s);
  Response r = c.request("POST", "/upload", {{"Content-Type", "application/octet-stream"}}, body);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json_int(r.body, "length") == long(body.size()));
  CHECK(json_string(r.body, "content_length") == std::to_string(body.size()));
  CHECK(json_string(r.body, "sha256") == sha256_hex(body));

  // The connection is still good for another request.
  Response again = c.request("GET", "/healthz");
  CHECK(again.status == 200);
  CHECK(again.body == "ok\n");
}

TEST_CASE("body: a chunked request body reaches Django whole with CONTENT_LENGTH",
          "[e2e][body][django]") {
  Site site;
  const std::string body = noise(1234567, 42);
  // Chunks of awkward sizes, sent in pieces that split chunk headers.
  std::string wire;
  size_t at = 0;
  const size_t sizes[] = {1, 7, 4096, 65535, 65536, 300001};
  for (size_t i = 0; at < body.size(); ++i) {
    const size_t n = std::min(sizes[i % 6], body.size() - at);
    char head[32];
    std::snprintf(head, sizeof head, "%zx%s\r\n", n, i == 2 ? ";ext=1" : "");
    wire += head;
    wire.append(body, at, n);
    wire += "\r\n";
    at += n;
  }
  wire += "0\r\n\r\n";

  HttpClient c(site.gw.port, 60s);
  c.send("POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
         "Transfer-Encoding: chunked\r\n\r\n");
  for (size_t off = 0; off < wire.size(); off += 100003)
    c.send(std::string_view(wire).substr(off, 100003));
  Response r = c.read_response();
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json_int(r.body, "length") == long(body.size()));
  CHECK(json_string(r.body, "content_length") == std::to_string(body.size()));
  CHECK(json_string(r.body, "sha256") == sha256_hex(body));
}

TEST_CASE("body: a 20 MiB response reaches the client intact", "[e2e][body][django]") {
  Site site;
  HttpClient c(site.gw.port, 60s);
  Response r = c.request("GET", "/big?mb=20");
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == size_t(20) << 20);
  CHECK(sha256_hex(r.body) == sha256_hex(big_body(20)));
  if (r.has("content-length"))
    CHECK(r.header("content-length") == std::to_string(20 << 20));

  // Twice on the same connection: nothing left over from the first.
  Response again = c.request("GET", "/big?mb=3");
  REQUIRE(again.status == 200);
  CHECK(sha256_hex(again.body) == sha256_hex(big_body(3)));
}
