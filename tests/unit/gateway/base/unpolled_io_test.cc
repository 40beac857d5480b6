#include "gateway/base/unpolled_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace fcgimux;

// A loop that is late: the connect completes and the peer writes while the
// loop does not run, as when a starved loop wakes with timers due.
TEST_CASE("unpolled I/O: a finished connect and waiting bytes are seen before the loop polls", "[unpolled-io]") {
  const int server = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(server >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(server, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(server, reinterpret_cast<sockaddr*>(&addr), &len) == 0);

  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t tcp;
  uv_tcp_init(&loop, &tcp);
  uv_connect_t req;
  bool connected_cb = false;
  req.data = &connected_cb;
  REQUIRE(uv_tcp_connect(&req, &tcp, reinterpret_cast<const sockaddr*>(&addr),
                         [](uv_connect_t* r, int status) { *static_cast<bool*>(r->data) = status == 0; }) == 0);

  // The kernel completes a loopback connect by itself; the loop has not run.
  bool connect_seen = false;
  for (int i = 0; i < 200 && !connect_seen; ++i) {
    connect_seen = has_unpolled_io(tcp, AwaitedIo::Connect);
    if (!connect_seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(connect_seen);
  CHECK_FALSE(connected_cb);

  const int peer = ::accept(server, nullptr, nullptr);
  REQUIRE(peer >= 0);
  CHECK_FALSE(has_unpolled_io(tcp, AwaitedIo::Read));  // nothing sent yet
  REQUIRE(::write(peer, "x", 1) == 1);
  bool read_seen = false;
  for (int i = 0; i < 200 && !read_seen; ++i) {
    read_seen = has_unpolled_io(tcp, AwaitedIo::Read);
    if (!read_seen) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(read_seen);

  uv_run(&loop, UV_RUN_NOWAIT);  // the poll delivers the connect
  CHECK(connected_cb);

  uv_close(reinterpret_cast<uv_handle_t*>(&tcp), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  ::close(peer);
  ::close(server);
}
