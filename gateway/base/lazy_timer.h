// A libuv timer that is only ever moved earlier (STYLE C6).
//
// Connections re-arm their deadline on every read, every request and every
// idle period; moving a timer in libuv's heap each time cost more than the
// rest of the bookkeeping. So wake_at() only moves the timer when the new
// time is earlier than the one it is armed for: an earlier wake-up finds
// nothing due, and its owner calls wake_at() again for what is left.
//
// The owner keeps the uv_timer_t (initialised, closed and freed with the
// owner, as before); this only remembers when it fires.
#pragma once

#include <uv.h>

#include "gateway/base/clock.h"

namespace fcgimux {

class LazyTimer {
 public:
  explicit LazyTimer(uv_timer_t& timer, uv_timer_cb on_fire) : timer_(timer), on_fire_(on_fire) {}

  // Fires at |due| at the latest: arms the timer unless it already fires by
  // then. At least 1 ms from |now|: a due timer re-armed with 0 from its own
  // callback would run again before the loop's clock moves.
  void wake_at(TimePoint now, TimePoint due) {
    if (due >= due_) return;
    arm(now, due > now ? due - now : Millis(1));
  }
  // Fires |wait| from |now|, whatever it was armed for (later or earlier).
  void arm(TimePoint now, Millis wait) {
    due_ = now + wait;
    uv_timer_start(&timer_, on_fire_, uint64_t(wait.count()), 0);
  }
  void stop() {
    uv_timer_stop(&timer_);
    due_ = TimePoint::max();
  }
  // The owner's callback calls this first: the timer is no longer armed.
  void fired() { due_ = TimePoint::max(); }
  // When it fires; TimePoint::max() when not armed.
  TimePoint due() const { return due_; }

 private:
  uv_timer_t& timer_;
  uv_timer_cb on_fire_;
  TimePoint due_ = TimePoint::max();
};

}  // namespace fcgimux
