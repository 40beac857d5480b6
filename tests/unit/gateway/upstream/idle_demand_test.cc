#include "gateway/upstream/idle_demand.h"
#include "gateway/upstream/recent_peak.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("idle connections kept follow the recent peak of requests in flight", "[idle-demand]") {
  IdleDemand d;
  const TimePoint t0{std::chrono::hours(1)};

  SECTION("with no load noted, the configured cap") {
    CHECK(d.recent_peak(t0) == 0);
    CHECK(d.idle_to_keep(16, 0, t0) == 16);
  }
  SECTION("a burst of completions keeps what the peak needs again") {
    for (unsigned n = 1; n <= 85; ++n) d.note_in_flight(n, t0);
    CHECK(d.recent_peak(t0) == 85);
    // 60 responses completed at once: 25 still busy, 60 will be needed again.
    CHECK(d.idle_to_keep(16, 25, t0 + 1ms) == 60);
    // More busy than the peak minus the cap: the cap rules.
    CHECK(d.idle_to_keep(16, 80, t0 + 1ms) == 16);
  }
  SECTION("the peak counts for one to two windows, then is forgotten") {
    d.note_in_flight(100, t0);
    CHECK(d.recent_peak(t0 + 999ms) == 100);
    d.note_in_flight(10, t0 + 1000ms);  // a new window: the old peak is the previous one
    CHECK(d.recent_peak(t0 + 1500ms) == 100);
    CHECK(d.recent_peak(t0 + 2000ms) == 10);  // rolled again: only the 10 is recent
    CHECK(d.recent_peak(t0 + 3000ms) == 0);   // nothing noted in the window before
    CHECK(d.idle_to_keep(16, 0, t0 + 3000ms) == 16);
  }
  SECTION("after a long silence nothing is recent") {
    d.note_in_flight(100, t0);
    CHECK(d.recent_peak(t0 + 5s) == 0);
    d.note_in_flight(3, t0 + 5s);
    CHECK(d.recent_peak(t0 + 5s) == 3);
  }
  SECTION("a cap of 0 keeps nothing, whatever the load") {
    d.note_in_flight(200, t0);
    CHECK(d.idle_to_keep(0, 0, t0) == 0);
  }
}

TEST_CASE("recent peak: the highest count noted in the current and the previous window", "[idle-demand]") {
  RecentPeak p(5s);
  const TimePoint t0{std::chrono::hours(1)};
  CHECK(p.peak(t0) == 0);
  p.note(7, t0);
  p.note(3, t0 + 1s);
  CHECK(p.peak(t0 + 4999ms) == 7);
  CHECK(p.peak(t0 + 5s) == 7);   // rolled: now the previous window's
  CHECK(p.peak(t0 + 10s) == 0);  // rolled again with nothing noted
}
