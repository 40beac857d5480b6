#include "gateway/upstream/latency_tracker.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("p99 of recent time-to-first-byte sets the early-suspicion threshold", "[latency]") {
  LatencyTracker l{100, 20};
  CHECK_FALSE(l.p99());
  CHECK(l.suspect_after(100ms, 10, 1s) == 1s);  // too few samples: the fallback
  for (int i = 1; i <= 100; ++i) l.add(std::chrono::milliseconds(i));
  REQUIRE(l.p99());
  CHECK(*l.p99() == 99ms);
  CHECK(l.suspect_after(100ms, 10, 1s) == 990ms);
  SECTION("a fast pool is floored at suspect_after") {
    LatencyTracker fast{100, 20};
    for (int i = 0; i < 100; ++i) fast.add(2ms);
    CHECK(fast.suspect_after(100ms, 10, 1s) == 100ms);
  }
  SECTION("old samples roll out of the window") {
    for (int i = 0; i < 100; ++i) l.add(5ms);
    CHECK(*l.p99() == 5ms);
    CHECK(l.size() == 100);
  }
}

TEST_CASE("p99_or_max: the slowest answer while there are few samples, then p99", "[latency]") {
  LatencyTracker l{100, 20};
  CHECK_FALSE(l.p99_or_max());
  l.add(700ms);
  l.add(20ms);
  CHECK(l.p99_or_max() == 700ms);  // 2 samples: no p99 yet, the slowest stands in
  for (int i = 0; i < 98; ++i) l.add(5ms);
  CHECK(l.p99_or_max() == l.p99());
}
