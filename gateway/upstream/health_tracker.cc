#include "gateway/upstream/health_tracker.h"

#include <algorithm>

namespace fcgimux {

std::string_view to_string(FailureKind k) {
  switch (k) {
    case FailureKind::ConnectRefused: return "connect_refused";
    case FailureKind::ConnectTimeout: return "connect_timeout";
    case FailureKind::ResponseTimeout: return "response_timeout";
    case FailureKind::Protocol: return "protocol_error";
    case FailureKind::Vanished: return "vanished";
    case FailureKind::Overloaded: return "overloaded";
  }
  return "unknown";
}

void HealthTracker::on_success() { failures_ = 0; }

std::chrono::milliseconds HealthTracker::on_failure(FailureKind, TimePoint now) {
  // Several requests in flight on a worker that just died all report it; one
  // failure per disable period climbs the ladder, the rest are the same fault.
  if (failures_ > 0 && now < disabled_until_) return disabled_until_ - now;
  ++failures_;
  std::chrono::milliseconds d = cfg_.disable_time;
  for (unsigned i = 1; i < failures_ && d < cfg_.max_disable_time; ++i) d *= 2;
  d = std::min(d, cfg_.max_disable_time);
  disabled_until_ = now + d;
  return d;
}

}  // namespace fcgimux
