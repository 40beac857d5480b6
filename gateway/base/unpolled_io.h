// Whether the kernel holds news for a socket that the loop has not polled
// yet.
//
// libuv runs due timers before it polls for I/O. A loop that was held up
// (a starved CPU, a long callback) therefore wakes with deadlines passed
// for a connect that completed in time or an answer that arrived in time,
// and judges them first: healthy workers were evicted for a "connect
// timeout" on loopback at load average 17. A timer about to judge a
// deadline asks this first and, if the news is there, lets the loop poll it
// (re-arming itself for a moment) instead.
#pragma once

#include <uv.h>

namespace fcgimux {

enum class AwaitedIo { Connect, Read };

// Connect: the connect finished (well or not). Read: bytes, or a close, are
// waiting to be read. One poll(2) with no wait; false when unsure.
bool has_unpolled_io(const uv_tcp_t& tcp, AwaitedIo what);

}  // namespace fcgimux
