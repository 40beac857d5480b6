#include "gateway/server/admin_status.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("WorkerHealth counts requests, completions and connections across calls", "[admin][status]") {
  PoolConfig pool;
  pool.max_conns = 4;
  WorkerConfig w;
  w.address.text = "127.0.0.1:9001";
  WorkerHealth h(pool, w, 1);
  const TimePoint t{std::chrono::hours(1)};
  // Two connections, five requests, four completed, one still in flight.
  h.add_open_conn(1);
  h.add_open_conn(1);
  for (int i = 0; i < 5; ++i) h.add_in_flight(1);
  for (int i = 0; i < 4; ++i) {
    h.add_in_flight(-1);
    h.on_completion(t);
  }
  h.add_open_conn(-1);
  h.learn_capacity(0, false);
  h.learn_probe_kind(ProbeKind::GetValues);
  const auto s = h.snapshot(t);
  CHECK(s.address == "127.0.0.1:9001");
  CHECK(s.state == HealthState::Healthy);
  CHECK(s.in_flight == 1);
  CHECK(s.open_conns == 1);
  CHECK(s.requests_sent == 5);
  CHECK(s.requests_completed == 4);
  CHECK(s.connections_opened == 2);
  CHECK(s.configured_capacity == 4);
  CHECK(s.learned_capacity == 0);
  CHECK(s.mpxs == std::optional<bool>(false));
  CHECK(s.probe_kind == ProbeKind::GetValues);

  SECTION("an evicted worker shows its state, failures and the time to its next probe") {
    h.on_failure(FailureKind::ConnectRefused, t);
    const auto d = h.snapshot(t + 100ms);
    CHECK(d.state == HealthState::Disabled);
    CHECK(d.consecutive_failures == 1);
    CHECK(d.disabled_for_ms > 0ms);
    CHECK(d.disabled_for_ms <= 1000ms);  // disable_time 1s ± 10%, 100 ms of it gone
  }
}

TEST_CASE("render_status_json: every pool and worker, with exact fields", "[admin][status]") {
  WorkerHealth::Snapshot a;
  a.address = "127.0.0.1:9001";
  a.in_flight = 1;
  a.open_conns = 2;
  a.requests_sent = 10;
  a.requests_completed = 9;
  a.connections_opened = 4;
  a.probe_kind = ProbeKind::Request;
  WorkerHealth::Snapshot b;
  b.address = "127.0.0.1:9002";
  b.state = HealthState::Disabled;
  b.disabled_for_ms = 750ms;
  b.consecutive_failures = 2;
  b.learned_capacity = 8;
  b.mpxs = true;
  b.capacity = 160;
  b.multiplexing = true;
  const std::string json = render_status_json("fcgimux/0.1.0", {{"app", {a, b}}, {"p\"q", {}}});
  CHECK(json ==
        "{\"version\": \"fcgimux/0.1.0\", \"pools\": [\n"
        "  {\"name\": \"app\", \"workers\": [\n"
        "    {\"address\": \"127.0.0.1:9001\", \"state\": \"healthy\", \"disabled_for_ms\": 0, "
        "\"consecutive_failures\": 0, \"in_flight\": 1, \"open_connections\": 2, \"requests\": 10, "
        "\"requests_completed\": 9, \"connections_opened\": 4, \"requests_per_connection\": 2.50, "
        "\"probe_kind\": \"request\", \"capacity\": 0, \"max_conns\": 0, \"learned_max_conns\": 0, "
        "\"learned_max_reqs\": 0, \"mpxs_conns\": null, \"multiplexing\": false},\n"
        "    {\"address\": \"127.0.0.1:9002\", \"state\": \"disabled\", \"disabled_for_ms\": 750, "
        "\"consecutive_failures\": 2, \"in_flight\": 0, \"open_connections\": 0, \"requests\": 0, "
        "\"requests_completed\": 0, \"connections_opened\": 0, \"requests_per_connection\": 0.00, "
        "\"probe_kind\": \"unknown\", \"capacity\": 160, \"max_conns\": 0, \"learned_max_conns\": 8, "
        "\"learned_max_reqs\": 0, \"mpxs_conns\": true, \"multiplexing\": true}]},\n"
        "  {\"name\": \"p\\\"q\", \"workers\": []}]}\n");
}

TEST_CASE("json_quote escapes quotes, backslashes and control characters", "[admin][status]") {
  CHECK(json_quote("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
}
