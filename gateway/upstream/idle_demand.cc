#include "gateway/upstream/idle_demand.h"

#include <algorithm>

namespace fcgimux {

void IdleDemand::roll(TimePoint now) const {
  if (now - window_start_ < kWindow) return;
  // One window later the current peak becomes the previous one; two or more
  // windows later nothing of it is recent any more.
  previous_peak_ = now - window_start_ < 2 * kWindow ? current_peak_ : 0;
  current_peak_ = 0;
  window_start_ = now;
}

void IdleDemand::note_in_flight(unsigned n, TimePoint now) {
  roll(now);
  current_peak_ = std::max(current_peak_, n);
}

unsigned IdleDemand::recent_peak(TimePoint now) const {
  roll(now);
  return std::max(current_peak_, previous_peak_);
}

size_t IdleDemand::idle_to_keep(size_t configured_cap, unsigned busy, TimePoint now) const {
  if (configured_cap == 0) return 0;
  const unsigned peak = recent_peak(now);
  const size_t needed_again = peak > busy ? peak - busy : 0;
  return std::max(configured_cap, needed_again);
}

}  // namespace fcgimux
