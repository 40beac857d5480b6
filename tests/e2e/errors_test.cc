// Every status fcgimux produces itself, provoked on purpose, and an
// application's own 5xx passed through untouched (DESIGN.md: 400 408 413 431
// 501 502 503 504).
#include <catch2/catch.hpp>

#include "harness.h"

using namespace e2e;

namespace {

// fcgimux in front of one fault_worker in |mode|; |server| and |pool| are
// extra lines for [server] and the pool.
struct FaultSite {
  TempDir dir;
  Worker worker;
  Gateway gw;
  FaultSite(const std::string &mode, const std::string &server = "", const std::string &pool = "")
      : worker(spawn_fault_worker(dir, mode)),
        gw(spawn_fcgimux(dir, server_toml(server) + route_toml("/", "p") +
                                  pool_toml("p", {&worker}, pool))) {}
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

} // namespace

TEST_CASE("errors: 400 for a malformed request and the connection is closed", "[e2e][errors]") {
  FaultSite site("--ok");
  for (const char *raw :
       {"GET / HTTP/1.1\r\nHost: x\r\nThis line has no colon\r\n\r\n",
        "GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"}) {
    INFO(raw);
    HttpClient c(site.gw.port, 10s);
    c.send(raw);
    Response r = c.read_response();
    CHECK(r.status == 400);
    CHECK(c.closed_within(5s));
  }
  // The gateway is fine afterwards.
  CHECK(http_get(site.gw.port, "/").status == 200);
}

TEST_CASE("errors: 400 for Content-Length together with Transfer-Encoding", "[e2e][errors]") {
  FaultSite site("--ok");
  HttpClient c(site.gw.port, 10s);
  c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n");
  Response r = c.read_response();
  CHECK(r.status == 400);
  CHECK(c.closed_within(5s));
}

TEST_CASE("errors: 408 when the request head does not arrive within header_timeout",
          "[e2e][errors]") {
  FaultSite site("--ok", "header_timeout = \"500ms\"");
  HttpClient c(site.gw.port, 10s);
  const auto start = Clock::now();
  c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); // and nothing more
  Response r = c.read_response();
  CHECK(r.status == 408);
  CHECK(seconds_since(start) >= 0.45);
  CHECK(c.closed_within(5s));
}

TEST_CASE("errors: 413 when the body is over max_body_size", "[e2e][errors]") {
  FaultSite site("--ok", "max_body_size = \"1KiB\"");
  {
    // Declared too large: refused before the body is sent.
    HttpClient c(site.gw.port, 10s);
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n");
    Response r = c.read_response();
    CHECK(r.status == 413);
  }
  {
    // Chunked, found too large on the way.
    HttpClient c(site.gw.port, 10s);
    c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
           std::string(0x800, 'x') + "\r\n");
    Response r = c.read_response();
    CHECK(r.status == 413);
  }
  {
    // Exactly at the limit is fine.
    Response r = http_request(site.gw.port, "POST", "/", {}, std::string(1024, 'y'));
    CHECK(r.status == 200);
  }
}

TEST_CASE("errors: 431 when the request head is over max_header_size", "[e2e][errors]") {
  FaultSite site("--ok", "max_header_size = \"1KiB\"");
  HttpClient c(site.gw.port, 10s);
  c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'h') + "\r\n\r\n");
  Response r = c.read_response();
  CHECK(r.status == 431);
  CHECK(c.closed_within(5s));
  CHECK(http_get(site.gw.port, "/", {{"X-Small", std::string(100, 's')}}).status == 200);
}

TEST_CASE("errors: 501 for a transfer coding fcgimux does not know", "[e2e][errors]") {
  FaultSite site("--ok");
  for (const char *te : {"gzip", "gzip, chunked", "x-custom, chunked"}) {
    INFO("Transfer-Encoding: " << te);
    HttpClient c(site.gw.port, 10s);
    c.send(std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + te +
           "\r\n\r\n0\r\n\r\n");
    Response r = c.read_response();
    CHECK(r.status == 501);
    CHECK(c.closed_within(5s));
  }
}

TEST_CASE("errors: 502 promptly when the worker sends garbage", "[e2e][errors][fault]") {
  FaultSite site("--garbage", "", "response_timeout = \"30s\"\nretry = \"never\"");
  const auto start = Clock::now();
  Response r = http_get(site.gw.port, "/");
  CHECK(r.status == 502);
  CHECK(seconds_since(start) < 10); // not after response_timeout (30 s)
  CHECK_FALSE(log_lines(site.gw.child, "worker=" + site.worker.address()).empty());
}

TEST_CASE("errors: 502 when the worker sends a record with a bad version", "[e2e][errors][fault]") {
  FaultSite site("--bad-version", "", "response_timeout = \"30s\"\nretry = \"never\"");
  const auto start = Clock::now();
  Response r = http_get(site.gw.port, "/");
  CHECK(r.status == 502);
  CHECK(seconds_since(start) < 10);
}

TEST_CASE("errors: 502 when the worker closes without answering", "[e2e][errors][fault]") {
  FaultSite site("--close", "", "retry = \"never\"");
  Response r = http_get(site.gw.port, "/");
  CHECK(r.status == 502);
}

TEST_CASE("errors: a worker that dies mid-response never yields a complete-looking response",
          "[e2e][errors][fault]") {
  FaultSite site("--close-mid-stdout", "", "retry = \"never\"");
  HttpClient c(site.gw.port, 10s);
  c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  // Either fcgimux had not started the response (502), or it had, and then
  // it must cut the connection rather than end the body cleanly.
  try {
    Response r = c.read_response();
    CHECK(r.status == 502);
  } catch (const std::runtime_error &e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("connection closed") != std::string::npos);
  }
}

TEST_CASE("errors: 503 with Retry-After when no worker is reachable", "[e2e][errors]") {
  TempDir dir;
  // Ports nobody listens on: free a moment ago, never bound since.
  Gateway gw = spawn_fcgimux(
      dir, server_toml() + route_toml("/", "p") +
               pool_toml_ports("p", {free_port(), free_port()},
                               "connect_timeout = \"300ms\"\nqueue_timeout = \"500ms\""));
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    Response r = http_get(gw.port, "/env");
    const double took = seconds_since(start);
    CHECK(r.status == 503);
    CHECK(r.has("retry-after"));
    // Every worker is known to be down: fcgimux may answer at once (as it
    // does) or after queue_timeout, but never later.
    CHECK(took < 0.5 + 5);
  }
}

TEST_CASE("errors: 503 with Retry-After when a request waits longer than queue_timeout",
          "[e2e][errors][queue]") {
  // One worker that takes one request at a time (max_conns = 1), each for
  // a second. A second request queues for a free worker; here the queue
  // gives up first.
  TempDir dir;
  Worker slow = spawn_fault_worker(dir, "--ok", {"--delay-ms", "1500"});
  Gateway gw = spawn_fcgimux(
      dir,
      server_toml("threads = 1") + route_toml("/", "p") +
          pool_toml("p", {&slow}, "max_conns = 1\nmax_idle_conns = 1\nqueue_timeout = \"300ms\""));
  HttpClient first(gw.port, 10s);
  first.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  // The worker logs each request it reads: the second is sent only once the
  // first occupies the worker.
  REQUIRE(eventually([&] { return !log_lines(slow.child, "uri=/first").empty(); }));
  const auto start = Clock::now();
  Response r = http_get(gw.port, "/second");
  const double took = seconds_since(start);
  CHECK(r.status == 503);
  CHECK(r.has("retry-after"));
  CHECK(took >= 0.25); // it did wait in the queue
  CHECK(took < 1.4);   // and gave up before the worker became free
  CHECK(first.read_response().status == 200);
}

TEST_CASE("errors: 504 when the view outlives response_timeout and the worker stays in",
          "[e2e][errors][django]") {
  TempDir dir;
  Worker dj = spawn_uwsgi_django(dir, "django-1");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "django") +
                                      pool_toml("django", {&dj}, "response_timeout = \"1s\""));
  const auto start = Clock::now();
  Response r = http_get(gw.port, "/sleep?s=6");
  const double took = seconds_since(start);
  CHECK(r.status == 504);
  CHECK(took >= 0.9); // not before response_timeout
  CHECK(took < 6);    // well before the view would have answered
  // The worker answers quick requests (its other threads are free), so it
  // must not have been evicted for one slow view.
  for (int i = 0; i < 3; ++i) {
    Response ok = http_get(gw.port, "/healthz");
    CHECK(ok.status == 200);
  }
}

TEST_CASE("errors: 504 when the worker accepts and never answers", "[e2e][errors][fault]") {
  FaultSite site("--stall", "", "response_timeout = \"500ms\"\nretry = \"never\"");
  const auto start = Clock::now();
  Response r = http_get(site.gw.port, "/");
  CHECK(r.status == 504);
  CHECK(seconds_since(start) >= 0.45);
  CHECK(seconds_since(start) < 10);
}

TEST_CASE("errors: an application's own 500 and 503 pass through as they are",
          "[e2e][errors][django]") {
  TempDir dir;
  Worker dj = spawn_uwsgi_django(dir, "django-1");
  Gateway gw =
      spawn_fcgimux(dir, server_toml() + route_toml("/", "django") + pool_toml("django", {&dj}));
  for (int code : {500, 503}) {
    Response r = http_get(gw.port, "/status/" + std::to_string(code));
    CHECK(r.status == code);
    CHECK(r.body == "status " + std::to_string(code) + " from the application\n");
    CHECK(r.header("x-worker") == "django-1");
  }
  // Not counted as worker failures: the worker keeps serving.
  for (int i = 0; i < 5; ++i)
    CHECK(http_get(gw.port, "/healthz").status == 200);
}

TEST_CASE("errors: STDERR from the worker leaves the response unaffected", "[e2e][errors][fault]") {
  FaultSite site("--stderr");
  Response r = http_get(site.gw.port, "/");
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
}
