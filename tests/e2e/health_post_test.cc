// Issue #3, scenario 7: a POST never runs twice. Three libfcgi workers log
// every request they start (FCGI_RESPONDER_LOG, one write each, so a SIGKILL
// loses no line). Under GET and POST load, a long POST is held by one worker
// (its request log shows it started; it sleeps a minute there), and only
// then is that worker SIGKILLed: the held POST is answered 502 and is not
// replayed on another worker; every GET succeeds (retried elsewhere); each
// POST id was started at most once over all workers, and every POST got an
// answer, 200 or 502, never a hang or a dropped connection.
#include <map>
#include <memory>
#include <sstream>

#include "harness_internal.h"
#include "health_common.h"

using namespace e2e;
using namespace e2e::health;

namespace {
// id -> how many times a worker's request log shows POST /upload with it.
void count_ids(const fs::path &log, std::map<std::string, int> &ids, int &lines) {
  std::istringstream in(detail::read_file(log));
  for (std::string line; std::getline(in, line);) {
    // EPOCH<TAB>METHOD<TAB>PATH<TAB>QUERY
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');)
      f.push_back(x);
    if (f.size() < 4 || f[1] != "POST" || f[2] != "/upload")
      continue;
    ++lines;
    const auto at = f[3].find("id=");
    if (at != std::string::npos)
      ++ids[f[3].substr(at + 3)];
  }
}

std::map<std::string, int> ids_in(const fs::path &log) {
  std::map<std::string, int> ids;
  int lines = 0;
  count_ids(log, ids, lines);
  return ids;
}

std::string post_request(const std::string &target, const std::string &body) {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}
} // namespace

TEST_CASE("health: a POST held by a worker that is SIGKILLed is answered 502 and never run twice",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  // 64 threads: more than the connections fcgimux may hold open to one
  // worker here (see the next test for fewer).
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 64, 0, dir / "requests-1.log");
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 64, 0, dir / "requests-2.log");
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 64, 0, dir / "requests-3.log");
  const std::string victim = w2.address();
  const std::map<std::string, fs::path> logs = {{"fcgi-1", dir / "requests-1.log"},
                                                {"fcgi-2", dir / "requests-2.log"},
                                                {"fcgi-3", dir / "requests-3.log"}};
  // response_timeout 60 s: the held POST cannot time out before the kill,
  // however slowly a loaded machine gets there.
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "p") +
                                      pool_toml("p", {&w1, &w2, &w3}, pool_settings("", "60s")));

  LoadOptions posts;
  posts.threads = 3;
  posts.max_requests = 2000;
  posts.max_time = 40s;
  posts.pause = 5ms;
  posts.method = "POST";
  posts.target = [](int n) { return "/upload?ms=150&id=" + std::to_string(n); };
  posts.body = [](int n) { return "post " + std::to_string(n) + " " + std::string(1000, 'x'); };
  Load post_load(gw.port, posts);
  LoadOptions gets;
  gets.threads = 3;
  gets.max_requests = 6000;
  gets.max_time = 40s;
  Load get_load(gw.port, gets);
  const bool victim_served = eventually(
      [&] { return served_by_after(post_load.samples(), "fcgi-2", Clock::time_point{}) >= 10; },
      15s);
  {
    INFO("health events:\n" << health_events(gw.child));
    INFO("POSTs by worker: " << by_worker(post_load.samples()) << "; "
                             << describe_samples(post_load.samples()));
    REQUIRE(victim_served);
  }

  // Long POSTs, one at a time, until one is running on the victim: its
  // request log shows the id. The ones that land elsewhere stay held there
  // (least-conn then steers the next one away from them).
  std::vector<std::unique_ptr<HttpClient>> held;
  std::string held_id;
  HttpClient *on_victim = nullptr;
  for (int k = 0; k < 30 && !on_victim; ++k) {
    const std::string id = "held-" + std::to_string(k);
    const std::string body = "held " + std::string(1000, 'y');
    auto c = std::make_unique<HttpClient>(gw.port, 60s);
    c->send(post_request("/upload?ms=60000&id=" + id, body));
    std::string where;
    REQUIRE(eventually(
        [&] {
          for (const auto &[name, log] : logs)
            if (ids_in(log).count(id))
              where = name;
          return !where.empty();
        },
        20s));
    if (where == "fcgi-2") {
      held_id = id;
      on_victim = c.get();
    }
    held.push_back(std::move(c));
  }
  INFO("health events:\n" << health_events(gw.child));
  REQUIRE(on_victim != nullptr);

  const int mark = int(log_all_lines(gw.child).size());
  // Nobody was evicted before the fault.
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
  kill_hard(w2.child);
  // The held POST had reached the worker: it is not replayed, it fails.
  const Response held_response = on_victim->read_response();
  const std::string evicted =
      wait_log_line(gw.child, {"event=worker_evicted", "worker=" + victim + " "}, 10s, mark);
  // The load goes on without the victim for a while (a replay would show).
  CHECK(post_load.wait_more(60, 30s));
  CHECK(get_load.wait_more(100, 30s));
  post_load.stop();
  get_load.stop();

  const auto samples = post_load.samples();
  const auto get_samples = get_load.samples();
  INFO("health events:\n" << health_events(gw.child));
  INFO("POSTs by worker: " << by_worker(samples));
  INFO("GETs by worker: " << by_worker(get_samples));
  INFO("POSTs: " << describe_samples(samples));
  INFO("GETs: " << describe_samples(get_samples));
  CHECK_FALSE(evicted.empty());
  INFO("held POST " << held_id << " -> " << held_response.status << " '" << held_response.body
                    << "'");
  CHECK(held_response.status == 502);
  CHECK(ids_in(logs.at("fcgi-2")).at(held_id) == 1);
  CHECK(ids_in(logs.at("fcgi-1")).count(held_id) == 0);
  CHECK(ids_in(logs.at("fcgi-3")).count(held_id) == 0);
  // Every GET succeeded: those the dead worker held were retried elsewhere.
  CHECK(count_status(get_samples, 200) == get_samples.size());

  std::map<std::string, int> ids;
  int lines = 0;
  for (const auto &[name, log] : logs)
    count_ids(log, ids, lines);
  INFO("POST lines in the workers' logs: " << lines << ", distinct ids: " << ids.size());
  std::string twice;
  for (const auto &[id, n] : ids)
    if (n > 1)
      twice += id + "x" + std::to_string(n) + " ";
  INFO("ids run more than once: " << (twice.empty() ? "none" : twice));
  CHECK(twice.empty());

  const auto on_others = [&, w1_ids = ids_in(logs.at("fcgi-1")),
                          w3_ids = ids_in(logs.at("fcgi-3"))](const std::string &id) {
    return w1_ids.count(id) + w3_ids.count(id);
  };
  for (const auto &s : samples) {
    const std::string id = std::to_string(s.n);
    INFO("POST #" << s.n << " -> " << s.status << " from " << s.worker << " body '" << s.body
                  << "' error '" << s.error << "'");
    CHECK((s.status == 200 || s.status == 502));
    if (s.status == 200) {
      // Answered by the application: it ran exactly once, with the whole body.
      CHECK(ids[id] == 1);
      CHECK(s.body == std::to_string(posts.body(s.n).size()) + "\n");
    } else if (s.status == 502) {
      // The dead worker's (it may have died before reading one): never
      // run by another.
      CHECK(on_others(id) == 0);
      CHECK(ids[id] <= 1);
    }
  }
}

// POSTs are not sent on an idle kept-alive connection until the worker has
// proven that it keeps connections (README), so each opens a new one. A
// connection that is never reused must not be kept idle either: libfcgi (and
// any thread-per-connection worker) spends a thread on each connection held
// open, and a worker whose threads all sit on idle connections answers
// nothing new. POST-only traffic at low concurrency (6 clients, 20 ms each)
// to three workers with libfcgi's default 16 threads must go on working,
// with nobody evicted. (When written, it failed: every POST's connection was
// parked idle, up to max_idle_conns per loop thread, never reused; the
// workers' threads ran out and fcgimux evicted all three: 503s.)
TEST_CASE("health: POST-only traffic does not exhaust a thread-per-connection worker with idle "
          "connections",
          "[e2e][health][libfcgi]") {
  HEALTH_REQUIRE_LIBFCGI();
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "fcgi-1", 16);
  Worker w2 = spawn_libfcgi(dir, "fcgi-2", 16);
  Worker w3 = spawn_libfcgi(dir, "fcgi-3", 16);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2") + route_toml("/", "p") +
                                      pool_toml("p", {&w1, &w2, &w3}, pool_settings()));
  LoadOptions opts;
  opts.threads = 6;
  opts.max_requests = 600;
  opts.max_time = 10s;
  opts.pause = 5ms;
  opts.method = "POST";
  opts.target = [](int n) { return "/upload?ms=20&id=" + std::to_string(n); };
  opts.body = [](int n) { return "post " + std::to_string(n); };
  Load load(gw.port, opts);
  REQUIRE(load.wait_finished(30s));
  load.stop();
  const auto samples = load.samples();
  INFO("health events:\n" << health_events(gw.child));
  INFO("by worker: " << by_worker(samples));
  INFO(describe_samples(samples));
  CHECK(count_status(samples, 200) == samples.size());
  CHECK(log_lines(gw.child, "event=worker_evicted").empty());
}
