// Persistent connections: many requests on one connection, and pipelined
// requests answered in order.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace e2e;

namespace {
struct Site {
  TempDir dir;
  Worker django = spawn_uwsgi_django(dir, "django-1");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "django") +
                                      pool_toml("django", {&django}));
};
} // namespace

TEST_CASE("keepalive: 100 requests on one connection", "[e2e][keepalive][django]") {
  Site site;
  HttpClient c(site.gw.port, 30s);
  int ok = 0;
  for (int i = 0; i < 100; ++i) {
    Response r =
        i % 2 ? c.request("GET", "/healthz") : c.request("GET", "/env?i=" + std::to_string(i));
    if (r.status == 200 && r.version == "HTTP/1.1" &&
        Response::lower(r.header("connection")) != "close" &&
        (i % 2 ? r.body == "ok\n"
               : json_string(r.body, "QUERY_STRING") == "i=" + std::to_string(i)))
      ++ok;
    else
      FAIL_CHECK("request " << i << " got " << r.status << " " << r.body.substr(0, 200));
  }
  CHECK(ok == 100);
  CHECK_FALSE(c.closed_within(50ms));
}

TEST_CASE("keepalive: pipelined requests are answered in order", "[e2e][keepalive][django]") {
  Site site;
  HttpClient c(site.gw.port, 30s);
  // The first is the slowest: an out-of-order gateway would answer it last.
  std::string wire = "GET /sleep?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 1; i <= 5; ++i)
    wire += "GET /env?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  wire += "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  wire += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  c.send(wire);

  Response first = c.read_response();
  CHECK(first.status == 200);
  CHECK(first.body.find("\"slept\"") != std::string::npos);
  for (int i = 1; i <= 5; ++i) {
    Response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(json_string(r.body, "QUERY_STRING") == "i=" + std::to_string(i));
  }
  Response upload = c.read_response();
  CHECK(upload.status == 200);
  CHECK(json_string(upload.body, "sha256") == sha256_hex("hello"));
  Response last = c.read_response();
  CHECK(last.status == 200);
  CHECK(last.body == "ok\n");
}

TEST_CASE("keepalive: Connection: close and HTTP/1.0 end the connection after the response",
          "[e2e][keepalive][django]") {
  Site site;
  {
    HttpClient c(site.gw.port, 30s);
    Response r = c.request("GET", "/healthz", {{"Connection", "close"}});
    CHECK(r.status == 200);
    CHECK(c.closed_within(5s));
  }
  {
    HttpClient c(site.gw.port, 30s);
    c.send("GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n");
    Response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    CHECK(c.closed_within(5s));
  }
}

TEST_CASE("keepalive: no POST is lost when the worker closes its connection after each response",
          "[e2e][keepalive][fault]") {
  // uWSGI's FastCGI socket ignores FCGI_KEEP_CONN and closes after
  // END_REQUEST. A connection fcgimux kept for reuse may therefore be dead
  // when the next request is written to it; that request never reached a
  // worker and must be sent again, whatever its method.
  TempDir dir;
  Worker w = spawn_fault_worker(dir, "--ok", {"--close-after-response"});
  Gateway gw =
      spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "p") + pool_toml("p", {&w}));
  HttpClient c(gw.port, 30s);
  std::string wire;
  for (int i = 0; i < 10; ++i)
    wire += "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  c.send(wire);
  int ok = 0;
  for (int i = 0; i < 10; ++i) {
    Response r = c.read_response();
    if (r.status == 200 && r.body == "ok\n")
      ++ok;
    else
      FAIL_CHECK("POST " << i << " got " << r.status);
  }
  CHECK(ok == 10);

  // The same one at a time, on new connections.
  for (int i = 0; i < 10; ++i)
    CHECK(http_request(gw.port, "POST", "/form", {}, "abc").status == 200);
}
