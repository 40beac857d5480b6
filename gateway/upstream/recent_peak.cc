#include "gateway/upstream/recent_peak.h"

#include <algorithm>

namespace fcgimux {

void RecentPeak::roll(TimePoint now) const {
  if (now - window_start_ < window_) return;
  // One window later the current peak becomes the previous one; two or more
  // windows later nothing of it is recent any more.
  previous_ = now - window_start_ < 2 * window_ ? current_ : 0;
  current_ = 0;
  window_start_ = now;
}

void RecentPeak::note(unsigned n, TimePoint now) {
  roll(now);
  current_ = std::max(current_, n);
}

unsigned RecentPeak::peak(TimePoint now) const {
  roll(now);
  return std::max(current_, previous_);
}

}  // namespace fcgimux
