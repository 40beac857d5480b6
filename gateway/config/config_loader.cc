// The only translation unit that includes toml++ (STYLE.md C7). It walks the
// document once, fills the plain structs of config.h, and collects every
// problem with the FILE:LINE:COL of the key or value at fault.
#include "gateway/config/config_loader.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "gateway/config/address.h"
#include "gateway/config/units.h"

namespace fcgimux {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kTopKeys[] = {"server", "route", "pools"};
constexpr std::string_view kServerKeys[] = {
    "listen",        "threads",          "max_connections",          "header_timeout",
    "idle_timeout",  "body_timeout",     "write_timeout",            "shutdown_timeout",
    "max_header_size",
    "max_body_size",
    "max_response_header_size",          "response_buffer_size",     "access_log",
    "error_log",     "log_level",        "server_name",              "admin_listen",
    "temp_dir",      "max_temp_file_size",       "io_uring"};
constexpr std::string_view kRouteKeys[] = {"prefix",        "pool",  "script_name",
                                           "document_root", "index", "params"};
constexpr std::string_view kPoolKeys[] = {
    "workers",       "balance",        "connect_timeout", "response_timeout", "disable_time",
    "max_disable_time", "probe_timeout", "probe_interval", "suspect_after", "slow_start", "probe_path", "max_conns",
    "retry",         "queue_timeout",  "multiplex",       "keepalive_timeout", "max_idle_conns",
    "max_reqs_per_conn", "keepalive_requests"};
constexpr std::string_view kWorkerKeys[] = {"address", "weight"};

constexpr std::pair<std::string_view, Balance> kBalanceNames[] = {
    {"round-robin", Balance::RoundRobin}, {"least-conn", Balance::LeastConn},
    {"sticky", Balance::Sticky}};
constexpr std::pair<std::string_view, RetryPolicy> kRetryNames[] = {
    {"never", RetryPolicy::Never}, {"safe", RetryPolicy::Safe}};
constexpr std::pair<std::string_view, Multiplex> kMultiplexNames[] = {
    {"auto", Multiplex::Auto}, {"on", Multiplex::On}, {"off", Multiplex::Off}};
constexpr std::pair<std::string_view, int> kLogLevels[] = {
    {"debug", 0}, {"info", 1}, {"warn", 2}, {"error", 3}};

constexpr size_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "a value";
}

std::string quoted(std::string_view s) { return fmt::format("\"{}\"", s); }

// Problems are printed one per line ("FILE:LINE:COL: message"), and messages
// quote text from the file: keys, values, and in toml++'s syntax errors the
// raw bytes it saw ("expected 'false', saw 'f\n'"). Control characters are
// escaped so that one problem stays one line.
std::string escape_controls(std::string message) {
  std::string out;
  for (const char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += ch;
  }
  return out;
}

// A table being read, with the dotted name messages use for its keys.
struct Section {
  const toml::table& table;
  std::string name;  // "server", "pools.django", "route[0]"
  std::string key(std::string_view k) const {
    return name.empty() ? std::string(k) : fmt::format("{}.{}", name, k);
  }
};

class Loader {
 public:
  explicit Loader(std::string path) : path_(std::move(path)) {}

  void load(const toml::table& root, Config& cfg);

  void add(toml::source_position p, std::string message) {
    problems_.push_back({fmt::format("{}:{}:{}", path_, p.line, p.column),
                         escape_controls(std::move(message)), p.line, p.column});
  }
  void add(const toml::node& n, std::string message) { add(n.source().begin, std::move(message)); }

  std::vector<ConfigProblem> take_problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return std::move(problems_);
  }

 private:
  void reject_unknown_keys(const Section& s, std::span<const std::string_view> known);
  void load_server(const Section& s, ServerConfig& out);
  void load_route(const Section& s, RouteConfig& out);
  void load_pool(const Section& s, PoolConfig& out);
  void load_worker(const toml::node& n, const std::string& name, PoolConfig& pool);
  void load_admin_listen(const Section& s, ServerConfig& out);
  bool load_address(const toml::node& n, const std::string& name, bool listen,
                    SocketAddress& out);
  void check_routes(const toml::table& root, const Config& cfg);

  // Readers: each leaves |out| at its default when the key is absent, and
  // reports (and leaves |out| alone) when the value is wrong. They return the
  // node when it was present and valid.
  const toml::node* want(const Section& s, std::string_view key, toml::node_type type,
                         std::string_view expected);
  const toml::node* read_string(const Section& s, std::string_view key, std::string& out);
  const toml::node* read_bool(const Section& s, std::string_view key, bool& out);
  template <class T>
  const toml::node* read_uint(const Section& s, std::string_view key, T& out, uint64_t lo,
                              uint64_t hi);
  const toml::node* read_duration(const Section& s, std::string_view key, milliseconds& out,
                                  milliseconds min);
  const toml::node* read_size(const Section& s, std::string_view key, size_t& out, size_t lo,
                              size_t hi);
  template <class E, size_t N>
  const toml::node* read_enum(const Section& s, std::string_view key, E& out,
                              const std::pair<std::string_view, E> (&names)[N]);

  // The position to blame for a cross-field problem about |key|: its value
  // if it was written, else the table.
  toml::source_position blame(const Section& s, std::string_view key) const {
    const toml::node* n = s.table.get(key);
    return (n ? n->source() : s.table.source()).begin;
  }

  std::string path_;
  std::vector<ConfigProblem> problems_;
};

void Loader::reject_unknown_keys(const Section& s, std::span<const std::string_view> known) {
  for (auto&& [k, v] : s.table) {
    if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
    std::string msg = fmt::format("{}: unknown key", s.key(k.str()));
    if (auto hint = suggest_key(k.str(), known)) msg += fmt::format("; did you mean '{}'?", *hint);
    add(k.source().begin, std::move(msg));
  }
}

const toml::node* Loader::want(const Section& s, std::string_view key, toml::node_type type,
                               std::string_view expected) {
  const toml::node* n = s.table.get(key);
  if (n == nullptr) return nullptr;
  if (n->type() != type) {
    add(*n, fmt::format("{}: expected {}, got {}", s.key(key), expected, type_name(n->type())));
    return nullptr;
  }
  return n;
}

const toml::node* Loader::read_string(const Section& s, std::string_view key, std::string& out) {
  const toml::node* n = want(s, key, toml::node_type::string, "a string");
  if (n) out = n->as_string()->get();
  return n;
}

const toml::node* Loader::read_bool(const Section& s, std::string_view key, bool& out) {
  const toml::node* n = want(s, key, toml::node_type::boolean, "true or false");
  if (n) out = n->as_boolean()->get();
  return n;
}

template <class T>
const toml::node* Loader::read_uint(const Section& s, std::string_view key, T& out, uint64_t lo,
                                    uint64_t hi) {
  const toml::node* n = want(s, key, toml::node_type::integer, "an integer");
  if (!n) return nullptr;
  const int64_t v = n->as_integer()->get();
  if (v < 0 || uint64_t(v) < lo || uint64_t(v) > hi) {
    add(*n, fmt::format("{}: {} is out of range ({}..{})", s.key(key), v, lo, hi));
    return nullptr;
  }
  out = static_cast<T>(v);
  return n;
}

const toml::node* Loader::read_duration(const Section& s, std::string_view key,
                                        milliseconds& out, milliseconds min) {
  const toml::node* n = s.table.get(key);
  if (n == nullptr) return nullptr;
  if (!n->is_string()) {
    add(*n, fmt::format("{}: expected a duration string such as \"10s\", got {}{}", s.key(key),
                        type_name(n->type()), n->is_number() ? " (add quotes and a unit)" : ""));
    return nullptr;
  }
  const std::string& text = n->as_string()->get();
  auto d = parse_duration(text);
  if (!d) {
    add(*n, fmt::format("{}: {} is not a duration; write a number and a unit: \"250ms\", \"10s\", "
                        "\"2m\", \"1h\"",
                        s.key(key), quoted(text)));
    return nullptr;
  }
  if (*d < min) {
    add(*n, min == 1ms ? fmt::format("{}: must be more than 0", s.key(key))
                       : fmt::format("{}: must be at least {}", s.key(key), format_duration(min)));
    return nullptr;
  }
  out = *d;
  return n;
}

const toml::node* Loader::read_size(const Section& s, std::string_view key, size_t& out,
                                    size_t lo, size_t hi) {
  const toml::node* n = s.table.get(key);
  if (n == nullptr) return nullptr;
  std::optional<size_t> v;
  if (n->is_integer()) {
    const int64_t i = n->as_integer()->get();
    if (i < 0) {
      add(*n, fmt::format("{}: must not be negative", s.key(key)));
      return nullptr;
    }
    v = size_t(i);
  } else if (n->is_string()) {
    const std::string& text = n->as_string()->get();
    v = parse_size(text);
    if (!v) {
      const std::string hint = size_unit_hint(text);
      add(*n, hint.empty()
                  ? fmt::format("{}: {} is not a size; write bytes or a number with a unit: "
                                "\"512B\", \"64KiB\", \"32MiB\", \"1GiB\"",
                                s.key(key), quoted(text))
                  : fmt::format("{}: {} is not a size; units are binary, write \"{}\"",
                                s.key(key), quoted(text),
                                text.substr(0, text.find_first_not_of("0123456789.")) + hint));
      return nullptr;
    }
  } else {
    add(*n, fmt::format("{}: expected a size such as \"64KiB\", got {}", s.key(key),
                        type_name(n->type())));
    return nullptr;
  }
  if (*v < lo || *v > hi) {
    add(*n, fmt::format("{}: {} is out of range ({}..{})", s.key(key), format_size(*v),
                        format_size(lo), format_size(hi)));
    return nullptr;
  }
  out = *v;
  return n;
}

template <class E, size_t N>
const toml::node* Loader::read_enum(const Section& s, std::string_view key, E& out,
                                    const std::pair<std::string_view, E> (&names)[N]) {
  const toml::node* n = want(s, key, toml::node_type::string, "a string");
  if (!n) return nullptr;
  const std::string& text = n->as_string()->get();
  std::string_view choices[N];
  std::string list;
  for (size_t i = 0; i < N; ++i) {
    if (names[i].first == text) {
      out = names[i].second;
      return n;
    }
    choices[i] = names[i].first;
    list += fmt::format("{}{}", i ? " | " : "", quoted(names[i].first));
  }
  std::string msg = fmt::format("{}: {} is not one of {}", s.key(key), quoted(text), list);
  if (auto hint = suggest_key(text, choices)) msg += fmt::format("; did you mean {}?", quoted(*hint));
  add(*n, std::move(msg));
  return nullptr;
}

bool Loader::load_address(const toml::node& n, const std::string& name, bool listen,
                          SocketAddress& out) {
  if (!n.is_string()) {
    add(n, fmt::format("{}: expected a \"host:port\" string, got {}", name, type_name(n.type())));
    return false;
  }
  out.text = n.as_string()->get();
  std::string error;
  auto hp = split_host_port(out.text, error);
  if (!hp) {
    add(n, fmt::format("{}: {}: {}", name, quoted(out.text), error));
    return false;
  }
  if (!listen && hp->port == 0) {
    add(n, fmt::format("{}: {}: a worker's port must be 1..65535", name, quoted(out.text)));
    return false;
  }
  if (!resolve_address(*hp, listen, out, error)) {
    add(n, fmt::format("{}: cannot resolve {}: {}", name, quoted(hp->host), error));
    return false;
  }
  return true;
}

// The admin listener answers without authentication, so it may listen on a
// loopback address only (127.0.0.0/8 or ::1).
void Loader::load_admin_listen(const Section& s, ServerConfig& out) {
  const toml::node* n = s.table.get("admin_listen");
  if (n == nullptr) return;
  if (n->is_string() && n->as_string()->get().empty()) {
    out.admin_listen.reset();
    return;
  }
  SocketAddress a;
  if (!load_address(*n, s.key("admin_listen"), true, a)) return;
  bool loopback = false;
  if (a.addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.addr);
    loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  } else if (a.addr.ss_family == AF_INET6) {
    loopback = IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_addr);
  }
  if (!loopback) {
    add(*n, fmt::format("{}: {}: must be a loopback address (127.0.0.1:PORT or [::1]:PORT): the status "
                        "endpoint has no authentication",
                        s.key("admin_listen"), quoted(a.text)));
    return;
  }
  out.admin_listen = std::move(a);
}

void Loader::load_server(const Section& s, ServerConfig& out) {
  reject_unknown_keys(s, kServerKeys);
  if (const toml::node* n = s.table.get("listen")) {
    const std::string name = s.key("listen");
    const toml::array* arr = n->as_array();
    if (n->is_string()) {
      // A single address is accepted as a one-element list.
      out.listen.clear();
      SocketAddress a;
      if (load_address(*n, name, true, a)) out.listen.push_back(std::move(a));
    } else if (arr == nullptr) {
      add(*n, fmt::format("{}: expected an array of \"host:port\" strings, got {}", name,
                          type_name(n->type())));
    } else if (arr->empty()) {
      add(*n, fmt::format("{}: needs at least one address", name));
    } else {
      out.listen.clear();
      for (size_t i = 0; i < arr->size(); ++i) {
        SocketAddress a;
        if (!load_address(*arr->get(i), fmt::format("{}[{}]", name, i), true, a)) continue;
        auto same = std::find_if(out.listen.begin(), out.listen.end(),
                                 [&](const SocketAddress& b) { return b.text == a.text; });
        if (same != out.listen.end() && !a.text.ends_with(":0"))
          add(*arr->get(i), fmt::format("{}[{}]: {} is listed twice", name, i, quoted(a.text)));
        else
          out.listen.push_back(std::move(a));
      }
    }
  }
  read_uint(s, "threads", out.threads, 0, 256);
  read_uint(s, "max_connections", out.max_connections, 1, 10'000'000);
  read_duration(s, "header_timeout", out.header_timeout, 1ms);
  read_duration(s, "idle_timeout", out.idle_timeout, 1ms);
  read_duration(s, "body_timeout", out.body_timeout, 1ms);
  read_duration(s, "write_timeout", out.write_timeout, 1ms);
  read_duration(s, "shutdown_timeout", out.shutdown_timeout, 0ms);
  read_size(s, "max_header_size", out.max_header_size, 1 * KiB, 64 * MiB);
  read_size(s, "max_body_size", out.max_body_size, 0, SIZE_MAX);
  read_size(s, "max_response_header_size", out.max_response_header_size, 1 * KiB, 64 * MiB);
  read_size(s, "response_buffer_size", out.response_buffer_size, 4 * KiB, 1 * GiB);
  read_string(s, "temp_dir", out.temp_dir);
  read_size(s, "max_temp_file_size", out.max_temp_file_size, 0, size_t(1) << 40);
  read_string(s, "access_log", out.access_log);
  if (const toml::node* n = read_string(s, "error_log", out.error_log); n && out.error_log.empty())
    add(*n, fmt::format("{}: must be \"-\" (stderr) or a path", s.key("error_log")));
  int level = 1;
  if (read_enum(s, "log_level", level, kLogLevels)) out.log_level = kLogLevels[level].first;
  read_string(s, "server_name", out.server_name);
  load_admin_listen(s, out);
  read_bool(s, "io_uring", out.io_uring);
}

void Loader::load_route(const Section& s, RouteConfig& out) {
  reject_unknown_keys(s, kRouteKeys);
  for (std::string_view required : {"prefix", "pool"})
    if (!s.table.contains(required))
      add(s.table.source().begin,
          fmt::format("{}: missing required key '{}'", s.name, required));

  if (const toml::node* n = read_string(s, "prefix", out.prefix)) {
    if (!out.prefix.starts_with('/'))
      add(*n, fmt::format("{}: {} must start with '/'", s.key("prefix"), quoted(out.prefix)));
    else if (out.prefix.find_first_of("?# \t\r\n") != std::string::npos)
      add(*n, fmt::format("{}: {} is a path prefix; it cannot hold '?', '#' or spaces",
                          s.key("prefix"), quoted(out.prefix)));
  }
  read_string(s, "pool", out.pool);  // checked against [pools] by check_routes()
  std::string script_name;
  if (const toml::node* n = read_string(s, "script_name", script_name)) {
    if (!script_name.empty() && (!script_name.starts_with('/') || script_name.ends_with('/')))
      add(*n, fmt::format("{}: {} must be \"\" or start with '/' and not end with '/'",
                          s.key("script_name"), quoted(script_name)));
    else
      out.script_name = script_name;
  }
  if (const toml::node* n = read_string(s, "document_root", out.document_root)) {
    if (!out.document_root.empty() && !out.document_root.starts_with('/'))
      add(*n, fmt::format("{}: {} must be an absolute path", s.key("document_root"),
                          quoted(out.document_root)));
  }
  if (const toml::node* n = read_string(s, "index", out.index)) {
    if (out.index.empty() || out.index.find('/') != std::string::npos)
      add(*n, fmt::format("{}: {} must be a file name such as \"index.php\"", s.key("index"),
                          quoted(out.index)));
  }
  if (const toml::node* n = want(s, "params", toml::node_type::table, "a table of strings")) {
    // toml::table is ordered by key; FastCGI params go out in file order.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [k, v] : *n->as_table()) entries.emplace_back(&k, &v);
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
    });
    for (auto [k, v] : entries) {
      const std::string name = fmt::format("{}.{}", s.key("params"), k->str());
      if (k->str().empty())
        add(k->source().begin, fmt::format("{}: a param needs a name", name));
      else if (!v->is_string())
        add(*v, fmt::format("{}: expected a string, got {}{}", name, type_name(v->type()),
                            v->is_number() || v->is_boolean() ? " (add quotes)" : ""));
      else
        out.params.emplace_back(std::string(k->str()), v->as_string()->get());
    }
  }
}

void Loader::load_worker(const toml::node& n, const std::string& name, PoolConfig& pool) {
  WorkerConfig w;
  const toml::node* addr = &n;
  if (const toml::table* t = n.as_table()) {
    Section ws{*t, name};
    reject_unknown_keys(ws, kWorkerKeys);
    read_uint(ws, "weight", w.weight, 1, 1000);
    addr = t->get("address");
    if (addr == nullptr) {
      add(n, fmt::format("{}: missing required key 'address'", name));
      return;
    }
    if (!load_address(*addr, ws.key("address"), false, w.address)) return;
  } else if (!n.is_string()) {
    add(n, fmt::format("{}: expected \"host:port\" or {{ address = \"host:port\", weight = N }}, "
                       "got {}",
                       name, type_name(n.type())));
    return;
  } else if (!load_address(n, name, false, w.address)) {
    return;
  }
  for (const auto& other : pool.workers) {
    if (other.address.text == w.address.text) {
      add(*addr, fmt::format("{}: {} is listed twice in this pool", name,
                             quoted(w.address.text)));
      return;
    }
  }
  pool.workers.push_back(std::move(w));
}

void Loader::load_pool(const Section& s, PoolConfig& out) {
  reject_unknown_keys(s, kPoolKeys);
  if (const toml::node* n = s.table.get("workers")) {
    const std::string name = s.key("workers");
    if (const toml::array* arr = n->as_array(); arr == nullptr) {
      add(*n, fmt::format("{}: expected an array of workers, got {}", name, type_name(n->type())));
    } else if (arr->empty()) {
      add(*n, fmt::format("{}: a pool needs at least one worker", name));
    } else {
      for (size_t i = 0; i < arr->size(); ++i)
        load_worker(*arr->get(i), fmt::format("{}[{}]", name, i), out);
    }
  } else {
    add(s.table.source().begin, fmt::format("{}: missing required key 'workers'", s.name));
  }
  read_enum(s, "balance", out.balance, kBalanceNames);
  read_duration(s, "connect_timeout", out.connect_timeout, 1ms);
  read_duration(s, "response_timeout", out.response_timeout, 1ms);
  read_duration(s, "disable_time", out.disable_time, 1ms);
  read_duration(s, "max_disable_time", out.max_disable_time, 1ms);
  read_duration(s, "probe_timeout", out.probe_timeout, 1ms);
  read_duration(s, "probe_interval", out.probe_interval, 1ms);
  read_duration(s, "suspect_after", out.suspect_after, 1ms);
  read_duration(s, "slow_start", out.slow_start, 0ms);
  if (const toml::node* n = read_string(s, "probe_path", out.probe_path);
      n && !out.probe_path.starts_with('/'))
    add(*n, fmt::format("{}: {} must start with '/'", s.key("probe_path"), quoted(out.probe_path)));
  read_uint(s, "max_conns", out.max_conns, 0, 65535);
  read_enum(s, "retry", out.retry, kRetryNames);
  read_duration(s, "queue_timeout", out.queue_timeout, 0ms);
  read_enum(s, "multiplex", out.multiplex, kMultiplexNames);
  read_duration(s, "keepalive_timeout", out.keepalive_timeout, 0ms);
  read_uint(s, "max_idle_conns", out.max_idle_conns, 0, 65535);
  read_uint(s, "max_reqs_per_conn", out.max_reqs_per_conn, 0, 65535);
  read_uint(s, "keepalive_requests", out.keepalive_requests, 0, 100'000'000);

  // Cross-field invariants (Envoy checks max_ejection_time >= base_ejection_time at load).
  // Each is blamed on the key written later in the pair's meaning.
  if (out.max_disable_time < out.disable_time)
    add(blame(s, s.table.contains("max_disable_time") ? "max_disable_time" : "disable_time"),
        fmt::format("{}: max_disable_time ({}) must be at least disable_time ({})",
                    s.key("max_disable_time"), format_duration(out.max_disable_time),
                    format_duration(out.disable_time)));
  if (out.probe_timeout > out.response_timeout)
    add(blame(s, s.table.contains("probe_timeout") ? "probe_timeout" : "response_timeout"),
        fmt::format("{}: probe_timeout ({}) must not exceed response_timeout ({})",
                    s.key("probe_timeout"), format_duration(out.probe_timeout),
                    format_duration(out.response_timeout)));
  if (out.suspect_after > out.response_timeout)
    add(blame(s, s.table.contains("suspect_after") ? "suspect_after" : "response_timeout"),
        fmt::format("{}: suspect_after ({}) must not exceed response_timeout ({})",
                    s.key("suspect_after"), format_duration(out.suspect_after),
                    format_duration(out.response_timeout)));
  // max_idle_conns left at its default follows a smaller max_conns; only a
  // value the file sets can contradict it.
  if (out.max_conns != 0 && !s.table.contains("max_idle_conns"))
    out.max_idle_conns = std::min(out.max_idle_conns, out.max_conns);
  if (out.max_conns != 0 && out.max_idle_conns > out.max_conns)
    add(blame(s, "max_idle_conns"),
        fmt::format("{}: max_idle_conns ({}) must not exceed max_conns ({})",
                    s.key("max_idle_conns"), out.max_idle_conns, out.max_conns));
}

void Loader::check_routes(const toml::table& root, const Config& cfg) {
  const toml::array* routes = root.get_as<toml::array>("route");
  std::vector<std::string_view> pool_names;
  for (const auto& p : cfg.pools) pool_names.push_back(p.name);
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const toml::table& t = *routes->get(i)->as_table();
    const RouteConfig& r = cfg.routes[i];
    if (const toml::node* n = t.get("pool"); n && n->is_string() && !cfg.find_pool(r.pool)) {
      std::string msg = fmt::format("route[{}].pool: no pool named {} ([pools.{}] is not defined)",
                                    i, quoted(r.pool), r.pool);
      if (auto hint = suggest_key(r.pool, pool_names))
        msg += fmt::format("; did you mean {}?", quoted(*hint));
      add(*n, std::move(msg));
    }
    const toml::node* n = t.get("prefix");
    if (n == nullptr || !n->is_string()) continue;
    // The router ignores trailing '/' ("/app" and "/app/" are one mount), so
    // duplicates are compared the same way.
    auto stem = [](std::string_view p) {
      while (!p.empty() && p.back() == '/') p.remove_suffix(1);
      return p;
    };
    for (size_t j = 0; j < i; ++j) {
      const toml::node* m = routes->get(j)->as_table()->get("prefix");
      if (!m || !m->is_string() || stem(cfg.routes[j].prefix) != stem(r.prefix)) continue;
      const std::string& other = cfg.routes[j].prefix;
      add(*n, other == r.prefix
                  ? fmt::format("route[{}].prefix: {} is already the prefix of route[{}] (line {})",
                                i, quoted(r.prefix), j, m->source().begin.line)
                  : fmt::format("route[{}].prefix: {} is the same mount as {} of route[{}] (line "
                                "{}); a trailing '/' makes no difference",
                                i, quoted(r.prefix), quoted(other), j, m->source().begin.line));
      break;
    }
  }
}

void Loader::load(const toml::table& root, Config& cfg) {
  reject_unknown_keys({root, ""}, kTopKeys);

  if (const toml::node* n = root.get("server")) {
    if (const toml::table* t = n->as_table())
      load_server({*t, "server"}, cfg.server);
    else
      add(*n, fmt::format("server: expected a table ([server]), got {}", type_name(n->type())));
  }
  if (!root.contains("server") || !root.get("server")->is_table() ||
      !root.get("server")->as_table()->contains("listen")) {
    // The default listen address goes through the same resolution.
    SocketAddress a;
    a.text = "127.0.0.1:8080";
    std::string error;
    resolve_address({"127.0.0.1", 8080}, true, a, error);
    cfg.server.listen = {a};
  }

  if (const toml::node* n = root.get("pools")) {
    if (const toml::table* pools = n->as_table()) {
      // toml::table is ordered by key; keep pools in file order.
      std::vector<std::pair<const toml::key*, const toml::node*>> entries;
      for (auto&& [k, v] : *pools) entries.emplace_back(&k, &v);
      std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        const auto& pa = a.first->source().begin;
        const auto& pb = b.first->source().begin;
        return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
      });
      for (auto [k, v] : entries) {
        const std::string name = fmt::format("pools.{}", k->str());
        if (!v->is_table()) {
          add(*v, fmt::format("{}: expected a table ([{}]), got {}", name, name,
                              type_name(v->type())));
          continue;
        }
        PoolConfig pool;
        pool.name = std::string(k->str());
        if (pool.name.empty()) add(k->source().begin, "pools: a pool needs a name");
        load_pool({*v->as_table(), name}, pool);
        cfg.pools.push_back(std::move(pool));
      }
    } else {
      add(*n, fmt::format("pools: expected tables ([pools.NAME]), got {}", type_name(n->type())));
    }
  }

  const toml::node* routes = root.get("route");
  if (routes == nullptr) {
    add(toml::source_position{1, 1},
        "route: no routes; add at least one [[route]] with a prefix and a pool");
  } else if (!routes->is_array_of_tables()) {
    add(*routes, fmt::format("route: expected an array of tables ([[route]]), got {}",
                             type_name(routes->type())));
  } else if (routes->as_array()->empty()) {
    add(*routes, "route: no routes; add at least one [[route]] with a prefix and a pool");
  } else {
    const toml::array& arr = *routes->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      RouteConfig r;
      load_route({*arr.get(i)->as_table(), fmt::format("route[{}]", i)}, r);
      cfg.routes.push_back(std::move(r));
    }
    check_routes(root, cfg);
  }
}

}  // namespace

std::span<const std::string_view> known_keys(std::string_view section) {
  if (section.empty()) return kTopKeys;
  if (section == "server") return kServerKeys;
  if (section == "route") return kRouteKeys;
  if (section == "pool") return kPoolKeys;
  if (section == "worker") return kWorkerKeys;
  return {};
}

LoadResult load_config_text(const std::string& text, const std::string& path) {
  LoadResult result;
  result.config.path = path;
  Loader loader(path);
  try {
    const toml::table root = toml::parse(text, path);
    loader.load(root, result.config);
  } catch (const toml::parse_error& e) {
    loader.add(e.source().begin, std::string(e.description()));
  }
  result.problems = loader.take_problems();
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.config.path = path;
    result.problems.push_back({path, fmt::format("cannot read: {}", std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path);
}

}  // namespace fcgimux
