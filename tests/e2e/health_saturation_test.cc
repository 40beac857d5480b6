// Issue #3, scenario 5: saturated is not hung. Three PHP-FPM workers with
// pm = static, pm.max_children = 2 (examples/php/php-fpm.conf.in), and more
// concurrent slow requests than children in all: requests wait (in
// fcgimux's queue, or a worker's backlog) and all succeed; no worker is
// evicted (a worker_full line is fine); no 502, no 503.
#include <fstream>
#include <iterator>
#include <thread>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

namespace {
// |pool_extra|: more lines for the pool.
void check_saturated_php(const std::string &pool_extra) {
  TempDir dir;
  Worker p1 = spawn_php_fpm(dir);
  Worker p2 = spawn_php_fpm(dir);
  Worker p3 = spawn_php_fpm(dir);
  // 3 workers x 2 children = 6 at once; 15 clients x 2 requests of 800 ms
  // each: about 4 s of work, so requests queue for up to ~4 s.
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2") +
               php_test_route_toml() +
               pool_toml("php", {&p1, &p2, &p3}, pool_settings(pool_extra, "5s", "15s")));

  // A warm-up request per worker, so that they all have answered once.
  for (int i = 0; i < 6; ++i) {
    Response r = http_get(gw.port, "/sleep.php?ms=0&id=warm-" + std::to_string(i));
    INFO(r.body);
    REQUIRE(r.status == 200);
  }

  LoadOptions opts;
  opts.threads = 15;
  opts.max_requests = 30;
  opts.pause = 0ms;
  opts.max_time = 40s;
  opts.request_timeout = 30s;
  opts.target = [](int n) { return "/sleep.php?ms=800&id=" + std::to_string(n); };
  Load load(gw.port, opts);
  REQUIRE(load.wait_finished(45s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events:\n" << health_events(gw.child));
  INFO(describe_samples(samples));
  INFO("slowest: " << max_latency(samples).count() << " ms; worker_full lines: "
                   << log_lines(gw.child, "event=worker_full").size());
  CHECK(samples.size() == 30);
  CHECK(count_status(samples, 200) == samples.size());
  CHECK(count_status(samples, 502) == 0);
  CHECK(count_status(samples, 503) == 0);
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  for (const auto &s : samples)
    if (s.status == 200) {
      INFO(s.body);
      CHECK(s.body.find("slept 800 ms") == 0);
    }
  // The workers are all still in: quick requests succeed at once.
  for (int i = 0; i < 6; ++i)
    CHECK(http_get(gw.port, "/sleep.php?ms=0&id=after-" + std::to_string(i)).status == 200);
}
} // namespace

// As a user writes it, without max_conns. Debian 12's PHP-FPM 8.2 answers
// FCGI_GET_VALUES with FCGI_MPXS_CONNS only, so the capacity is unknown:
// fcgimux cannot bound its connections by it, and idle kept-alive
// connections of one thread hold children that another thread's new
// connection waits for in the backlog. A fresh connection waiting past
// suspect_after is taken as that sign, and idle connections to the worker
// go (gateway/upstream/saturation.h).
TEST_CASE("health: saturated PHP-FPM workers (pm.max_children = 2) are full, not evicted, and every "
          "request succeeds",
          "[e2e][health][php]") {
  check_saturated_php("");
}

// A request that times out while its PHP-FPM worker (capacity unknown) is
// saturated by 700 ms requests: the liveness probe waits in the worker's
// backlog and goes unanswered, but the worker keeps completing our requests
// (at least one per p99), so it is full, not hung: not evicted, and every
// other request succeeds. One worker only: an eviction would leave nothing
// to serve (503s). A probe window of probe_timeout alone (300 ms) saw no
// completion more often than not.
TEST_CASE("health: a request timing out on a saturated PHP-FPM worker does not get the worker "
          "evicted",
          "[e2e][health][php]") {
  TempDir dir;
  Worker p1 = spawn_php_fpm(dir);
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2") +
               php_test_route_toml() +
               pool_toml("php", {&p1}, pool_settings("", "3s", "10s")));
  REQUIRE(http_get(gw.port, "/sleep.php?ms=0&id=warm").status == 200);

  // One child holds the slow request; three clients share the other, 700 ms
  // each, so each waits at most ~2.1 s (under response_timeout).
  Response slow;
  std::thread slow_client(
      [&] { slow = http_get(gw.port, "/sleep.php?ms=4500&id=slow"); });
  // Started once PHP logged it (sleep.php writes its start to php-errors.log).
  const fs::path php_log = php_error_log(dir, p1);
  REQUIRE(eventually(
      [&] {
        std::ifstream in(php_log);
        const std::string text{std::istreambuf_iterator<char>(in), {}};
        return text.find("start") != std::string::npos && text.find("id=slow") != std::string::npos;
      },
      5s));
  LoadOptions opts;
  opts.threads = 3;
  opts.max_requests = 18;
  opts.pause = 0ms;
  opts.max_time = 30s;
  opts.request_timeout = 20s;
  opts.target = [](int n) { return "/sleep.php?ms=700&id=" + std::to_string(n); };
  Load load(gw.port, opts);
  slow_client.join();
  REQUIRE(load.wait_finished(40s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events:\n" << health_events(gw.child));
  INFO(describe_samples(samples));
  // The slow request timed out (the probe was about the worker, not it).
  CHECK(slow.status == 504);
  CHECK(log_lines(gw.child, "event=worker_suspect").size() >= 1);
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  CHECK(samples.size() == 18);
  CHECK(count_status(samples, 200) == samples.size());
  CHECK(http_get(gw.port, "/sleep.php?ms=0&id=after").status == 200);
}

// With the capacity configured (max_conns = pm.max_children), across two
// loop threads: capacity freed on one thread wakes the other's queue, and no
// thread keeps an idle connection that would pin a child another needs.
TEST_CASE("health: saturated PHP-FPM workers with max_conns = 2 are full, not evicted, and every "
          "request succeeds",
          "[e2e][health][php]") {
  check_saturated_php("max_conns = 2\n");
}
