// The body of the admin listener's GET /status: every pool and its workers,
// with their health and per-worker counters, as JSON (pure: no I/O).
#pragma once

#include <string>
#include <vector>

#include "gateway/server/worker_health.h"

namespace fcgimux {

struct PoolStatus {
  std::string name;
  std::vector<WorkerHealth::Snapshot> workers;
};

// {"version": ..., "pools": [{"name": ..., "workers": [{...}, ...]}, ...]}.
// Per worker: address, state, disabled_for_ms, consecutive_failures,
// in_flight, open_connections, requests, requests_completed,
// connections_opened, requests_per_connection (requests / connections
// opened, 2 decimals; 0 before the first connection), probe_kind, capacity
// (the cap in force: max_conns, else FCGI_MAX_CONNS; 0 = none), max_conns,
// learned_max_conns, multiplexing (FCGI_MPXS_CONNS: true, false, or null
// when the worker did not say).
std::string render_status_json(const std::string& version, const std::vector<PoolStatus>& pools);

// |s| as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace fcgimux
