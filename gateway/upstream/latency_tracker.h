// A pool's recent time-to-first-byte, for early suspicion: a request
// outstanding far longer than the pool usually takes gets its worker probed
// at once instead of waiting out response_timeout. Pure, no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

namespace fcgimux {

class LatencyTracker {
 public:
  // Keeps the last |capacity| samples; p99 needs at least |min_samples|.
  explicit LatencyTracker(size_t capacity = 512, size_t min_samples = 20);

  void add(std::chrono::milliseconds sample);
  // The 99th percentile of the recent samples, nullopt while there are too
  // few. Recomputed once a quarter of the window is new since the last time.
  std::optional<std::chrono::milliseconds> p99();
  // p99 once there are enough samples, else the slowest of the few there
  // are (nullopt with none): how long an answer may take, for judging a
  // silent probe (saturation.h) before the pool has much history.
  std::optional<std::chrono::milliseconds> p99_or_max();
  // How long a request may go without a response byte before its worker is
  // suspected: max(floor, multiple × p99). With too few samples, |fallback|.
  std::chrono::milliseconds suspect_after(std::chrono::milliseconds floor, unsigned multiple,
                                          std::chrono::milliseconds fallback);
  size_t size() const { return samples_.size(); }

 private:
  std::vector<std::chrono::milliseconds> samples_;  // ring buffer
  size_t next_ = 0;
  size_t capacity_;
  size_t min_samples_;
  size_t added_since_sort_ = 0;
  std::optional<std::chrono::milliseconds> cached_p99_;
};

}  // namespace fcgimux
