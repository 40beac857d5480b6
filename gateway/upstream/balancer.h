// Chooses a worker of a pool for a new request. Pure: it sees only each
// worker's weight, load and eligibility (health decides eligibility).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "gateway/config/config.h"

namespace fcgimux {

struct WorkerLoad {
  bool eligible = true;     // healthy and below its concurrency cap
  unsigned in_flight = 0;   // our requests outstanding on it
  unsigned weight = 1;      // 1..1000 from the config; 0 is treated as 1
  // Sticky only: a stable identity for the worker (e.g. a hash of its
  // address), so that a key keeps its worker even if the list is reordered or
  // a worker is removed from it. 0 = use the worker's index.
  uint64_t identity = 0;
};

class Balancer {
 public:
  Balancer(Balance policy, size_t worker_count);

  // Picks among eligible workers, or nullopt when none is.
  //  - RoundRobin: smooth weighted round-robin (as nginx's), so weight 2 gets
  //    twice the picks, interleaved.
  //  - LeastConn: lowest in_flight/weight; ties go round-robin, so an idle
  //    pool still spreads requests over every worker.
  //  - Sticky: rendezvous (highest random weight) hashing of |sticky_key|
  //    over eligible workers, weighted; when a worker leaves, only its keys move.
  // |workers| is indexed like the pool's worker list; the result is an index
  // into it. Its size may differ from |worker_count| (the state follows it).
  std::optional<size_t> pick(std::span<const WorkerLoad> workers, uint64_t sticky_key = 0);

 private:
  Balance policy_;
  std::vector<int64_t> current_weight_;  // smooth WRR state
  size_t next_ = 0;                      // tie-break rotation for LeastConn
};

}  // namespace fcgimux
