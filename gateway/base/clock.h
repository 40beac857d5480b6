// The loop's clock. LoopClock is its own clock type so it cannot be mixed
// with system_clock by accident; policy classes take a TimePoint and tests
// pass whatever TimePoint they like (virtual time).
#pragma once

#include <uv.h>

#include <chrono>

namespace fcgimux {

struct LoopClock {
  using duration = std::chrono::milliseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<LoopClock>;
  static constexpr bool is_steady = true;
};
using TimePoint = LoopClock::time_point;
using Millis = std::chrono::milliseconds;

// uv_now(): cached per loop iteration, monotonic.
inline TimePoint now(const uv_loop_t* loop) {
  return TimePoint{std::chrono::milliseconds{static_cast<int64_t>(uv_now(loop))}};
}

}  // namespace fcgimux
