#include "gateway/upstream/health_tracker.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("disable time doubles per consecutive failure, capped, reset by success", "[health]") {
  HealthTracker h{{.disable_time = 1s, .max_disable_time = 4s}};
  TimePoint t{};
  CHECK(h.admits_new_work(t));
  auto fail = [&] { return h.on_failure(FailureKind::ConnectRefused, t); };
  CHECK(fail() == 1s);
  CHECK_FALSE(h.admits_new_work(t + 999ms));
  CHECK(h.admits_new_work(t + 1000ms));
  t += 1s;
  CHECK(fail() == 2s);
  t += 2s;
  CHECK(fail() == 4s);
  t += 4s;
  CHECK(fail() == 4s);  // capped
  CHECK(h.consecutive_failures() == 4);
  SECTION("one success resets the ladder") {
    t += 4s;
    h.on_success();
    CHECK(h.consecutive_failures() == 0);
    CHECK(fail() == 1s);
  }
}

TEST_CASE("failures reported while already disabled do not climb the ladder", "[health]") {
  HealthTracker h{{.disable_time = 1s, .max_disable_time = 60s}};
  TimePoint t{};
  CHECK(h.on_failure(FailureKind::Vanished, t) == 1s);
  CHECK(h.on_failure(FailureKind::Vanished, t + 10ms) == 990ms);
  CHECK(h.consecutive_failures() == 1);
  CHECK(h.disabled_until() == t + 1s);
}
