// Issue #3, scenario 2 with uWSGI Django: three uWSGI workers (master + one
// worker process each, 4 threads), one of them SIGSTOPped whole (its process
// group: master and worker) under a bounded GET load, then SIGCONTed. uWSGI's
// FastCGI socket never answers FCGI_GET_VALUES, so the probes that find it
// hung and later bring it back are requests for the pool's probe_path. What
// must hold, whatever the machine's load: no GET fails; the stopped worker is
// evicted and given no request while it is out (GET /status "requests" does
// not move, no access line names it); after SIGCONT it is re-admitted and
// given requests again, which it answers.
#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

namespace {

// State letters ('T' stopped, 'S' sleeping, ...) of the processes in process
// group |pgid|, from /proc/PID/stat (fields after the parenthesised command
// name: state, ppid, pgrp).
std::vector<char> group_states(pid_t pgid) {
  std::vector<char> out;
  DIR *proc = ::opendir("/proc");
  if (!proc)
    return out;
  while (const dirent *e = ::readdir(proc)) {
    char *end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0')
      continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/stat");
    std::string stat;
    if (!std::getline(in, stat))
      continue; // it exited meanwhile
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos)
      continue;
    std::istringstream rest(stat.substr(paren + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid)
      out.push_back(state);
  }
  ::closedir(proc);
  return out;
}

// True when the group has at least |n| processes and all of them are (or,
// with |stopped| false, none of them is) stopped.
bool group_is(pid_t pgid, size_t n, bool stopped) {
  const auto states = group_states(pgid);
  return states.size() >= n && std::all_of(states.begin(), states.end(), [&](char s) {
           return (s == 'T') == stopped;
         });
}

size_t status_200_lines(const std::vector<std::string> &lines) {
  return size_t(std::count_if(lines.begin(), lines.end(), [](const std::string &l) {
    return l.find(" status=200 ") != std::string::npos;
  }));
}

} // namespace

TEST_CASE("health: a SIGSTOPped uWSGI Django worker is evicted and given nothing while out, no "
          "GET fails, and after SIGCONT it is re-admitted and given requests again",
          "[e2e][health][django]") {
  TempDir dir;
  Worker w1 = spawn_uwsgi_django(dir, "django-1");
  Worker w2 = spawn_uwsgi_django(dir, "django-2");
  Worker w3 = spawn_uwsgi_django(dir, "django-3");
  const std::string victim = w2.address();
  // Each worker's first request imports the rest of Django (a few hundred ms
  // of CPU in each of them at once); paid here, directly, it cannot starve
  // fcgimux at its first contact with the workers.
  for (const Worker *w : {&w1, &w2, &w3}) {
    const FcgiResult r = fcgi_request(w->port, {{"REQUEST_METHOD", "GET"},
                                                {"SCRIPT_NAME", ""},
                                                {"PATH_INFO", "/healthz"},
                                                {"REQUEST_URI", "/healthz"},
                                                {"SERVER_NAME", "127.0.0.1"},
                                                {"SERVER_PORT", "80"},
                                                {"SERVER_PROTOCOL", "HTTP/1.1"}});
    INFO(w->name << " answered: " << r.stdout_data.substr(0, 300));
    REQUIRE(r.ended);
    REQUIRE(r.stdout_data.rfind("Status: 200", 0) == 0);
  }
  // Debug log: one line per re-admission probe that finds it still out;
  // admin listener for GET /status.
  Gateway gw = spawn_fcgimux(
      dir, server_toml("threads = 2\nlog_level = \"debug\"\nadmin_listen = \"127.0.0.1:0\"") +
               route_toml("/", "django") + pool_toml("django", {&w1, &w2, &w3}, pool_settings()));
  const int admin = admin_port(gw.child);
  REQUIRE(admin > 0);

  LoadOptions opts;
  opts.threads = 4;
  opts.max_requests = 8000;
  opts.max_time = 90s;
  opts.target = [](int n) { return "/healthz?id=" + std::to_string(n); };
  Load load(gw.port, opts);
  // The victim serves before it is stopped.
  REQUIRE(eventually([&] { return requests_given(admin, victim) >= 20; }, 20s));
  REQUIRE(eventually(
      [&] { return served_by_after(load.samples(), "django-2", Clock::time_point{}) >= 5; }, 20s));

  const int mark = int(log_all_lines(gw.child).size());
  // Nobody was evicted before the fault.
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  std::string evicted;
  long long given = -1;
  {
    // SIGSTOP to the group of the uWSGI master this test started (its PID is
    // the group id): the master and its worker. SIGCONT when the block ends,
    // also when a REQUIRE throws; the workers' destructors then stop them.
    PauseGuard pause(w2.child);
    const bool all_stopped = eventually([&] { return group_is(w2.child.pid(), 2, true); }, 10s);
    const auto states = group_states(w2.child.pid());
    INFO("process states in group " << w2.child.pid() << ": "
                                    << std::string(states.begin(), states.end()));
    REQUIRE(all_stopped);
    evicted = wait_log_line(gw.child, {"event=worker_evicted", "worker=" + victim + " "}, 20s, mark);
    INFO("health events:\n" << health_events(gw.child));
    REQUIRE_FALSE(evicted.empty());
    given = requests_given(admin, victim);
    REQUIRE(given >= 20);
    // Stopped past its disable time: re-admission probes (requests for
    // probe_path) meet the stopped process and keep it out, while the load
    // goes on without it.
    CHECK(wait_readmission_probes_failed(gw.child, victim, 2, mark, 30s));
    CHECK(load.wait_more(150, 30s));
    CHECK(requests_given(admin, victim) == given);
    CHECK(wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 0ms, mark)
              .empty());
  } // SIGCONT
  {
    const bool all_running = eventually([&] { return group_is(w2.child.pid(), 2, false); }, 10s);
    const auto states = group_states(w2.child.pid());
    INFO("process states in group " << w2.child.pid() << ": "
                                    << std::string(states.begin(), states.end()));
    CHECK(all_running);
  }
  const std::string readmitted =
      wait_log_line(gw.child, {"event=worker_readmitted", "worker=" + victim + " "}, 20s, mark);
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE_FALSE(readmitted.empty());
  const auto back_at = Clock::now();
  // Back in: it is given requests again, and answers them.
  CHECK(eventually([&] { return requests_given(admin, victim) >= given + 10; }, 30s));
  CHECK(eventually([&] { return served_by_after(load.samples(), "django-2", back_at) >= 5; }, 30s));
  CHECK(eventually(
      [&] {
        const auto lines = log_all_lines(gw.child);
        return status_200_lines(
                   access_lines_for(lines, victim, find_line(lines, readmitted, mark) + 1)) >= 5;
      },
      30s));
  load.stop();

  const auto samples = load.samples();
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  CHECK(!samples.empty());
  CHECK(count_status(samples, 200) == samples.size());
  const std::string why = log_field(evicted, "msg");
  INFO("eviction: " << why);
  CHECK(why.find("probe unanswered") != std::string::npos);

  // Between its eviction and its re-admission, no request was answered by
  // it: the GETs caught on it when it stopped were moved, not logged as its.
  const auto lines = log_all_lines(gw.child);
  check_nothing_served_while_out(lines, victim, evicted, readmitted, mark);
}
