// Both ways fcgimux hands bytes to the kernel carry the same traffic intact:
// io_uring = true (each loop iteration's writes in one io_uring_enter, the
// rest queued in libuv when a socket is full; on a kernel without io_uring
// this is the write(2) path too) and io_uring = false (one write per
// connection and flush). Many keep-alive clients at once, so that one
// iteration writes to many sockets; a large download and a large upload, so
// that sockets fill and the kernel takes only part of a send.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

using namespace e2e;

TEST_CASE("write path: concurrent keep-alive requests, a 20 MiB download and a 10 MB upload are intact",
          "[e2e][write-path]") {
  const std::string io_uring = GENERATE("true", "false");
  INFO("io_uring = " << io_uring);
  TempDir dir;
  Worker w1 = spawn_libfcgi(dir, "libfcgi-1", 32);
  Worker w2 = spawn_libfcgi(dir, "libfcgi-2", 32);
  Gateway gw = spawn_fcgimux(dir, server_toml("threads = 2\nio_uring = " + io_uring) + route_toml("/", "w") +
                                      pool_toml("w", {&w1, &w2}));

  // 16 clients × 150 requests on their own keep-alive connections.
  constexpr int kClients = 16, kRequests = 150;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      try {
        HttpClient c(gw.port, 30s);
        for (int n = 0; n < kRequests; ++n) {
          Response r = c.request("GET", "/hello?client=" + std::to_string(i));
          if (r.status == 200 && r.body == "Hello from libfcgi\n") ++ok;
          else if (failures[i].empty()) failures[i] = std::to_string(r.status) + " " + r.body;
        }
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const std::string& f : failures) CHECK(f == "");
  CHECK(ok == kClients * kRequests);

  // A download larger than any socket buffer: sends the kernel takes only
  // part of, the rest queued until the client reads.
  constexpr size_t kDownload = 20 * 1024 * 1024;
  HttpClient c(gw.port, 60s);
  Response big = c.request("GET", "/bytes?n=" + std::to_string(kDownload));
  REQUIRE(big.status == 200);
  REQUIRE(big.body.size() == kDownload);
  size_t wrong = 0;
  for (size_t i = 0; i < kDownload; i += 4099) wrong += big.body[i] != char('a' + (i % 65536) % 26);
  CHECK(wrong == 0);

  // An upload larger than the worker's socket buffer, on the same connection.
  const std::string upload(10 * 1000 * 1000, 'u');
  Response up = c.request("POST", "/upload", {{"Content-Type", "application/octet-stream"}}, upload);
  CHECK(up.status == 200);
  CHECK(up.body == std::to_string(upload.size()) + "\n");

  // Still good for a plain request afterwards.
  CHECK(c.request("GET", "/hello").body == "Hello from libfcgi\n");
  const std::string log = gw.child.log_text();
  CHECK(log.find("event=io_uring_off") == std::string::npos);  // never failed mid-run
  if (io_uring == "false") CHECK(log.find("io_uring_unavailable") == std::string::npos);
}
