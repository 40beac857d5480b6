// A pool of workers as seen by one loop thread: picks a worker with the
// Balancer among those health admits, and queues requests (FIFO, bounded by
// queue_timeout) when every admitted worker is at its concurrency cap.
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

namespace fcgimux {

class Exchange;
class LoopThread;
class Worker;

class Pool {
 public:
  Pool(const PoolConfig& cfg, LoopThread& thread);
  ~Pool();

  struct DispatchResult {
    enum Kind { Assigned, Queued, NoWorker } kind;
    unsigned retry_after_s = 1;  // NoWorker: when a worker may be back
  };
  // Finds a worker for |ex|, avoiding those in |tried| while others remain.
  DispatchResult dispatch(Exchange* ex, const std::set<const Worker*>& tried);
  // |ex| leaves the queue (client gone, or timed out).
  void cancel(Exchange* ex);
  // A worker finished a request: queued exchanges may go.
  void on_capacity();

  void close();   // shutdown: closes connections and the timer
  const PoolConfig& config() const { return cfg_; }
  LoopThread& thread() { return thread_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

 private:
  struct Waiting {
    Exchange* ex;
    TimePoint deadline;
    std::set<const Worker*> tried;
  };
  Worker* pick(const std::set<const Worker*>& tried, uint64_t sticky_key, bool& any_admitted);
  void arm_queue_timer();
  void on_queue_timer();
  static void on_queue_timer_cb(uv_timer_t* t);

  const PoolConfig& cfg_;
  LoopThread& thread_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Balancer balancer_;
  std::deque<Waiting> queue_;
  uv_timer_t queue_timer_{};
  bool closed_ = false;
};

}  // namespace fcgimux
