// Three uWSGI workers in one pool: requests spread over all of them, and a
// session made on one is seen by the others (they share the database).
#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "harness.h"

using namespace e2e;

namespace {
struct ThreeWorkers {
  TempDir dir;
  Worker w1 = spawn_uwsgi_django(dir, "django-1");
  Worker w2 = spawn_uwsgi_django(dir, "django-2");
  Worker w3 = spawn_uwsgi_django(dir, "django-3");
};

std::string counts(const std::map<std::string, int> &m) {
  std::string s;
  for (const auto &[k, v] : m)
    s += k + "=" + std::to_string(v) + " ";
  return s;
}
} // namespace

TEST_CASE("balance: round-robin spreads requests over all three workers",
          "[e2e][balance][django]") {
  ThreeWorkers ws;
  Gateway gw = spawn_fcgimux(
      ws.dir, server_toml("threads = 1") + route_toml("/", "django") +
                  pool_toml("django", {&ws.w1, &ws.w2, &ws.w3}, "balance = \"round-robin\""));
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    Response r = http_get(gw.port, "/healthz");
    REQUIRE(r.status == 200);
    ++seen[r.header("x-worker")];
  }
  INFO(counts(seen));
  CHECK(seen.size() == 3);
  CHECK(seen["django-1"] >= 5);
  CHECK(seen["django-2"] >= 5);
  CHECK(seen["django-3"] >= 5);

  // The access log names the worker of each request.
  for (const Worker *w : {&ws.w1, &ws.w2, &ws.w3}) {
    INFO(w->name);
    CHECK(eventually([&] { return !log_lines(gw.child, "worker=" + w->address()).empty(); }, 2s));
  }
}

TEST_CASE("balance: least-conn sends concurrent requests to different workers",
          "[e2e][balance][django]") {
  ThreeWorkers ws;
  Gateway gw = spawn_fcgimux(
      ws.dir, server_toml("threads = 1\nadmin_listen = \"127.0.0.1:0\"") + route_toml("/", "django") +
                  pool_toml("django", {&ws.w1, &ws.w2, &ws.w3}, "balance = \"least-conn\""));
  const std::string listening = wait_log_line(gw.child, {"event=admin_listening"}, 5s);
  REQUIRE_FALSE(listening.empty());
  const std::string admin = log_field(listening, "addr");
  const int admin_port = std::stoi(admin.substr(admin.find(':') + 1));
  // Our requests in flight on the pool's workers, summed, from /status.
  auto in_flight = [&] {
    const std::string body = http_get(admin_port, "/status").body;
    int sum = 0;
    const std::string key = "\"in_flight\": ";
    for (size_t at = body.find(key); at != std::string::npos; at = body.find(key, at + 1))
      sum += std::atoi(body.c_str() + at + key.size());
    return sum;
  };
  // Three slow requests at once, from three connections: each worker has
  // one in flight when the next arrives, so least-conn picks an idle one.
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<HttpClient>(gw.port, 30s));
    clients.back()->send("GET /sleep?s=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    // The next one is sent only once fcgimux has given this one to a worker.
    REQUIRE(eventually([&] { return in_flight() == i + 1; }, 1500ms));
  }
  std::map<std::string, int> seen;
  for (auto &c : clients) {
    Response r = c->read_response();
    REQUIRE(r.status == 200);
    ++seen[r.header("x-worker")];
  }
  INFO(counts(seen));
  CHECK(seen.size() == 3);
}

TEST_CASE("balance: a session made through one worker is valid on the others",
          "[e2e][balance][django]") {
  ThreeWorkers ws;
  Gateway gw = spawn_fcgimux(
      ws.dir, server_toml() + route_toml("/", "django") +
                  pool_toml("django", {&ws.w1, &ws.w2, &ws.w3}, "balance = \"round-robin\""));
  Response login = http_get(gw.port, "/login?user=alice");
  INFO(login.body);
  REQUIRE(login.status == 200);
  std::string session;
  for (const auto &c : login.all("set-cookie"))
    if (c.rfind("sessionid=", 0) == 0)
      session = c.substr(0, c.find(';'));
  REQUIRE_FALSE(session.empty());
  const std::string login_worker = login.header("x-worker");

  std::map<std::string, int> seen;
  for (int i = 0; i < 12; ++i) {
    Response r = http_get(gw.port, "/whoami", {{"Cookie", session}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(json_string(r.body, "user") == "alice");
    ++seen[r.header("x-worker")];
  }
  INFO("login on " << login_worker << "; whoami on " << counts(seen));
  CHECK(seen.size() >= 2); // other workers than the login's answered, and knew alice

  // Without the cookie nobody is logged in.
  Response anon = http_get(gw.port, "/whoami");
  CHECK(json_string(anon.body, "user") == std::nullopt);
}

TEST_CASE("balance: a request waits in the queue for a worker at its max_conns",
          "[e2e][balance][queue]") {
  TempDir dir;
  Worker slow = spawn_fault_worker(dir, "--ok", {"--delay-ms", "500"});
  Gateway gw = spawn_fcgimux(
      dir,
      server_toml("threads = 1") + route_toml("/", "p") +
          pool_toml("p", {&slow}, "max_conns = 1\nmax_idle_conns = 1\nqueue_timeout = \"10s\""));
  HttpClient first(gw.port, 10s);
  first.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(eventually([&] { return !log_lines(slow.child, "uri=/first").empty(); }));
  // The worker is busy with /first for 500 ms; /second waits for it, then
  // gets its turn, instead of a 503.
  HttpClient second(gw.port, 10s);
  second.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(first.read_response().status == 200);
  Response r = second.read_response();
  CHECK(r.status == 200);
  // /second reached the worker only after /first was answered.
  const auto lines = log_lines(slow.child, "event=request uri=/");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("uri=/first") != std::string::npos);
  CHECK(lines[1].find("uri=/second") != std::string::npos);
}
