// The highest of a count noted over the last one to two windows: a peak that
// load which stops stops feeding within two windows. Pure: callers pass `now`.
#pragma once

#include "gateway/base/clock.h"

namespace fcgimux {

class RecentPeak {
 public:
  explicit RecentPeak(Millis window) : window_(window) {}

  void note(unsigned n, TimePoint now);
  // The highest count noted within the current and the previous window.
  unsigned peak(TimePoint now) const;

 private:
  void roll(TimePoint now) const;

  Millis window_;
  // Mutable: reading the peak rolls the windows forward.
  mutable TimePoint window_start_{};
  mutable unsigned current_ = 0;
  mutable unsigned previous_ = 0;
};

}  // namespace fcgimux
