#include "gateway/server/admin_status.h"

#include <fmt/format.h>

#include <iterator>

namespace fcgimux {

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += ch;
    }
  }
  out += '"';
  return out;
}

namespace {
void render_worker(const WorkerHealth::Snapshot& w, std::string& out) {
  const double per_conn =
      w.connections_opened ? double(w.requests_sent) / double(w.connections_opened) : 0.0;
  fmt::format_to(std::back_inserter(out),
                 "{{\"address\": {}, \"state\": \"{}\", \"disabled_for_ms\": {}, \"consecutive_failures\": {}, "
                 "\"in_flight\": {}, \"open_connections\": {}, \"requests\": {}, \"requests_completed\": {}, "
                 "\"connections_opened\": {}, \"requests_per_connection\": {:.2f}, \"probe_kind\": \"{}\", "
                 "\"capacity\": {}, \"max_conns\": {}, \"learned_max_conns\": {}, \"learned_max_reqs\": {}, "
                 "\"mpxs_conns\": {}, \"multiplexing\": {}}}",
                 json_quote(w.address), to_string(w.state), w.disabled_for_ms.count(), w.consecutive_failures,
                 w.in_flight, w.open_conns, w.requests_sent, w.requests_completed, w.connections_opened, per_conn,
                 to_string(w.probe_kind), w.capacity, w.configured_capacity, w.learned_capacity, w.learned_max_reqs,
                 !w.mpxs ? "null" : *w.mpxs ? "true" : "false", w.multiplexing ? "true" : "false");
}
}  // namespace

std::string render_status_json(const std::string& version, const std::vector<PoolStatus>& pools) {
  std::string out = fmt::format("{{\"version\": {}, \"pools\": [", json_quote(version));
  for (size_t p = 0; p < pools.size(); ++p) {
    fmt::format_to(std::back_inserter(out), "{}\n  {{\"name\": {}, \"workers\": [", p ? "," : "",
                   json_quote(pools[p].name));
    for (size_t i = 0; i < pools[p].workers.size(); ++i) {
      out += i ? ",\n    " : "\n    ";
      render_worker(pools[p].workers[i], out);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace fcgimux
