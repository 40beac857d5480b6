// Saturated or hung? What a silent liveness probe means, decided from what
// we saw of the worker (pure, virtual time; STYLE C6).
//
// A prefork worker (PHP-FPM, flup prefork) whose children are all busy
// leaves a new connection, the probe's included, in its accept backlog: the
// probe goes unanswered although the worker is healthy. A hung worker
// (SIGSTOP, a deadlock, a vanished machine) leaves it unanswered too. What
// tells them apart is progress: a saturated worker keeps completing our
// requests, at least one per service time; a hung one completes nothing
// from the moment it hung.
//
// The rule: silence means "full", not "hung", when
//   - our requests in flight fill its known capacity (max_conns, or
//     FCGI_MAX_CONNS), or
//   - one of our requests completed on it within the progress window before
//     the probe ended: max(the probe's own duration, 2 × the pool's recent
//     p99 time to first byte). PHP-FPM 8.2 does not tell its capacity, and
//     with 800 ms views and 2 children a 300 ms probe often sees no
//     completion; the pool's p99 says how long a completion may take.
// Why a hung worker is still evicted at its first probe: a suspicion fires
// only once a request has waited max(suspect_after, 10 × p99) or
// response_timeout, both longer than p99 (p99 is measured on answers that
// came within response_timeout), and the probe adds probe_timeout on top;
// so the last completion of a worker hung since before that request is
// older than the window. (When p99 nears response_timeout, a request sent
// just before the hang can be suspected within 2 × p99 of the hang; then
// "full" is provisional: the next silent probe with nothing completed in
// between evicts, as HealthTracker does.)
#pragma once

#include <chrono>
#include <optional>

#include "gateway/base/clock.h"

namespace fcgimux {

struct ProbeEvidence {
  unsigned capacity = 0;  // known capacity; 0 = unknown
  int in_flight = 0;      // our requests on the worker now, all threads
  TimePoint last_completion = TimePoint::min();  // our last request completed on it
  TimePoint probe_started{};
  std::optional<std::chrono::milliseconds> recent_p99;  // the pool's time to first byte
};

// How far back a completion still shows the worker progressing, for a probe
// that took |probe_took|.
std::chrono::milliseconds progress_window(std::chrono::milliseconds probe_took,
                                          std::optional<std::chrono::milliseconds> recent_p99);

// True when a probe that went unanswered at |now| means "full" (alive, busy
// with our requests), false when it means "hung".
bool silence_means_full(const ProbeEvidence& e, TimePoint now);

// Idle connections and a worker's accept backlog. A prefork or
// thread-per-connection worker (PHP-FPM, libfcgi) ties a child to each open
// connection, idle kept-alive ones included. With its capacity unknown we
// cannot bound our connections by it, and a new connection can wait in its
// backlog behind children our own idle connections hold, until
// response_timeout. So a fresh connection still waiting for its first byte
// after backlog_wait() is taken as a sign of a backlog, unless
//   - it opened while we had no more connections to the worker (itself
//     included) than the worker has been seen serving at once
//     (|opened_with| <= |proven|, proven_conns.h): then a child was free for
//     it, and it waits for a slow view, not in the backlog; or
//   - a fresh connection whose request started clearly later (by
//     suspect_after / 4: each loop thread stamps a start when it sees the
//     connect complete, late when loaded) has been answered already: a
//     listen backlog is FIFO, so then this one was accepted and only its
//     view is slow (a 1.5 s view on a libfcgi worker with threads to spare
//     is no backlog).
// Without the first rule and the p99 in backlog_wait(), three pools of 200
// PHP-FPM children at 512 clients on two cores, where any view may wait
// 100 ms for the CPU, gave a false sign every second or so, and the gateway
// connected anew for almost every request (bench/README.md).
// On a sign, idle connections to that worker are closed (on every thread)
// and for |quiet_after| since the last sign one is kept only while our open
// connections, it included, stay below |proven| (a new one would still find
// a child). Cheap when wrong (the idle connections of the moment reconnect,
// and the ones closing while the load stays at the floor), and keep-alive
// comes back once the worker keeps up.

// How long a fresh connection may wait for its first byte before that is a
// sign: suspect_after, or, while fewer of our requests are in flight to the
// worker than it was seen to hold (|in_flight| < |proven|), twice the pool's
// recent p99 time to first byte on reused connections if longer (with at
// least 20 of them), up to 10 × suspect_after. A reused connection has its
// child already, so its wait is the view's own time: a saturated CPU makes
// every view slow, fresh or reused, where a backlog makes only fresh
// connections wait. With more in flight than proven, requests queue in the
// worker's backlog anyway and a child kept idle makes them wait: the pitfalls
// e2e test (4 children, 64 clients, FIFO waits of 320 ms) then saw no sign
// within the longer wait, idle connections kept again, the backlog overflow
// and requests wait seconds for the kernel to retry their connection. The
// cap keeps a request stuck behind pinned children from waiting longer than
// that for the sign that frees them.
std::chrono::milliseconds backlog_wait(std::chrono::milliseconds suspect_after,
                                       std::optional<std::chrono::milliseconds> reused_p99, int in_flight,
                                       unsigned proven);

struct FreshConnection {
  TimePoint started{};  // its request started (connected)
  int opened_with = 0;  // our open connections to the worker when it opened, itself included
};

struct BacklogEvidence {
  std::chrono::milliseconds suspect_after{0};
  std::chrono::milliseconds wait{0};  // backlog_wait()
  // The latest start among fresh connections to the worker that got their
  // first byte (TimePoint::min() if none).
  TimePoint latest_fresh_answered = TimePoint::min();
  unsigned proven = 0;  // ProvenConns::floor()
};

bool is_backlog_sign(TimePoint now, const FreshConnection& c, const BacklogEvidence& e);
// |open_conns|: ours now, the one to keep included.
bool keeps_idle_connections(TimePoint now, TimePoint last_backlog_sign,
                            std::chrono::milliseconds quiet_after, int open_conns, unsigned proven);

}  // namespace fcgimux
