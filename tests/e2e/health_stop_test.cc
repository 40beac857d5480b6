// Issue #3, scenario 2: a worker SIGSTOPped under load (a hung process: the
// kernel still accepts its connections), SIGCONTed later. Three libfcgi
// workers. No GET fails; the stopped worker is evicted because a probe goes
// unanswered; the few requests caught on it are moved within a bound; after
// SIGCONT a probe re-admits it and it serves again.
#include <signal.h>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: a SIGSTOPped worker is evicted by an unanswered probe, no GET fails, and "
          "it is re-admitted after SIGCONT",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 16);
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  const std::string victim = w2.address();
  // Debug log: one line per re-admission probe that finds it still out.
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2\nlog_level = \"debug\"") +
                                      route_toml("/", "p") +
                                      pool_toml("p", {&w1, &w2, &w3}, pool_settings()));

  LoadOptions opts;
  opts.threads = 4;
  opts.max_requests = 6000;
  opts.max_time = 30s;
  Load load(gw.port, opts);
  REQUIRE(eventually(
      [&] { return served_by_after(load.samples(), "fcgi-2", Clock::time_point{}) >= 10; }, 10s));

  std::string evicted;
  const int mark = int(log_all_lines(gw.child).size());
  // Nobody was evicted before the fault.
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  {
    PauseGuard pause(w2.child);
    evicted = wait_log_line(gw.child, {"event=worker_evicted", "worker=" + victim + " "}, 10s, mark);
    INFO("health events:\n" << health_events(gw.child));
    REQUIRE_FALSE(evicted.empty());
    // Stay stopped past disable_time, so that re-admission probes meet the
    // stopped process too (they must keep it out: two, seen in the debug
    // log), while the load goes on.
    CHECK(load.wait_more(100, 20s));
    CHECK(wait_readmission_probes_failed(gw.child, victim, 2, mark, 20s));
    CHECK(wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 0ms, mark)
              .empty());
  } // SIGCONT
  const auto resumed_at = Clock::now();
  const std::string readmitted =
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 10s, mark);
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(readmitted.empty());
  CHECK(eventually([&] { return served_by_after(load.samples(), "fcgi-2", resumed_at) >= 5; }, 10s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events at the end:\n" << health_events(gw.child));
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  CHECK(count_status(samples, 200) == samples.size());
  const std::string why = log_field(evicted, "msg");
  INFO("eviction: " << why);
  CHECK(why.find("probe unanswered") != std::string::npos);
  // The requests caught on the stopped worker were moved, not left to time
  // out twice: none took longer than response_timeout (2 s) + 2 s.
  INFO("slowest: " << max_latency(samples).count() << " ms; over 1 s: "
                   << count_slower(samples, 1000ms));
  CHECK(max_latency(samples) <= 4000ms);
  CHECK(count_slower(samples, 1000ms) <= 20);

  const auto lines = log_all_lines(gw.child);
  check_nothing_served_while_out(lines, victim, evicted, readmitted, mark);
}
