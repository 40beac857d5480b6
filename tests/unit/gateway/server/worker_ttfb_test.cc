// A worker's own recent time to first byte (WorkerHealth::note_ttfb, commit
// 29a49b2): a decaying maximum, shared by all threads, that the saturation
// rule's progress window uses beside the calling thread's pool p99 (a
// thread whose only request on the worker is the one that timed out has no
// p99). Virtual time: the tests pass every TimePoint.
#include "gateway/server/worker_health.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

namespace {
WorkerConfig worker() {
  WorkerConfig w;
  w.address.text = "127.0.0.1:9001";
  return w;
}

PoolConfig pool() {
  PoolConfig p;
  p.probe_timeout = 300ms;
  p.disable_time = 1000ms;
  return p;
}
}  // namespace

TEST_CASE("worker ttfb memory: none before an answer, rises at once, decays by an eighth per later "
          "answer down to that answer's time",
          "[health][ttfb]") {
  WorkerHealth h(pool(), worker(), 1);
  CHECK(h.recent_ttfb() == 0ms);
  h.note_ttfb(40ms);
  CHECK(h.recent_ttfb() == 40ms);
  SECTION("a longer answer raises it at once") {
    h.note_ttfb(800ms);
    CHECK(h.recent_ttfb() == 800ms);
    SECTION("each shorter answer takes an eighth off") {
      h.note_ttfb(10ms);
      CHECK(h.recent_ttfb() == 700ms);
      h.note_ttfb(10ms);
      CHECK(h.recent_ttfb() == 612ms);  // 700 - ceil(700 / 8)
      SECTION("an answer longer than the decayed value raises it again") {
        h.note_ttfb(650ms);
        CHECK(h.recent_ttfb() == 650ms);
      }
      SECTION("never below the latest answer") {
        h.note_ttfb(600ms);
        CHECK(h.recent_ttfb() == 600ms);  // 612 - 77 = 535 < 600
      }
    }
    SECTION("fast answers bring it down to their own time, all the way") {
      int answers = 0;
      while (h.recent_ttfb() > 1ms && answers < 1000) {
        h.note_ttfb(1ms);
        ++answers;
      }
      CHECK(h.recent_ttfb() == 1ms);  // an integer eighth of under 8 ms must not stall the decay
      CHECK(answers > 30);            // slowly: one slow answer is remembered for a while
      CHECK(answers < 80);
    }
  }
}

TEST_CASE("worker ttfb memory: the progress window uses it when the pool has no p99",
          "[health][ttfb][saturation]") {
  // One of ours completed at t0; another is in flight and gets suspected at
  // t0 + 400 ms; the probe goes unanswered at t0 + 700 ms (300 ms). The
  // progress window is max(the probe's 300 ms, 2 × the longer of the pool's
  // p99 and the worker's memory).
  const TimePoint t0{std::chrono::milliseconds{100000}};
  const TimePoint suspected = t0 + 400ms, probe_end = t0 + 700ms;
  WorkerHealth h(pool(), worker(), 1);
  h.add_in_flight(1);
  auto probe = [&](std::optional<Millis> pool_p99, bool& full) {
    h.on_completion(t0);
    REQUIRE(h.on_suspect(suspected));
    return h.on_probe_result(ProbeOutcome::Unanswered, probe_end, suspected, pool_p99, full);
  };
  bool full = false;
  SECTION("no memory, no p99: the window is the probe's own 300 ms, t0 is older: hung") {
    const auto tr = probe(std::nullopt, full);
    CHECK_FALSE(full);
    CHECK(tr.evicted());
    CHECK(h.state() == HealthState::Disabled);
  }
  SECTION("the worker answered in 400 ms lately: window 800 ms covers t0: full, not hung") {
    h.note_ttfb(400ms);
    const auto tr = probe(std::nullopt, full);
    CHECK(full);
    CHECK(tr.to == HealthState::Full);
    CHECK(h.state() == HealthState::Full);
    CHECK(h.consecutive_failures() == 0);
  }
  SECTION("the memory beats a shorter pool p99") {
    h.note_ttfb(400ms);
    const auto tr = probe(Millis{50}, full);  // 2 × 50 ms alone would not cover t0
    CHECK(full);
    CHECK(tr.to == HealthState::Full);
  }
  SECTION("a longer pool p99 beats a short memory") {
    h.note_ttfb(20ms);
    const auto tr = probe(Millis{400}, full);
    CHECK(full);
    CHECK(tr.to == HealthState::Full);
  }
  SECTION("a memory just short of covering t0 (2 × 349 ms < 700 ms): hung") {
    h.note_ttfb(349ms);
    const auto tr = probe(std::nullopt, full);
    CHECK_FALSE(full);
    CHECK(tr.evicted());
  }
  SECTION("a slow answer long ago, decayed by fast ones since: hung") {
    h.note_ttfb(400ms);
    for (int i = 0; i < 40; ++i) h.note_ttfb(5ms);
    CHECK(h.recent_ttfb() < 350ms);
    const auto tr = probe(std::nullopt, full);
    CHECK_FALSE(full);
    CHECK(tr.evicted());
  }
}
