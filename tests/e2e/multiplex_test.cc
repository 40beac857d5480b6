// Issue #4: many requests per worker connection where the worker allows it.
// Against mux_worker (deterministic, with an event log of what arrived on
// which connection) and the real multiplexing workers from Debian:
// node-fastcgi (examples/node) and Net::Async::FastCGI (examples/perl).
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <thread>

#include "mux_harness.h"

using namespace e2e;

namespace {

std::string tag_target(int i, int ms) {
  return "/tag?t=req-" + std::to_string(i) + (ms ? "&ms=" + std::to_string(ms) : "");
}

// Sends |n| requests at once (each held |ms| by the worker), and while they
// are in flight samples the established connections to |worker_port|.
// Returns the most seen; every response must be its own tag.
int check_concurrent_tags(const Gateway &gw, int worker_port, int n, int ms) {
  // A few requests one after the other first: fcgimux shares a connection
  // only once the worker has shown it keeps connections (a worker may say
  // FCGI_MPXS_CONNS=1 and close after its first response anyway).
  for (int i = 0; i < 5; ++i)
    REQUIRE(http_get(gw.port, "/hello").status == 200);
  std::vector<std::string> targets;
  for (int i = 0; i < n; ++i)
    targets.push_back(tag_target(i, ms));
  std::atomic<bool> done{false};
  std::atomic<int> most{0};
  std::thread sampler([&] {
    while (!done) {
      most = std::max(most.load(), established_to_port(worker_port));
      poll_pause();
    }
  });
  const auto responses = concurrent_gets(gw.port, targets, 60s);
  done = true;
  sampler.join();
  int intact = 0;
  for (int i = 0; i < n; ++i) {
    const Response &r = responses[size_t(i)];
    if (r.status == 200 && r.body == "req-" + std::to_string(i))
      ++intact;
    else if (n - intact < 5)
      UNSCOPED_INFO("request " << i << ": " << r.status << " " << r.body.substr(0, 200));
  }
  CHECK(intact == n);
  return most;
}

std::string mux_pool(const Worker &w, const std::string &extra = "") {
  return pool_toml("m", {&w}, "response_timeout = \"30s\"\nqueue_timeout = \"30s\"\n" + extra);
}

// True when the event log shows the request whose URI starts with |uri|
// answered in full ("end ... status=complete" on its connection and id).
bool request_ended(const MuxEvents &ev, const std::string &uri) {
  std::string conn_id; // "conn=N" and " id=I"
  for (const auto &l : ev.lines) {
    const size_t r = l.find(" request id=");
    if (conn_id.empty() && r != std::string::npos && l.find(" uri=" + uri) != std::string::npos) {
      const std::string id = l.substr(r + 9, l.find(' ', r + 9) - (r + 9));
      conn_id = l.substr(0, l.find(' ')) + " end " + id + " status=complete";
    } else if (!conn_id.empty() && l == conn_id) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("multiplex: 200 concurrent requests to mux_worker share a handful of connections, each "
          "answered with its own response",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "m") + mux_pool(w));
  const int most = check_concurrent_tags(gw, w.port, 200, 300);
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  INFO("most established connections seen: " << most);
  int tags = 0;
  for (const auto &u : ev.uris_by_request)
    tags += u.rfind("/tag", 0) == 0;
  CHECK(tags == 200);
  CHECK(ev.errors.empty()); // no id reused before its END_REQUEST
  CHECK(ev.conns_with_requests() <= 8);
  CHECK(most <= 8);
  CHECK(ev.max_inflight() > 1);   // really several ids at once on a connection
  CHECK(ev.max_inflight() <= 100); // FCGI_MAX_REQS
}

TEST_CASE("multiplex: 200 concurrent requests to node-fastcgi share a handful of connections",
          "[e2e][multiplex][node]") {
  if (!have_node_fastcgi()) {
    WARN("SKIPPED: node-fastcgi not installed (apt-get install nodejs node-fastcgi)");
    return;
  }
  TempDir dir;
  Worker w = spawn_node_worker(dir, "node-1", dir / "aborts.log");
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "m") + mux_pool(w));
  const int most = check_concurrent_tags(gw, w.port, 200, 300);
  INFO(w.child.log_text());
  CHECK(most <= 8);
  CHECK(most >= 1);
}

TEST_CASE("multiplex: 200 concurrent requests to Net::Async::FastCGI share a handful of connections",
          "[e2e][multiplex][perl]") {
  if (!have_perl_fastcgi()) {
    WARN("SKIPPED: Net::Async::FastCGI not installed (apt-get install libnet-async-fastcgi-perl)");
    return;
  }
  TempDir dir;
  Worker w = spawn_perl_worker(dir, "perl-1", dir / "aborts.log");
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "m") + mux_pool(w));
  const int most = check_concurrent_tags(gw, w.port, 200, 300);
  INFO(w.child.log_text());
  CHECK(most <= 8);
  CHECK(most >= 1);
}

TEST_CASE("multiplex: a client that stops reading a 50 MB response does not hold up a small "
          "request on the same worker connection, and fcgimux's memory stays bounded",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  // One loop thread and one connection to the worker: the big response and
  // the small request share it.
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1\nresponse_buffer_size = \"256KiB\"") +
                                      route_toml("/", "m") +
                                      mux_pool(w, "multiplex = \"on\"\nmax_conns = 1\n"));
  REQUIRE(http_get(gw.port, "/hello").status == 200);
  const long rss_before = rss_kib(gw.child.pid());

  constexpr size_t kBig = 50u << 20;
  HttpClient slow(gw.port, 60s);
  int small_buf = 16 * 1024;
  ::setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &small_buf, sizeof small_buf);
  slow.send("GET /bytes?n=" + std::to_string(kBig) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  // The worker writes all 50 MB although the client reads nothing: fcgimux
  // keeps reading the shared connection (spilling what the client cannot
  // take yet) instead of pausing it.
  const bool big_written =
      eventually([&] { return request_ended(read_mux_events(events), "/bytes?n="); }, 30s);
  CHECK(big_written);

  // A small request now: it shares the worker connection (max_conns = 1)
  // and must be answered while the big one is still unread.
  Response small = http_get(gw.port, "/tag?t=small");
  CHECK(small.status == 200);
  CHECK(small.body == "small");
  const long rss_stalled = rss_kib(gw.child.pid());
  INFO("fcgimux VmRSS before " << rss_before << " KiB, with 50 MB unread " << rss_stalled << " KiB");
  CHECK(rss_stalled - rss_before < 20 * 1024);

  // The slow client reads it all now, intact.
  Response big = slow.read_response();
  CHECK(big.status == 200);
  REQUIRE(big.body.size() == kBig);
  size_t bad = 0;
  for (size_t i = 0; i < kBig; i += 4099)
    bad += big.body[i] != char('a' + i % 26);
  CHECK(bad == 0);
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  CHECK(ev.errors.empty());
  // The small request shared the big one's connection (max_conns = 1).
  CHECK(ev.conn_of("/tag?t=small") == ev.conn_of("/bytes?n="));
}

TEST_CASE("multiplex: a client that goes away is an FCGI_ABORT_REQUEST, and the connection carries "
          "on",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                      mux_pool(w, "multiplex = \"on\"\nmax_conns = 1\n"));
  REQUIRE(http_get(gw.port, "/hello").status == 200);
  {
    HttpClient c(gw.port, 10s);
    reset_on_close(c);
    c.send("GET /sleep?ms=30000 HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(eventually(
        [&] {
          for (const auto &u : read_mux_events(events).uris_by_request)
            if (u == "/sleep?ms=30000")
              return true;
          return false;
        },
        10s));
  } // the client resets its connection
  const bool aborted = eventually([&] { return !read_mux_events(events).aborts.empty(); }, 10s);
  MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  for (const auto &l : ev.lines)
    UNSCOPED_INFO(l);
  CHECK(aborted);
  // The connection is still good for the next requests.
  for (int i = 0; i < 5; ++i)
    CHECK(http_get(gw.port, "/tag?t=after-" + std::to_string(i)).body ==
          "after-" + std::to_string(i));
  ev = read_mux_events(events);
  CHECK(ev.errors.empty());
  // They went on the connection that carried the aborted request (max_conns
  // = 1), which the abort did not close.
  const int conn = ev.conn_of("/sleep?ms=30000");
  REQUIRE(conn > 0);
  CHECK_FALSE(ev.conns.at(conn).closed);
  CHECK(ev.count_on(conn, "/tag?t=after-") == 5);
}

TEST_CASE("multiplex: an aborted request's id is not reused before its FCGI_END_REQUEST",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  MuxWorkerOptions o;
  o.abort_end_delay_ms = 1000; // the aborted ids stay in flight for a second
  Worker w = spawn_mux_worker(dir, "mux-1", events, o);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                      mux_pool(w, "multiplex = \"on\"\nmax_conns = 1\n"));
  REQUIRE(http_get(gw.port, "/hello").status == 200);
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < 10; ++i) {
      clients.push_back(std::make_unique<HttpClient>(gw.port, 10s));
      reset_on_close(*clients.back());
      clients.back()->send("GET /sleep?ms=30000&i=" + std::to_string(i) +
                           " HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    REQUIRE(eventually(
        [&] {
          int n = 0;
          for (const auto &u : read_mux_events(events).uris_by_request)
            n += u.rfind("/sleep?ms=30000", 0) == 0;
          return n == 10;
        },
        10s));
  } // all ten clients reset their connections
  REQUIRE(eventually([&] { return read_mux_events(events).aborts.size() == 10; }, 10s));
  // While the ten ids wait for their END_REQUEST, more requests on the same
  // connection must take other ids.
  std::vector<std::string> targets;
  for (int i = 0; i < 30; ++i)
    targets.push_back(tag_target(i, 50));
  const auto responses = concurrent_gets(gw.port, targets, 30s);
  int intact = 0;
  for (int i = 0; i < 30; ++i)
    intact += responses[size_t(i)].status == 200 && responses[size_t(i)].body == "req-" + std::to_string(i);
  CHECK(intact == 30);
  // And once they are ended, requests go on as before.
  REQUIRE(eventually(
      [&] {
        int n = 0;
        for (const auto &l : read_mux_events(events).lines)
          n += l.find("status=aborted") != std::string::npos;
        return n == 10;
      },
      10s));
  for (int i = 0; i < 5; ++i)
    CHECK(http_get(gw.port, tag_target(100 + i, 0)).body == "req-" + std::to_string(100 + i));
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  CHECK(ev.errors.empty());
  // The 30, and the 5 after them, shared the connection where the ten
  // aborted ids were still taken.
  const int conn = ev.conn_of("/sleep?ms=30000");
  REQUIRE(conn > 0);
  CHECK(ev.count_on(conn, "/tag?t=req-") == 35);
}

TEST_CASE("multiplex: node-fastcgi and Net::Async::FastCGI are told of client aborts",
          "[e2e][multiplex][node][perl]") {
  for (const std::string kind : {"node", "perl"}) {
    if ((kind == "node" && !have_node_fastcgi()) || (kind == "perl" && !have_perl_fastcgi())) {
      WARN("SKIPPED: " << kind << " worker not installed");
      continue;
    }
    SECTION(kind) {
      TempDir dir;
      const fs::path aborts = dir / "aborts.log";
      Worker w = kind == "node" ? spawn_node_worker(dir, "node-1", aborts)
                                : spawn_perl_worker(dir, "perl-1", aborts);
      Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                          mux_pool(w, "multiplex = \"on\"\n"));
      REQUIRE(http_get(gw.port, "/hello").status == 200);
      {
        HttpClient c(gw.port, 10s);
        reset_on_close(c);
        c.send("GET /sleep?ms=30000 HTTP/1.1\r\nHost: x\r\n\r\n");
        // No event log here: give the request time to reach the worker by
        // a request sent after it on another client connection.
        CHECK(http_get(gw.port, "/tag?t=x").body == "x");
      }
      const bool told = eventually(
          [&] {
            std::ifstream in(aborts);
            std::string line;
            while (std::getline(in, line))
              if (line.find("uri=/sleep?ms=30000") != std::string::npos)
                return true;
            return false;
          },
          10s);
      INFO(w.child.log_text());
      CHECK(told);
      CHECK(http_get(gw.port, "/tag?t=y").body == "y");
    }
  }
}

TEST_CASE("multiplex: multiplex = \"off\" sends one request per connection at a time",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                      mux_pool(w, "multiplex = \"off\"\n"));
  check_concurrent_tags(gw, w.port, 40, 200);
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  CHECK(ev.errors.empty());
  CHECK(ev.max_inflight() == 1);
  CHECK(ev.conns_with_requests() >= 2);
}

TEST_CASE("multiplex: \"auto\" does not multiplex a worker that answers FCGI_MPXS_CONNS=0 or does "
          "not answer",
          "[e2e][multiplex]") {
  for (const bool answers : {true, false}) {
    SECTION(answers ? "FCGI_MPXS_CONNS=0" : "no FCGI_GET_VALUES_RESULT") {
      TempDir dir;
      const fs::path events = dir / "events.log";
      MuxWorkerOptions o;
      o.mpxs = false;
      o.answer_values = answers;
      Worker w = spawn_mux_worker(dir, "mux-1", events, o);
      Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                          mux_pool(w, "multiplex = \"auto\"\n"));
      check_concurrent_tags(gw, w.port, 30, 200);
      const MuxEvents ev = read_mux_events(events);
      INFO(ev.summary());
      CHECK(ev.errors.empty());
      CHECK(ev.max_inflight() == 1);
    }
  }
}

TEST_CASE("multiplex: the worker's FCGI_MAX_REQS and FCGI_MAX_CONNS are kept to",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  MuxWorkerOptions o;
  o.max_conns = 2;
  o.max_reqs = 5;
  Worker w = spawn_mux_worker(dir, "mux-1", events, o);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") + mux_pool(w));
  const int most = check_concurrent_tags(gw, w.port, 40, 200);
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  INFO("most established connections seen: " << most);
  CHECK(ev.errors.empty());
  CHECK(ev.max_inflight() <= 5);
  CHECK(ev.max_inflight() > 1);
  CHECK(most <= 2);
}

TEST_CASE("multiplex: max_reqs_per_conn caps the requests in flight on one connection",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                      mux_pool(w, "max_reqs_per_conn = 4\n"));
  check_concurrent_tags(gw, w.port, 40, 200);
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  CHECK(ev.errors.empty());
  CHECK(ev.max_inflight() <= 4);
  CHECK(ev.max_inflight() > 1);
}

TEST_CASE("multiplex: keepalive_requests retires a connection after that many requests",
          "[e2e][multiplex]") {
  TempDir dir;
  const fs::path events = dir / "events.log";
  Worker w = spawn_mux_worker(dir, "mux-1", events);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1") + route_toml("/", "m") +
                                      mux_pool(w, "keepalive_requests = 10\n"));
  for (int i = 0; i < 60; ++i)
    REQUIRE(http_get(gw.port, tag_target(i, 0)).body == "req-" + std::to_string(i));
  const MuxEvents ev = read_mux_events(events);
  INFO(ev.summary());
  CHECK(ev.errors.empty());
  int most = 0;
  for (const auto &[n, c] : ev.conns)
    most = std::max(most, c.requests);
  CHECK(most <= 10);
  CHECK(ev.conns_with_requests() >= 6);
}
