#include "gateway/base/ring_reads.h"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

using namespace fcgimux;

namespace {

// One end of a socket pair as a libuv stream (never run: RingReads only
// needs its fd and passes it to the callback), the other end ours to write.
struct Socket {
  uv_pipe_t pipe{};
  int peer = -1;
  std::string got;   // what the read callback was given, in order
  int ended = 0;     // UV_EOF or an error, once
  int calls = 0;
  ReadSlot slot;
  explicit Socket(uv_loop_t* loop) {
    int fd[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0);
    REQUIRE(uv_pipe_init(loop, &pipe, 0) == 0);
    REQUIRE(uv_pipe_open(&pipe, fd[0]) == 0);
    pipe.data = this;
    peer = fd[1];
  }
  ~Socket() {
    if (peer >= 0) ::close(peer);
  }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }
  void send(const std::string& s) { REQUIRE(::write(peer, s.data(), s.size()) == ssize_t(s.size())); }
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Socket*>(s->data);
    ++self->calls;
    if (nread > 0) self->got.append(buf->base, size_t(nread));
    else if (nread < 0) {
      CHECK(self->ended == 0);  // an end is told once
      self->ended = int(nread);
    }
  }
  // For libuv's reads, once a stopped socket has moved to them.
  static void alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    static char bytes[65536];
    *buf = uv_buf_init(bytes, sizeof bytes);
  }
};

struct Harness {
  uv_loop_t loop{};
  std::unique_ptr<IoRing> ring;
  std::unique_ptr<RingReads> reads;
  std::vector<std::unique_ptr<Socket>> sockets;
  Harness() {
    uv_loop_init(&loop);
    std::string why_not, why_no_recv;
    ring = IoRing::open(why_not, why_no_recv);
    if (!ring || !ring->can_receive()) {
      WARN("no io_uring receives here (" << why_not << why_no_recv << "): fcgimux reads through libuv");
      ring.reset();
      return;
    }
    reads = std::make_unique<RingReads>(*ring);
  }
  ~Harness() {
    reads.reset();
    ring.reset();
    for (auto& s : sockets) uv_close(reinterpret_cast<uv_handle_t*>(&s->pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  Socket& add() { return *sockets.emplace_back(std::make_unique<Socket>(&loop)); }
  void start(Socket& s) { reads->start(s.stream(), s.slot, &Socket::alloc, &Socket::on_read); }
  // What LoopThread::run_ring does, without the sends: queue, enter, hand out.
  void pump() {
    reads->deliver_kept();
    reads->queue_into_ring();
    std::vector<std::tuple<uint64_t, int32_t, uint32_t>> got;
    ring->run([&](uint64_t tag, int32_t res, uint32_t flags) {
      if (RingReads::is_recv(tag)) got.emplace_back(tag, res, flags);
      else CHECK(tag == RingReads::kCancelTag);
    });
    for (auto [tag, res, flags] : got) reads->deliver(tag, res, flags);
    uv_run(&loop, UV_RUN_NOWAIT);  // libuv's reads, for sockets moved to them
  }
  void pump_until(const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i) {
      pump();
      if (!done()) usleep(1000);
    }
    REQUIRE(done());
  }
};

}  // namespace

TEST_CASE("ring reads: bytes reach the read callback in order, then the end of the stream once", "[ring-reads]") {
  Harness h;
  if (!h.ring) return;
  Socket& s = h.add();
  h.start(s);
  h.pump();  // armed
  CHECK(h.reads->registered() == 1);
  s.send("GET / HTTP/1.1\r\n");
  h.pump_until([&] { return s.got.size() == 16; });
  s.send("Host: x\r\n\r\n");
  const std::string big(100000, 'b');  // more than one buffer of IoRing::kRecvBufferSize
  s.send(big);
  ::shutdown(s.peer, SHUT_WR);
  h.pump_until([&] { return s.ended != 0; });
  CHECK(s.got == "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + big);
  CHECK(s.ended == UV_EOF);
  h.reads->release(s.slot);
  CHECK(h.reads->registered() == 0);
}

TEST_CASE("ring reads: bytes received while stopped are kept and come first; then the socket reads through libuv",
          "[ring-reads]") {
  Harness h;
  if (!h.ring) return;
  Socket& s = h.add();
  h.start(s);
  h.pump();
  s.send("one|");
  h.pump_until([&] { return s.got == "one|"; });
  // Data already taken by the kernel's receive when the stop (a cancel) is
  // submitted must not be lost.
  s.send("two|");
  h.reads->stop(s.slot);
  h.pump();
  h.pump();
  const int calls = s.calls;
  s.send("three|");  // stays in the socket: nothing is armed
  h.pump();
  CHECK(s.calls == calls);
  CHECK(s.got == "one|");
  CHECK_FALSE(s.slot.libuv);
  h.start(s);
  s.send("four");
  h.pump_until([&] { return s.got.size() == std::string("one|two|three|four").size(); });
  CHECK(s.got == "one|two|three|four");
  CHECK(s.ended == 0);
  // Stopped once (a body with backpressure): libuv reads it from now on,
  // and the ring holds nothing for it.
  CHECK(s.slot.libuv);
  CHECK(s.slot.index == ReadSlot::kNone);
  CHECK(h.reads->registered() == 0);
  s.send("|five");
  h.pump_until([&] { return s.got == "one|two|three|four|five"; });
  uv_read_stop(s.stream());
}

TEST_CASE("ring reads: a released socket gets nothing more, and its slot serves the next one", "[ring-reads]") {
  Harness h;
  if (!h.ring) return;
  Socket& a = h.add();
  h.start(a);
  h.pump();
  a.send("for a, after its owner let go");
  h.reads->release(a.slot);  // as HttpConnection::close() before uv_close
  Socket& b = h.add();
  h.start(b);  // takes a's slot: a's late completions must not reach b
  CHECK(b.slot.index == 0);
  b.send("for b");
  h.pump_until([&] { return b.got == "for b"; });
  h.pump();
  CHECK(a.calls == 0);
  CHECK(b.got == "for b");
  h.reads->release(b.slot);
}

TEST_CASE("ring reads: more sockets with data than receive buffers: every one is served", "[ring-reads]") {
  Harness h;
  if (!h.ring) return;
  const size_t n = IoRing::kRecvBuffers + 16;
  std::vector<Socket*> all;
  for (size_t i = 0; i < n; ++i) {
    all.push_back(&h.add());
    h.start(*all.back());
  }
  h.pump();
  // Every socket's data arrives before the loop looks: the buffers run out
  // (-ENOBUFS ends those receives) and the ones without are armed again.
  for (size_t i = 0; i < n; ++i) all[i]->send(std::string(2000, char('a' + i % 26)));
  h.pump_until([&] {
    for (Socket* s : all)
      if (s->got.size() != 2000) return false;
    return true;
  });
  for (size_t i = 0; i < n; ++i) CHECK(all[i]->got == std::string(2000, char('a' + i % 26)));
  for (Socket* s : all) h.reads->release(s->slot);
}
