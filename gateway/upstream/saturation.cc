#include "gateway/upstream/saturation.h"

#include <algorithm>

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

bool is_backlog_sign(TimePoint now, TimePoint started, std::chrono::milliseconds suspect_after,
                     TimePoint latest_fresh_answered) {
  // "Later" by a margin: starts are stamped by each loop thread when it
  // sees its connect complete, and a loaded loop sees it late; connections
  // that started within the margin tell nothing about their queue order.
  return now - started >= suspect_after && latest_fresh_answered < started + suspect_after / 4;
}

bool keeps_idle_connections(TimePoint now, TimePoint last_backlog_sign, std::chrono::milliseconds quiet_after) {
  return last_backlog_sign == TimePoint::min() || now - last_backlog_sign >= quiet_after;
}

}  // namespace fcgimux
