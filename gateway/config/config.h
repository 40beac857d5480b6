// The configuration as the rest of the program sees it: plain structs with
// std::chrono durations and byte counts. Only config_loader.cc knows TOML.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fcgimux {

using std::chrono::milliseconds;

// A socket address as written in the config ("127.0.0.1:8080",
// "[::1]:9000", "worker-3.internal:8000"), resolved once at load.
struct SocketAddress {
  std::string text;           // as written, for logs
  sockaddr_storage addr{};    // resolved (first result of getaddrinfo)
  socklen_t addr_len = 0;
};

struct ServerConfig {
  std::vector<SocketAddress> listen;         // default ["127.0.0.1:8080"]
  unsigned threads = 0;                      // 0 = one loop per core
  size_t max_connections = 10000;            // client connections, all threads together
  milliseconds header_timeout{10000};        // whole request head must arrive in this
  milliseconds idle_timeout{60000};          // keep-alive idle between requests
  milliseconds body_timeout{30000};          // longest pause while a request body is arriving
  milliseconds write_timeout{60000};         // longest a client may take none of the bytes queued for it
  milliseconds shutdown_timeout{10000};      // grace for in-flight requests on SIGTERM/SIGINT
  size_t max_header_size = 64 * 1024;        // request head
  size_t max_body_size = 32 * 1024 * 1024;   // request body
  size_t max_response_header_size = 64 * 1024;  // CGI response head from a worker; over it → 502
  size_t response_buffer_size = 256 * 1024;  // per response, before reading from the worker pauses
  std::string temp_dir;                      // spill files for slow clients; "" = $TMPDIR or /tmp
  size_t max_temp_file_size = 1024 * 1024 * 1024;  // per response spilled; past it the response is cut
  std::string access_log = "-";              // "-" = stdout, a path, or "" for none
  std::string error_log = "-";               // "-" = stderr, or a path
  std::string log_level = "info";            // debug | info | warn | error
  std::string server_name;                   // SERVER_NAME when the request has no Host; default: listen host
  // GET /status (JSON: pools, workers, health, counters) on this loopback
  // address; nullopt ("" in the file) = no admin listener.
  std::optional<SocketAddress> admin_listen;


  bool io_uring = true;
};

enum class Balance { RoundRobin, LeastConn, Sticky };
enum class RetryPolicy { Never, Safe };
enum class Multiplex { Auto, On, Off };

struct WorkerConfig {
  SocketAddress address;
  unsigned weight = 1;                       // 1..1000
};

struct PoolConfig {
  std::string name;
  std::vector<WorkerConfig> workers;
  Balance balance = Balance::LeastConn;
  milliseconds connect_timeout{1000};
  milliseconds response_timeout{30000};      // until the first response byte, and max gap between bytes
  milliseconds disable_time{1000};           // first eviction; doubles per consecutive failure
  milliseconds max_disable_time{60000};
  milliseconds probe_timeout{500};
  milliseconds probe_interval{50};           // least time between the starts of two re-admission probes
  milliseconds suspect_after{100};
  milliseconds slow_start{5000};             // a re-admitted worker's weight ramps 10% → 100% over this
  std::string probe_path = "/healthz";
  unsigned max_conns = 0;                    // connections per worker; 0 = learn it or no cap
  unsigned max_reqs_per_conn = 0;            // in flight on one multiplexed connection; 0 = learn it
  unsigned keepalive_requests = 1000;        // a connection is retired after this many; 0 = never
  RetryPolicy retry = RetryPolicy::Safe;
  milliseconds queue_timeout{5000};
  Multiplex multiplex = Multiplex::Auto;
  milliseconds keepalive_timeout{4000};      // idle upstream connection kept this long
  unsigned max_idle_conns = 16;              // idle upstream connections kept per worker
};

struct RouteConfig {
  std::string prefix;                        // longest prefix wins; matches whole path segments
  std::string pool;                          // name of a [pools.NAME]
  std::optional<std::string> script_name;    // default: prefix without its trailing '/'
  std::string document_root;                 // PHP: sets DOCUMENT_ROOT, SCRIPT_FILENAME, REDIRECT_STATUS
  std::string index = "index.php";           // with document_root: the front controller
  std::vector<std::pair<std::string, std::string>> params;  // extra FastCGI params, in file order

  // The SCRIPT_NAME this route gives: script_name if set, else the prefix
  // without a trailing '/' ("/" → "").
  std::string mount() const {
    if (script_name) return *script_name;
    std::string m = prefix;
    while (!m.empty() && m.back() == '/') m.pop_back();
    return m;
  }
};

struct Config {
  std::string path;                          // the file it was loaded from
  ServerConfig server;
  std::vector<RouteConfig> routes;           // in file order
  std::vector<PoolConfig> pools;             // in file order

  const PoolConfig* find_pool(const std::string& name) const {
    for (const auto& p : pools)
      if (p.name == name) return &p;
    return nullptr;
  }
};

}  // namespace fcgimux
