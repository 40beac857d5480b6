// Response headers pass through as the application wrote them: repeated
// Set-Cookie stays separate, redirects keep Location, HEAD has the headers
// but no body.
#include <catch2/catch.hpp>

#include <algorithm>

#include "harness.h"

using namespace e2e;

namespace {
struct Site {
  TempDir dir;
  Worker django = spawn_uwsgi_django(dir, "django-1");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "django") +
                                      pool_toml("django", {&django}));
};

bool any_starts_with(const std::vector<std::string> &v, const std::string &prefix) {
  return std::any_of(v.begin(), v.end(),
                     [&](const std::string &s) { return s.rfind(prefix, 0) == 0; });
}
} // namespace

TEST_CASE("headers: three Set-Cookie headers stay three headers", "[e2e][headers][django]") {
  Site site;
  Response r = http_get(site.gw.port, "/cookies");
  REQUIRE(r.status == 200);
  const auto cookies = r.all("set-cookie");
  std::string joined;
  for (const auto &c : cookies)
    joined += c + " | ";
  INFO("Set-Cookie: " << joined);
  REQUIRE(cookies.size() == 3);
  CHECK(any_starts_with(cookies, "a=1"));
  CHECK(any_starts_with(cookies, "b=2"));
  CHECK(any_starts_with(cookies, "c=3"));
  for (const auto &c : cookies)
    CHECK(c.find(',') == std::string::npos); // not folded
  CHECK(r.body == "three cookies\n");
}

TEST_CASE("headers: a redirect keeps its status and Location", "[e2e][headers][django]") {
  Site site;
  Response r = http_get(site.gw.port, "/redirect");
  CHECK(r.status == 302);
  CHECK(r.header("location") == "/env");
  CHECK(r.header("x-worker") == "django-1");
}

TEST_CASE("headers: HEAD answers GET's headers without a body", "[e2e][headers][django]") {
  Site site;
  HttpClient c(site.gw.port, 30s);
  Response get = c.request("GET", "/big?mb=1");
  REQUIRE(get.status == 200);
  REQUIRE(get.body.size() == size_t(1) << 20);

  Response head = c.request("HEAD", "/big?mb=1");
  CHECK(head.status == 200);
  CHECK(head.header("content-type") == get.header("content-type"));
  CHECK(head.header("x-worker") == get.header("x-worker"));
  // Content-Length, if sent, is the GET body's (RFC 9110 section 9.3.2).
  if (head.has("content-length"))
    CHECK(head.header("content-length") == std::to_string(1 << 20));

  // No body bytes follow the HEAD response: the next response on the same
  // connection parses cleanly right after it.
  Response next = c.request("GET", "/healthz");
  CHECK(next.status == 200);
  CHECK(next.body == "ok\n");
  CHECK(c.pending().empty());
}

TEST_CASE("headers: the application's own headers and statuses pass through",
          "[e2e][headers][django]") {
  Site site;
  Response r = http_get(site.gw.port, "/status/418");
  CHECK(r.status == 418);
  CHECK(r.body == "status 418 from the application\n");
  CHECK(r.header("content-type") == "text/plain");
  CHECK(r.header("x-worker") == "django-1");
  CHECK(r.count("status") == 0); // the CGI Status header becomes the status line
}
