// One worker's health, shared by every loop thread: a worker evicted by one
// thread is avoided by all. A HealthTracker (pure) behind a mutex, plus what
// the pool learned about the worker at first contact.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/config/config.h"
#include "gateway/upstream/health_tracker.h"

namespace fcgimux {

// How a liveness probe reaches this worker, learned at first contact.
enum class ProbeKind {
  Unknown,    // not learned yet: ask FCGI_GET_VALUES, then fall back to a request
  GetValues,  // answers FCGI_GET_VALUES on a fresh connection (flup, PHP-FPM, node-fastcgi, Net::Async::FastCGI)
  Request,    // answers only a request (uWSGI never answers GET_VALUES; libfcgi only once a request follows)
};
std::string_view to_string(ProbeKind k);

class WorkerHealth {
 public:
  WorkerHealth(const PoolConfig& pool, const WorkerConfig& worker, uint64_t seed);

  const std::string& name() const { return name_; }

  bool admits_new_work(TimePoint now);
  double weight_factor(TimePoint now);
  HealthState state();
  TimePoint next_probe_at();
  unsigned consecutive_failures();

  HealthTransition on_failure(FailureKind kind, TimePoint now);
  bool on_suspect(TimePoint now);
  // Claims the re-admission probe: true for exactly one caller once due.
  bool claim_readmission_probe(TimePoint now);
  // |full| is decided here from our requests in flight and the capacity.
  HealthTransition on_probe_result(ProbeOutcome outcome, TimePoint now, bool& was_full);
  HealthTransition on_success(TimePoint now);

  // Our requests in flight on this worker, all threads together.
  void add_in_flight(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // max_conns when configured, else FCGI_MAX_CONNS when the worker said it; 0 = unknown.
  unsigned capacity();
  void learn_capacity(unsigned max_conns, std::optional<bool> mpxs);

  ProbeKind probe_kind();
  void learn_probe_kind(ProbeKind k);

 private:
  std::string name_;
  unsigned configured_capacity_;
  std::mutex mu_;
  HealthTracker tracker_;
  unsigned learned_capacity_ = 0;
  std::optional<bool> mpxs_;
  ProbeKind probe_kind_ = ProbeKind::Unknown;
  std::atomic<int> in_flight_{0};
};

}  // namespace fcgimux
