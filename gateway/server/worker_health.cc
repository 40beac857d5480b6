#include "gateway/server/worker_health.h"

#include <algorithm>

#include "gateway/upstream/saturation.h"

namespace fcgimux {

std::string_view to_string(ProbeKind k) {
  switch (k) {
    case ProbeKind::Unknown: return "unknown";
    case ProbeKind::GetValues: return "get_values";
    case ProbeKind::Request: return "request";
  }
  return "unknown";
}

WorkerHealth::WorkerHealth(const PoolConfig& pool, const WorkerConfig& worker, uint64_t seed)
    : name_(worker.address.text),
      configured_capacity_(pool.max_conns),
      multiplex_(pool.multiplex),
      configured_reqs_per_conn_(pool.max_reqs_per_conn),
      tracker_({.disable_time = pool.disable_time,
                .max_disable_time = pool.max_disable_time,
                .jitter = 0.1,
                .slow_start = pool.slow_start,
                .suspicion_cooldown = pool.probe_timeout,
                .probe_interval = pool.probe_interval},
               seed) {}

WorkerHealth::View WorkerHealth::view(TimePoint now) {
  std::lock_guard lock(mu_);
  return {tracker_.admits_new_work(now), tracker_.state(), tracker_.weight_factor(now),
          request_capacity_locked()};
}

bool WorkerHealth::admits_new_work(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.admits_new_work(now);
}

double WorkerHealth::weight_factor(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.weight_factor(now);
}

HealthState WorkerHealth::state() {
  std::lock_guard lock(mu_);
  return tracker_.state();
}

TimePoint WorkerHealth::next_probe_at() {
  std::lock_guard lock(mu_);
  return tracker_.next_probe_at();
}

unsigned WorkerHealth::consecutive_failures() {
  std::lock_guard lock(mu_);
  return tracker_.consecutive_failures();
}

HealthTransition WorkerHealth::on_failure(FailureKind kind, TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.on_failure(kind, now);
}

bool WorkerHealth::on_suspect(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.on_suspect(now);
}

bool WorkerHealth::claim_readmission_probe(TimePoint now) {
  std::lock_guard lock(mu_);
  if (!tracker_.probe_due(now)) return false;
  tracker_.on_probe_started(now);
  return true;
}

HealthTransition WorkerHealth::on_probe_result(ProbeOutcome outcome, TimePoint now, TimePoint probe_started,
                                               std::optional<Millis> recent_p99, bool& was_full) {
  std::lock_guard lock(mu_);
  const int64_t last = last_completion_ms_.load(std::memory_order_relaxed);
  // The calling thread's pool p99, or this worker's own recent answers
  // (all threads), whichever is longer.
  if (const Millis mine = recent_ttfb(); mine.count() > 0)
    recent_p99 = recent_p99 ? std::max(*recent_p99, mine) : mine;
  const ProbeEvidence e{.capacity = request_capacity_locked(),
                        .in_flight = in_flight(),
                        .last_completion = last == INT64_MIN ? TimePoint::min() : TimePoint{Millis{last}},
                        .probe_started = probe_started,
                        .recent_p99 = recent_p99};
  was_full = silence_means_full(e, now);
  return tracker_.on_probe_result(outcome, was_full, now);
}

bool WorkerHealth::keeps_idle_connections(TimePoint now, Millis quiet_after) {
  if (capacity() > 0) return true;
  const int64_t last = last_backlog_sign_ms_.load(std::memory_order_relaxed);
  const TimePoint last_sign = last == INT64_MIN ? TimePoint::min() : TimePoint{Millis{last}};
  // The common case, no sign within quiet_after, takes no lock for the floor.
  if (last_sign == TimePoint::min() || now - last_sign >= quiet_after) return true;
  return fcgimux::keeps_idle_connections(now, last_sign, quiet_after, open_conns(), proven_conns(now));
}

HealthTransition WorkerHealth::on_success(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.on_success(now);
}

HealthTransition WorkerHealth::on_nothing_in_flight(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.on_nothing_in_flight(now);
}

HealthTransition WorkerHealth::on_busy(TimePoint now) {
  std::lock_guard lock(mu_);
  return tracker_.on_busy(now);
}

namespace {
// Requests per multiplexed connection when neither the file nor the worker
// says: enough that a few connections carry a busy thread's requests, few
// enough that one slow connection does not hold too many of them.
constexpr unsigned kDefaultReqsPerConn = 64;
}  // namespace

unsigned WorkerHealth::conn_capacity_locked() const {
  // The worker's word, or less if the file says less.
  if (configured_capacity_ && learned_capacity_) return std::min(configured_capacity_, learned_capacity_);
  return configured_capacity_ ? configured_capacity_ : learned_capacity_;
}

bool WorkerHealth::multiplexes_locked() const {
  return multiplex_ == Multiplex::On || (multiplex_ == Multiplex::Auto && mpxs_.value_or(false));
}

unsigned WorkerHealth::request_capacity_locked() const {
  const unsigned conns = conn_capacity_locked();
  if (!multiplexes_locked()) return conns;
  const unsigned per_conn = configured_reqs_per_conn_ ? configured_reqs_per_conn_ : kDefaultReqsPerConn;
  const unsigned by_conns = conns * per_conn;  // 0 when the connections are not capped
  if (learned_max_reqs_ > 0) return by_conns ? std::min(learned_max_reqs_, by_conns) : learned_max_reqs_;
  return by_conns;
}

unsigned WorkerHealth::capacity() {
  std::lock_guard lock(mu_);
  return request_capacity_locked();
}

unsigned WorkerHealth::conn_capacity() {
  std::lock_guard lock(mu_);
  return conn_capacity_locked();
}

void WorkerHealth::learn_capacity(unsigned max_conns, std::optional<bool> mpxs, unsigned max_reqs) {
  std::lock_guard lock(mu_);
  if (max_conns > 0) learned_capacity_ = max_conns;
  if (max_reqs > 0) learned_max_reqs_ = max_reqs;
  if (mpxs) mpxs_ = mpxs;
}

void WorkerHealth::learn_no_multiplexing() {
  std::lock_guard lock(mu_);
  mpxs_ = false;
}

bool WorkerHealth::multiplexes() {
  std::lock_guard lock(mu_);
  return multiplexes_locked();
}

unsigned WorkerHealth::reqs_per_conn() {
  std::lock_guard lock(mu_);
  unsigned n = configured_reqs_per_conn_ ? configured_reqs_per_conn_ : kDefaultReqsPerConn;
  if (learned_max_reqs_ > 0) n = std::min(n, learned_max_reqs_);
  return std::max(1u, n);
}

ProbeKind WorkerHealth::probe_kind() {
  std::lock_guard lock(mu_);
  return probe_kind_;
}

WorkerHealth::Snapshot WorkerHealth::snapshot(TimePoint now) {
  Snapshot out;
  {
    std::lock_guard lock(mu_);
    out.state = tracker_.state();
    if (out.state == HealthState::Disabled && tracker_.disabled_until() > now)
      out.disabled_for_ms = tracker_.disabled_until() - now;
    out.consecutive_failures = tracker_.consecutive_failures();
    out.probe_kind = probe_kind_;
    out.configured_capacity = configured_capacity_;
    out.learned_capacity = learned_capacity_;
    out.mpxs = mpxs_;
    out.learned_max_reqs = learned_max_reqs_;
    out.capacity = request_capacity_locked();
    out.multiplexing = multiplexes_locked();
  }
  out.address = name_;
  out.in_flight = in_flight();
  out.open_conns = open_conns();
  out.requests_sent = requests_sent_.load(std::memory_order_relaxed);
  out.requests_completed = requests_completed_.load(std::memory_order_relaxed);
  out.connections_opened = conns_opened_.load(std::memory_order_relaxed);
  return out;
}

void WorkerHealth::learn_probe_kind(ProbeKind k) {
  std::lock_guard lock(mu_);
  probe_kind_ = k;
}

}  // namespace fcgimux
