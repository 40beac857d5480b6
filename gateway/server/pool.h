// A pool of workers as seen by one loop thread: picks a worker with the
// Balancer among those health admits, and queues requests (FIFO, bounded by
// queue_timeout) when every admitted worker is at its concurrency cap. The
// slots of a capped worker are shared with the other threads' pools by the
// rule in gateway/upstream/slot_share.h.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/config/config.h"
#include "gateway/upstream/balancer.h"
#include "gateway/upstream/latency_tracker.h"
#include "gateway/upstream/retry_budget.h"

namespace fcgimux {

class Exchange;
class LoopThread;
class QueueBoard;
class Worker;
class WorkerHealth;

class Pool {
 public:
  // |health| holds one shared WorkerHealth per configured worker, in order.
  // |queues| is the pool's board, shared by every thread.
  Pool(const PoolConfig& cfg, const std::vector<WorkerHealth*>& health, QueueBoard& queues, LoopThread& thread);
  ~Pool();

  struct DispatchResult {
    enum Kind { Assigned, Queued, NoWorker } kind;
    unsigned retry_after_s = 1;  // NoWorker: when a worker may be back
  };
  // Finds a worker for |ex|, avoiding those it was tried on while others remain.
  DispatchResult dispatch(Exchange* ex);
  // |ex| leaves the queue (client gone, or timed out).
  void cancel(Exchange* ex);
  // A worker finished a request: queued exchanges may go.
  void on_capacity();
  // A request of this thread on capped worker |w| ended. Its slot goes
  // straight to the request waiting longest here when this thread may keep
  // it (may_take_slot()); the slot is then never seen free by the other
  // threads, which would open a connection for it while this thread's
  // stays idle. False: nothing here takes it.
  bool hand_on_slot(Worker& w);
  // Whether requests for this pool wait on another thread.
  bool waiting_elsewhere() const;
  // Whether requests for this pool wait on this thread.
  bool waiting_here() const { return !queue_.empty(); }

  void close();   // shutdown: closes connections and the timer
  // Health changed somewhere (any thread): evicted workers give up what may
  // move, and queued requests may go to workers that are back.
  void on_health_changed();
  // Starts the first-contact probes (one thread does this) and re-admission
  // probes that are due.
  void discover_workers();
  void probe_due_workers();
  // The earliest time a disabled worker of this pool is due for a probe.
  std::optional<TimePoint> next_probe_due();

  // Time to first byte of a response, for early suspicion; |reused|: on a
  // connection that carried a request before (the worker's child was on it
  // already), also for backlog_wait() (saturation.h).
  void record_first_byte(std::chrono::milliseconds d, bool reused) {
    ttfb_.add(d);
    if (reused) reused_ttfb_.add(d);
  }
  // How long a fresh connection to |w| may wait for its first byte before
  // that is a backlog sign (backlog_wait(), saturation.h).
  std::chrono::milliseconds backlog_wait(WorkerHealth& w);
  // How long a request may wait for its first byte before its worker is
  // suspected: max(suspect_after, 10 × the pool's recent p99); nullopt while
  // the pool has too little history to say what "usual" is.
  std::optional<std::chrono::milliseconds> suspect_threshold();
  // The pool's recent p99 time to first byte (the slowest so far while there
  // are few samples); nullopt before any.
  std::optional<std::chrono::milliseconds> recent_p99() { return ttfb_.p99_or_max(); }
  RetryBudget& retry_budget() { return retry_budget_; }
  const PoolConfig& config() const { return cfg_; }
  LoopThread& thread() { return thread_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

 private:
  struct Waiting {
    Exchange* ex;
    TimePoint since;
    TimePoint deadline;
  };
  // |waiting_since|: when |ex| started to wait (now, if it is not queued).
  Worker* pick(const Exchange& ex, TimePoint waiting_since, bool& any_admitted);
  // Whether this thread may take a slot of |w| for a request waiting since
  // |since|: room under the cap, and its turn (slot_share.h).
  bool may_take(const Worker& w, unsigned capacity, TimePoint since) const;
  // Tells the other threads when the front of the queue started to wait.
  void publish_queue();
  void arm_queue_timer();
  void on_queue_timer();
  static void on_queue_timer_cb(uv_timer_t* t);

  const PoolConfig& cfg_;
  QueueBoard& queues_;
  LoopThread& thread_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Balancer balancer_;
  LatencyTracker ttfb_;
  LatencyTracker reused_ttfb_;
  RetryBudget retry_budget_;
  std::deque<Waiting> queue_;
  std::vector<WorkerLoad> loads_;  // scratch for pick(), reused
  uv_timer_t queue_timer_{};
  bool closed_ = false;
};

}  // namespace fcgimux
