// One io_uring per loop thread: the writes of one loop iteration handed to
// the kernel in one system call, and receives that need no system call.
//
// Sends. On loopback a write runs the reader's receive path and wakes the
// reader; the woken thread (the client, a worker) then usually preempts the
// writer when the write returns. One write(2) per response therefore cost
// the gateway a context switch per request (0.6 per request measured in a
// bare relay, bench/floor.sh), and the client was woken once per response
// instead of once per batch. Handing all of an iteration's writes to
// io_uring in one io_uring_enter(2) means one return to user space, so at
// most one preemption, for the whole batch.
//
// Sends are only a faster uv_try_write: every send is MSG_DONTWAIT, so it
// takes what the socket buffer has room for and completes inside the same
// io_uring_enter, with a byte count, -EAGAIN or an error, exactly as
// uv_try_write would have. No send stays in flight in the kernel after
// run() returns: no buffer has to outlive it, and a connection closed
// afterwards has no send pending in the ring. What the kernel did not take
// goes to libuv's ordinary queued write, as before.
//
// Receives. A system call costs about 0.7 µs on the machines the benchmark
// runs on (speculation mitigations on every kernel entry and exit), and a
// relayed request needs two reads: the client's request and the worker's
// answer. A multishot receive (IORING_OP_RECV with IORING_RECV_MULTISHOT)
// is armed once per socket and then delivers whatever arrives, into buffers
// this ring provides (a registered buffer ring), as completions read from
// shared memory: the kernel does the reads as task work when this thread
// next enters it anyway (the io_uring_enter of the sends, an epoll_wait),
// so the reads themselves cost no system call. While the thread sleeps in
// epoll_wait, a receive's task work interrupts it and the completion it
// posts makes the ring's eventfd readable, which is what wakes the loop.
//
// One ring per loop thread, made and used on that thread. Without io_uring
// (an old kernel, a seccomp profile that forbids it, io_uring_disabled, or
// `io_uring = false` in the config) open() returns null and callers use
// libuv; a kernel without buffer rings (before 5.19) gets a ring that only
// sends (can_receive() false).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

struct io_uring_sqe;  // <linux/io_uring.h>, included by the .cc only

namespace fcgimux {

class IoRing {
 public:
  // How many operations one run() submits at most; queue_*() say when full.
  static constexpr unsigned kEntries = 256;
  // Receive buffers: shared by every socket of the thread, each held only
  // from the completion that fills it to recycle() (within one callback),
  // so an idle connection costs none.
  static constexpr unsigned kRecvBuffers = 128;
  static constexpr size_t kRecvBufferSize = 16 * 1024;

  // A ring on the calling thread, or null with the reason in |why_not|.
  // |why_no_recv| says why a ring that was made cannot receive.
  static std::unique_ptr<IoRing> open(std::string& why_not, std::string& why_no_recv);
  ~IoRing();
  IoRing(const IoRing&) = delete;
  IoRing& operator=(const IoRing&) = delete;

  // Queues a non-blocking send of |bytes| on |fd|. |bytes| must stay valid
  // until run() returns; |tag| comes back with the result. False when
  // kEntries operations are already queued (run() first).
  bool queue(int fd, std::span<const char> bytes, uint64_t tag);
  // The same for a gather list (sendmsg); |iov| (at most IOV_MAX entries)
  // and what it points at must stay valid until run() returns.
  bool queue(int fd, std::span<const iovec> iov, uint64_t tag);

  // Receives (can_receive() only). Arms a multishot receive on |fd|: every
  // completion it makes carries |tag|; one without kMore in its flags is
  // its last (then res is 0 at end of stream, -ENOBUFS when the buffers ran
  // out, -ECANCELED after a cancel, or another negative errno).
  bool can_receive() const { return recv_ready_; }
  bool queue_recv(int fd, uint64_t tag);
  // Cancels the receive armed with |target|; the cancel's own completion
  // carries |tag|. Data received before the cancel still arrives.
  bool queue_cancel(uint64_t target, uint64_t tag);
  static constexpr uint32_t kMore = 1u << 1;    // IORING_CQE_F_MORE
  static constexpr uint32_t kBuffer = 1u << 0;  // IORING_CQE_F_BUFFER: res bytes in a buffer
  // The bytes of a completion with kBuffer; hand the buffer back with
  // recycle(flags) once they are consumed.
  std::span<const char> received(int32_t res, uint32_t flags) const;
  void recycle(uint32_t flags);
  // The eventfd the kernel signals when it posts a completion (while
  // notifications are on), for the loop to poll; -1 without receives.
  int event_fd() const { return event_fd_; }
  void set_notify(bool on);
  // Completions are waiting, or task work that will post some: run() has
  // something to do without anything queued.
  bool has_news() const;

  size_t queued() const { return queued_; }
  // io_uring_enter failed once (then error() says why): use plain writes
  // and libuv's reads.
  bool broken() const { return broken_; }
  const std::string& error() const { return error_; }

  // Submits everything queued in one io_uring_enter (entering even with
  // nothing queued when has_news(), to run the kernel's pending task work)
  // and calls on_completion(tag, res, flags) once for every completion
  // waiting. A send's res is the number of bytes sent (possibly fewer than
  // asked) or a negative errno (-EAGAIN: the socket buffer was full), or
  // kNotSent if the kernel did not take it: nothing of it was sent, the
  // caller writes the usual way, and the ring is broken() for good.
  static constexpr int32_t kNotSent = INT32_MIN;
  template <typename F>
  void run(F&& on_completion) {
    const size_t n = std::exchange(queued_, 0);
    const size_t sends = std::exchange(queued_sends_, 0);
    size_t taken = n;
    if (n > 0 || needs_enter()) taken = enter(unsigned(n), unsigned(sends));
    uint64_t tag;
    int32_t res;
    uint32_t flags;
    while (next_completion(tag, res, flags)) on_completion(tag, res, flags);
    for (size_t i = taken; i < n; ++i)
      if (send_[i]) on_completion(tags_[i], kNotSent, 0);
  }

 private:
  struct Rings;  // where the mmap'ed submission and completion rings are
  IoRing();
  bool setup_receives(std::string& why_not);
  // Task work waits for this thread to enter the kernel, or completions
  // wait for room in the completion ring.
  bool needs_enter() const;
  // How many entries the kernel took; fewer than n: broken_.
  size_t enter(unsigned n, unsigned inline_completions);
  bool next_completion(uint64_t& tag, int32_t& res, uint32_t& flags);
  ::io_uring_sqe* next_sqe();

  int fd_ = -1;
  int event_fd_ = -1;
  std::unique_ptr<Rings> rings_;
  size_t queued_ = 0;
  size_t queued_sends_ = 0;
  uint64_t tags_[kEntries];  // of the queued entries, for a failed system call
  bool send_[kEntries];      // whether that entry is a send
  msghdr msgs_[kEntries];    // of the queued sendmsg entries, read by the kernel at submission
  bool recv_ready_ = false;
  bool broken_ = false;
  std::string error_;
};

}  // namespace fcgimux
