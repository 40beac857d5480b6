#include "gateway/upstream/health_tracker.h"

#include <algorithm>
#include <cmath>

namespace fcgimux {

std::string_view to_string(FailureKind k) {
  switch (k) {
    case FailureKind::ConnectRefused: return "connect_refused";
    case FailureKind::ConnectTimeout: return "connect_timeout";
    case FailureKind::ResponseTimeout: return "response_timeout";
    case FailureKind::Protocol: return "protocol_error";
    case FailureKind::Vanished: return "vanished";
    case FailureKind::Overloaded: return "overloaded";
    case FailureKind::ProbeUnanswered: return "probe_unanswered";
  }
  return "unknown";
}

std::string_view describe(FailureKind k) {
  switch (k) {
    case FailureKind::ConnectRefused: return "connect refused";
    case FailureKind::ConnectTimeout: return "connect timed out";
    case FailureKind::ResponseTimeout: return "response timeout";
    case FailureKind::Protocol: return "protocol error";
    case FailureKind::Vanished: return "connection lost mid-request";
    case FailureKind::Overloaded: return "worker overloaded";
    case FailureKind::ProbeUnanswered: return "probe unanswered";
  }
  return "unknown failure";
}

std::string_view to_string(HealthState s) {
  switch (s) {
    case HealthState::Healthy: return "healthy";
    case HealthState::Suspect: return "suspect";
    case HealthState::Full: return "full";
    case HealthState::Disabled: return "disabled";
    case HealthState::Probing: return "probing";
    case HealthState::Draining: return "draining";
  }
  return "unknown";
}

HealthTracker::HealthTracker(const HealthConfig& cfg, uint64_t seed) : cfg_(cfg), rng_(seed | 1) {}

double HealthTracker::next_unit_random() {
  // xorshift64*: small, fast, and reproducible from the seed.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  const uint64_t r = rng_ * 0x2545F4914F6CDD1Dull;
  return double(r >> 11) / double(1ull << 53);  // [0, 1)
}

std::chrono::milliseconds HealthTracker::backoff() {
  std::chrono::milliseconds d = cfg_.disable_time;
  for (unsigned i = 1; i < failures_ && d < cfg_.max_disable_time; ++i) d *= 2;
  d = std::min(d, cfg_.max_disable_time);
  if (cfg_.jitter > 0) {
    const double f = 1.0 + cfg_.jitter * (2.0 * next_unit_random() - 1.0);
    d = std::chrono::milliseconds(std::max<int64_t>(1, std::llround(double(d.count()) * f)));
  }
  return d;
}

bool HealthTracker::admits_new_work(TimePoint) const { return state_ == HealthState::Healthy; }

double HealthTracker::weight_factor(TimePoint now) const {
  if (cfg_.slow_start.count() <= 0 || readmitted_at_ == TimePoint::min()) return 1.0;
  const auto since = now - readmitted_at_;
  if (since >= cfg_.slow_start) return 1.0;
  const double ramp = double(since.count()) / double(cfg_.slow_start.count());
  return 0.1 + 0.9 * std::clamp(ramp, 0.0, 1.0);
}

bool HealthTracker::probe_due(TimePoint now) const {
  return state_ == HealthState::Disabled && now >= disabled_until_;
}

HealthTransition HealthTracker::disable(HealthState from, TimePoint now) {
  ++failures_;
  const auto d = backoff();
  state_ = HealthState::Disabled;
  disabled_until_ = now + d;
  readmitted_at_ = TimePoint::min();
  return {from, state_, d, failures_};
}

HealthTransition HealthTracker::on_failure(FailureKind, TimePoint now) {
  const HealthState from = state_;
  switch (state_) {
    case HealthState::Healthy:
    case HealthState::Suspect:
    case HealthState::Full:
      return disable(from, now);
    case HealthState::Probing:
      // The re-admission probe itself failed to connect: the probe result
      // will say so; nothing more to decide here.
      return {from, from, {}, failures_};
    case HealthState::Disabled:
    case HealthState::Draining:
      // Several requests in flight on a worker that just died all report it:
      // one fault, one step up the ladder.
      return {from, from, {}, failures_};
  }
  return {from, from, {}, failures_};
}

bool HealthTracker::on_suspect(TimePoint now) {
  if (state_ != HealthState::Healthy && state_ != HealthState::Full) return false;  // probing, or out
  if (last_answered_probe_ != TimePoint::min() && now - last_answered_probe_ < cfg_.suspicion_cooldown)
    return false;
  state_ = HealthState::Suspect;
  return true;
}

void HealthTracker::on_probe_started(TimePoint now) {
  if (state_ == HealthState::Disabled) {
    state_ = HealthState::Probing;
    probe_started_ = now;
  }
}

HealthTransition HealthTracker::on_probe_result(ProbeOutcome outcome, bool full, TimePoint now) {
  const HealthState from = state_;
  switch (state_) {
    case HealthState::Suspect:
      if (outcome == ProbeOutcome::Answered) {
        // Alive: only the request that raised the suspicion was slow.
        state_ = HealthState::Healthy;
        last_answered_probe_ = now;
        return {from, state_, {}, failures_};
      }
      if (full && full_strikes_ == 0) {
        // A prefork worker whose children are all busy with our requests
        // leaves a new connection in its backlog: busy, not hung.
        ++full_strikes_;
        state_ = HealthState::Full;
        last_answered_probe_ = now;  // the cooldown applies: busy workers are not probed back to back
        return {from, state_, {}, failures_};
      }
      full_strikes_ = 0;
      return disable(from, now);
    case HealthState::Probing:
      if (outcome == ProbeOutcome::Answered) {
        state_ = HealthState::Healthy;
        readmitted_at_ = now;
        last_answered_probe_ = now;
        return {from, state_, {}, failures_};
      }
      // Still silent: out a little longer, and probed again. The ladder does
      // not climb; it counts evictions from service, not probes.
      // probe_interval spaces the starts of two probes: one refused at once
      // waits out the rest of it (no hammering a port nobody listens on);
      // one that waited probe_timeout for an answer is followed at once, so
      // that a probe is always waiting in the backlog of a stopped worker
      // and the worker is back at its first answer after it resumes.
      state_ = HealthState::Disabled;
      disabled_until_ = std::max(now, probe_started_ + cfg_.probe_interval);
      return {from, state_, disabled_until_ - now, failures_};
    case HealthState::Healthy:
    case HealthState::Full:
    case HealthState::Disabled:
    case HealthState::Draining:
      return {from, from, {}, failures_};  // a stale result: a newer event decided already
  }
  return {from, from, {}, failures_};
}

HealthTransition HealthTracker::on_busy(TimePoint) {
  const HealthState from = state_;
  if (state_ == HealthState::Healthy) state_ = HealthState::Full;
  return {from, state_, {}, failures_};
}

HealthTransition HealthTracker::on_nothing_in_flight(TimePoint) {
  const HealthState from = state_;
  if (state_ == HealthState::Full) state_ = HealthState::Healthy;
  return {from, state_, {}, failures_};
}

HealthTransition HealthTracker::on_success(TimePoint) {
  const HealthState from = state_;
  failures_ = 0;
  full_strikes_ = 0;
  if (state_ == HealthState::Full) state_ = HealthState::Healthy;
  return {from, state_, {}, failures_};
}

HealthTransition HealthTracker::set_draining(bool draining, TimePoint now) {
  const HealthState from = state_;
  if (draining && state_ != HealthState::Draining) {
    before_draining_ = state_;
    state_ = HealthState::Draining;
  } else if (!draining && state_ == HealthState::Draining) {
    // Back in service: through a probe if it was out, at once otherwise.
    state_ = before_draining_ == HealthState::Disabled || before_draining_ == HealthState::Probing
                 ? HealthState::Disabled
                 : HealthState::Healthy;
    if (state_ == HealthState::Disabled) disabled_until_ = std::min(disabled_until_, now);
  }
  return {from, state_, {}, failures_};
}

}  // namespace fcgimux
