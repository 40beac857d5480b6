// How many of our connections a worker can hold at once, at least: a floor
// under its connection capacity when it does not say it (PHP-FPM 8.2
// answers FCGI_GET_VALUES without FCGI_MAX_CONNS). saturation.h uses it to
// tell a fresh connection waiting in the worker's accept backlog behind
// children our own connections hold from one waiting for a slow view.
//
// Two proofs, for a prefork or thread-per-connection worker (PHP-FPM,
// libfcgi: a child or thread stays with a connection until it closes):
//   - held: a connection the worker has sent a byte on was accepted, and
//     keeps its child until it closes; N such connections open at once mean
//     N children at least;
//   - FIFO: a listen backlog is first in, first out, so when a fresh
//     connection gets its first byte, every connection of ours that was open
//     when it opened (opened before it) was accepted before it; if none of
//     ours closed meanwhile (a close frees a child for anyone), they and it
//     hold children at once. This one proves at a cold start, when 512
//     clients open a connection each in the same millisecond and none has
//     been answered yet; held proves it in the steady state. Only with no
//     close: subtracting the closes from the count is not enough, since
//     the kernel drops connections that find the backlog full (PHP-FPM's
//     listen.backlog), and they come back later, behind this one: the pitfalls
//     e2e test (4 children, backlog 64, 64 clients) saw a floor of 5 so made,
//     and requests waited seconds behind a fifth connection kept idle.
// The floor is the number held now, or the most proven within the last one
// to two windows if that is higher: connections come and go under load, and
// the children they had stay. It is forgotten within two windows because
// the worker may have fewer children for us later (a reload with a smaller
// pool, other clients).
// Pure: callers pass `now`; the caller serialises calls.
#pragma once

#include <cstdint>

#include "gateway/base/clock.h"
#include "gateway/upstream/recent_peak.h"

namespace fcgimux {

// What a fresh connection's first byte proves by FIFO: |opened_with| our
// open connections to the worker when it opened (itself included), less
// |racing| (another loop thread may have counted a connection of its own
// whose connect went out just after ours: one per other thread); nothing if
// |closed_since| (connections of ours closed since it opened) is not 0.
unsigned fifo_proof(int opened_with, uint64_t closed_since, unsigned racing);

class ProvenConns {
 public:
  static constexpr Millis kWindow{1000};

  // One of our open connections got its first byte from the worker;
  // |fifo|: what that proves by FIFO (fifo_proof(); 0 for none).
  void on_answered(unsigned fifo, TimePoint now);
  // A connection counted by on_answered() closed.
  void on_closed();

  unsigned held() const { return held_; }
  // At least this many of our connections fit in the worker at once.
  unsigned floor(TimePoint now) const;

 private:
  unsigned held_ = 0;
  RecentPeak peak_{kWindow};
};

}  // namespace fcgimux
