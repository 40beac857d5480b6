// A pool's retry budget: retries may add at most |ratio| of the pool's
// recent requests, plus a small floor, over a sliding window. A failing pool
// then cannot multiply its own load by retrying everything (Envoy's and
// Finagle's retry budgets). Pure: callers pass `now`.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "gateway/base/clock.h"

namespace fcgimux {

struct RetryBudgetConfig {
  double ratio = 0.2;           // retries ≤ 20% of requests over the window...
  unsigned floor = 10;          // ...plus this many, so a quiet pool can still retry
};

class RetryBudget {
 public:
  // The window is kBuckets seconds.
  static constexpr size_t kBuckets = 10;

  explicit RetryBudget(const RetryBudgetConfig& cfg = {}) : cfg_(cfg) {}

  // A first attempt was made.
  void on_request(TimePoint now);
  // A retry wants to go; returns true (and counts it) when the budget allows.
  bool try_spend(TimePoint now);

  // Totals over the current window (for tests and metrics).
  uint64_t requests_in_window(TimePoint now);
  uint64_t retries_in_window(TimePoint now);

 private:
  struct Bucket {
    int64_t second = -1;
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  Bucket& bucket(TimePoint now);

  RetryBudgetConfig cfg_;
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace fcgimux
