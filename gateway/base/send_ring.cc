#include "gateway/base/send_ring.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

// Raw system calls, not liburing: a submission ring of plain sends needs a
// few dozen lines, not another library.

namespace fcgimux {

struct SendRing::Rings {
  void* ring = MAP_FAILED;  // submission and completion rings (one mapping)
  size_t ring_size = 0;
  io_uring_sqe* sqes = static_cast<io_uring_sqe*>(MAP_FAILED);
  size_t sqes_size = 0;
  unsigned* sq_tail = nullptr;
  unsigned sq_mask = 0;
  unsigned* sq_array = nullptr;
  unsigned* cq_head = nullptr;
  unsigned* cq_tail = nullptr;
  unsigned cq_mask = 0;
  io_uring_cqe* cqes = nullptr;
};

SendRing::SendRing() : rings_(std::make_unique<Rings>()) {}

SendRing::~SendRing() {
  if (rings_->sqes != MAP_FAILED) munmap(rings_->sqes, rings_->sqes_size);
  if (rings_->ring != MAP_FAILED) munmap(rings_->ring, rings_->ring_size);
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<SendRing> SendRing::open(std::string& why_not) {
  std::unique_ptr<SendRing> r{new SendRing};
  io_uring_params p{};
  // SUBMIT_ALL (5.18): a send refused at submission (a bad fd) does not
  // leave the ones after it in the ring, which submit() relies on. Only this
  // thread submits, and completions need no interrupt of it (they all arrive
  // inside io_uring_enter): SINGLE_ISSUER and COOP_TASKRUN (6.0), when the
  // kernel has them.
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  r->fd_ = int(syscall(__NR_io_uring_setup, kEntries, &p));
  if (r->fd_ < 0 && errno == EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_SUBMIT_ALL;
    r->fd_ = int(syscall(__NR_io_uring_setup, kEntries, &p));
  }
  if (r->fd_ < 0) {
    why_not = fmt::format("io_uring_setup: {}", std::strerror(errno));
    return nullptr;
  }
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {  // kernels before 5.4
    why_not = "io_uring without IORING_FEAT_SINGLE_MMAP";
    return nullptr;
  }
  Rings& g = *r->rings_;
  g.ring_size = std::max<size_t>(p.sq_off.array + p.sq_entries * sizeof(unsigned),
                                 p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe));
  g.ring = mmap(nullptr, g.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd_, IORING_OFF_SQ_RING);
  g.sqes_size = p.sq_entries * sizeof(io_uring_sqe);
  g.sqes = static_cast<io_uring_sqe*>(
      mmap(nullptr, g.sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd_, IORING_OFF_SQES));
  if (g.ring == MAP_FAILED || g.sqes == MAP_FAILED) {
    why_not = fmt::format("io_uring mmap: {}", std::strerror(errno));
    return nullptr;
  }
  char* base = static_cast<char*>(g.ring);
  g.sq_tail = reinterpret_cast<unsigned*>(base + p.sq_off.tail);
  g.sq_mask = *reinterpret_cast<unsigned*>(base + p.sq_off.ring_mask);
  g.sq_array = reinterpret_cast<unsigned*>(base + p.sq_off.array);
  g.cq_head = reinterpret_cast<unsigned*>(base + p.cq_off.head);
  g.cq_tail = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
  g.cq_mask = *reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
  g.cqes = reinterpret_cast<io_uring_cqe*>(base + p.cq_off.cqes);
  return r;
}

io_uring_sqe* SendRing::next_sqe() {
  Rings& g = *rings_;
  // Only this thread touches the tail; the kernel reads it in io_uring_enter.
  const unsigned slot = (*g.sq_tail + unsigned(queued_)) & g.sq_mask;
  io_uring_sqe* sqe = &g.sqes[slot];
  std::memset(sqe, 0, sizeof *sqe);
  g.sq_array[slot] = slot;
  return sqe;
}

bool SendRing::queue(int fd, std::span<const iovec> iov, uint64_t tag) {
  if (queued_ == kEntries || iov.size() > IOV_MAX) return false;
  msghdr& msg = msgs_[queued_];
  msg = msghdr{};
  msg.msg_iov = const_cast<iovec*>(iov.data());
  msg.msg_iovlen = iov.size();
  io_uring_sqe& sqe = *next_sqe();
  sqe.opcode = IORING_OP_SENDMSG;
  sqe.fd = fd;
  sqe.addr = reinterpret_cast<uint64_t>(&msg);
  sqe.len = 1;
  sqe.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;  // as below
  sqe.user_data = tag;
  tags_[queued_++] = tag;
  return true;
}

bool SendRing::queue(int fd, std::span<const char> bytes, uint64_t tag) {
  if (queued_ == kEntries) return false;
  io_uring_sqe& sqe = *next_sqe();
  sqe.opcode = IORING_OP_SEND;
  sqe.fd = fd;
  sqe.addr = reinterpret_cast<uint64_t>(bytes.data());
  sqe.len = unsigned(bytes.size());
  // MSG_DONTWAIT: take what fits now and complete, never wait for room
  // (io_uring then does not retry in the background). MSG_NOSIGNAL: a
  // closed peer is an EPIPE result, not a signal.
  sqe.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
  sqe.user_data = tag;
  tags_[queued_++] = tag;
  return true;
}

size_t SendRing::enter(unsigned n) {
  if (broken_) return 0;
  Rings& g = *rings_;
  __atomic_store_n(g.sq_tail, *g.sq_tail + n, __ATOMIC_RELEASE);
  // GETEVENTS with min_complete = n: every send completes inside this call
  // (MSG_DONTWAIT), so this never waits for a socket; it makes sure all n
  // results are in the completion ring when the call returns. EINTR comes
  // only when nothing was submitted.
  long rc;
  do rc = syscall(__NR_io_uring_enter, fd_, n, n, IORING_ENTER_GETEVENTS, nullptr, 0);
  while (rc < 0 && errno == EINTR);
  if (rc == long(n)) return n;
  // Nothing of this should happen (SUBMIT_ALL takes every entry); if it
  // does, what was not taken must never be sent later with stale buffers:
  // the ring is not used again.
  broken_ = true;
  error_ = rc < 0 ? fmt::format("io_uring_enter: {}", std::strerror(errno))
                  : fmt::format("io_uring_enter took {} of {} sends", rc, n);
  return rc < 0 ? 0 : size_t(rc);
}

bool SendRing::next_completion(uint64_t& tag, int32_t& result) {
  Rings& g = *rings_;
  const unsigned head = *g.cq_head;
  if (head == __atomic_load_n(g.cq_tail, __ATOMIC_ACQUIRE)) return false;
  const io_uring_cqe& cqe = g.cqes[head & g.cq_mask];
  tag = cqe.user_data;
  result = cqe.res;
  __atomic_store_n(g.cq_head, head + 1, __ATOMIC_RELEASE);
  return true;
}

}  // namespace fcgimux
