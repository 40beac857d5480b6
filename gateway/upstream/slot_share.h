// Which loop thread takes a free slot of a worker whose requests in flight
// are capped (max_conns, FCGI_MAX_CONNS), when requests for its pool wait on
// more than one thread. Pure: the caller reads the state.
//
// Each loop thread keeps its own idle connections, so a slot that moves to
// another thread costs a connection: the thread that lets it go closes its
// idle one (kept, it would pin a child of a prefork worker past the cap),
// and the thread that takes it opens a new one. When every freed slot was
// offered to every thread, the threads of a saturated pool took slots from
// each other by chance: 10,983 connections opened for 388k requests at
// max_conns = 32, 512 clients, 2 threads (one thread: 705).
//
// So a slot moves only for fairness. A thread keeps up to an even share of
// the capacity for its own waiting requests; beyond that share, the request
// that has waited longest, on whichever thread, goes first, so that one
// thread's clients never wait behind another's for long. With max_conns = 1
// on two threads, the slot goes in the order the requests arrived.
#pragma once

#include <optional>

#include "gateway/base/clock.h"

namespace fcgimux {

// Whether this thread may give a slot of the worker to its request that has
// waited since |waiting_since| (now, for a request not queued).
//  |held_here|: this thread's requests in flight on the worker, not
//  counting one that just ended;
//  |capacity|: the worker's cap (> 0); |threads|: loop threads (>= 1);
//  |oldest_elsewhere|: when the oldest request waiting for the pool on
//  another thread started to wait; nullopt when none waits.
bool may_take_slot(unsigned held_here, unsigned capacity, unsigned threads, TimePoint waiting_since,
                   std::optional<TimePoint> oldest_elsewhere);

}  // namespace fcgimux
