#include "gateway/upstream/balancer.h"

#include <cmath>
#include <limits>

namespace fcgimux {
namespace {

unsigned weight_of(const WorkerLoad& w) { return w.weight == 0 ? 1 : w.weight; }

// splitmix64's finalizer: a cheap, well-mixed 64-bit hash.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Balancer::Balancer(Balance policy, size_t worker_count)
    : policy_(policy), current_weight_(worker_count, 0) {}

std::optional<size_t> Balancer::pick(std::span<const WorkerLoad> workers, uint64_t sticky_key) {
  if (current_weight_.size() != workers.size()) current_weight_.resize(workers.size(), 0);
  const size_t n = workers.size();

  switch (policy_) {
    case Balance::RoundRobin: {
      // Smooth weighted round-robin (nginx): every eligible worker gains its
      // weight, the richest is picked and pays the total back. Over any
      // window of sum(weights) picks each gets exactly its weight, spread out
      // rather than in bursts. Ineligible workers neither gain nor pay, so
      // they do not come back with a burst of credit.
      std::optional<size_t> best;
      int64_t total = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!workers[i].eligible) continue;
        const int64_t w = weight_of(workers[i]);
        current_weight_[i] += w;
        total += w;
        if (!best || current_weight_[i] > current_weight_[*best]) best = i;
      }
      if (best) current_weight_[*best] -= total;
      return best;
    }

    case Balance::LeastConn: {
      // Lowest in_flight/weight, compared as in_flight_a*weight_b <
      // in_flight_b*weight_a (no division). Scanning starts at next_, and
      // only a strictly better worker replaces the first found, so ties go
      // to the next worker in rotation after the previous pick.
      std::optional<size_t> best;
      for (size_t k = 0; k < n; ++k) {
        const size_t i = (next_ + k) % n;
        if (!workers[i].eligible) continue;
        if (!best) {
          best = i;
          continue;
        }
        const WorkerLoad& a = workers[i];
        const WorkerLoad& b = workers[*best];
        if (uint64_t(a.in_flight) * weight_of(b) < uint64_t(b.in_flight) * weight_of(a)) best = i;
      }
      if (best) next_ = (*best + 1) % n;
      return best;
    }

    case Balance::Sticky: {
      // Weighted rendezvous hashing: each (key, worker) pair gets a uniform
      // u in (0,1); the score is -weight / ln(u) and the highest wins. A
      // worker's score for a key does not depend on the others, so removing
      // one moves only the keys it won.
      std::optional<size_t> best;
      double best_score = -std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < n; ++i) {
        if (!workers[i].eligible) continue;
        const uint64_t id = workers[i].identity != 0 ? workers[i].identity : uint64_t(i);
        const uint64_t h = mix(sticky_key ^ mix(id));
        const double u = (double(h >> 11) + 0.5) * 0x1.0p-53;  // never 0 or 1
        const double score = -double(weight_of(workers[i])) / std::log(u);
        if (!best || score > best_score) {
          best = i;
          best_score = score;
        }
      }
      return best;
    }
  }
  return std::nullopt;
}

}  // namespace fcgimux
