// Issue #3, scenario 8: workers on separate "machines". Each libfcgi worker
// runs in a network namespace of its own, reached over a veth pair (10.254.x.y
// addresses that exist only inside the namespaces this test makes, and on
// their host ends). One link goes down under load: packets to that worker
// vanish, so connects and probes time out instead of being refused. No GET
// fails; the worker is evicted; link up again: a probe re-admits it. The
// namespaces are removed at the end, pass or fail. Where namespaces cannot be
// made (no root, no CAP_NET_ADMIN), the test is skipped with a warning.
#include <memory>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: a worker on another machine whose link goes down is evicted (timeouts, not "
          "refusals), no GET fails, and it is re-admitted when the link is up",
          "[e2e][health][libfcgi][netns]") {
  HEALTH_REQUIRE_LIBFCGI();
  std::vector<std::unique_ptr<NetNs>> nets;
  for (int i = 0; i < 3; ++i) {
    std::string why;
    auto ns = NetNs::create(why);
    if (!ns) {
      WARN("SKIPPED: cannot create network namespaces here: " << why);
      return;
    }
    nets.push_back(std::move(ns));
  }
  TempDir dir;
  Worker w1 = spawn_libfcgi_in(*nets[0], dir, "ns-1", 9000, 16);
  Worker w2 = spawn_libfcgi_in(*nets[1], dir, "ns-2", 9000, 16);
  Worker w3 = spawn_libfcgi_in(*nets[2], dir, "ns-3", 9000, 16);
  const std::string victim = w2.address();
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2\nlog_level = \"debug\"") + route_toml("/", "p") +
               pool_toml_addresses("p", {w1.address(), w2.address(), w3.address()},
                                   pool_settings()));

  LoadOptions opts;
  opts.threads = 4;
  opts.max_requests = 6000;
  opts.max_time = 30s;
  Load load(gw.port, opts);
  REQUIRE(eventually(
      [&] { return served_by_after(load.samples(), "ns-2", Clock::time_point{}) >= 10; }, 10s));

  const int mark = int(log_all_lines(gw.child).size());
  // Nobody was evicted before the fault.
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  nets[1]->set_link(false);
  const std::string evicted =
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + victim + " "}, 10s, mark);
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(evicted.empty());
  // Down past disable_time: re-admission probes time out too, and keep it out
  // (two of them, seen in the debug log).
  CHECK(load.wait_more(100, 20s));
  CHECK(wait_readmission_probes_failed(gw.child, victim, 2, mark, 20s));
  CHECK(wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 0ms, mark)
            .empty());

  nets[1]->set_link(true);
  const auto up_at = Clock::now();
  const std::string readmitted =
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 10s, mark);
  REQUIRE_FALSE(readmitted.empty());
  CHECK(eventually([&] { return served_by_after(load.samples(), "ns-2", up_at) >= 5; }, 10s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events at the end:\n" << health_events(gw.child));
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  CHECK(count_status(samples, 200) == samples.size());
  const std::string why = log_field(evicted, "msg");
  INFO("eviction: " << why);
  // Silence, not a refusal: a connect or a probe timed out.
  CHECK(why.find("refused") == std::string::npos);
  CHECK((why.find("connect timed out") != std::string::npos ||
         why.find("probe unanswered") != std::string::npos ||
         why.find("probe could not connect") != std::string::npos));
  INFO("slowest: " << max_latency(samples).count() << " ms");
  CHECK(max_latency(samples) <= 4000ms);

  const auto lines = log_all_lines(gw.child);
  const int ev = find_line(lines, evicted, mark);
  const int re = find_line(lines, readmitted, mark);
  REQUIRE(ev >= 0);
  REQUIRE(re > ev);
  CHECK(access_lines_for(lines, victim, ev + 1, re).empty());
}
