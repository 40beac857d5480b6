// Issue #3, scenario 6: every worker killed, then restarted. While all are
// down, each request gets 503 with Retry-After at once (not after
// queue_timeout, never a hang); once they run again probes re-admit them
// all and requests succeed on each.
#include <set>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: with every worker down requests get 503 with Retry-After at once, and after a "
          "restart all are re-admitted",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 16);
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  // queue_timeout 10 s: an answer in well under that is "at once".
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "p") +
                                      pool_toml("p", {&w1, &w2, &w3}, pool_settings("", "2s", "10s")));
  for (int i = 0; i < 6; ++i)
    REQUIRE(http_get(gw.port, "/hello?warm=" + std::to_string(i)).status == 200);

  for (Worker *w : {&w1, &w2, &w3})
    kill_hard(w->child);

  // Sequential requests, then a burst in parallel.
  for (int i = 0; i < 8; ++i) {
    const auto start = Clock::now();
    Response r = http_request(gw.port, "GET", "/hello?down=" + std::to_string(i), {}, "", 15s);
    const auto took = std::chrono::duration_cast<Duration>(Clock::now() - start);
    INFO("request " << i << ": " << r.status << " in " << took.count() << " ms, Retry-After '"
                    << r.header("retry-after") << "', body " << r.body);
    CHECK(r.status == 503);
    REQUIRE(r.has("retry-after"));
    const std::string ra = r.header("retry-after");
    CHECK((!ra.empty() && ra.find_first_not_of("0123456789") == std::string::npos));
    CHECK(took < 3000ms);
  }
  {
    LoadOptions opts;
    opts.threads = 6;
    opts.max_requests = 60;
    opts.pause = 0ms;
    opts.max_time = 20s;
    Load burst(gw.port, opts);
    REQUIRE(burst.wait_finished(25s));
    burst.stop();
    const auto s = burst.samples();
    INFO(describe_samples(s, 503));
    CHECK(count_status(s, 503) == s.size());
    CHECK(max_latency(s) < 3000ms);
    for (const auto &x : s)
      CHECK(!x.retry_after.empty());
  }

  // Back on the same ports.
  const int mark = int(log_all_lines(gw.child).size());
  w1 = spawn_libfcgi(dir, "fcgi-1", 16, w1.port);
  w2 = spawn_libfcgi(dir, "fcgi-2", 16, w2.port);
  w3 = spawn_libfcgi(dir, "fcgi-3", 16, w3.port);
  for (const Worker *w : {&w1, &w2, &w3}) {
    INFO("health events:\n" << health_events(gw.child));
    INFO(w->address());
    CHECK_FALSE(
        wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + w->address() + " "}, 15s, mark)
            .empty());
  }
  std::set<std::string> seen;
  std::vector<int> statuses;
  const bool all_three = eventually(
      [&] {
        Response r = http_request(gw.port, "GET", "/hello?back", {}, "", 15s);
        statuses.push_back(r.status);
        if (r.status == 200)
          seen.insert(r.header("x-worker"));
        return seen.size() == 3 || statuses.size() >= 300;
      },
      20s);
  INFO("health events:\n" << health_events(gw.child));
  INFO("workers seen after the restart: " << seen.size());
  CHECK(all_three);
  CHECK(seen.size() == 3);
  // Once re-admitted, every request succeeds.
  for (int i = 0; i < 30; ++i)
    CHECK(http_get(gw.port, "/hello?after=" + std::to_string(i)).status == 200);
}
