#include "gateway/base/io_ring.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <map>
#include <string>
#include <vector>

using namespace fcgimux;

namespace {

// A connected pair of non-blocking stream sockets (the ring sends on [0]).
struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0);
  }
  ~SocketPair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  std::string read_all() {
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd[1], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
  }
};

// Opens a ring, or explains why this kernel has none: then the test can
// only check that the refusal is explained (fcgimux falls back to write(2)).
std::unique_ptr<IoRing> open_or_explain() {
  std::string why_not, why_no_recv;
  auto ring = IoRing::open(why_not, why_no_recv);
  if (!ring) {
    CHECK_FALSE(why_not.empty());
    WARN("no io_uring on this kernel (" << why_not << "): only the fallback's contract is checked");
  }
  return ring;
}

}  // namespace

TEST_CASE("io ring: the sends of many sockets leave in one submit, each with its own result", "[io-ring]") {
  auto ring = open_or_explain();
  if (!ring) return;
  SocketPair a, b, c;
  const std::string one = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
  const std::string two(3000, 'x');
  const std::string head = "first|", tail = "|second";
  const iovec gathered[] = {{const_cast<char*>(head.data()), head.size()},
                            {const_cast<char*>(tail.data()), tail.size()}};
  REQUIRE(ring->queue(a.fd[0], std::span<const char>(one), 1));
  REQUIRE(ring->queue(b.fd[0], std::span<const char>(two), 2));
  REQUIRE(ring->queue(c.fd[0], std::span<const iovec>(gathered), 3));
  CHECK(ring->queued() == 3);

  std::map<uint64_t, int32_t> results;
  ring->run([&](uint64_t tag, int32_t result, uint32_t) { CHECK(results.emplace(tag, result).second); });
  CHECK(ring->queued() == 0);
  CHECK(results == std::map<uint64_t, int32_t>{{1, int32_t(one.size())}, {2, int32_t(two.size())},
                                                {3, int32_t(head.size() + tail.size())}});
  CHECK(a.read_all() == one);
  CHECK(b.read_all() == two);
  CHECK(c.read_all() == "first||second");  // the iovecs in order
  CHECK_FALSE(ring->broken());
}

TEST_CASE("io ring: a full socket is -EAGAIN at once, never a send left waiting in the kernel", "[io-ring]") {
  auto ring = open_or_explain();
  if (!ring) return;
  SocketPair full, other;
  const std::string chunk(65536, 'f');
  while (::write(full.fd[0], chunk.data(), chunk.size()) > 0) {
  }
  REQUIRE(errno == EAGAIN);
  const std::string more = "more";
  REQUIRE(ring->queue(full.fd[0], std::span<const char>(more), 7));
  REQUIRE(ring->queue(other.fd[0], std::span<const char>(more), 8));
  std::map<uint64_t, int32_t> results;
  ring->run([&](uint64_t tag, int32_t result, uint32_t) { results[tag] = result; });
  CHECK(results == std::map<uint64_t, int32_t>{{7, -EAGAIN}, {8, 4}});

  // Draining the full socket later delivers only what was written with
  // write(2): the refused send did not go out behind the caller's back.
  size_t drained = 0;
  char buf[65536];
  for (ssize_t n; (n = ::read(full.fd[1], buf, sizeof buf)) > 0;) {
    drained += size_t(n);
    CHECK(std::string_view(buf, size_t(n)).find('m') == std::string_view::npos);
  }
  CHECK(drained > 0);
  CHECK(other.read_all() == "more");
}

TEST_CASE("io ring: a peer that has gone is an error result, not a signal", "[io-ring]") {
  auto ring = open_or_explain();
  if (!ring) return;
  SocketPair gone;
  ::close(gone.fd[1]);
  gone.fd[1] = -1;
  const std::string bytes = "late";
  REQUIRE(ring->queue(gone.fd[0], std::span<const char>(bytes), 5));
  int32_t result = 0;
  ring->run([&](uint64_t, int32_t r, uint32_t) { result = r; });  // SIGPIPE would end the test binary
  CHECK((result == -EPIPE || result == -ECONNRESET));
  CHECK_FALSE(ring->broken());
}

TEST_CASE("io ring: a bad descriptor fails its own send only", "[io-ring]") {
  auto ring = open_or_explain();
  if (!ring) return;
  SocketPair good;
  const std::string bytes = "fine";
  REQUIRE(ring->queue(-1, std::span<const char>(bytes), 1));
  REQUIRE(ring->queue(good.fd[0], std::span<const char>(bytes), 2));
  std::map<uint64_t, int32_t> results;
  ring->run([&](uint64_t tag, int32_t result, uint32_t) { results[tag] = result; });
  CHECK(results == std::map<uint64_t, int32_t>{{1, -EBADF}, {2, 4}});
  CHECK(good.read_all() == "fine");
  CHECK_FALSE(ring->broken());
}

TEST_CASE("io ring: queue() says when the ring is full, and a submit makes room", "[io-ring]") {
  auto ring = open_or_explain();
  if (!ring) return;
  SocketPair p;
  const std::string byte = "b";
  for (unsigned i = 0; i < IoRing::kEntries; ++i) REQUIRE(ring->queue(p.fd[0], std::span<const char>(byte), i));
  CHECK_FALSE(ring->queue(p.fd[0], std::span<const char>(byte), 999));
  size_t results = 0, bytes = 0;
  ring->run([&](uint64_t, int32_t r, uint32_t) {
    ++results;
    if (r > 0) bytes += size_t(r);
  });
  CHECK(results == IoRing::kEntries);
  CHECK(bytes == IoRing::kEntries);
  CHECK(p.read_all() == std::string(IoRing::kEntries, 'b'));
  // Many rounds: the rings wrap around. (Read after each: a one-byte send
  // costs an AF_UNIX socket a whole buffer's worth of its send budget.)
  for (int round = 0; round < 20; ++round) {
    for (unsigned i = 0; i < 100; ++i) REQUIRE(ring->queue(p.fd[0], std::span<const char>(byte), i));
    size_t n = 0;
    ring->run([&](uint64_t, int32_t r, uint32_t) { n += r == 1; });
    CHECK(n == 100);
    CHECK(p.read_all().size() == 100);
  }
}
