#include "gateway/upstream/idle_demand.h"

#include <algorithm>

namespace fcgimux {

void IdleDemand::note_in_flight(unsigned n, TimePoint now) { peak_.note(n, now); }

unsigned IdleDemand::recent_peak(TimePoint now) const { return peak_.peak(now); }

size_t IdleDemand::idle_to_keep(size_t configured_cap, unsigned busy, TimePoint now) const {
  if (configured_cap == 0) return 0;
  const unsigned peak = recent_peak(now);
  const size_t needed_again = peak > busy ? peak - busy : 0;
  return std::max(configured_cap, needed_again);
}

}  // namespace fcgimux
