// Hostile workers (issue #6): fault_worker breaks the FastCGI protocol in
// one way per test. For each, fcgimux must give the client the exact status
// (502, 504, or a truncated close once the response head has gone out), log
// a line naming the worker and the fault, stay up, and keep serving a
// healthy pool while the broken request is pending.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <thread>

#include "harness.h"

using namespace e2e;

namespace {

// What a client got: a complete response, or why there was none.
struct Outcome {
  int status = 0; // 0: no complete response (see error)
  std::string body;
  std::string error;
};

Outcome get_outcome(int port, const std::string &target, Duration timeout) {
  Outcome out;
  try {
    HttpClient c(port, timeout);
    c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    Response r = c.read_response();
    out.status = r.status;
    out.body = r.body;
  } catch (const std::exception &e) {
    out.error = e.what();
  }
  return out;
}

// fcgimux with two pools: "bad" (route "/") is one fault_worker in |mode|,
// "good" (route "/good/") a well-behaved one named "good".
struct HostileSite {
  TempDir dir;
  Worker bad;
  Worker good;
  Gateway gw;
  HostileSite(const std::string &mode, const std::vector<std::string> &args,
              const std::string &bad_pool, const std::string &server = "")
      : bad(spawn_fault_worker(dir, mode, args)),
        good(spawn_fault_worker(dir, "--ok", {"--name", "good"})),
        gw(spawn_fcgimux(dir, server_toml(server) + route_toml("/", "bad") +
                                  route_toml("/good/", "good") +
                                  pool_toml("bad", {&bad}, "retry = \"never\"\n" + bad_pool) +
                                  pool_toml("good", {&good}))) {}

  // Sends GET |target| to the bad pool; while it is pending (once the bad
  // worker has read it, when |worker_reads|), a request to the good pool
  // must succeed. Returns what the bad request got.
  Outcome fault_request(const std::string &target, bool worker_reads = true,
                        Duration timeout = 20000ms) {
    Outcome out;
    std::thread t([&] { out = get_outcome(gw.port, target, timeout); });
    const bool reached =
        !worker_reads ||
        eventually([&] { return !log_lines(bad.child, "uri=" + target + " ").empty(); }, 10000ms);
    Response ok = http_get(gw.port, "/good/concurrent");
    t.join();
    CHECK(reached);
    CHECK(ok.status == 200);
    CHECK(ok.header("x-worker") == "good");
    return out;
  }

  // fcgimux is still running and serving.
  void check_alive() {
    CHECK(gw.child.running());
    Response r = http_get(gw.port, "/good/after");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
  }

  // The line of fcgimux's log with |event| naming the bad worker.
  std::string fault_line(const std::string &event, Duration timeout = 5000ms) {
    return wait_log_line(gw.child, {"event=" + event, "worker=" + bad.address()}, timeout);
  }
};

} // namespace

TEST_CASE("hostile worker: garbage bytes instead of records -> 502", "[e2e][hostile][worker]") {
  HostileSite site("--garbage", {"--delay-ms", "300"}, "response_timeout = \"10s\"");
  Outcome o = site.fault_request("/garbage");
  INFO(o.error);
  CHECK(o.status == 502);
  CHECK_FALSE(site.fault_line("worker_protocol_error").empty());
  CHECK_FALSE(site.fault_line("worker_request_failed").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: a record announced but never fully sent -> 504 at response_timeout",
          "[e2e][hostile][worker]") {
  HostileSite site("--stalled-record", {"--delay-ms", "300"},
                   "response_timeout = \"1s\"\nsuspect_after = \"1s\"");
  Outcome o = site.fault_request("/stalled-record");
  INFO(o.error);
  CHECK(o.status == 504);
  CHECK_FALSE(site.fault_line("worker_response_timeout").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: a truncated record, then close -> 502", "[e2e][hostile][worker]") {
  HostileSite site("--truncated-record", {"--delay-ms", "300"}, "response_timeout = \"10s\"");
  Outcome o = site.fault_request("/truncated");
  INFO(o.error);
  CHECK(o.status == 502);
  const std::string line = site.fault_line("worker_request_failed");
  CHECK(line.find("connection closed mid-request") != std::string::npos);
  site.check_alive();
}

TEST_CASE("hostile worker: a response head that never ends is capped -> 502",
          "[e2e][hostile][worker]") {
  HostileSite site("--endless-head", {"--delay-ms", "300"}, "response_timeout = \"10s\"",
                   "max_response_header_size = \"16KiB\"");
  Outcome o = site.fault_request("/endless-head");
  INFO(o.error);
  CHECK(o.status == 502);
  CHECK_FALSE(site.fault_line("worker_bad_response_head").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: records for a request id never sent -> 502", "[e2e][hostile][worker]") {
  HostileSite site("--wrong-id", {"--delay-ms", "300"}, "response_timeout = \"10s\"");
  Outcome o = site.fault_request("/wrong-id");
  INFO(o.error);
  CHECK(o.status == 502);
  const std::string line = site.fault_line("worker_stray_record");
  CHECK(log_field(line, "type") == "STDOUT");
  site.check_alive();
}

TEST_CASE("hostile worker: STDOUT after END_REQUEST is dropped, the connection closed",
          "[e2e][hostile][worker]") {
  HostileSite site("--stdout-after-end", {"--delay-ms", "300"}, "response_timeout = \"10s\"");
  Outcome o = site.fault_request("/late");
  INFO(o.error);
  CHECK(o.status == 200);
  CHECK(o.body == "ok\n"); // the late bytes never reach a client
  const std::string line = site.fault_line("worker_stray_record");
  CHECK(log_field(line, "type") == "STDOUT");
  // The next request is answered on a fresh connection, again intact.
  Outcome again = get_outcome(site.gw.port, "/late-again", 10s);
  CHECK(again.status == 200);
  CHECK(again.body == "ok\n");
  site.check_alive();
}

TEST_CASE("hostile worker: close in the middle of a record after the head -> truncated close",
          "[e2e][hostile][worker]") {
  HostileSite site("--close-mid-record", {"--delay-ms", "300"}, "response_timeout = \"10s\"");
  Outcome o = site.fault_request("/close-mid-record");
  INFO(o.error);
  // The head (Content-Length: 100000) was already sent: the client must see
  // the connection cut short, never a complete-looking response.
  CHECK(o.status == 0);
  CHECK(o.error.find("connection closed after 10 of 100000") != std::string::npos);
  CHECK_FALSE(site.fault_line("worker_failed_mid_response").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: accepts and never reads -> 504 at response_timeout",
          "[e2e][hostile][worker]") {
  HostileSite site("--no-read", {}, "response_timeout = \"1s\"\nprobe_timeout = \"300ms\"");
  Outcome o = site.fault_request("/no-read", /*worker_reads=*/false);
  INFO(o.error);
  CHECK(o.status == 504);
  CHECK_FALSE(site.fault_line("worker_response_timeout").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: reads and never answers -> 504 at response_timeout",
          "[e2e][hostile][worker]") {
  HostileSite site("--stall", {}, "response_timeout = \"1s\"\nprobe_timeout = \"300ms\"");
  Outcome o = site.fault_request("/stall");
  INFO(o.error);
  CHECK(o.status == 504);
  CHECK_FALSE(site.fault_line("worker_response_timeout").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: one byte per interval, slower than response_timeout -> 504",
          "[e2e][hostile][worker]") {
  HostileSite site("--trickle", {"--delay-ms", "1000"},
                   "response_timeout = \"500ms\"\nsuspect_after = \"500ms\"");
  Outcome o = site.fault_request("/trickle");
  INFO(o.error);
  CHECK(o.status == 504);
  CHECK_FALSE(site.fault_line("worker_response_timeout").empty());
  site.check_alive();
}

TEST_CASE("hostile worker: one byte per interval within response_timeout is a slow success",
          "[e2e][hostile][worker]") {
  HostileSite site("--trickle", {"--delay-ms", "20"},
                   "response_timeout = \"2s\"\nsuspect_after = \"2s\"");
  Outcome o = site.fault_request("/trickle-ok");
  INFO(o.error);
  CHECK(o.status == 200);
  CHECK(o.body == "ok\n");
  site.check_alive();
}

TEST_CASE("hostile worker: a response of endless length streams with bounded memory",
          "[e2e][hostile][worker]") {
  HostileSite site("--endless-body", {}, "response_timeout = \"10s\"");
  const long rss_before = rss_kib(site.gw.child.pid());
  auto client = std::make_unique<HttpClient>(site.gw.port, 20s);
  HttpClient &c = *client;
  c.send("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n");
  // Read 64 MiB of it, in slow bursts: fcgimux's memory must not follow.
  const size_t want = size_t(64) << 20;
  size_t got = 0;
  long rss_max = rss_before;
  char buf[65536];
  while (got < want) {
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    REQUIRE(n > 0);
    got += size_t(n);
    if (got % (size_t(8) << 20) < size_t(n)) {
      rss_max = std::max(rss_max, rss_kib(site.gw.child.pid()));
      std::this_thread::sleep_for(100ms); // a slow reader: fcgimux must pause the worker
    }
  }
  // What the worker sent and the client has not read yet sits in socket
  // buffers and fcgimux's capped output queue: a few MiB, whatever the
  // allocator does with freed memory.
  const size_t sent_mib = log_lines(site.bad.child, "event=sent").size();
  INFO("fcgimux VmRSS before " << rss_before << " KiB, max while streaming " << rss_max
                               << " KiB; worker sent " << sent_mib << " MiB, client read 64 MiB");
  CHECK(sent_mib < 64 + 48);
  // (Under AddressSanitizer freed memory stays resident in its quarantine:
  // scripts/test.sh caps that with ASAN_OPTIONS=quarantine_size_mb=8.)
  CHECK(rss_max - rss_before < 32 * 1024);
  client.reset(); // gone, with unread bytes: a reset
  // The client went away: logged against the worker, and fcgimux serves on.
  CHECK_FALSE(
      wait_log_line(site.gw.child, {"event=access", "worker=" + site.bad.address(), "client_closed"},
                    5s)
          .empty());
  site.check_alive();
}
