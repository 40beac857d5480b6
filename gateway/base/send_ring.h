// The writes of one loop iteration, handed to the kernel in one system call.
//
// Why: on loopback a write runs the reader's receive path and wakes the
// reader; the woken thread (the client, a worker) then usually preempts the
// writer when the write returns. One write(2) per response therefore cost
// the gateway a context switch per request (0.6 per request measured in a
// bare relay, bench/floor.sh), and the client was woken once per response
// instead of once per batch. Handing all of an iteration's writes to
// io_uring in one io_uring_enter(2) means one return to user space, so at
// most one preemption, for the whole batch.
//
// Only as a faster uv_try_write: every send is MSG_DONTWAIT, so it takes
// what the socket buffer has room for and completes inside the same
// io_uring_enter, with a byte count, -EAGAIN or an error, exactly as
// uv_try_write would have. Nothing stays in flight in the kernel after
// submit() returns: no buffer has to outlive it, and a connection closed
// afterwards has nothing pending in the ring. What the kernel did not take
// goes to libuv's ordinary queued write, as before.
//
// One ring per loop thread, made and used on that thread. Without io_uring
// (an old kernel, a seccomp profile that forbids it, io_uring_disabled, or
// `io_uring = false` in the config) open() returns null and callers write
// directly with uv_try_write.
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

class SendRing {
 public:
  // How many sends one submit() takes at most; queue() says when it is full.
  static constexpr unsigned kEntries = 256;

  // A ring on the calling thread, or null with the reason in |why_not|.
  static std::unique_ptr<SendRing> open(std::string& why_not);
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  // Queues a non-blocking send of |bytes| on |fd|. |bytes| must stay valid
  // until submit() returns; |tag| comes back with the result. False when
  // kEntries sends are already queued (submit first).
  bool queue(int fd, std::span<const char> bytes, uint64_t tag);
  // The same for a gather list (sendmsg); |iov| (at most IOV_MAX entries)
  // and what it points at must stay valid until submit() returns.
  bool queue(int fd, std::span<const iovec> iov, uint64_t tag);
  size_t queued() const { return queued_; }
  // io_uring_enter failed once (then error() says why): use plain writes.
  bool broken() const { return broken_; }
  const std::string& error() const { return error_; }

  // Sends everything queued in one io_uring_enter and calls
  // on_result(tag, result) once for each: result is the number of bytes
  // sent (possibly fewer than asked), or a negative errno (-EAGAIN: the
  // socket buffer was full), or kNotSent if the kernel did not take that
  // send: nothing of it was sent, the caller writes the usual way, and the
  // ring is broken() for good.
  static constexpr int32_t kNotSent = INT32_MIN;
  template <typename F>
  void submit(F&& on_result) {
    const size_t n = std::exchange(queued_, 0);
    if (n == 0) return;
    const size_t taken = enter(unsigned(n));
    uint64_t tag;
    int32_t result;
    while (next_completion(tag, result)) on_result(tag, result);
    for (size_t i = taken; i < n; ++i) on_result(tags_[i], kNotSent);
  }

 private:
  struct Rings;  // where the mmap'ed submission and completion rings are
  SendRing();
  size_t enter(unsigned n);  // how many sends the kernel took; fewer than n: broken_
  bool next_completion(uint64_t& tag, int32_t& result);

  int fd_ = -1;
  std::unique_ptr<Rings> rings_;
  size_t queued_ = 0;
  ::io_uring_sqe* next_sqe();
  uint64_t tags_[kEntries];  // of the queued sends, for a failed system call
  msghdr msgs_[kEntries];    // of the queued sendmsg entries, read by the kernel at submission
  bool broken_ = false;
  std::string error_;
};

}  // namespace fcgimux
