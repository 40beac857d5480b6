// Issue #3, scenario 1: a worker SIGKILLed under load. Three uWSGI Django
// workers; one dies mid-load. No GET fails (retry = "safe"), the dead worker
// is evicted and gets nothing more, and once a worker runs again on its port
// a probe re-admits it and it serves again.
#include <signal.h>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

TEST_CASE("health: a SIGKILLed uWSGI worker is evicted, no GET fails, and it is re-admitted "
          "after a restart",
          "[e2e][health][django]") {
  TempDir dir;
  Worker w1 = spawn_uwsgi_django(dir, "django-1");
  Worker w2 = spawn_uwsgi_django(dir, "django-2");
  Worker w3 = spawn_uwsgi_django(dir, "django-3");
  const std::string victim = w2.address();
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "django") +
                                      pool_toml("django", {&w1, &w2, &w3}, pool_settings()));

  LoadOptions opts;
  opts.threads = 4;
  opts.max_requests = 4000;
  opts.max_time = 45s;
  opts.target = [](int n) { return "/healthz?id=" + std::to_string(n); };
  Load load(gw.port, opts);

  // The victim serves before it dies.
  REQUIRE(eventually(
      [&] { return served_by_after(load.samples(), "django-2", Clock::time_point{}) >= 5; }, 15s));

  const int mark = int(log_all_lines(gw.child).size());
  // Nobody was evicted before the fault.
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  kill_hard(w2.child);
  const std::string evicted =
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + victim + " "}, 10s, mark);
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(evicted.empty());
  // The load goes on without it for a while.
  CHECK(load.wait_more(100, 20s));

  // A worker starts again on the same port: a probe brings it back.
  w2 = spawn_uwsgi_django_on(dir, "django-2", w2.port);
  const std::string readmitted =
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 15s, mark);
  REQUIRE_FALSE(readmitted.empty());
  const auto back_at = Clock::now();
  CHECK(eventually([&] { return served_by_after(load.samples(), "django-2", back_at) >= 3; }, 15s));
  load.stop();

  const auto samples = load.samples();
  INFO("health events at the end:\n" << health_events(gw.child));
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  CHECK(count_status(samples, 200) == samples.size());
  CHECK(log_field(evicted, "msg").find("evicted for") != std::string::npos);

  // Between its eviction and its re-admission, no request went to it.
  const auto lines = log_all_lines(gw.child);
  const int re = check_nothing_served_while_out(lines, victim, evicted, readmitted, mark);
  // And after it, it served again.
  const auto after = access_lines_for(lines, victim, re + 1);
  CHECK(std::count_if(after.begin(), after.end(), [](const std::string &l) {
          return l.find(" status=200 ") != std::string::npos;
        }) >= 1);
}
