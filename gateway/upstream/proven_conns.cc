#include "gateway/upstream/proven_conns.h"

#include <algorithm>

namespace fcgimux {

unsigned fifo_proof(int opened_with, uint64_t closed_since, unsigned racing) {
  // A close lets a child go, and with it the count: the child may have
  // taken a connection opened later, and a full backlog makes the kernel
  // drop connections that then overtake nobody in order.
  if (closed_since > 0) return 0;
  const int64_t proof = int64_t(opened_with) - int64_t(racing);
  return proof > 0 ? unsigned(proof) : 0;
}

void ProvenConns::on_answered(unsigned fifo, TimePoint now) {
  ++held_;
  peak_.note(std::max(held_, fifo), now);
}

void ProvenConns::on_closed() {
  if (held_ > 0) --held_;
}

unsigned ProvenConns::floor(TimePoint now) const { return std::max(held_, peak_.peak(now)); }

}  // namespace fcgimux
