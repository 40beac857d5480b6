// A worker's health, as a pure decision in virtual time: callers pass `now`,
// the tracker owns no timer. Consecutive failures disable the worker for
// disable_time × 2^(k-1), capped at max_disable_time; one success resets the
// ladder. (Probing, slow start and jitter build on this; see DESIGN.md.)
#pragma once

#include <chrono>
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
};
std::string_view to_string(FailureKind k);

struct HealthConfig {
  std::chrono::milliseconds disable_time{1000};
  std::chrono::milliseconds max_disable_time{60000};
};

class HealthTracker {
 public:
  explicit HealthTracker(const HealthConfig& cfg) : cfg_(cfg) {}

  // True when the worker may be given new work at |now|: healthy, or its
  // disable time has passed.
  bool admits_new_work(TimePoint now) const { return now >= disabled_until_; }
  // A request completed without a worker fault: the ladder resets.
  void on_success();
  // A worker fault at |now|; returns how long the worker is now disabled.
  std::chrono::milliseconds on_failure(FailureKind kind, TimePoint now);

  unsigned consecutive_failures() const { return failures_; }
  TimePoint disabled_until() const { return disabled_until_; }

 private:
  HealthConfig cfg_;
  unsigned failures_ = 0;
  TimePoint disabled_until_{};
};

}  // namespace fcgimux
