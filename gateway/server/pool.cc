#include "gateway/server/pool.h"

#include <functional>

#include <algorithm>

#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/worker.h"

namespace fcgimux {

namespace {
// Early suspicion: a request is suspect once it has waited this many times
// the pool's recent p99 for its first byte (and at least suspect_after).
constexpr unsigned kSuspectMultiple = 10;
}  // namespace

Pool::Pool(const PoolConfig& cfg, const std::vector<WorkerHealth*>& health, LoopThread& thread)
    : cfg_(cfg), thread_(thread), balancer_(cfg.balance, cfg.workers.size()) {
  for (size_t i = 0; i < cfg_.workers.size(); ++i)
    workers_.push_back(std::make_unique<Worker>(*this, cfg_.workers[i], *health[i], thread));
  uv_timer_init(thread.loop(), &queue_timer_);
  queue_timer_.data = this;
}

Pool::~Pool() = default;

Worker* Pool::pick(const std::set<const Worker*>& tried, uint64_t sticky_key, bool& any_admitted) {
  const TimePoint t = now(thread_.loop());
  std::vector<WorkerLoad> loads(workers_.size());
  bool untried_left = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const Worker& w = *workers_[i];
    const bool admitted = w.admits_new_work(t);
    // A worker that is full or being probed takes no new work right now but
    // will soon (a completion, or the probe's answer): requests wait for it
    // in the queue rather than fail.
    const HealthState st = w.health().state();
    any_admitted = any_admitted || admitted || st == HealthState::Full || st == HealthState::Suspect;
    if (admitted && !tried.count(&w)) untried_left = true;
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    const Worker& w = *workers_[i];
    // A retry goes to a worker not tried yet while one remains.
    const bool fresh = !untried_left || !tried.count(&w);
    loads[i] = {.eligible = w.admits_new_work(t) && w.has_capacity() && fresh,
                .in_flight = w.in_flight(),
                .weight = w.effective_weight(t),
                // Sticky keys follow the worker's address, not its position in the list.
                .identity = std::hash<std::string>{}(w.name())};
  }
  auto i = balancer_.pick(loads, sticky_key);
  return i ? workers_[*i].get() : nullptr;
}

Pool::DispatchResult Pool::dispatch(Exchange* ex, const std::set<const Worker*>& tried) {
  if (closed_) return {DispatchResult::NoWorker, 1};
  // Queued requests go first: a newcomer never overtakes them.
  if (queue_.empty()) {
    for (size_t guard = 0; guard < workers_.size(); ++guard) {
      bool any_admitted = false;
      Worker* w = pick(tried, ex->sticky_key(), any_admitted);
      if (w == nullptr) {
        if (!any_admitted) break;  // all evicted: 503 at once, below
        goto enqueue;              // all full or being probed: wait for one
      }
      if (w->assign(ex)) return {DispatchResult::Assigned};
      // Connect failed at once; the worker is now disabled; try another.
    }
    {
      // Every worker is disabled. Tell the client when the first is back.
      const TimePoint t = now(thread_.loop());
      TimePoint first = TimePoint::max();
      for (auto& w : workers_) first = std::min(first, w->health().next_probe_at());
      auto wait = std::chrono::duration_cast<std::chrono::seconds>(first - t + std::chrono::milliseconds(999));
      return {DispatchResult::NoWorker, unsigned(std::max<int64_t>(1, wait.count()))};
    }
  }
enqueue:
  queue_.push_back({ex, now(thread_.loop()) + cfg_.queue_timeout, tried});
  arm_queue_timer();
  return {DispatchResult::Queued};
}

void Pool::cancel(Exchange* ex) {
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [ex](const Waiting& w) { return w.ex == ex; }),
               queue_.end());
}

void Pool::on_capacity() {
  while (!queue_.empty() && !closed_) {
    bool any_admitted = false;
    Worker* w = pick(queue_.front().tried, queue_.front().ex->sticky_key(), any_admitted);
    if (w == nullptr) return;
    Waiting next = queue_.front();
    queue_.pop_front();
    if (!w->assign(next.ex)) {
      queue_.push_front(next);  // that worker just failed to connect; try the next one
    }
  }
}

void Pool::arm_queue_timer() {
  if (queue_.empty() || closed_) {
    if (!closed_) uv_timer_stop(&queue_timer_);
    return;
  }
  const TimePoint t = now(thread_.loop());
  auto wait = queue_.front().deadline > t ? queue_.front().deadline - t : std::chrono::milliseconds(0);
  uv_timer_start(&queue_timer_, &Pool::on_queue_timer_cb, uint64_t(wait.count()), 0);
}

void Pool::on_queue_timer_cb(uv_timer_t* t) { static_cast<Pool*>(t->data)->on_queue_timer(); }

void Pool::on_queue_timer() {
  const TimePoint t = now(thread_.loop());
  // Collect first, then notify: each notification may cancel() and reshape the queue.
  std::vector<Exchange*> expired;
  while (!queue_.empty() && queue_.front().deadline <= t) {
    expired.push_back(queue_.front().ex);
    queue_.pop_front();
  }
  for (Exchange* ex : expired) ex->on_queue_timeout();
  arm_queue_timer();
}

std::chrono::milliseconds Pool::suspect_after() {
  // Until the pool has a latency history there is no "far longer than
  // usual": only response_timeout applies.
  return ttfb_.suspect_after(cfg_.suspect_after, kSuspectMultiple, cfg_.response_timeout);
}

void Pool::on_health_changed() {
  if (closed_) return;
  for (auto& w : workers_) {
    const HealthState s = w->health().state();
    if (s == HealthState::Disabled || s == HealthState::Probing) w->on_evicted();
  }
  on_capacity();
}

void Pool::discover_workers() {
  for (auto& w : workers_) w->start_probe(ProbePurpose::Discovery, "no answer at first contact");
}

void Pool::probe_due_workers() {
  if (closed_) return;
  const TimePoint t = now(thread_.loop());
  for (auto& w : workers_)
    if (w->health().claim_readmission_probe(t)) w->start_probe(ProbePurpose::Readmission, "");
}

void Pool::close() {
  if (closed_) return;
  closed_ = true;
  std::vector<Exchange*> waiting;
  for (auto& w : queue_) waiting.push_back(w.ex);
  queue_.clear();
  for (Exchange* ex : waiting) ex->on_queue_timeout();
  for (auto& w : workers_) w->close_all();
  uv_timer_stop(&queue_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&queue_timer_), nullptr);  // member: freed with the pool
}

}  // namespace fcgimux
