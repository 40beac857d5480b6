// The command-line contract: --version, --check with FILE:LINE:COL, and a
// graceful exit 0 on SIGTERM/SIGINT that lets in-flight requests finish.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "harness.h"

using namespace e2e;

namespace {
// Runs fcgimux with |args| to completion; returns (exit status, output).
std::pair<int, std::string> run_fcgimux(const TempDir &dir, const std::vector<std::string> &args) {
  static int n = 0;
  std::vector<std::string> argv = {fcgimux_bin().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c = Child::spawn(argv, dir / ("run-" + std::to_string(++n) + ".log"));
  const auto status = c.wait_exit(10s);
  REQUIRE(status);
  return {*status, c.log_text()};
}

void write(const fs::path &p, const std::string &text) { std::ofstream(p) << text; }
} // namespace

TEST_CASE("lifecycle: --version prints a version and exits 0", "[e2e][lifecycle]") {
  TempDir dir;
  auto [status, out] = run_fcgimux(dir, {"--version"});
  CHECK(status == 0);
  CHECK(out.find("fcgimux") != std::string::npos);
}

TEST_CASE("lifecycle: --check names each problem as FILE:LINE:COL and exits 1",
          "[e2e][lifecycle]") {
  TempDir dir;
  const fs::path bad = dir / "bad.toml";
  write(bad, "[server]\n"
             "listen = [\"127.0.0.1:0\"]\n"
             "header_timeout = \"soon\"\n"
             "\n"
             "[pools.p]\n"
             "workers = [\"127.0.0.1:1\"]\n"
             "respons_timeout = \"1s\"\n");
  auto [status, out] = run_fcgimux(dir, {"--check", "-c", bad.string()});
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find(bad.string() + ":3:") != std::string::npos);  // header_timeout's value
  CHECK(out.find(bad.string() + ":7:1") != std::string::npos); // the unknown key
  CHECK(out.find("response_timeout") != std::string::npos);    // the suggestion

  const fs::path good = dir / "good.toml";
  write(good, server_toml() + route_toml("/", "p") + pool_toml_ports("p", {1}));
  auto [ok_status, ok_out] = run_fcgimux(dir, {"--check", "-c", good.string()});
  INFO(ok_out);
  CHECK(ok_status == 0);
}

TEST_CASE("lifecycle: SIGTERM lets an in-flight request finish and exits 0", "[e2e][lifecycle]") {
  TempDir dir;
  Worker slow = spawn_fault_worker(dir, "--ok", {"--delay-ms", "800"});
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "p") + pool_toml("p", {&slow}));
  HttpClient c(gw.port, 10s);
  c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(eventually([&] { return !log_lines(slow.child, "uri=/slow").empty(); }));
  REQUIRE(::kill(gw.child.pid(), SIGTERM) == 0);
  Response r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
  CHECK(gw.child.wait_exit(15s) == 0);
}

TEST_CASE("lifecycle: SIGINT exits 0 too", "[e2e][lifecycle]") {
  TempDir dir;
  Worker ok = spawn_fault_worker(dir, "--ok");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/", "p") + pool_toml("p", {&ok}));
  CHECK(http_get(gw.port, "/").status == 200);
  CHECK(gw.child.stop(15000ms, SIGINT) == 0);
}
