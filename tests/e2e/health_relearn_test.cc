// A worker that closes after every response (uWSGI's habit; fault_worker
// --close-after-response here) makes fcgimux stop asking it for keep-alive.
// When that worker dies and another program that keeps connections
// (fault_worker --ok) comes up on its port — a restart, a deploy — fcgimux
// learns again, once the worker is back, that it keeps connections: the
// lesson of the old program (or of a death under load, which also closes
// connections right after their responses) does not outlive an eviction.
#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: whether a worker keeps connections is learned again after it was evicted and "
          "came back",
          "[e2e][health][keepalive]") {
  TempDir dir;
  Worker w = spawn_fault_worker(dir, "--ok", {"--close-after-response"});
  const std::string addr = w.address();
  // One loop thread: what it learns is the whole story.
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 1\nadmin_listen = \"127.0.0.1:0\"") +
                                      route_toml("/", "p") + pool_toml("p", {&w}, pool_settings()));
  const int admin = admin_port(gw.child);
  REQUIRE(admin > 0);
  for (int i = 0; i < 6; ++i)
    REQUIRE(http_get(gw.port, "/hello?before=" + std::to_string(i)).status == 200);
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(wait_log_line(gw.child, {"event=worker_no_keepalive", "worker=" + addr + " "}, 5s)
                    .empty());

  const int mark = int(log_all_lines(gw.child).size());
  kill_hard(w.child);
  // The next request finds it gone (connect refused): evicted, 503.
  CHECK(http_get(gw.port, "/hello?down").status == 503);
  REQUIRE_FALSE(
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + addr + " "}, 10s, mark).empty());
  Worker back = spawn_fault_worker(dir, "--ok", {"--listen", addr});
  REQUIRE(back.port == w.port);
  REQUIRE_FALSE(
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + addr + " "}, 15s, mark)
          .empty());

  const long long requests0 = worker_status_field(admin, addr, "requests");
  const long long conns0 = worker_status_field(admin, addr, "connections_opened");
  REQUIRE(requests0 >= 0);
  REQUIRE(conns0 >= 0);
  for (int i = 0; i < 20; ++i) {
    const Response r = http_get(gw.port, "/hello?after=" + std::to_string(i));
    CHECK(r.status == 200);
  }
  const long long requests = worker_status_field(admin, addr, "requests") - requests0;
  const long long conns = worker_status_field(admin, addr, "connections_opened") - conns0;
  INFO(requests << " requests over " << conns << " new connections");
  CHECK(requests == 20);
  // Kept alive: one request per connection (what fcgimux had learned from
  // the old program) would open 20.
  CHECK(conns <= 2);
}

// How a worker is probed is learned at first contact; a worker that
// answered FCGI_GET_VALUES (fault_worker --ok) and is replaced on its port
// by a program that never answers it on its own (libfcgi answers it only
// once a request follows; uWSGI never) must still be re-admitted: a
// re-admission probe that GET_VALUES leaves unanswered sends a request too.
// (When written, the worker stayed out for ever.)
TEST_CASE("health: a worker replaced by a program that does not answer FCGI_GET_VALUES is "
          "re-admitted",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w = spawn_fault_worker(dir, "--ok");
  const std::string addr = w.address();
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "p") +
                                      pool_toml("p", {&w}, pool_settings()));
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(wait_log_line(gw.child, {"event=worker_capabilities", "worker=" + addr + " ",
                                         "probe_kind=get_values"},
                              10s)
                    .empty());
  REQUIRE(http_get(gw.port, "/hello?before").status == 200);

  const int mark = int(log_all_lines(gw.child).size());
  kill_hard(w.child);
  CHECK(http_get(gw.port, "/hello?down").status == 503);
  REQUIRE_FALSE(
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + addr + " "}, 10s, mark).empty());
  Worker back = spawn_libfcgi(dir, "fcgi-1", 8, w.port);
  const std::string readmitted =
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + addr + " "}, 15s, mark);
  INFO("health events at the end:\n" << health_events(gw.child));
  REQUIRE_FALSE(readmitted.empty());
  for (int i = 0; i < 10; ++i) {
    const Response r = http_get(gw.port, "/hello?after=" + std::to_string(i));
    CHECK(r.status == 200);
    CHECK(r.header("x-worker") == "fcgi-1");
  }
}
