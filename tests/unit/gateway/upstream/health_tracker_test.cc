#include "gateway/upstream/health_tracker.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

namespace {
HealthConfig no_jitter(std::chrono::milliseconds d = 1s, std::chrono::milliseconds max = 4s) {
  return {.disable_time = d, .max_disable_time = max, .jitter = 0.0, .slow_start = 0ms,
          .suspicion_cooldown = 500ms};
}
}  // namespace

TEST_CASE("disable time doubles per eviction without a success between, capped, reset by success",
          "[health]") {
  HealthTracker h{no_jitter()};
  TimePoint t{};
  CHECK(h.admits_new_work(t));
  // Evicted, re-admitted by a probe, evicted again: each eviction climbs.
  auto evict_and_readmit = [&] {
    auto tr = h.on_failure(FailureKind::ConnectRefused, t);
    REQUIRE(tr.evicted());
    t += tr.disabled_for;
    REQUIRE(h.probe_due(t));
    h.on_probe_started(t);
    REQUIRE(h.on_probe_result(ProbeOutcome::Answered, false, t).to == HealthState::Healthy);
    return tr.disabled_for;
  };
  CHECK(evict_and_readmit() == 1s);
  CHECK(evict_and_readmit() == 2s);
  CHECK(evict_and_readmit() == 4s);
  CHECK(evict_and_readmit() == 4s);  // capped
  CHECK(h.consecutive_failures() == 4);
  SECTION("a completed request resets the ladder") {
    h.on_success(t);
    CHECK(h.consecutive_failures() == 0);
    CHECK(h.on_failure(FailureKind::Vanished, t).disabled_for == 1s);
  }
}

TEST_CASE("a disabled worker is re-admitted only by a probe, and re-probed while silent", "[health]") {
  HealthConfig cfg = no_jitter();
  cfg.probe_interval = 50ms;
  HealthTracker h{cfg};
  TimePoint t{};
  CHECK(h.on_failure(FailureKind::ConnectRefused, t).disabled_for == 1s);
  CHECK(h.state() == HealthState::Disabled);
  CHECK_FALSE(h.admits_new_work(t + 999ms));
  CHECK_FALSE(h.probe_due(t + 999ms));
  CHECK_FALSE(h.admits_new_work(t + 5s));  // time alone never re-admits
  CHECK(h.probe_due(t + 1000ms));
  t += 1s;
  h.on_probe_started(t);
  CHECK(h.state() == HealthState::Probing);
  CHECK_FALSE(h.admits_new_work(t));
  CHECK_FALSE(h.probe_due(t));  // one probe at a time
  SECTION("refused at once: the next probe waits out probe_interval from this one's start") {
    auto refused = h.on_probe_result(ProbeOutcome::Unanswered, false, t + 1ms);
    CHECK(refused.to == HealthState::Disabled);
    CHECK_FALSE(refused.evicted());  // still out, not evicted again
    CHECK(refused.disabled_for == 49ms);
    CHECK(h.consecutive_failures() == 1);
    CHECK_FALSE(h.probe_due(t + 49ms));
    CHECK_FALSE(h.admits_new_work(t + 49ms));
    CHECK(h.probe_due(t + 50ms));
    t += 50ms;
  }
  SECTION("silent for probe_timeout (longer than probe_interval): the next probe goes at once") {
    auto silent = h.on_probe_result(ProbeOutcome::Unanswered, false, t + 300ms);
    CHECK(silent.to == HealthState::Disabled);
    CHECK_FALSE(silent.evicted());
    CHECK(silent.disabled_for == 0ms);
    CHECK(h.consecutive_failures() == 1);
    CHECK_FALSE(h.admits_new_work(t + 300ms));  // out until a probe answers
    CHECK(h.probe_due(t + 300ms));
    t += 300ms;
  }
  SECTION("silent for 30 ms (under probe_interval): the next starts 50 ms after this one did") {
    auto silent = h.on_probe_result(ProbeOutcome::Unanswered, false, t + 30ms);
    CHECK(silent.disabled_for == 20ms);
    CHECK_FALSE(h.probe_due(t + 49ms));
    CHECK(h.probe_due(t + 50ms));
    t += 50ms;
  }
  h.on_probe_started(t);
  auto back = h.on_probe_result(ProbeOutcome::Answered, false, t + 1ms);
  CHECK(back.from == HealthState::Probing);
  CHECK(back.to == HealthState::Healthy);
  CHECK(h.admits_new_work(t + 1ms));
}

TEST_CASE("failures reported while already disabled are the same fault", "[health]") {
  HealthTracker h{no_jitter(1s, 60s)};
  TimePoint t{};
  CHECK(h.on_failure(FailureKind::Vanished, t).evicted());
  auto again = h.on_failure(FailureKind::Vanished, t + 10ms);
  CHECK_FALSE(again.changed());
  CHECK(h.consecutive_failures() == 1);
  CHECK(h.disabled_until() == t + 1s);
}

TEST_CASE("jitter keeps disable times within their bounds and varies them", "[health]") {
  HealthConfig cfg = no_jitter(1000ms, 60s);
  cfg.jitter = 0.2;
  bool varied = false;
  std::chrono::milliseconds first{};
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    HealthTracker h{cfg, seed};
    auto d = h.on_failure(FailureKind::ConnectRefused, TimePoint{}).disabled_for;
    CHECK(d >= 800ms);
    CHECK(d <= 1200ms);
    if (seed == 1) first = d;
    varied = varied || d != first;
    // The k-th eviction stays within the jittered band of its own step.
    TimePoint t = TimePoint{} + d;
    h.on_probe_started(t);
    h.on_probe_result(ProbeOutcome::Answered, false, t);
    auto d2 = h.on_failure(FailureKind::ConnectRefused, t).disabled_for;
    CHECK(d2 >= 1600ms);
    CHECK(d2 <= 2400ms);
  }
  CHECK(varied);
}

TEST_CASE("probe decisions: hung, slow, saturated", "[health][probe]") {
  HealthTracker h{no_jitter()};
  TimePoint t{};
  REQUIRE(h.on_suspect(t));
  CHECK(h.state() == HealthState::Suspect);
  CHECK_FALSE(h.admits_new_work(t));  // no new work while the probe runs
  CHECK_FALSE(h.on_suspect(t));       // one probe at a time

  SECTION("hung: the probe goes unanswered -> evicted") {
    auto tr = h.on_probe_result(ProbeOutcome::Unanswered, /*full=*/false, t + 500ms);
    CHECK(tr.evicted());
    CHECK(tr.consecutive_failures == 1);
    CHECK(h.disabled_until() == t + 500ms + 1s);
  }
  SECTION("slow: the probe is answered -> stays in, nothing counted") {
    auto tr = h.on_probe_result(ProbeOutcome::Answered, false, t + 3ms);
    CHECK(tr.to == HealthState::Healthy);
    CHECK(h.consecutive_failures() == 0);
    CHECK(h.admits_new_work(t + 3ms));
    // The same slow view does not get the worker probed again at once.
    CHECK_FALSE(h.on_suspect(t + 100ms));
    CHECK(h.on_suspect(t + 3ms + 500ms));
  }
  SECTION("saturated: unanswered while our requests fill its capacity -> full, not failed") {
    auto tr = h.on_probe_result(ProbeOutcome::Unanswered, /*full=*/true, t + 500ms);
    CHECK(tr.to == HealthState::Full);
    CHECK(h.consecutive_failures() == 0);
    CHECK_FALSE(h.admits_new_work(t + 600ms));
    auto freed = h.on_success(t + 700ms);  // one of ours completed
    CHECK(freed.from == HealthState::Full);
    CHECK(freed.to == HealthState::Healthy);
    CHECK(h.admits_new_work(t + 700ms));
  }
  SECTION("full is provisional: still silent and still nothing completed -> hung after all") {
    CHECK(h.on_probe_result(ProbeOutcome::Unanswered, true, t + 500ms).to == HealthState::Full);
    REQUIRE(h.on_suspect(t + 30s));  // one of its requests timed out
    auto tr = h.on_probe_result(ProbeOutcome::Unanswered, true, t + 30s + 500ms);
    CHECK(tr.evicted());
    CHECK(tr.from == HealthState::Suspect);
  }
  SECTION("a completion between two full verdicts keeps the worker in") {
    CHECK(h.on_probe_result(ProbeOutcome::Unanswered, true, t + 500ms).to == HealthState::Full);
    h.on_success(t + 1s);
    REQUIRE(h.on_suspect(t + 30s));
    CHECK(h.on_probe_result(ProbeOutcome::Unanswered, true, t + 30s + 500ms).to == HealthState::Full);
  }
  SECTION("a hard failure during the probe evicts at once; the late probe result changes nothing") {
    CHECK(h.on_failure(FailureKind::Vanished, t + 10ms).evicted());
    CHECK_FALSE(h.on_probe_result(ProbeOutcome::Answered, false, t + 20ms).changed());
    CHECK(h.state() == HealthState::Disabled);
  }
}

TEST_CASE("slow start ramps a re-admitted worker's weight from 10% to 100%", "[health][slow-start]") {
  HealthConfig cfg = no_jitter();
  cfg.slow_start = 10s;
  HealthTracker h{cfg};
  TimePoint t{};
  CHECK(h.weight_factor(t) == 1.0);  // never evicted: full weight
  h.on_failure(FailureKind::ConnectRefused, t);
  t += 1s;
  h.on_probe_started(t);
  h.on_probe_result(ProbeOutcome::Answered, false, t);
  CHECK(h.weight_factor(t) == Approx(0.1));
  CHECK(h.weight_factor(t + 5s) == Approx(0.55));
  CHECK(h.weight_factor(t + 10s) == 1.0);
  CHECK(h.weight_factor(t + 60s) == 1.0);
}

TEST_CASE("draining takes a worker out whatever its health, and back", "[health]") {
  HealthTracker h{no_jitter()};
  TimePoint t{};
  CHECK(h.set_draining(true, t).to == HealthState::Draining);
  CHECK_FALSE(h.admits_new_work(t));
  CHECK_FALSE(h.on_suspect(t));
  CHECK_FALSE(h.on_failure(FailureKind::Vanished, t).changed());
  CHECK(h.set_draining(false, t).to == HealthState::Healthy);
  CHECK(h.admits_new_work(t));
  SECTION("a worker drained while disabled comes back through a probe") {
    h.on_failure(FailureKind::ConnectRefused, t);
    h.set_draining(true, t);
    CHECK(h.set_draining(false, t + 5s).to == HealthState::Disabled);
    CHECK(h.probe_due(t + 5s));
  }
}

TEST_CASE("a busy worker takes no new work until one of ours completes, and counts no failure",
          "[health]") {
  HealthTracker h{no_jitter()};
  TimePoint t{};
  auto busy = h.on_busy(t);
  CHECK(busy.to == HealthState::Full);
  CHECK_FALSE(h.admits_new_work(t));
  CHECK(h.consecutive_failures() == 0);
  CHECK(h.on_success(t + 5ms).to == HealthState::Healthy);
  SECTION("with nothing of ours in flight, a full worker takes work again (nothing would complete)") {
    h.on_busy(t + 6ms);
    const auto drained = h.on_nothing_in_flight(t + 7ms);
    CHECK(drained.from == HealthState::Full);
    CHECK(drained.to == HealthState::Healthy);
    CHECK(h.admits_new_work(t + 7ms));
    CHECK(h.consecutive_failures() == 0);
    CHECK_FALSE(h.on_nothing_in_flight(t + 8ms).changed());  // only ever leaves "full"
  }
  SECTION("busy never overrides an eviction") {
    h.on_failure(FailureKind::ConnectRefused, t);
    CHECK_FALSE(h.on_busy(t).changed());
    CHECK(h.state() == HealthState::Disabled);
  }
}
