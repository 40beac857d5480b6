// How many idle connections to one worker a loop thread keeps for reuse.
//
// A fixed cap alone (max_idle_conns) closes connections that the thread needs
// again a moment later: under load one loop iteration completes dozens of
// responses before the clients' next requests arrive, so dozens of
// connections go idle at once and everything past the cap was closed, only
// for the next requests to connect anew (at 512 clients, a new connection for
// every other request: connect, accept and close cost more than the request).
// nginx's and HAProxy's keep-alive caches see the same burst; HAProxy sizes
// its idle pool from recent use for this reason.
//
// So the thread keeps as many idle connections as its recent peak of requests
// in flight says it will need again, or the configured cap if that is
// larger. The peak is the highest count seen over the last one to two
// windows: load that stops stops counting within two windows. The caller
// closes a connection kept past the configured cap that the burst's next
// requests did not take within a moment (Worker::on_connection_idle): it
// would otherwise hold a child of a prefork worker (PHP-FPM) whose capacity
// nobody told us.
// A cap of 0 means no idle connections at all, whatever the load.
// Pure: callers pass `now`.
#pragma once

#include <cstddef>

#include "gateway/base/clock.h"
#include "gateway/upstream/recent_peak.h"

namespace fcgimux {

class IdleDemand {
 public:
  static constexpr Millis kWindow{1000};

  // Requests in flight to the worker from this thread right now; call after
  // each increase (decreases never raise the peak).
  void note_in_flight(unsigned n, TimePoint now);

  // The highest count noted within the current and the previous window.
  unsigned recent_peak(TimePoint now) const;

  // Idle connections worth keeping while |busy| connections carry requests.
  size_t idle_to_keep(size_t configured_cap, unsigned busy, TimePoint now) const;

 private:
  RecentPeak peak_{kWindow};
};

}  // namespace fcgimux
