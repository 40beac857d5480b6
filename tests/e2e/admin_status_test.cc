// Issue #4's per-worker counters, read from the admin listener
// ([server] admin_listen): GET /status after a known number of requests.
#include <cstdio>
#include <string>
#include <vector>

#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

namespace {
// The JSON object of each worker in a /status body, in order (the body is
// one object per worker, each starting with its "address").
std::vector<std::string> worker_objects(const std::string &body) {
  std::vector<std::string> out;
  const std::string key = "{\"address\"";
  for (size_t at = body.find(key); at != std::string::npos;) {
    const size_t next = body.find(key, at + 1);
    out.push_back(body.substr(at, next == std::string::npos ? std::string::npos : next - at));
    at = next;
  }
  return out;
}

std::string fmt_2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

long long field(const std::string &obj, const std::string &key) {
  const auto v = json_int(obj, key);
  INFO(key << " in " << obj);
  REQUIRE(v);
  return *v;
}
} // namespace

TEST_CASE("admin: GET /status shows each worker's health and counters after a known number of "
          "requests",
          "[e2e][admin][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 4);
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 4);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2\nadmin_listen = \"127.0.0.1:0\"") +
                                      route_toml("/", "p") +
                                      pool_toml("p", {&w1, &w2}, "balance = \"round-robin\"\n"));
  const std::string listening = wait_log_line(gw.child, {"event=admin_listening"}, 5s);
  REQUIRE_FALSE(listening.empty());
  const std::string addr = log_field(listening, "addr");
  REQUIRE(addr.rfind("127.0.0.1:", 0) == 0);
  const int admin_port = std::stoi(addr.substr(addr.find(':') + 1));

  const int kRequests = 20;
  for (int i = 0; i < kRequests; ++i)
    REQUIRE(http_get(gw.port, "/hello?id=" + std::to_string(i)).status == 200);

  // First contact has learned how each worker is probed (libfcgi answers
  // FCGI_GET_VALUES only once a request follows: by request).
  for (const Worker *w : {&w1, &w2})
    REQUIRE_FALSE(wait_log_line(gw.child, {"event=worker_probe_kind", "worker=" + w->address() + " "}, 5s)
                      .empty());

  Response r = http_get(admin_port, "/status");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"name\": \"p\"") != std::string::npos);
  const auto workers = worker_objects(r.body);
  REQUIRE(workers.size() == 2);
  CHECK(json_string(workers[0], "address") == w1.address());
  CHECK(json_string(workers[1], "address") == w2.address());
  long long requests = 0, completed = 0;
  for (const auto &w : workers) {
    INFO(w);
    CHECK(json_string(w, "state") == "healthy");
    CHECK(field(w, "in_flight") == 0);
    CHECK(field(w, "consecutive_failures") == 0);
    CHECK(json_string(w, "probe_kind") == "request");
    const long long n = field(w, "requests"), opened = field(w, "connections_opened");
    requests += n;
    completed += field(w, "requests_completed");
    CHECK(n >= 1); // round-robin over two workers
    CHECK(opened >= 1);
    CHECK(opened <= n);
    CHECK(field(w, "open_connections") <= opened);
    // requests_per_connection = requests / connections_opened, 2 decimals.
    const std::string rpc = "\"requests_per_connection\": " + fmt_2(double(n) / double(opened));
    CHECK(w.find(rpc) != std::string::npos);
  }
  CHECK(requests == kRequests);
  CHECK(completed == kRequests);

  // Only GET /status is there.
  CHECK(http_get(admin_port, "/metrics").status == 404);
  CHECK(http_request(admin_port, "POST", "/status", {}, "x").status == 405);
}
