#include "gateway/upstream/slot_share.h"

namespace fcgimux {

bool may_take_slot(unsigned held_here, unsigned capacity, unsigned threads, TimePoint waiting_since,
                   std::optional<TimePoint> oldest_elsewhere) {
  if (!oldest_elsewhere) return true;  // nobody else wants it
  // The even share, rounded down: with a capacity smaller than the number
  // of threads it is 0, and every slot goes by age.
  if (threads > 0 && held_here < capacity / threads) return true;
  // Ties stay here: a move costs a connection, and the clocks of two loops
  // are cached at different moments anyway.
  return waiting_since <= *oldest_elsewhere;
}

}  // namespace fcgimux
