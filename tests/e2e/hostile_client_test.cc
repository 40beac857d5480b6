// Hostile clients (issue #6) against the real binary: smuggling attempts,
// oversized and endless requests, slowloris heads and bodies, clients that
// never read, idle hordes and connection floods. The unit table
// (http_parser_test.cc) covers the parser byte by byte; here the wire: the
// exact status, the connection closed, nothing smuggled to a worker, and the
// gateway still serving afterwards.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

using namespace e2e;
using namespace std::string_literals;

namespace {

// fcgimux in front of one fault_worker in |mode| (route "/"; it logs
// "uri=..." for every request it reads) and a well-behaved one (route
// "/good/"); |server| and |pool| are extra config lines.
struct Site {
  TempDir dir;
  Worker worker;
  Worker good;
  Gateway gw;
  Site(const std::string &mode, const std::string &server = "", const std::string &pool = "",
       const std::vector<std::string> &args = {})
      : worker(spawn_fault_worker(dir, mode, args)),
        good(spawn_fault_worker(dir, "--ok", {"--name", "good"})),
        gw(spawn_fcgimux(dir, server_toml(server) + route_toml("/", "p") +
                                  route_toml("/good/", "good") + pool_toml("p", {&worker}, pool) +
                                  pool_toml("good", {&good}))) {}
  // fcgimux runs and serves.
  void check_alive() {
    CHECK(gw.child.running());
    Response r = http_get(gw.port, "/good/alive");
    CHECK(r.status == 200);
    CHECK(r.header("x-worker") == "good");
  }
};

// A request that follows the hostile one on the same connection: if it ever
// reaches the worker, fcgimux was desynchronised.
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

} // namespace

TEST_CASE("hostile client: smuggling attempts get 400/501, a close, and reach no worker",
          "[e2e][hostile][client]") {
  Site site("--ok");
  const std::string post = "POST /attack HTTP/1.1\r\nHost: x\r\n";
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  struct Row {
    const char *name;
    std::string wire;
    int status;
  };
  const std::vector<Row> rows = {
      {"CL then TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400},
      {"TE then CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG", 400},
      {"two differing CLs", post + "Content-Length: 0\r\nContent-Length: 36\r\n\r\n", 400},
      {"two identical CLs", post + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501},
      {"TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501},
      {"TE space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE obs-folded in (' Transfer-Encoding')",
       post + "X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE value on a folded line", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400},
      {"bare LF line ending", "GET /attack HTTP/1.1\nHost: x\n\n", 400},
      {"bare CR in the head", "GET /attack HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400},
      {"obs-fold", "GET /attack HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", 400},
      {"chunk size not hex", chunked + "zz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size negative", chunked + "-5\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size 0x", chunked + "0x5\r\nhello\r\n0\r\n\r\n", 400},
      // Over max_body_size (and 64 bits) on its own: refused as too large.
      {"chunk size overflow", chunked + "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 413},
      {"chunk data longer than its size", chunked + "3\r\nhello\r\n0\r\n\r\n", 400},
      {"NUL in target", "GET /att\0ck HTTP/1.1\r\nHost: x\r\n\r\n"s, 400},
      {"NUL in a header value", "GET /attack HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"s, 400},
      {"NUL in a header name", "GET /attack HTTP/1.1\r\nHost: x\r\nX\0Y: ab\r\n\r\n"s, 400},
  };
  for (const Row &row : rows) {
    INFO(row.name);
    HttpClient c(site.gw.port, 10s);
    c.send(row.wire + kSmuggled);
    Response r = c.read_response();
    CHECK(r.status == row.status);
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_within(5s));
    // Whatever followed the bad request was never parsed as a request.
    CHECK(c.pending().find("HTTP/1.1") == std::string::npos);
  }
  // One well-formed request proves the worker logs what it reads; neither
  // the attacks nor the requests smuggled behind them ever reached it.
  site.check_alive();
  CHECK(http_get(site.gw.port, "/alive").status == 200);
  REQUIRE_FALSE(log_lines(site.worker.child, "uri=/alive").empty());
  CHECK(log_lines(site.worker.child, "uri=/smuggled").empty());
  CHECK(log_lines(site.worker.child, "uri=/attack").empty());
  CHECK(log_lines(site.gw.child, "event=client_error").size() == rows.size());
}

TEST_CASE("hostile client: an oversized head of many small headers -> 431 and a close",
          "[e2e][hostile][client]") {
  Site site("--ok", "max_header_size = \"4KiB\"");
  HttpClient c(site.gw.port, 10s);
  std::string head = "GET /big-head HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; head.size() < 8192; ++i)
    head += "X-H" + std::to_string(i) + ": v\r\n";
  c.send(head + "\r\n" + kSmuggled);
  Response r = c.read_response();
  CHECK(r.status == 431);
  CHECK(c.closed_within(5s));
  site.check_alive();
  CHECK(log_lines(site.worker.child, "uri=/big-head").empty());
  CHECK(log_lines(site.worker.child, "uri=/smuggled").empty());
}

TEST_CASE("hostile client: an endless chunked body -> 413 at max_body_size",
          "[e2e][hostile][client]") {
  Site site("--ok", "max_body_size = \"256KiB\"");
  HttpClient c(site.gw.port, 10s);
  c.send("POST /endless HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  // Chunks until fcgimux stops taking them (it closes after its 413); the
  // sender gives up on the first error.
  std::thread sender([fd = c.fd()] {
    const std::string chunk = "1000\r\n" + std::string(0x1000, 'b') + "\r\n";
    for (int i = 0; i < 100000; ++i)
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0)
        return;
  });
  Response r = c.read_response();
  ::shutdown(c.fd(), SHUT_WR);
  sender.join();
  CHECK(r.status == 413);
  CHECK(log_lines(site.worker.child, "uri=/endless").empty()); // never dispatched
  CHECK_FALSE(wait_log_line(site.gw.child, {"event=client_error", "status=413"}, 5s).empty());
  site.check_alive();
}

TEST_CASE("hostile client: a slowloris head, one byte at a time -> 408 at header_timeout",
          "[e2e][hostile][client]") {
  Site site("--ok", "header_timeout = \"1s\"");
  HttpClient c(site.gw.port, 10s);
  const auto start = Clock::now();
  // Each byte comes well within the timeout, but the head as a whole does
  // not: the deadline runs from the first byte and is not pushed back.
  const std::string head = "GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 's');
  bool closed = false;
  for (char ch : head) {
    try {
      c.send(std::string(1, ch));
    } catch (const std::exception &) {
      closed = true;
      break;
    }
    if (c.closed_within(50ms)) {
      closed = true;
      break;
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK(closed);
  CHECK(took >= 0.9);
  Response r = c.read_response();
  CHECK(r.status == 408);
  CHECK(log_lines(site.worker.child, "uri=/slowloris").empty());
  site.check_alive();
}

TEST_CASE("hostile client: a body that stops arriving -> 408 at body_timeout",
          "[e2e][hostile][client]") {
  // The worker answers only once it has the whole body (STDIN ended), so the
  // request waits on the client alone; response_timeout is long, so only
  // body_timeout can end it, and the worker is not blamed for the client.
  Site site("--ok", "body_timeout = \"700ms\"", "response_timeout = \"30s\"");
  HttpClient c(site.gw.port, 10s);
  const auto start = Clock::now();
  c.send("POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
         std::string(100, 'b'));
  Response r = c.read_response();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK(r.status == 408);
  CHECK(took >= 0.65);
  CHECK(took < 10);
  CHECK(c.closed_within(5s));
  CHECK_FALSE(
      wait_log_line(site.gw.child, {"event=client_error", "status=408", "reason=body_timeout"}, 5s)
          .empty());
  CHECK(log_lines(site.gw.child, "event=worker_suspect").empty());
  CHECK(log_lines(site.gw.child, "event=worker_evicted").empty());
  site.check_alive();
}

TEST_CASE("hostile client: a body that trickles within body_timeout is served",
          "[e2e][hostile][client]") {
  Site site("--ok", "body_timeout = \"1s\"");
  HttpClient c(site.gw.port, 20s);
  c.send("POST /trickle-body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(200ms); // the client's pace, well inside the timeout
    c.send("t");
  }
  Response r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
}

TEST_CASE("hostile client: a client that never reads a large response keeps memory bounded",
          "[e2e][hostile][client]") {
  Site site("--endless-body", "response_buffer_size = \"256KiB\"\nwrite_timeout = \"4s\"",
            "response_timeout = \"30s\"");
  const long rss_before = rss_kib(site.gw.child.pid());
  HttpClient c(site.gw.port, 10s);
  // A small receive buffer, and then never a read.
  int small = 64 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  c.send("GET /never-read HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(eventually([&] { return !log_lines(site.worker.child, "uri=/never-read").empty(); }, 10s));
  // Without backpressure fcgimux would read the worker's endless body into
  // memory at loopback speed (GiB per second). Watch it for three seconds.
  long rss_max = rss_before;
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(100ms);
    rss_max = std::max(rss_max, rss_kib(site.gw.child.pid()));
  }
  const auto sent = log_lines(site.worker.child, "event=sent");
  INFO("fcgimux VmRSS before " << rss_before << " KiB, max " << rss_max << " KiB; worker sent "
                               << sent.size() << " MiB");
  CHECK(rss_max - rss_before < 32 * 1024);
  // What the worker got rid of fits in the socket buffers and the capped
  // output queue: a few MiB, not hundreds.
  CHECK(sent.size() < 64);
  // And it is not held forever: write_timeout after its last taken byte,
  // fcgimux disconnects it and lets go of the worker.
  // (The log first: reading now would be progress and restart the timeout.)
  CHECK_FALSE(wait_log_line(site.gw.child, {"event=client_write_timeout"}, 15s).empty());
  CHECK(c.closed_within(10s));
  CHECK_FALSE(wait_log_line(site.gw.child,
                            {"event=access", "worker=" + site.worker.address(), "client_closed"}, 5s)
                  .empty());
  site.check_alive();
}

TEST_CASE("hostile client: a connection flood leaves the server serving",
          "[e2e][hostile][client]") {
  Site site("--ok", "threads = 2");
  // Counted once every loop thread is up (event=started comes after each
  // has made its io_uring and eventfd), not at event=listening, before them.
  REQUIRE(eventually([&] { return !log_lines(site.gw.child, "event=started").empty(); }, 10s));
  const int fds_before = open_fds(site.gw.child.pid());
  std::vector<std::thread> floods;
  for (int t = 0; t < 4; ++t)
    floods.emplace_back([port = site.gw.port, t] {
      for (int i = 0; i < 500; ++i) {
        try {
          HttpClient c(port, 5s);
          if ((i + t) % 3 == 1)
            c.send("GET /flood HTTP/1.1\r\nHo"); // a partial head, then gone
          else if ((i + t) % 3 == 2)
          {
            const linger reset{1, 0}; // close() sends a reset
            ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
          }
        } catch (const std::exception &) {
          // A refused or reset connect is part of a flood.
        }
      }
    });
  for (auto &f : floods)
    f.join();
  site.check_alive();
  // Every flooded connection is closed in the end: the fd count comes back.
  CHECK(eventually([&] { return open_fds(site.gw.child.pid()) <= fds_before + 2; }, 10s));
  CHECK(log_lines(site.worker.child, "uri=/flood").empty());
}

TEST_CASE("hostile client: idle hordes: max_connections holds, the oldest idle go first",
          "[e2e][hostile][client]") {
  // One thread, so that "oldest idle" is one list. 2000 keep-alive
  // connections fill max_connections; each new one then takes the place of
  // the oldest idle one.
  const int limit = 2000;
  Site site("--ok", "threads = 1\nmax_connections = " + std::to_string(limit) +
                        "\nidle_timeout = \"120s\"\nheader_timeout = \"60s\"");
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < limit; ++i) {
    auto c = std::make_unique<HttpClient>(site.gw.port, 10s);
    c->send("GET /idle-" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(c->read_response().status == 200); // now idle, in this order
    idle.push_back(std::move(c));
  }
  const int fds_full = open_fds(site.gw.child.pid());
  // 200 newcomers, each served: room is made by closing the oldest idle.
  const int newcomers = 200;
  std::vector<std::unique_ptr<HttpClient>> fresh;
  for (int i = 0; i < newcomers; ++i) {
    auto c = std::make_unique<HttpClient>(site.gw.port, 10s);
    c->send("GET /new-" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    Response r = c->read_response();
    REQUIRE(r.status == 200);
    fresh.push_back(std::move(c));
  }
  for (int i = 0; i < newcomers; ++i) {
    INFO("idle connection " << i << " (among the oldest) must have been closed");
    CHECK(idle[size_t(i)]->closed_within(5s));
  }
  for (int i = newcomers; i < limit; i += 100) {
    INFO("idle connection " << i << " (younger) must still be open");
    CHECK_FALSE(idle[size_t(i)]->closed_within(20ms));
  }
  CHECK(log_lines(site.gw.child, "event=connection_evicted").size() == size_t(newcomers));
  // The connection count never went over the limit for long: fcgimux holds
  // no more sockets than when it was full.
  CHECK(eventually([&] { return open_fds(site.gw.child.pid()) <= fds_full; }, 5s));
  // Full of connections that are not idle (new, silent ones): a newcomer is
  // turned away at once, and logged.
  fresh.clear();
  idle.clear();
  REQUIRE(eventually([&] { return open_fds(site.gw.child.pid()) < fds_full - limit + 10; }, 10s));
  std::vector<std::unique_ptr<HttpClient>> silent;
  for (int i = 0; i < limit; ++i)
    silent.push_back(std::make_unique<HttpClient>(site.gw.port, 10s));
  HttpClient extra(site.gw.port, 10s);
  CHECK(extra.closed_within(5s));
  CHECK_FALSE(wait_log_line(site.gw.child, {"event=max_connections"}, 5s).empty());
  for (size_t i = 0; i < silent.size(); i += 200)
    CHECK_FALSE(silent[i]->closed_within(20ms));
}
