#include "gateway/base/io_ring.h"

#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

// Raw system calls, not liburing: plain sends and multishot receives need a
// few dozen lines, not another library.

namespace fcgimux {

struct IoRing::Rings {
  void* ring = MAP_FAILED;  // submission and completion rings (one mapping)
  size_t ring_size = 0;
  io_uring_sqe* sqes = static_cast<io_uring_sqe*>(MAP_FAILED);
  size_t sqes_size = 0;
  unsigned* sq_tail = nullptr;
  unsigned sq_mask = 0;
  unsigned* sq_array = nullptr;
  unsigned* sq_flags = nullptr;
  unsigned* cq_head = nullptr;
  unsigned* cq_tail = nullptr;
  unsigned cq_mask = 0;
  io_uring_cqe* cqes = nullptr;
  unsigned* cq_flags = nullptr;
  // The receive buffers and the ring through which they are handed to the
  // kernel (one page-aligned mapping each).
  io_uring_buf_ring* buf_ring = static_cast<io_uring_buf_ring*>(MAP_FAILED);
  size_t buf_ring_size = 0;
  char* buffers = static_cast<char*>(MAP_FAILED);
  size_t buffers_size = 0;
  uint16_t buf_tail = 0;  // ours to advance; the kernel reads it
  // Not buf_ring->bufs[i]: in C++ the header's flexible array sits after an
  // empty struct of size 1, 8 bytes off where the kernel reads the entries.
  io_uring_buf& buf_entry(unsigned i) { return reinterpret_cast<io_uring_buf*>(buf_ring)[i]; }
};

IoRing::IoRing() : rings_(std::make_unique<Rings>()) {}

IoRing::~IoRing() {
  if (rings_->sqes != MAP_FAILED) munmap(rings_->sqes, rings_->sqes_size);
  if (rings_->ring != MAP_FAILED) munmap(rings_->ring, rings_->ring_size);
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<IoRing> IoRing::open(std::string& why_not, std::string& why_no_recv) {
  std::unique_ptr<IoRing> r{new IoRing};
  io_uring_params p{};
  // SUBMIT_ALL (5.18): an entry refused at submission (a bad fd) does not
  // leave the ones after it in the ring, which run() relies on. Only this
  // thread submits: SINGLE_ISSUER (6.0). COOP_TASKRUN (5.19): a receive's
  // task work waits for this thread's next entry into the kernel instead of
  // interrupting it in user space (a sleeping thread is still woken);
  // TASKRUN_FLAG tells us when such work waits (has_news()). CQSIZE: room
  // for the completions of many receives between two runs.
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
            IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE;
  p.cq_entries = kEntries * 16;
  r->fd_ = int(syscall(__NR_io_uring_setup, kEntries, &p));
  if (r->fd_ < 0 && errno == EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_SUBMIT_ALL;
    r->fd_ = int(syscall(__NR_io_uring_setup, kEntries, &p));
    why_no_recv = "io_uring without SINGLE_ISSUER/COOP_TASKRUN (kernel before 6.0)";
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
  g.sq_flags = reinterpret_cast<unsigned*>(base + p.sq_off.flags);
  g.cq_head = reinterpret_cast<unsigned*>(base + p.cq_off.head);
  g.cq_tail = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
  g.cq_mask = *reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
  g.cqes = reinterpret_cast<io_uring_cqe*>(base + p.cq_off.cqes);
  g.cq_flags = reinterpret_cast<unsigned*>(base + p.cq_off.flags);
  if (why_no_recv.empty() && !r->setup_receives(why_no_recv)) r->recv_ready_ = false;
  return r;
}

bool IoRing::setup_receives(std::string& why_not) {
  Rings& g = *rings_;
  // The buffer ring: kRecvBuffers entries, all handed to the kernel now.
  g.buf_ring_size = kRecvBuffers * sizeof(io_uring_buf);
  g.buf_ring = static_cast<io_uring_buf_ring*>(
      mmap(nullptr, g.buf_ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  g.buffers_size = kRecvBuffers * kRecvBufferSize;
  // Not populated: a buffer's pages are touched only as far as data fills them.
  g.buffers = static_cast<char*>(mmap(nullptr, g.buffers_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (g.buf_ring == MAP_FAILED || g.buffers == MAP_FAILED) {
    why_not = fmt::format("mmap: {}", std::strerror(errno));
    return false;
  }
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(g.buf_ring);
  reg.ring_entries = kRecvBuffers;
  reg.bgid = 0;
  if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_PBUF_RING, &reg, 1) != 0) {
    why_not = fmt::format("io_uring buffer ring (kernel 5.19): {}", std::strerror(errno));
    return false;
  }
  for (unsigned bid = 0; bid < kRecvBuffers; ++bid) {
    io_uring_buf& b = g.buf_entry(bid);
    b.addr = reinterpret_cast<uint64_t>(g.buffers + bid * kRecvBufferSize);
    b.len = unsigned(kRecvBufferSize);
    b.bid = uint16_t(bid);
  }
  g.buf_tail = uint16_t(kRecvBuffers);
  __atomic_store_n(&g.buf_ring->tail, g.buf_tail, __ATOMIC_RELEASE);
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    why_not = fmt::format("eventfd: {}", std::strerror(errno));
    return false;
  }
  if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_EVENTFD, &event_fd_, 1) != 0) {
    why_not = fmt::format("io_uring eventfd: {}", std::strerror(errno));
    ::close(std::exchange(event_fd_, -1));
    return false;
  }
  set_notify(false);
  recv_ready_ = true;
  return true;
}

bool IoRing::queue_recv(int fd, uint64_t tag) {
  if (queued_ == kEntries || !recv_ready_) return false;
  io_uring_sqe& sqe = *next_sqe();
  sqe.opcode = IORING_OP_RECV;
  sqe.fd = fd;
  sqe.flags = IOSQE_BUFFER_SELECT;
  sqe.buf_group = 0;
  sqe.ioprio = IORING_RECV_MULTISHOT;
  sqe.user_data = tag;
  send_[queued_] = false;
  tags_[queued_++] = tag;
  return true;
}

bool IoRing::queue_cancel(uint64_t target, uint64_t tag) {
  if (queued_ == kEntries) return false;
  io_uring_sqe& sqe = *next_sqe();
  sqe.opcode = IORING_OP_ASYNC_CANCEL;
  sqe.fd = -1;
  sqe.addr = target;  // matched against user_data
  sqe.user_data = tag;
  send_[queued_] = false;
  tags_[queued_++] = tag;
  // A cancel completes inside the io_uring_enter that submits it.
  ++queued_sends_;
  return true;
}

std::span<const char> IoRing::received(int32_t res, uint32_t flags) const {
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  return {rings_->buffers + size_t(bid) * kRecvBufferSize, size_t(res)};
}

void IoRing::recycle(uint32_t flags) {
  if (!(flags & IORING_CQE_F_BUFFER)) return;
  Rings& g = *rings_;
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  io_uring_buf& b = g.buf_entry(g.buf_tail & (kRecvBuffers - 1));
  b.addr = reinterpret_cast<uint64_t>(g.buffers + size_t(bid) * kRecvBufferSize);
  b.len = unsigned(kRecvBufferSize);
  b.bid = uint16_t(bid);
  __atomic_store_n(&g.buf_ring->tail, ++g.buf_tail, __ATOMIC_RELEASE);
}

void IoRing::set_notify(bool on) {
  unsigned* f = rings_->cq_flags;
  const unsigned v = __atomic_load_n(f, __ATOMIC_RELAXED);
  __atomic_store_n(f, on ? (v & ~IORING_CQ_EVENTFD_DISABLED) : (v | IORING_CQ_EVENTFD_DISABLED), __ATOMIC_SEQ_CST);
}

bool IoRing::has_news() const {
  const Rings& g = *rings_;
  return *g.cq_head != __atomic_load_n(g.cq_tail, __ATOMIC_ACQUIRE) || needs_enter();
}

bool IoRing::needs_enter() const {
  // TASKRUN: task work waits to be run; CQ_OVERFLOW: completions wait to be
  // moved into a full completion ring.
  return __atomic_load_n(rings_->sq_flags, __ATOMIC_ACQUIRE) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

io_uring_sqe* IoRing::next_sqe() {
  Rings& g = *rings_;
  // Only this thread touches the tail; the kernel reads it in io_uring_enter.
  const unsigned slot = (*g.sq_tail + unsigned(queued_)) & g.sq_mask;
  io_uring_sqe* sqe = &g.sqes[slot];
  std::memset(sqe, 0, sizeof *sqe);
  g.sq_array[slot] = slot;
  return sqe;
}

bool IoRing::queue(int fd, std::span<const iovec> iov, uint64_t tag) {
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
  send_[queued_] = true;
  ++queued_sends_;
  tags_[queued_++] = tag;
  return true;
}

bool IoRing::queue(int fd, std::span<const char> bytes, uint64_t tag) {
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
  send_[queued_] = true;
  ++queued_sends_;
  tags_[queued_++] = tag;
  return true;
}

size_t IoRing::enter(unsigned n, unsigned inline_completions) {
  if (broken_) return 0;
  Rings& g = *rings_;
  __atomic_store_n(g.sq_tail, *g.sq_tail + n, __ATOMIC_RELEASE);
  // GETEVENTS with min_complete = the sends and cancels: each completes
  // inside this call (MSG_DONTWAIT), so this never waits for a socket; it
  // makes sure their results are in the completion ring when the call
  // returns. GETEVENTS also runs the task work of receives that found data
  // (their completions come with these). EINTR comes only when nothing was
  // submitted.
  long rc;
  do rc = syscall(__NR_io_uring_enter, fd_, n, inline_completions, IORING_ENTER_GETEVENTS, nullptr, 0);
  while (rc < 0 && errno == EINTR);
  if (rc == long(n)) return n;
  // Nothing of this should happen (SUBMIT_ALL takes every entry); if it
  // does, what was not taken must never be sent later with stale buffers:
  // the ring is not used again.
  broken_ = true;
  error_ = rc < 0 ? fmt::format("io_uring_enter: {}", std::strerror(errno))
                  : fmt::format("io_uring_enter took {} of {} entries", rc, n);
  return rc < 0 ? 0 : size_t(rc);
}

bool IoRing::next_completion(uint64_t& tag, int32_t& res, uint32_t& flags) {
  Rings& g = *rings_;
  const unsigned head = *g.cq_head;
  if (head == __atomic_load_n(g.cq_tail, __ATOMIC_ACQUIRE)) return false;
  const io_uring_cqe& cqe = g.cqes[head & g.cq_mask];
  tag = cqe.user_data;
  res = cqe.res;
  flags = cqe.flags;
  __atomic_store_n(g.cq_head, head + 1, __ATOMIC_RELEASE);
  return true;
}

}  // namespace fcgimux
