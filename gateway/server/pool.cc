#include "gateway/server/pool.h"

#include <functional>

#include <algorithm>
#include <cmath>

#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/queue_board.h"
#include "gateway/server/worker.h"
#include "gateway/upstream/saturation.h"
#include "gateway/upstream/slot_share.h"

namespace fcgimux {

namespace {
// Early suspicion: a request is suspect once it has waited this many times
// the pool's recent p99 for its first byte (and at least suspect_after).
constexpr unsigned kSuspectMultiple = 10;
}  // namespace

Pool::Pool(const PoolConfig& cfg, const std::vector<WorkerHealth*>& health, QueueBoard& queues, LoopThread& thread)
    : cfg_(cfg), queues_(queues), thread_(thread), balancer_(cfg.balance, cfg.workers.size()) {
  for (size_t i = 0; i < cfg_.workers.size(); ++i)
    workers_.push_back(std::make_unique<Worker>(*this, cfg_.workers[i], *health[i], thread));
  uv_timer_init(thread.loop(), &queue_timer_);
  queue_timer_.data = this;
}

Pool::~Pool() = default;

bool Pool::may_take(const Worker& w, unsigned capacity, TimePoint since) const {
  if (capacity == 0) return true;
  if (w.health().in_flight() >= int(capacity)) return false;
  return may_take_slot(w.in_flight(), capacity, thread_.thread_count(), since, queues_.oldest_except(thread_.index()));
}

bool Pool::waiting_elsewhere() const { return queues_.oldest_except(thread_.index()).has_value(); }

void Pool::publish_queue() {
  queues_.publish(thread_.index(), queue_.empty() ? std::nullopt : std::optional<TimePoint>(queue_.front().since));
}

Worker* Pool::pick(const Exchange& ex, TimePoint waiting_since, bool& any_admitted) {
  const TimePoint t = now(thread_.loop());
  loads_.resize(workers_.size());
  bool untried_left = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    const Worker& w = *workers_[i];
    const WorkerHealth::View v = w.health().view(t);
    // A worker that is full or being probed takes no new work right now but
    // will soon (a completion, or the probe's answer): requests wait for it
    // in the queue rather than fail.
    any_admitted = any_admitted || v.admits || v.state == HealthState::Full || v.state == HealthState::Suspect;
    const bool has_room = may_take(w, v.capacity, waiting_since);
    loads_[i] = {.eligible = v.admits && has_room,
                 .in_flight = w.in_flight(),
                 // Weights are scaled by 10 so that slow start's 10% of weight 1 is still 1.
                 .weight = unsigned(std::max<long long>(1, std::llround(double(w.weight()) * 10.0 * v.weight_factor))),
                 // Sticky keys follow the worker's address, not its position in the list.
                 .identity = w.identity()};
    if (v.admits && !ex.tried(&w)) untried_left = true;
  }
  // A retry goes to a worker not tried yet while one remains.
  if (untried_left)
    for (size_t i = 0; i < workers_.size(); ++i)
      if (ex.tried(workers_[i].get())) loads_[i].eligible = false;
  auto i = balancer_.pick(loads_, ex.sticky_key());
  if (!i) {
    // Last resort before queueing: a worker whose probe is still running
    // (most probes are answered in a millisecond; a request sent to a worker
    // that turns out hung is moved off it when it is evicted).
    bool any = false;
    for (size_t k = 0; k < workers_.size(); ++k) {
      const Worker& w = *workers_[k];
      loads_[k].eligible = w.health().state() == HealthState::Suspect &&
                           may_take(w, w.health().capacity(), waiting_since) && !(untried_left && ex.tried(&w));
      any = any || loads_[k].eligible;
    }
    if (any) i = balancer_.pick(loads_, ex.sticky_key());
  }
  return i ? workers_[*i].get() : nullptr;
}

Pool::DispatchResult Pool::dispatch(Exchange* ex) {
  if (closed_) return {DispatchResult::NoWorker, 1};
  // Queued requests go first: a newcomer never overtakes them.
  if (queue_.empty()) {
    for (size_t guard = 0; guard < workers_.size(); ++guard) {
      bool any_admitted = false;
      Worker* w = pick(*ex, now(thread_.loop()), any_admitted);
      if (w == nullptr) {
        if (!any_admitted) break;  // all evicted: 503 at once, below
        goto enqueue;              // all full or being probed: wait for one
      }
      if (w->assign(ex) == Worker::Assigned::Yes) return {DispatchResult::Assigned};
      // Another thread took the last slot (the worker now looks full), or
      // the connect failed at once (the worker is now disabled): try another.
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
  {
    const TimePoint t = now(thread_.loop());
    queue_.push_back({ex, t, t + cfg_.queue_timeout});
  }
  if (queue_.size() == 1) publish_queue();  // only the front is on the board
  arm_queue_timer();
  return {DispatchResult::Queued};
}

void Pool::cancel(Exchange* ex) {
  const size_t waiting = queue_.size();
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [ex](const Waiting& w) { return w.ex == ex; }),
               queue_.end());
  if (queue_.size() != waiting) publish_queue();
}

void Pool::on_capacity() {
  const size_t waiting = queue_.size();
  size_t lost_races = 0;
  while (!queue_.empty() && !closed_) {
    bool any_admitted = false;
    Worker* w = pick(*queue_.front().ex, queue_.front().since, any_admitted);
    if (w == nullptr) break;
    Waiting next = queue_.front();
    queue_.pop_front();
    const Worker::Assigned r = w->assign(next.ex);
    if (r == Worker::Assigned::Yes) continue;
    // That worker just failed to connect, or another thread took its last
    // slot: the next pick does without it. (Bounded: a slot freed meanwhile
    // is announced again.)
    queue_.push_front(next);
    if (r == Worker::Assigned::Full && ++lost_races > workers_.size()) break;
  }
  if (queue_.size() != waiting) publish_queue();
}

bool Pool::hand_on_slot(Worker& w) {
  // Sticky pools keep to the balancer: the request waiting longest may
  // belong to another worker.
  if (queue_.empty() || closed_ || cfg_.balance == Balance::Sticky) return false;
  const unsigned cap = w.health().capacity();
  if (cap == 0) return false;
  // The shared count still holds the request that ended: at the cap it is
  // this slot; past it (two threads took the last slot at once), the slot
  // goes, and the worker is back under its cap.
  if (w.health().in_flight() > int(cap)) return false;
  const Waiting next = queue_.front();
  if (next.ex->tried(&w) || !w.admits_new_work(now(thread_.loop()))) return false;
  // w.in_flight() no longer counts the request that ended.
  if (!may_take_slot(w.in_flight(), cap, thread_.thread_count(), next.since, queues_.oldest_except(thread_.index())))
    return false;
  queue_.pop_front();
  if (w.assign(next.ex, /*slot_held=*/true) != Worker::Assigned::Yes) {
    queue_.push_front(next);
    return false;
  }
  publish_queue();
  return true;
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
  if (!expired.empty()) publish_queue();
  for (Exchange* ex : expired) ex->on_queue_timeout();
  arm_queue_timer();
}

std::optional<std::chrono::milliseconds> Pool::suspect_threshold() {
  if (!ttfb_.p99()) return std::nullopt;
  return ttfb_.suspect_after(cfg_.suspect_after, kSuspectMultiple, cfg_.response_timeout);
}

std::chrono::milliseconds Pool::backlog_wait(WorkerHealth& w) {
  const TimePoint t = now(thread_.loop());
  return fcgimux::backlog_wait(cfg_.suspect_after, reused_ttfb_.p99(), w.in_flight(), w.proven_conns(t));
}

void Pool::on_health_changed() {
  if (closed_) return;
  for (auto& w : workers_) {
    const HealthState s = w->health().state();
    if (s == HealthState::Disabled || s == HealthState::Probing) w->on_evicted();
    // Past its capacity in open connections (another thread needed one):
    // as many idle ones here as are too many give way.
    // A backlog sign (capacity unknown): idle ones may hold the children a
    // fresh connection waits for.
    const unsigned cap = w->health().conn_capacity();
    if (!w->health().keeps_idle_connections(now(thread_.loop()), cfg_.keepalive_timeout))
      w->close_idle();
    else if (cap > 0 && w->health().open_conns() > int(cap))
      w->close_idle(size_t(w->health().open_conns() - int(cap)));
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

std::optional<TimePoint> Pool::next_probe_due() {
  std::optional<TimePoint> due;
  for (auto& w : workers_) {
    if (w->health().state() != HealthState::Disabled) continue;
    const TimePoint at = w->health().next_probe_at();
    if (!due || at < *due) due = at;
  }
  return due;
}

void Pool::close() {
  if (closed_) return;
  closed_ = true;
  std::vector<Exchange*> waiting;
  for (auto& w : queue_) waiting.push_back(w.ex);
  queue_.clear();
  publish_queue();
  for (Exchange* ex : waiting) ex->on_queue_timeout();
  for (auto& w : workers_) w->close_all();
  uv_timer_stop(&queue_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&queue_timer_), nullptr);  // member: freed with the pool
}

}  // namespace fcgimux
