// A worker's health, as a pure decision in virtual time: callers pass `now`,
// the tracker owns no timer and does no I/O (STYLE C6). The edges (probes,
// connections, timers) report events; the tracker says what follows.
//
//   healthy ──failure──────────────────────────────▶ disabled(until)
//   healthy ──suspect (timeout, early suspicion)──▶ suspect ──probe answered──▶ healthy
//                                                     │ ──probe unanswered, but our requests fill its
//                                                     │   capacity or keep completing (saturation.h)
//                                                     │   ──▶ full ──one completes──▶ healthy
//                                                     └─probe unanswered──▶ disabled(until)
//   disabled ──until passed──▶ probing ──answered──▶ healthy (slow start)
//                                      └─unanswered─▶ disabled until probe_interval after
//                                                     this probe's start, probed again
//   draining: set by an operator; no new work, whatever else holds.
//
// An evicted worker stays out for disable_time × 2^(k-1), where k counts its
// evictions without a completed request in between (a worker that flaps is
// kept out longer), capped at max_disable_time, with ± jitter so that many
// gateways do not probe in step. After that it is probed until it answers,
// one probe at a time, their starts at least probe_interval apart (a probe
// refused at once waits; one that waited probe_timeout in a stopped worker's
// backlog is followed at once): a probe costs a connection, not a user's
// request, so a worker that comes back is back at its first answer, not
// within a doubled ban. A request that completes without a worker fault
// resets k.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "gateway/base/clock.h"

namespace fcgimux {

enum class FailureKind {
  ConnectRefused,
  ConnectTimeout,
  ResponseTimeout,
  Protocol,
  Vanished,
  Overloaded,
  ProbeUnanswered,
};
std::string_view to_string(FailureKind k);
// "connect refused", "response timeout", ... for messages meant for people.
std::string_view describe(FailureKind k);

enum class HealthState { Healthy, Suspect, Full, Disabled, Probing, Draining };
std::string_view to_string(HealthState s);

enum class ProbeOutcome {
  Answered,    // the worker answered within probe_timeout
  Unanswered,  // no answer within probe_timeout (or the connection failed)
};

struct HealthConfig {
  std::chrono::milliseconds disable_time{1000};
  std::chrono::milliseconds max_disable_time{60000};
  // Disable times are drawn from [d × (1 - jitter), d × (1 + jitter)].
  double jitter = 0.1;
  // After re-admission the worker's weight ramps from 10% to 100% over this.
  std::chrono::milliseconds slow_start{5000};
  // After a probe that kept the worker in (answered, or busy), further
  // suspicions are ignored for this long, so one slow view or a saturated
  // worker does not get probed (and kept out) back to back.
  std::chrono::milliseconds suspicion_cooldown{500};
  // The least time between the starts of two re-admission probes of a
  // worker that stays silent or refuses.
  std::chrono::milliseconds probe_interval{50};
};

// What a transition means for the caller: log it, and act on in-flight work.
struct HealthTransition {
  HealthState from = HealthState::Healthy;
  HealthState to = HealthState::Healthy;
  std::chrono::milliseconds disabled_for{0};  // to == Disabled
  unsigned consecutive_failures = 0;
  bool changed() const { return from != to; }
  // Taken out of service (not: still out after another silent probe).
  bool evicted() const {
    return to == HealthState::Disabled &&
           (from == HealthState::Healthy || from == HealthState::Suspect || from == HealthState::Full);
  }
};

class HealthTracker {
 public:
  // |seed| makes jitter reproducible in tests.
  explicit HealthTracker(const HealthConfig& cfg, uint64_t seed = 0x9e3779b97f4a7c15ull);

  HealthState state() const { return state_; }
  // True when the worker may be given new work at |now|.
  bool admits_new_work(TimePoint now) const;
  // Slow start: the share of its weight the worker gets at |now|, in (0, 1].
  double weight_factor(TimePoint now) const;
  // A re-admission probe should start now (disabled, and its time is up).
  bool probe_due(TimePoint now) const;
  // When the worker may next be back (the next probe), for Retry-After.
  TimePoint next_probe_at() const { return disabled_until_; }
  TimePoint disabled_until() const { return disabled_until_; }
  unsigned consecutive_failures() const { return failures_; }

  // A fault that proves the worker unusable on its own (refused or timed-out
  // connect, protocol error, reset mid-response, FCGI_OVERLOADED): disabled
  // at once, no probe needed.
  HealthTransition on_failure(FailureKind kind, TimePoint now);
  // A request on the worker is suspiciously late (response timeout, or early
  // suspicion). Returns true when the caller must start a liveness probe now
  // (the worker becomes Suspect and gets no new work until the probe ends).
  // A full worker may be suspected too: if it stays silent and still none of
  // our requests completes, it is hung, not busy.
  bool on_suspect(TimePoint now);
  // The re-admission probe starts (probe_due() was true).
  void on_probe_started(TimePoint now);
  // A probe (suspicion or re-admission) ended. |full|: the requests we have
  // in flight on the worker fill its known capacity, so silence means "busy",
  // not "dead".
  HealthTransition on_probe_result(ProbeOutcome outcome, bool full, TimePoint now);
  // The worker is alive but cannot take more now (a connect timed out in its
  // full backlog while it keeps completing our requests): no new work until
  // one of ours completes; no failure counted.
  HealthTransition on_busy(TimePoint now);
  // None of our requests is in flight on the worker any more. A worker held
  // "full" until one of ours completes would otherwise wait forever (ours
  // may all have failed, or moved): it takes work again. If it is still
  // full, the next request finds out.
  HealthTransition on_nothing_in_flight(TimePoint now);
  // A request completed without a worker fault: the failure ladder resets,
  // and a full worker has room again.
  HealthTransition on_success(TimePoint now);
  // Operator control.
  HealthTransition set_draining(bool draining, TimePoint now);

 private:
  HealthTransition disable(HealthState from, TimePoint now);
  std::chrono::milliseconds backoff();
  double next_unit_random();

  HealthConfig cfg_;
  HealthState state_ = HealthState::Healthy;
  HealthState before_draining_ = HealthState::Healthy;
  unsigned failures_ = 0;
  TimePoint disabled_until_{};
  TimePoint probe_started_{};  // the running (or last) re-admission probe's start
  TimePoint readmitted_at_ = TimePoint::min();
  TimePoint last_answered_probe_ = TimePoint::min();
  // "Full" is provisional: a second unanswered probe while still full, with
  // none of our requests completed in between, means hung after all.
  unsigned full_strikes_ = 0;
  uint64_t rng_;
};

}  // namespace fcgimux
