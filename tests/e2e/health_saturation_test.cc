// Issue #3, scenario 5: saturated is not hung. Three PHP-FPM workers with
// pm = static, pm.max_children = 2 (examples/php/php-fpm.conf.in), and more
// concurrent slow requests than children in all: requests wait (in
// fcgimux's queue, or a worker's backlog) and all succeed; no worker is
// evicted (a worker_full line is fine); no 502, no 503.
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
  const std::string docroot = (source_dir() / "tests/e2e/php").string();
  // 3 workers x 2 children = 6 at once; 15 clients x 2 requests of 800 ms
  // each: about 4 s of work, so requests queue for up to ~4 s.
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2") +
               route_toml("/", "php", "document_root = \"" + docroot + "\"") +
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
// FCGI_GET_VALUES with FCGI_MPXS_CONNS only, so the capacity is unknown, and
// fcgimux tells "busy" from "hung" only by one of our requests completing
// during the probe; with 800 ms requests, 2 children and a 300 ms probe that
// often does not happen, and the worker is evicted. Known open problem
// (issue #3; README tells PHP-FPM users to set max_conns): [!mayfail] keeps
// it reported without failing the run until it is fixed.
TEST_CASE("health: saturated PHP-FPM workers (pm.max_children = 2) are full, not evicted, and every "
          "request succeeds",
          "[e2e][health][php][!mayfail]") {
  check_saturated_php("");
}

// With the capacity configured (max_conns = pm.max_children), across two
// loop threads: capacity freed on one thread wakes the other's queue, and no
// thread keeps an idle connection that would pin a child another needs.
TEST_CASE("health: saturated PHP-FPM workers with max_conns = 2 are full, not evicted, and every "
          "request succeeds",
          "[e2e][health][php]") {
  check_saturated_php("max_conns = 2\n");
}
