#include "gateway/config/config_loader.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace fcgimux;
using namespace std::chrono_literals;

namespace {

// A valid config to which tests append. It ends at line 6.
const std::string kMinimal = R"([[route]]
prefix = "/"
pool = "app"

[pools.app]
workers = ["127.0.0.1:9001"]
)";

std::vector<std::string> problems_of(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& p : load_config_text(text, "t.toml").problems) out.push_back(p.to_string());
  return out;
}

uint16_t port_of(const SocketAddress& a) {
  if (a.addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a.addr).sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6&>(a.addr).sin6_port);
}

}  // namespace

TEST_CASE("a minimal config gets every default", "[config]") {
  LoadResult r = load_config_text(kMinimal, "t.toml");
  INFO((r.problems.empty() ? "" : r.problems[0].to_string()));
  REQUIRE(r.ok());
  const Config& c = r.config;
  CHECK(c.path == "t.toml");

  const ServerConfig& s = c.server;
  REQUIRE(s.listen.size() == 1);
  CHECK(s.listen[0].text == "127.0.0.1:8080");
  CHECK(s.listen[0].addr.ss_family == AF_INET);
  CHECK(s.listen[0].addr_len == sizeof(sockaddr_in));
  CHECK(port_of(s.listen[0]) == 8080);
  CHECK(s.threads == 0);
  CHECK(s.max_connections == 10000);
  CHECK(s.header_timeout == 10s);
  CHECK(s.idle_timeout == 60s);
  CHECK(s.shutdown_timeout == 10s);
  CHECK(s.max_header_size == 64 * 1024);
  CHECK(s.max_body_size == 32 * 1024 * 1024);
  CHECK(s.max_response_header_size == 64 * 1024);
  CHECK(s.response_buffer_size == 256 * 1024);
  CHECK(s.access_log == "-");
  CHECK(s.error_log == "-");
  CHECK(s.log_level == "info");
  CHECK(s.server_name.empty());

  REQUIRE(c.routes.size() == 1);
  const RouteConfig& r0 = c.routes[0];
  CHECK(r0.prefix == "/");
  CHECK(r0.pool == "app");
  CHECK_FALSE(r0.script_name);
  CHECK(r0.mount().empty());
  CHECK(r0.document_root.empty());
  CHECK(r0.index == "index.php");
  CHECK(r0.params.empty());

  REQUIRE(c.pools.size() == 1);
  const PoolConfig& p = c.pools[0];
  CHECK(p.name == "app");
  REQUIRE(p.workers.size() == 1);
  CHECK(p.workers[0].address.text == "127.0.0.1:9001");
  CHECK(port_of(p.workers[0].address) == 9001);
  CHECK(p.workers[0].weight == 1);
  CHECK(p.balance == Balance::LeastConn);
  CHECK(p.connect_timeout == 1s);
  CHECK(p.response_timeout == 30s);
  CHECK(p.disable_time == 1s);
  CHECK(p.max_disable_time == 60s);
  CHECK(p.probe_timeout == 500ms);
  CHECK(p.suspect_after == 100ms);
  CHECK(p.probe_path == "/healthz");
  CHECK(p.max_conns == 0);
  CHECK(p.retry == RetryPolicy::Safe);
  CHECK(p.queue_timeout == 5s);
  CHECK(p.multiplex == Multiplex::Auto);
  CHECK(p.keepalive_timeout == 4s);
  CHECK(p.max_idle_conns == 16);
}

TEST_CASE("every key is read", "[config]") {
  const std::string text = R"([server]
listen = ["127.0.0.1:0", "[::1]:0", "localhost:8081"]
threads = 4
max_connections = 500
header_timeout = "5s"
idle_timeout = "2m"
shutdown_timeout = "0s"
max_header_size = "16KiB"
max_body_size = 1048576
max_response_header_size = "32KiB"
response_buffer_size = "1MiB"
access_log = ""
error_log = "/var/log/fcgimux.log"
log_level = "debug"
server_name = "example.org"

[[route]]
prefix = "/php/"
pool = "php"
script_name = "/app"
document_root = "/srv/www"
index = "front.php"
params = { HTTPS = "on", APP_ENV = "prod", A = "1" }

[[route]]
prefix = "/"
pool = "django"

[pools.php]
workers = ["127.0.0.1:9000"]
balance = "round-robin"
multiplex = "off"

[pools.django]
workers = ["127.0.0.1:9001", { address = "127.0.0.1:9002", weight = 3 }, "[::1]:9003"]
balance = "sticky"
connect_timeout = "250ms"
response_timeout = "20s"
disable_time = "2s"
max_disable_time = "1m"
probe_timeout = "1.5s"
suspect_after = "200ms"
probe_path = "/ping"
max_conns = 8
retry = "never"
queue_timeout = "0s"
multiplex = "on"
keepalive_timeout = "30s"
max_idle_conns = 4
)";
  LoadResult r = load_config_text(text, "t.toml");
  INFO((r.problems.empty() ? "" : r.problems[0].to_string()));
  REQUIRE(r.ok());
  const Config& c = r.config;

  const ServerConfig& s = c.server;
  REQUIRE(s.listen.size() == 3);
  CHECK(s.listen[0].text == "127.0.0.1:0");
  CHECK(s.listen[0].addr.ss_family == AF_INET);
  CHECK(port_of(s.listen[0]) == 0);
  CHECK(s.listen[1].text == "[::1]:0");
  CHECK(s.listen[1].addr.ss_family == AF_INET6);
  CHECK(s.listen[1].addr_len == sizeof(sockaddr_in6));
  CHECK(s.listen[2].addr_len > 0);
  CHECK(port_of(s.listen[2]) == 8081);
  CHECK(s.threads == 4);
  CHECK(s.max_connections == 500);
  CHECK(s.header_timeout == 5s);
  CHECK(s.idle_timeout == 120s);
  CHECK(s.shutdown_timeout == 0s);
  CHECK(s.max_header_size == 16 * 1024);
  CHECK(s.max_body_size == 1048576);
  CHECK(s.max_response_header_size == 32 * 1024);
  CHECK(s.response_buffer_size == 1024 * 1024);
  CHECK(s.access_log.empty());
  CHECK(s.error_log == "/var/log/fcgimux.log");
  CHECK(s.log_level == "debug");
  CHECK(s.server_name == "example.org");

  REQUIRE(c.routes.size() == 2);
  const RouteConfig& php = c.routes[0];
  CHECK(php.prefix == "/php/");
  CHECK(php.pool == "php");
  CHECK(php.script_name == "/app");
  CHECK(php.mount() == "/app");
  CHECK(php.document_root == "/srv/www");
  CHECK(php.index == "front.php");
  using Params = std::vector<std::pair<std::string, std::string>>;
  CHECK(php.params == Params{{"HTTPS", "on"}, {"APP_ENV", "prod"}, {"A", "1"}});  // file order
  CHECK(c.routes[1].prefix == "/");

  REQUIRE(c.pools.size() == 2);
  CHECK(c.pools[0].name == "php");  // file order, not key order
  CHECK(c.pools[0].balance == Balance::RoundRobin);
  CHECK(c.pools[0].multiplex == Multiplex::Off);
  const PoolConfig* d = c.find_pool("django");
  REQUIRE(d);
  REQUIRE(d->workers.size() == 3);
  CHECK(d->workers[0].weight == 1);
  CHECK(d->workers[1].address.text == "127.0.0.1:9002");
  CHECK(port_of(d->workers[1].address) == 9002);
  CHECK(d->workers[1].weight == 3);
  CHECK(d->workers[2].address.addr.ss_family == AF_INET6);
  CHECK(d->balance == Balance::Sticky);
  CHECK(d->connect_timeout == 250ms);
  CHECK(d->response_timeout == 20s);
  CHECK(d->disable_time == 2s);
  CHECK(d->max_disable_time == 60s);
  CHECK(d->probe_timeout == 1500ms);
  CHECK(d->suspect_after == 200ms);
  CHECK(d->probe_path == "/ping");
  CHECK(d->max_conns == 8);
  CHECK(d->retry == RetryPolicy::Never);
  CHECK(d->queue_timeout == 0s);
  CHECK(d->multiplex == Multiplex::On);
  CHECK(d->keepalive_timeout == 30s);
  CHECK(d->max_idle_conns == 4);
}

TEST_CASE("each problem names FILE:LINE:COL, the key and what is wrong", "[config][problems]") {
  auto [appended, expected] = GENERATE(table<std::string, std::string>({
      // unknown keys, with and without a suggestion (line 7 is the first appended line)
      {"response_timout = \"1s\"",
       "t.toml:7:1: pools.app.response_timout: unknown key; did you mean 'response_timeout'?"},
      {"colour = \"blue\"", "t.toml:7:1: pools.app.colour: unknown key"},
      // wrong types
      {"max_conns = \"8\"", "t.toml:7:13: pools.app.max_conns: expected an integer, got a string"},
      {"probe_path = 1", "t.toml:7:14: pools.app.probe_path: expected a string, got an integer"},
      {"response_timeout = 30",
       "t.toml:7:20: pools.app.response_timeout: expected a duration string such as \"10s\", got "
       "an integer (add quotes and a unit)"},
      // bad durations
      {"response_timeout = \"30\"",
       "t.toml:7:20: pools.app.response_timeout: \"30\" is not a duration; write a number and a "
       "unit: \"250ms\", \"10s\", \"2m\", \"1h\""},
      {"connect_timeout = \"-1s\"",
       "t.toml:7:19: pools.app.connect_timeout: \"-1s\" is not a duration; write a number and a "
       "unit: \"250ms\", \"10s\", \"2m\", \"1h\""},
      {"connect_timeout = \"0s\"", "t.toml:7:19: pools.app.connect_timeout: must be more than 0"},
      // out of range
      {"max_conns = 70000", "t.toml:7:13: pools.app.max_conns: 70000 is out of range (0..65535)"},
      {"max_conns = -1", "t.toml:7:13: pools.app.max_conns: -1 is out of range (0..65535)"},
      // enums, with a suggestion
      {"balance = \"least_conn\"",
       "t.toml:7:11: pools.app.balance: \"least_conn\" is not one of \"round-robin\" | "
       "\"least-conn\" | \"sticky\"; did you mean \"least-conn\"?"},
      {"retry = \"always\"",
       "t.toml:7:9: pools.app.retry: \"always\" is not one of \"never\" | \"safe\""},
      {"probe_path = \"healthz\"",
       "t.toml:7:14: pools.app.probe_path: \"healthz\" must start with '/'"},
      // cross-field invariants, blamed on the key written
      {"max_disable_time = \"500ms\"",
       "t.toml:7:20: pools.app.max_disable_time: max_disable_time (500ms) must be at least "
       "disable_time (1s)"},
      {"disable_time = \"2m\"",
       "t.toml:7:16: pools.app.max_disable_time: max_disable_time (1m) must be at least "
       "disable_time (2m)"},
      {"probe_timeout = \"31s\"",
       "t.toml:7:17: pools.app.probe_timeout: probe_timeout (31s) must not exceed "
       "response_timeout (30s)"},
      {"response_timeout = \"50ms\"",
       "t.toml:7:20: pools.app.probe_timeout: probe_timeout (500ms) must not exceed "
       "response_timeout (50ms)\n"
       "t.toml:7:20: pools.app.suspect_after: suspect_after (100ms) must not exceed "
       "response_timeout (50ms)"},
      {"max_conns = 4\nmax_idle_conns = 5",
       "t.toml:8:18: pools.app.max_idle_conns: max_idle_conns (5) must not exceed max_conns (4)"},
  }));
  CAPTURE(appended);
  std::string joined;
  for (const auto& p : problems_of(kMinimal + appended + "\n"))
    joined += (joined.empty() ? "" : "\n") + p;
  CHECK(joined == expected);
}

TEST_CASE("server keys are checked", "[config][problems]") {
  auto [server, expected] = GENERATE(table<std::string, std::string>({
      {"thread = 4", "t.toml:2:1: server.thread: unknown key; did you mean 'threads'?"},
      {"threads = 1000", "t.toml:2:11: server.threads: 1000 is out of range (0..256)"},
      {"threads = \"4\"", "t.toml:2:11: server.threads: expected an integer, got a string"},
      {"max_connections = 0", "t.toml:2:19: server.max_connections: 0 is out of range (1..10000000)"},
      {"max_body_size = \"32MB\"",
       "t.toml:2:17: server.max_body_size: \"32MB\" is not a size; units are binary, write "
       "\"32MiB\""},
      {"max_header_size = \"big\"",
       "t.toml:2:19: server.max_header_size: \"big\" is not a size; write bytes or a number with "
       "a unit: \"512B\", \"64KiB\", \"32MiB\", \"1GiB\""},
      {"max_header_size = \"100B\"",
       "t.toml:2:19: server.max_header_size: 100B is out of range (1KiB..64MiB)"},
      {"max_body_size = -1", "t.toml:2:17: server.max_body_size: must not be negative"},
      {"max_body_size = true",
       "t.toml:2:17: server.max_body_size: expected a size such as \"64KiB\", got a boolean"},
      {"idle_timeout = \"1 m\"",
       "t.toml:2:16: server.idle_timeout: \"1 m\" is not a duration; write a number and a unit: "
       "\"250ms\", \"10s\", \"2m\", \"1h\""},
      {"log_level = \"warning\"",
       "t.toml:2:13: server.log_level: \"warning\" is not one of \"debug\" | \"info\" | \"warn\" | "
       "\"error\"; did you mean \"warn\"?"},
      {"error_log = \"\"", "t.toml:2:13: server.error_log: must be \"-\" (stderr) or a path"},
      {"listen = \"127.0.0.1\"",
       "t.toml:2:10: server.listen: \"127.0.0.1\": missing ':port' (write \"host:port\")"},
      {"listen = []", "t.toml:2:10: server.listen: needs at least one address"},
      {"listen = 8080",
       "t.toml:2:10: server.listen: expected an array of \"host:port\" strings, got an integer"},
      {"listen = [\"127.0.0.1:8080\", \"::1:8080\"]",
       "t.toml:2:29: server.listen[1]: \"::1:8080\": IPv6 addresses go in brackets, as in "
       "\"[::1]:9000\""},
      {"listen = [\"127.0.0.1:65536\"]",
       "t.toml:2:11: server.listen[0]: \"127.0.0.1:65536\": the port must be a number 0..65535"},
      {"listen = [\":8080\"]",
       "t.toml:2:11: server.listen[0]: \":8080\": missing host (write \"0.0.0.0:PORT\" or "
       "\"[::]:PORT\" for every interface)"},
      {"listen = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]",
       "t.toml:2:29: server.listen[1]: \"127.0.0.1:8080\" is listed twice"},
      {"admin_listen = \"0.0.0.0:9901\"",
       "t.toml:2:16: server.admin_listen: \"0.0.0.0:9901\": must be a loopback address (127.0.0.1:PORT "
       "or [::1]:PORT): the status endpoint has no authentication"},
      {"admin_listen = \"127.0.0.1\"",
       "t.toml:2:16: server.admin_listen: \"127.0.0.1\": missing ':port' (write \"host:port\")"},
      {"admin_listen = 9901",
       "t.toml:2:16: server.admin_listen: expected a \"host:port\" string, got an integer"},
      {"admin_listn = \"127.0.0.1:9901\"",
       "t.toml:2:1: server.admin_listn: unknown key; did you mean 'admin_listen'?"},
  }));
  CAPTURE(server);
  std::string joined;
  for (const auto& p : problems_of("[server]\n" + server + "\n\n" + kMinimal))
    joined += (joined.empty() ? "" : "\n") + p;
  CHECK(joined == expected);
}

TEST_CASE("listen accepts a single string and port 0", "[config]") {
  LoadResult r = load_config_text("[server]\nlisten = \"127.0.0.1:0\"\n" + kMinimal, "t.toml");
  REQUIRE(r.ok());
  REQUIRE(r.config.server.listen.size() == 1);
  CHECK(port_of(r.config.server.listen[0]) == 0);
}

TEST_CASE("workers are checked one by one", "[config][problems]") {
  auto [workers, expected] = GENERATE(table<std::string, std::string>({
      {"[]", "t.toml:6:11: pools.app.workers: a pool needs at least one worker"},
      {"\"127.0.0.1:9001\"",
       "t.toml:6:11: pools.app.workers: expected an array of workers, got a string"},
      {"[\"127.0.0.1:0\"]",
       "t.toml:6:12: pools.app.workers[0]: \"127.0.0.1:0\": a worker's port must be 1..65535"},
      {"[\"127.0.0.1\"]",
       "t.toml:6:12: pools.app.workers[0]: \"127.0.0.1\": missing ':port' (write \"host:port\")"},
      {"[\"127.0.0.1:9001\", \"[::1:9002\"]",
       "t.toml:6:30: pools.app.workers[1]: \"[::1:9002\": missing ']' after the IPv6 address"},
      {"[\"127.0.0.1:9001\", \"127.0.0.1:9001\"]",
       "t.toml:6:30: pools.app.workers[1]: \"127.0.0.1:9001\" is listed twice in this pool"},
      {"[9001]",
       "t.toml:6:12: pools.app.workers[0]: expected \"host:port\" or { address = \"host:port\", "
       "weight = N }, got an integer"},
      {"[{ address = \"127.0.0.1:9001\", weight = 0 }]",
       "t.toml:6:51: pools.app.workers[0].weight: 0 is out of range (1..1000)"},
      {"[{ address = \"127.0.0.1:9001\", weight = 1001 }]",
       "t.toml:6:51: pools.app.workers[0].weight: 1001 is out of range (1..1000)"},
      {"[{ addr = \"127.0.0.1:9001\" }]",
       "t.toml:6:12: pools.app.workers[0]: missing required key 'address'\n"
       "t.toml:6:14: pools.app.workers[0].addr: unknown key; did you mean 'address'?"},
      {"[{ address = \"127.0.0.1:9001\", wieght = 2 }]",
       "t.toml:6:42: pools.app.workers[0].wieght: unknown key; did you mean 'weight'?"},
  }));
  CAPTURE(workers);
  const std::string text = "[[route]]\nprefix = \"/\"\npool = \"app\"\n\n[pools.app]\nworkers = " +
                           workers + "\n";
  std::string joined;
  for (const auto& p : problems_of(text)) joined += (joined.empty() ? "" : "\n") + p;
  CHECK(joined == expected);
}

TEST_CASE("an unresolvable worker host is a problem at its position", "[config][problems]") {
  const auto problems = problems_of(
      "[[route]]\nprefix = \"/\"\npool = \"app\"\n\n[pools.app]\n"
      "workers = [\"localhost:9001\", \"no-such-host.invalid:9002\"]\n");
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::StartsWith("t.toml:6:30: pools.app.workers[1]: cannot resolve "
                                            "\"no-such-host.invalid\": "));
}

TEST_CASE("routes are checked", "[config][problems]") {
  SECTION("a route naming an unknown pool, with a suggestion") {
    CHECK(problems_of("[[route]]\nprefix = \"/\"\npool = \"ap\"\n\n[pools.app]\n"
                      "workers = [\"127.0.0.1:9001\"]\n") ==
          std::vector<std::string>{"t.toml:3:8: route[0].pool: no pool named \"ap\" ([pools.ap] is "
                                   "not defined); did you mean \"app\"?"});
  }
  SECTION("duplicate prefixes name the first one's line") {
    CHECK(problems_of(kMinimal + "\n[[route]]\nprefix = \"/\"\npool = \"app\"\n") ==
          std::vector<std::string>{
              "t.toml:9:10: route[1].prefix: \"/\" is already the prefix of route[0] (line 2)"});
  }
  SECTION("a trailing '/' does not make a prefix different") {
    CHECK(problems_of(kMinimal + "\n[[route]]\nprefix = \"/app\"\npool = \"app\"\n" +
                      "\n[[route]]\nprefix = \"/app/\"\npool = \"app\"\n") ==
          std::vector<std::string>{"t.toml:13:10: route[2].prefix: \"/app/\" is the same mount as "
                                   "\"/app\" of route[1] (line 9); a trailing '/' makes no "
                                   "difference"});
  }
  SECTION("missing required keys are reported at the table") {
    CHECK(problems_of("[[route]]\nscript_name = \"\"\n\n[pools.app]\n"
                      "workers = [\"127.0.0.1:9001\"]\n") ==
          std::vector<std::string>{"t.toml:1:1: route[0]: missing required key 'prefix'",
                                   "t.toml:1:1: route[0]: missing required key 'pool'"});
    CHECK(problems_of("[[route]]\nprefix = \"/\"\npool = \"app\"\n\n[pools.app]\nbalance = "
                      "\"sticky\"\n") ==
          std::vector<std::string>{"t.toml:5:1: pools.app: missing required key 'workers'"});
  }
  SECTION("prefix, script_name, document_root, index and params are validated") {
    CHECK(problems_of(R"([[route]]
prefix = "app"
pool = "app"
script_name = "/app/"
document_root = "srv/www"
index = ""
params = { HTTPS = true, PORT = 443, OK = "yes" }

[pools.app]
workers = ["127.0.0.1:9001"]
)") == std::vector<std::string>{
               "t.toml:2:10: route[0].prefix: \"app\" must start with '/'",
               "t.toml:4:15: route[0].script_name: \"/app/\" must be \"\" or start with '/' and "
               "not end with '/'",
               "t.toml:5:17: route[0].document_root: \"srv/www\" must be an absolute path",
               "t.toml:6:9: route[0].index: \"\" must be a file name such as \"index.php\"",
               "t.toml:7:20: route[0].params.HTTPS: expected a string, got a boolean (add quotes)",
               "t.toml:7:33: route[0].params.PORT: expected a string, got an integer (add quotes)",
           });
  }
  SECTION("no routes at all") {
    CHECK(problems_of("[pools.app]\nworkers = [\"127.0.0.1:9001\"]\n") ==
          std::vector<std::string>{
              "t.toml:1:1: route: no routes; add at least one [[route]] with a prefix and a pool"});
  }
  SECTION("[route] written as a single table") {
    CHECK(problems_of("[route]\nprefix = \"/\"\npool = \"app\"\n\n[pools.app]\n"
                      "workers = [\"127.0.0.1:9001\"]\n") ==
          std::vector<std::string>{"t.toml:1:1: route: expected an array of tables ([[route]]), "
                                   "got a table"});
  }
  SECTION("a pool that no route uses is fine") {
    CHECK(problems_of(kMinimal + "\n[pools.spare]\nworkers = [\"127.0.0.1:9009\"]\n").empty());
  }
}

TEST_CASE("top-level typos get a suggestion", "[config][problems]") {
  CHECK(problems_of(kMinimal + "\n[pool.other]\nworkers = []\n") ==
        std::vector<std::string>{"t.toml:8:2: pool: unknown key; did you mean 'pools'?"});
  CHECK(problems_of("[sever]\nthreads = 2\n\n" + kMinimal) ==
        std::vector<std::string>{"t.toml:1:2: sever: unknown key; did you mean 'server'?"});
}

TEST_CASE("a TOML syntax error gives its position and toml++'s description", "[config][problems]") {
  const auto problems = problems_of("[server]\nthreads = = 4\n");
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::StartsWith("t.toml:2:11: "));
  const auto dup = problems_of("[server]\nthreads = 1\nthreads = 2\n");
  REQUIRE(dup.size() == 1);
  CHECK_THAT(dup[0], Catch::StartsWith("t.toml:3:11: "));
}

TEST_CASE("all problems of a file are reported, in file order", "[config][problems]") {
  const std::string text = R"([server]
thread = 4
max_body_size = "10MB"

[[route]]
prefix = "/"
pool = "djagno"

[[route]]
prefix = "/"
pool = "django"

[pools.django]
workers = ["127.0.0.1:0", { address = "127.0.0.1:9002", weight = 5000 }]
response_timout = "30s"
disable_time = "10s"
max_disable_time = "5s"
)";
  CHECK(problems_of(text) == std::vector<std::string>{
      "t.toml:2:1: server.thread: unknown key; did you mean 'threads'?",
      "t.toml:3:17: server.max_body_size: \"10MB\" is not a size; units are binary, write \"10MiB\"",
      "t.toml:7:8: route[0].pool: no pool named \"djagno\" ([pools.djagno] is not defined); did you "
      "mean \"django\"?",
      "t.toml:10:10: route[1].prefix: \"/\" is already the prefix of route[0] (line 6)",
      "t.toml:14:12: pools.django.workers[0]: \"127.0.0.1:0\": a worker's port must be 1..65535",
      "t.toml:14:66: pools.django.workers[1].weight: 5000 is out of range (1..1000)",
      "t.toml:15:1: pools.django.response_timout: unknown key; did you mean 'response_timeout'?",
      "t.toml:17:20: pools.django.max_disable_time: max_disable_time (5s) must be at least "
      "disable_time (10s)",
  });
}

TEST_CASE("a file that cannot be read is one problem", "[config][problems]") {
  LoadResult r = load_config_file("/nonexistent/fcgimux.toml");
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems[0].to_string() == "/nonexistent/fcgimux.toml: cannot read: No such file or directory");
}

TEST_CASE("a problem is one line: control characters from the file are escaped",
          "[config][problems]") {
  // Found by config_fuzz: toml++ quotes the bytes it saw raw, and keys and
  // values from the file are quoted in messages, so a newline there split one
  // problem over two lines of `fcgimux --check` output.
  CHECK(problems_of("a = f\n") ==
        std::vector<std::string>{
            "t.toml:1:6: Error while parsing boolean: expected 'false', saw 'f\\n'"});
  const auto problems = problems_of(kMinimal + "\"x\\ny\\u0001\" = 1\n");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "t.toml:7:1: pools.app.x\\ny\\x01: unknown key");
}

TEST_CASE("max_idle_conns left at its default follows a smaller max_conns", "[config]") {
  LoadResult r = load_config_text(kMinimal + "max_conns = 1\n", "t.toml");
  REQUIRE(r.ok());
  CHECK(r.config.pools.at(0).max_conns == 1);
  CHECK(r.config.pools.at(0).max_idle_conns == 1);
}

TEST_CASE("admin_listen: off by default and when empty, a loopback address otherwise", "[config]") {
  CHECK_FALSE(load_config_text(kMinimal, "t.toml").config.server.admin_listen);
  LoadResult off = load_config_text("[server]\nadmin_listen = \"\"\n" + kMinimal, "t.toml");
  REQUIRE(off.ok());
  CHECK_FALSE(off.config.server.admin_listen);
  auto [text, port] = GENERATE(table<std::string, uint16_t>({
      {"127.0.0.1:9901", 9901}, {"127.0.0.2:0", 0}, {"[::1]:9901", 9901}, {"localhost:9901", 9901}}));
  CAPTURE(text);
  LoadResult r = load_config_text("[server]\nadmin_listen = \"" + text + "\"\n" + kMinimal, "t.toml");
  REQUIRE(r.ok());
  REQUIRE(r.config.server.admin_listen);
  CHECK(r.config.server.admin_listen->text == text);
  CHECK(port_of(*r.config.server.admin_listen) == port);
}
