#include "gateway/server/queue_board.h"

#include <algorithm>

namespace fcgimux {

QueueBoard::QueueBoard(unsigned threads)
    : threads_(threads), since_ms_(std::make_unique<std::atomic<int64_t>[]>(threads)) {
  for (unsigned t = 0; t < threads_; ++t) since_ms_[t].store(kNone);
}

void QueueBoard::publish(unsigned thread, std::optional<TimePoint> since) {
  if (thread >= threads_) return;
  since_ms_[thread].store(since ? since->time_since_epoch().count() : kNone);
}

std::optional<TimePoint> QueueBoard::oldest_except(unsigned thread) const {
  int64_t oldest = kNone;
  for (unsigned t = 0; t < threads_; ++t)
    if (t != thread) oldest = std::min(oldest, since_ms_[t].load());
  if (oldest == kNone) return std::nullopt;
  return TimePoint{Millis{oldest}};
}

}  // namespace fcgimux
