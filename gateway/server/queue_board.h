// When the oldest request waiting for one pool started to wait, on each loop
// thread: shared by the threads, so that a thread with a free slot of a
// capped worker can tell whether requests wait elsewhere, and for how long
// (may_take_slot(), gateway/upstream/slot_share.h). Each thread writes only
// its own entry, when the front of its queue changes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "gateway/base/clock.h"

namespace fcgimux {

class QueueBoard {
 public:
  explicit QueueBoard(unsigned threads);

  // Thread |thread|'s oldest waiting request started to wait at |since|;
  // nullopt: nothing waits there.
  void publish(unsigned thread, std::optional<TimePoint> since);
  // The oldest waiting request of every thread but |thread|.
  std::optional<TimePoint> oldest_except(unsigned thread) const;

 private:
  static constexpr int64_t kNone = INT64_MAX;
  unsigned threads_;
  // Sequentially consistent: a thread that publishes a request and then
  // looks for a free slot, and a thread that frees a slot and then looks
  // for waiting requests, cannot both miss each other.
  std::unique_ptr<std::atomic<int64_t>[]> since_ms_;
};

}  // namespace fcgimux
