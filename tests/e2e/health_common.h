// Shared by the health_*_test.cc files (issue #3): short timeouts so that a
// fault is seen within a second, and the checks each scenario repeats.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace e2e::health {

// Pool settings for the fault tests: a fault is detected, and a worker
// re-admitted, well within a second, so each test stays short. Generous
// enough for a loaded two-core machine (a probe has 300 ms).
inline std::string pool_settings(const std::string &extra = "",
                                 const std::string &response_timeout = "2s",
                                 const std::string &queue_timeout = "5s") {
  return "connect_timeout = \"300ms\"\n"
         "response_timeout = \"" + response_timeout + "\"\n"
         "probe_timeout = \"300ms\"\n"
         "disable_time = \"500ms\"\n"
         "slow_start = \"1s\"\n"
         "queue_timeout = \"" + queue_timeout + "\"\n" +
         extra;
}

// The libfcgi responder is optional in the build (libfcgi-dev).
#define HEALTH_REQUIRE_LIBFCGI()                                                                   \
  do {                                                                                             \
    if (!::e2e::have_libfcgi_responder()) {                                                        \
      WARN("SKIPPED: libfcgi_responder is not built (apt-get install libfcgi-dev)");               \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

// Access-log lines (event=access) naming |worker| in lines [from, to).
inline std::vector<std::string> access_lines_for(const std::vector<std::string> &lines,
                                                 const std::string &worker, int from = 0,
                                                 int to = -1) {
  std::vector<std::string> out;
  if (to < 0)
    to = int(lines.size());
  for (int i = std::max(0, from); i < to && i < int(lines.size()); ++i)
    if (lines[size_t(i)].find("event=access") != std::string::npos &&
        lines[size_t(i)].find("worker=" + worker + " ") != std::string::npos)
      out.push_back(lines[size_t(i)]);
  return out;
}

// Checks that no access line names |worker| between its eviction line and
// its re-admission line (the first of each at or after line |mark|): while
// out it was given nothing. Returns the re-admission line's index.
inline int check_nothing_served_while_out(const std::vector<std::string> &lines,
                                          const std::string &worker, std::string_view evicted,
                                          std::string_view readmitted, int mark) {
  const int ev = find_line(lines, evicted, mark);
  const int re = find_line(lines, readmitted, mark);
  REQUIRE(ev >= 0);
  REQUIRE(re > ev);
  const auto while_out = access_lines_for(lines, worker, ev + 1, re);
  INFO("access lines naming " << worker << " while it was out: " << while_out.size()
                              << (while_out.empty() ? "" : "; first: " + while_out.front()));
  CHECK(while_out.empty());
  return re;
}

// Lines of fcgimux's log with |event| (e.g. "event=worker_evicted"), for
// failure messages.
inline std::string health_events(const Child &gw) {
  std::string s;
  for (const auto &l : log_all_lines(gw))
    if (l.find("event=worker_") != std::string::npos ||
        l.find("event=request_retry") != std::string::npos)
      s += l + "\n";
  return s.size() > 6000 ? s.substr(0, 6000) + "...\n" : s;
}

// Waits until |n| re-admission probes of |worker| (host:port) went
// unanswered after line |from| of |gw|'s log: its disable time ended while
// the fault lasted, and probes kept it out. Needs log_level = "debug" in
// [server] (event=worker_still_out is a debug line: one per probe).
inline bool wait_readmission_probes_failed(const Child &gw, const std::string &worker, int n,
                                           int from, Duration timeout) {
  return eventually(
      [&] {
        const auto lines = log_all_lines(gw);
        int seen = 0;
        for (int i = std::max(0, from); i < int(lines.size()); ++i)
          seen += lines[size_t(i)].find("event=worker_still_out worker=" + worker + " ") !=
                  std::string::npos;
        return seen >= n;
      },
      timeout);
}

// The admin listener's port, with admin_listen = "127.0.0.1:0" in [server];
// 0 when it did not log one.
inline int admin_port(const Child &gw) {
  const std::string line = wait_log_line(gw, {"event=admin_listening"}, 10000ms);
  const std::string addr = log_field(line, "addr");
  const auto colon = addr.rfind(':');
  return colon == std::string::npos ? 0 : std::stoi(addr.substr(colon + 1));
}

// The number |key| of GET /status for the worker |address| ("requests":
// requests given to it, all threads); -1 when it cannot be read.
inline long long worker_status_field(int admin, const std::string &address,
                                     const std::string &key) {
  const Response r = http_get(admin, "/status");
  const auto at = r.body.find("{\"address\": \"" + address + "\"");
  if (r.status != 200 || at == std::string::npos)
    return -1;
  return json_int(r.body.substr(at), key).value_or(-1);
}
inline long long requests_given(int admin, const std::string &address) {
  return worker_status_field(admin, address, "requests");
}

inline size_t count_status(const std::vector<LoadSample> &s, int status) {
  return size_t(std::count_if(s.begin(), s.end(), [&](const LoadSample &x) { return x.status == status; }));
}

inline Duration max_latency(const std::vector<LoadSample> &s) {
  Duration m{0};
  for (const auto &x : s)
    m = std::max(m, x.latency());
  return m;
}

inline size_t count_slower(const std::vector<LoadSample> &s, Duration d) {
  return size_t(std::count_if(s.begin(), s.end(), [&](const LoadSample &x) { return x.latency() > d; }));
}

// Samples that started after |t| and were answered by |worker| (X-Worker).
inline size_t served_by_after(const std::vector<LoadSample> &s, const std::string &worker,
                              Clock::time_point t) {
  return size_t(std::count_if(s.begin(), s.end(), [&](const LoadSample &x) {
    return x.start > t && x.status == 200 && x.worker == worker;
  }));
}

inline std::string by_worker(const std::vector<LoadSample> &s) {
  std::map<std::string, int> m;
  for (const auto &x : s)
    ++m[x.worker.empty() ? "-" : x.worker];
  std::string out;
  for (const auto &[k, v] : m)
    out += k + "=" + std::to_string(v) + " ";
  return out;
}

} // namespace e2e::health
