#include "gateway/upstream/saturation.h"

#include <algorithm>
#include <cstdint>

namespace fcgimux {

std::chrono::milliseconds progress_window(std::chrono::milliseconds probe_took,
                                          std::optional<std::chrono::milliseconds> recent_p99) {
  return std::max(probe_took, recent_p99 ? 2 * *recent_p99 : std::chrono::milliseconds(0));
}

bool silence_means_full(const ProbeEvidence& e, TimePoint now) {
  if (e.capacity > 0 && e.in_flight >= int(e.capacity)) return true;
  if (e.last_completion == TimePoint::min()) return false;
  const auto window = progress_window(now - e.probe_started, e.recent_p99);
  return e.last_completion >= now - window;
}

std::chrono::milliseconds backlog_wait(std::chrono::milliseconds suspect_after,
                                       std::optional<std::chrono::milliseconds> reused_p99, int in_flight,
                                       unsigned proven) {
  // More of our requests in flight than the worker was seen to hold: some
  // wait in its backlog anyway, behind any child an idle connection keeps.
  if (int64_t(in_flight) >= int64_t(proven)) return suspect_after;
  const auto slow_views = reused_p99 ? 2 * *reused_p99 : std::chrono::milliseconds(0);
  return std::min(10 * suspect_after, std::max(suspect_after, slow_views));
}

bool is_backlog_sign(TimePoint now, const FreshConnection& c, const BacklogEvidence& e) {
  // A child was free for it when it opened: it waits for a slow view.
  if (int64_t(c.opened_with) <= int64_t(e.proven)) return false;
  // "Later" by a margin: starts are stamped by each loop thread when it
  // sees its connect complete, and a loaded loop sees it late; connections
  // that started within the margin tell nothing about their queue order.
  return now - c.started >= e.wait && e.latest_fresh_answered < c.started + e.suspect_after / 4;
}

bool keeps_idle_connections(TimePoint now, TimePoint last_backlog_sign, std::chrono::milliseconds quiet_after,
                            int open_conns, unsigned proven) {
  if (last_backlog_sign == TimePoint::min() || now - last_backlog_sign >= quiet_after) return true;
  // Within the quiet time: only while a new connection would still find a
  // child with this one kept (kept at the floor itself, the floor's
  // children are all ours, and a new connection beyond it waits in the
  // backlog for a sign).
  return int64_t(open_conns) < int64_t(proven);
}

}  // namespace fcgimux
