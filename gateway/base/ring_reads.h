// Reads of a loop thread's sockets through its IoRing, in place of
// uv_read_start: one multishot receive armed per reading socket, its data
// handed to the same uv_read_cb libuv would call, with the same meaning
// (nread > 0 bytes in |buf|, valid only during the call; UV_EOF; a negative
// error), so HttpConnection and UpstreamConnection read the same way with or
// without a ring. Why: io_ring.h (a read costs no system call).
//
// Lifetimes. A socket is registered by start() into a slot that a
// ReadSlot in its owner names, and leaves it by release(), which its owner
// calls before uv_close: the slot's generation changes, so completions
// still on their way for the old owner (the ring is read in batches) are
// recognised and dropped, and the receive is cancelled in the kernel so that
// the socket, closed by libuv, is let go there too (until then the kernel
// holds it: no FIN would be sent).
//
// Stopping (stop(), as uv_read_stop: a slow client holds back its worker's
// answer) cancels the receive. Bytes the kernel had already received for it
// are not lost: they are kept and handed over, in order, when reading starts
// again, before anything newer. A socket that was stopped once carries a
// large body with backpressure (a download to a slow client, an upload to
// a slow worker): once its cancelled receive has ended in the kernel and the
// kept bytes are handed over, it goes back to libuv's reads for good
// (ReadSlot::libuv). libuv stops reading at once and leaves the rest in the
// socket; a multishot receive runs ahead by up to a task-work pass (many
// buffers) before a cancel lands, and in an interleaved A/B such sockets
// moved 50 MB downloads at about half of libuv's speed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/io_ring.h"

namespace fcgimux {

// Held by the owner of a socket; names its slot in RingReads.
struct ReadSlot {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t index = kNone;
  bool libuv = false;  // read by uv_read_start from now on (see above)
};

class RingReads {
 public:
  // Completions whose tag has this bit set are receives (deliver());
  // kCancelTag marks a cancel's own completion, which needs nothing.
  static constexpr uint64_t kRecvBit = uint64_t(1) << 63;
  static constexpr uint64_t kCancelTag = uint64_t(3) << 62;
  static bool is_recv(uint64_t tag) { return (tag >> 62) == 2; }

  explicit RingReads(IoRing& ring) : ring_(ring) {}
  RingReads(const RingReads&) = delete;
  RingReads& operator=(const RingReads&) = delete;

  // As uv_read_start(stream, alloc, cb); |alloc| is kept for fall_back().
  void start(uv_stream_t* stream, ReadSlot& slot, uv_alloc_cb alloc, uv_read_cb cb);
  // As uv_read_stop.
  void stop(ReadSlot& slot);
  // The socket is about to be closed: forget it (and stop its receive).
  void release(ReadSlot& slot);

  // A receive completion (is_recv(tag)) from IoRing::run(). Calls read
  // callbacks, which may start, stop or release any slot, this one too.
  void deliver(uint64_t tag, int32_t res, uint32_t flags);
  // Hands kept bytes to sockets whose reading started again; true if any
  // callback ran.
  bool deliver_kept();
  bool has_kept() const { return !restarted_.empty(); }

  // Arms and cancels wait here until the loop queues them into the ring,
  // cancels first; false if the ring filled up before all were queued.
  bool queue_into_ring();
  bool has_queued() const { return !to_arm_.empty() || !to_cancel_.empty(); }

  // The ring broke: every reading socket goes back to uv_read_start (kept
  // bytes first, through its callback).
  void fall_back();

  size_t registered() const { return registered_; }

 private:
  struct Slot {
    uv_stream_t* stream = nullptr;  // null: free
    ReadSlot* owner = nullptr;      // the owner's handle on this slot
    uv_alloc_cb alloc = nullptr;
    uv_read_cb cb = nullptr;
    uint32_t owner_gen = 0;  // changes with each release: old completions are dropped
    uint32_t arm_gen = 0;    // changes with each receive armed
    bool reading = false;    // started and not stopped (as libuv's "reading")
    bool armed = false;      // a receive is (or is about to be) in the kernel
    // Received while not reading (or while older bytes wait), in order.
    std::string kept;
    int kept_end = 0;        // UV_EOF or an error that followed |kept|
    // Stopped once: goes to libuv when reading starts again, once the
    // cancelled receive (|ending|) has made its last completion.
    bool to_libuv = false;
    bool ending = false;
    uint64_t ending_tag = 0;
  };
  // Hands the socket to libuv (uv_read_start) and frees the slot.
  void move_to_libuv(uint32_t index);
  uint64_t tag_of(uint32_t index, const Slot& s) const;
  void arm(uint32_t index);
  void cancel(uint32_t index);
  void call(uint32_t index, ssize_t nread, const char* data);

  IoRing& ring_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> restarted_;  // slots reading again with kept bytes
  std::vector<std::pair<uint32_t, uint64_t>> to_arm_;  // slot, tag
  std::vector<uint64_t> to_cancel_;                    // tags of the receives to cancel
  size_t registered_ = 0;
};

}  // namespace fcgimux
