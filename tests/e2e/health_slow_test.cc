// Issue #3, scenario 4: a slow view is not a hung worker. Three libfcgi
// workers with free threads; a few requests take 1.5 s (response_timeout is
// 4 s) while fast ones go on. Early suspicion may probe the worker, and the
// probe is answered: nobody is evicted, the slow requests succeed, and the
// worker running a slow one keeps serving fast ones meanwhile.
#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: a slow view does not evict its worker, which keeps serving fast requests",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 16);
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  // Round-robin, so that a worker busy with a slow request still gets its
  // share of the fast ones (least-conn would steer them away).
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2") + route_toml("/", "p") +
               pool_toml("p", {&w1, &w2, &w3}, pool_settings("balance = \"round-robin\"\n", "4s")));

  LoadOptions fast;
  fast.threads = 4;
  fast.max_requests = 3000;
  fast.max_time = 25s;
  Load load(gw.port, fast);
  // The pool learns its usual latency first (early suspicion compares with it).
  REQUIRE(load.wait_more(150, 15s));

  LoadOptions slow;
  slow.threads = 3;
  slow.max_requests = 3;
  slow.pause = 0ms;
  slow.max_time = 15s;
  slow.target = [](int n) { return "/sleep?ms=1500&id=slow-" + std::to_string(n); };
  Load slow_load(gw.port, slow);
  REQUIRE(slow_load.wait_finished(20s));
  slow_load.stop();
  CHECK(load.wait_more(100, 15s));
  load.stop();

  const auto slow_samples = slow_load.samples();
  const auto samples = load.samples();
  INFO("health events:\n" << health_events(gw.child));
  INFO("slow: " << describe_samples(slow_samples));
  INFO("fast: " << describe_samples(samples));
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  CHECK(count_status(samples, 200) == samples.size());
  REQUIRE(slow_samples.size() == 3);
  for (const auto &s : slow_samples) {
    INFO(s.target << " -> " << s.status << " on " << s.worker << " in " << s.latency().count()
                  << " ms, body " << s.body);
    CHECK(s.status == 200);
    CHECK(s.body == "slept 1500 ms\n");
    CHECK(s.latency() >= 1400ms);
    // Its worker served fast requests while the slow one ran (after the
    // first 500 ms, when a suspicion probe has long been answered).
    const auto during = std::count_if(samples.begin(), samples.end(), [&](const LoadSample &f) {
      return f.status == 200 && f.worker == s.worker && f.start > s.start + 500ms &&
             f.end < s.end;
    });
    INFO("fast requests on " << s.worker << " during the slow one: " << during);
    CHECK(during >= 1);
  }
}
