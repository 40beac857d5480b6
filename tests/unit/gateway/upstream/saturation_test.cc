#include "gateway/upstream/saturation.h"

#include <catch2/catch.hpp>

#include "gateway/upstream/health_tracker.h"

using namespace fcgimux;
using namespace std::chrono_literals;

// Scenarios in virtual time, with the e2e tests' settings: probe_timeout
// 300 ms, suspect_after 100 ms, early suspicion at 10 × p99.
TEST_CASE("a silent probe: saturated PHP-FPM (capacity unknown) is full, a hung worker is not",
          "[health][saturation]") {
  TimePoint t0{std::chrono::hours(1)};

  SECTION("PHP-FPM, 2 children, 800 ms views, capacity unknown: a completion 700 ms before "
          "the probe ended, p99 of 1.6 s (backlog waits included) -> full") {
    const TimePoint probe_started = t0;
    const TimePoint end = t0 + 300ms;
    const ProbeEvidence e{.capacity = 0, .in_flight = 5, .last_completion = end - 700ms,
                          .probe_started = probe_started, .recent_p99 = 1600ms};
    CHECK(silence_means_full(e, end));
  }
  SECTION("the same before the pool has a p99: only a completion during the probe counts") {
    ProbeEvidence e{.capacity = 0, .in_flight = 5, .last_completion = t0 - 100ms, .probe_started = t0,
                    .recent_p99 = std::nullopt};
    CHECK_FALSE(silence_means_full(e, t0 + 300ms));
    e.last_completion = t0 + 10ms;
    CHECK(silence_means_full(e, t0 + 300ms));
  }
  SECTION("libfcgi SIGSTOPped right after completing a request (p99 3 ms): the suspected "
          "request was sent at the stop, suspected 100 ms later -> hung") {
    const TimePoint stop = t0;
    const TimePoint last_completion = stop;  // the very last thing it did
    const TimePoint suspected = stop + 100ms;  // suspect_after (10 × p99 is less)
    const TimePoint end = suspected + 300ms;
    const ProbeEvidence e{.capacity = 0, .in_flight = 4, .last_completion = last_completion,
                          .probe_started = suspected, .recent_p99 = 3ms};
    CHECK_FALSE(silence_means_full(e, end));
  }
  SECTION("a noisy machine: p99 140 ms -> window 300 ms, still hung") {
    const TimePoint suspected = t0 + 1400ms;  // 10 × p99 after the stop
    const ProbeEvidence e{.capacity = 0, .in_flight = 4, .last_completion = t0,
                          .probe_started = suspected, .recent_p99 = 140ms};
    CHECK(progress_window(300ms, 140ms) == 300ms);
    CHECK_FALSE(silence_means_full(e, suspected + 300ms));
  }
  SECTION("hung with slow views: suspected at response_timeout (5 s) after the stop, p99 1.6 s -> hung") {
    const TimePoint suspected = t0 + 5s;
    const ProbeEvidence e{.capacity = 0, .in_flight = 3, .last_completion = t0,
                          .probe_started = suspected, .recent_p99 = 1600ms};
    CHECK(progress_window(300ms, 1600ms) == 3200ms);
    CHECK_FALSE(silence_means_full(e, suspected + 300ms));
  }
  SECTION("a worker that never completed anything is never full by progress") {
    const ProbeEvidence e{.capacity = 0, .in_flight = 8, .last_completion = TimePoint::min(),
                          .probe_started = t0, .recent_p99 = 10s};
    CHECK_FALSE(silence_means_full(e, t0 + 300ms));
  }
  SECTION("a known capacity filled by our requests is full, completions or not") {
    ProbeEvidence e{.capacity = 2, .in_flight = 2, .last_completion = TimePoint::min(), .probe_started = t0,
                    .recent_p99 = std::nullopt};
    CHECK(silence_means_full(e, t0 + 300ms));
    e.in_flight = 1;
    CHECK_FALSE(silence_means_full(e, t0 + 300ms));
  }
  SECTION("the boundary: a completion exactly at the window's start counts, 1 ms earlier does not") {
    ProbeEvidence e{.capacity = 0, .in_flight = 2, .last_completion = t0 - 300ms, .probe_started = t0,
                    .recent_p99 = 300ms};  // window 600 ms, ends at t0 + 300 ms
    CHECK(silence_means_full(e, t0 + 300ms));
    e.last_completion -= 1ms;
    CHECK_FALSE(silence_means_full(e, t0 + 300ms));
  }
}

TEST_CASE("full is provisional: a hung worker judged full once is evicted at the next silent probe",
          "[health][saturation]") {
  HealthTracker h{{.disable_time = 1s, .max_disable_time = 4s, .jitter = 0.0, .slow_start = 0ms,
                   .suspicion_cooldown = 300ms}};
  TimePoint t0{std::chrono::hours(1)};
  // p99 near response_timeout: a request sent 4.9 s before the hang is
  // suspected 100 ms after it, within the window.
  ProbeEvidence e{.capacity = 0, .in_flight = 3, .last_completion = t0, .probe_started = t0 + 100ms,
                  .recent_p99 = 4s};
  REQUIRE(h.on_suspect(t0 + 100ms));
  const bool full = silence_means_full(e, t0 + 400ms);
  CHECK(full);
  CHECK(h.on_probe_result(ProbeOutcome::Unanswered, full, t0 + 400ms).to == HealthState::Full);
  CHECK_FALSE(h.admits_new_work(t0 + 500ms));  // no new work meanwhile
  // Nothing completes; the next request to time out has the worker probed again.
  REQUIRE(h.on_suspect(t0 + 5s));
  e.probe_started = t0 + 5s;
  const bool full2 = silence_means_full(e, t0 + 5300ms);  // still inside 2 × p99 of the last completion
  auto tr = h.on_probe_result(ProbeOutcome::Unanswered, full2, t0 + 5300ms);
  CHECK(tr.evicted());
}

TEST_CASE("idle connections with the capacity unknown: after a backlog sign only within what the worker "
          "proved it holds",
          "[health][saturation]") {
  const TimePoint t0{std::chrono::hours(1)};
  CHECK(keeps_idle_connections(t0, TimePoint::min(), 4s, 500, 0));  // never seen a backlog
  // Within quiet_after of the sign: none, when nothing is proven.
  CHECK_FALSE(keeps_idle_connections(t0 + 3999ms, t0, 4s, 1, 0));
  CHECK(keeps_idle_connections(t0 + 4s, t0, 4s, 500, 0));
  // PHP-FPM with 4 children and 64 of our connections open: none kept.
  CHECK_FALSE(keeps_idle_connections(t0 + 1s, t0, 4s, 64, 4));
  // Kept while a new connection would still find a child: 3 open (this
  // one included) of 4 proven, not 4.
  CHECK(keeps_idle_connections(t0 + 1s, t0, 4s, 3, 4));
  CHECK_FALSE(keeps_idle_connections(t0 + 1s, t0, 4s, 4, 4));
}

TEST_CASE("backlog wait: suspect_after, or twice the p99 of first bytes on reused connections while the "
          "worker holds all our requests, up to 10 x suspect_after",
          "[health][saturation]") {
  // 200 children per pool at 512 clients on two cores: 171 in flight on a
  // worker seen to hold 180 of our connections; every view waits for the
  // CPU, fresh or reused.
  CHECK(backlog_wait(100ms, 180ms, 171, 180) == 360ms);
  CHECK(backlog_wait(100ms, std::nullopt, 171, 180) == 100ms);  // too few reused connections answered yet
  CHECK(backlog_wait(100ms, 20ms, 171, 180) == 100ms);          // fast views: the floor
  CHECK(backlog_wait(100ms, 3s, 171, 180) == 1s);               // never longer than 10 x suspect_after
  // PHP-FPM with 4 children and 64 requests in flight: they queue in its
  // backlog anyway, so the floor, however slow the views.
  CHECK(backlog_wait(100ms, 180ms, 64, 4) == 100ms);
  CHECK(backlog_wait(100ms, 180ms, 4, 4) == 100ms);
  CHECK(backlog_wait(100ms, 180ms, 3, 4) == 360ms);
}

TEST_CASE("a fresh connection still waiting is a backlog sign unless a child was free for it or a newer "
          "one was answered (FIFO)",
          "[health][saturation]") {
  const TimePoint t0{std::chrono::hours(1)};
  const BacklogEvidence e{.suspect_after = 100ms, .wait = 100ms};
  // PHP-FPM with 4 children, held by our idle connections: the 5th
  // connection, nothing fresh answered.
  const FreshConnection fifth{.started = t0, .opened_with = 5};
  CHECK(is_backlog_sign(t0 + 100ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .proven = 4}));
  CHECK_FALSE(is_backlog_sign(t0 + 99ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .proven = 4}));
  // Nothing proven yet (the first connections of all): a sign.
  CHECK(is_backlog_sign(t0 + 100ms, fifth, e));
  // A longer wait (slow views on reused connections) is waited out first.
  CHECK_FALSE(is_backlog_sign(t0 + 300ms, fifth, {.suspect_after = 100ms, .wait = 360ms, .proven = 4}));
  CHECK(is_backlog_sign(t0 + 360ms, fifth, {.suspect_after = 100ms, .wait = 360ms, .proven = 4}));
  // Three pools of 200 children at 512 clients: it opened as our 171st
  // connection to a worker proven to hold 180 of them at once. A child was
  // free for it; a view slow for the CPU is no backlog.
  const FreshConnection top{.started = t0, .opened_with = 171};
  CHECK_FALSE(is_backlog_sign(t0 + 500ms, top, {.suspect_after = 100ms, .wait = 100ms, .proven = 180}));
  CHECK_FALSE(is_backlog_sign(t0 + 500ms, top, {.suspect_after = 100ms, .wait = 100ms, .proven = 171}));
  CHECK(is_backlog_sign(t0 + 500ms, top, {.suspect_after = 100ms, .wait = 100ms, .proven = 170}));
  // An older fresh connection was answered: says nothing about this one.
  CHECK(is_backlog_sign(t0 + 150ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .latest_fresh_answered = t0 - 1ms}));
  // libfcgi with threads to spare, a 1.5 s view: a connection opened after
  // it got its answer, so this one was accepted (a backlog is FIFO).
  CHECK_FALSE(
      is_backlog_sign(t0 + 150ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .latest_fresh_answered = t0 + 25ms}));
  // Started within suspect_after / 4 of it: loop threads stamp starts late
  // when loaded, so that says nothing about the order in the backlog (a
  // burst of 15 clients on PHP-FPM with 2 children starts them all in the
  // same few milliseconds, and the ones a child took get answered).
  CHECK(is_backlog_sign(t0 + 150ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .latest_fresh_answered = t0}));
  CHECK(
      is_backlog_sign(t0 + 150ms, fifth, {.suspect_after = 100ms, .wait = 100ms, .latest_fresh_answered = t0 + 24ms}));
}
