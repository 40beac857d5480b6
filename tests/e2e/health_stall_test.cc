// Issue #3, scenario 3: a worker that accepts connections and never answers,
// from the start (fcgimux's first contact learns nothing from it). Every GET
// succeeds through the two good workers; the silent one is evicted and stays
// out.
#include <signal.h>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

namespace {

void check_silent_worker_evicted(const TempDir &dir, const Worker &w1, const Worker &silent,
                                 const Worker &w3) {
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "p") +
                                      pool_toml("p", {&w1, &silent, &w3}, pool_settings()));
  LoadOptions opts;
  opts.threads = 4;
  opts.max_requests = 3000;
  opts.max_time = 25s;
  Load load(gw.port, opts);
  const std::string evicted =
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + silent.address() + " "}, 10s);
  INFO("health events:\n" << health_events(gw.child));
  CHECK_FALSE(evicted.empty());
  // Past disable_time, and a few re-admission probes: it stays out.
  CHECK(load.wait_more(200, 20s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events at the end:\n" << health_events(gw.child));
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  INFO("eviction: " << log_field(evicted, "msg"));
  CHECK(count_status(samples, 200) == samples.size());
  CHECK(log_lines(gw.child, "event=worker_readmitted worker=" + silent.address() + " ").empty());
  // Nothing the silent worker held was left to wait out response_timeout
  // twice.
  INFO("slowest: " << max_latency(samples).count() << " ms");
  CHECK(max_latency(samples) <= 4000ms);
  CHECK(access_lines_for(log_all_lines(gw.child), silent.address()).empty());
}

} // namespace

TEST_CASE("health: a worker that accepts and never answers (fault_worker --stall) is evicted "
          "and GETs succeed via the others",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker stall = spawn_fault_worker(dir, "--stall");
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  check_silent_worker_evicted(dir, w1, stall, w3);
}

TEST_CASE("health: a worker stopped before fcgimux's first contact is evicted, GETs succeed via "
          "the others",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker stopped = spawn_libfcgi(dir, "fcgi-2", 16);
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  PauseGuard pause(stopped.child); // resumed before |stopped| is stopped
  check_silent_worker_evicted(dir, w1, stopped, w3);
}
