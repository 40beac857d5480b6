#include "gateway/base/ring_reads.h"

#include <cerrno>
#include <utility>

namespace fcgimux {

namespace {
// A receive's tag: 10 in the top bits, then the arm generation (18 bits),
// the owner generation (20 bits) and the slot index (24 bits).
constexpr uint64_t kIndexMask = (uint64_t(1) << 24) - 1;
constexpr uint32_t kOwnerMask = (uint32_t(1) << 20) - 1;
constexpr uint32_t kArmMask = (uint32_t(1) << 18) - 1;
}  // namespace

uint64_t RingReads::tag_of(uint32_t index, const Slot& s) const {
  return kRecvBit | (uint64_t(s.arm_gen & kArmMask) << 44) | (uint64_t(s.owner_gen & kOwnerMask) << 24) | index;
}

void RingReads::start(uv_stream_t* stream, ReadSlot& slot, uv_alloc_cb alloc, uv_read_cb cb) {
  if (slot.index == ReadSlot::kNone) {
    if (free_.empty()) {
      slot.index = uint32_t(slots_.size());
      slots_.emplace_back();
    } else {
      slot.index = free_.back();
      free_.pop_back();
    }
    Slot& s = slots_[slot.index];
    s.stream = stream;
    s.owner = &slot;
    s.alloc = alloc;
    ++registered_;
  }
  Slot& s = slots_[slot.index];
  s.cb = cb;
  if (s.reading) return;
  s.reading = true;
  if (!s.kept.empty() || s.kept_end != 0 || s.to_libuv) {
    restarted_.push_back(slot.index);  // kept bytes first, or the move to libuv (deliver_kept)
    return;
  }
  if (!s.armed) arm(slot.index);
}

void RingReads::stop(ReadSlot& slot) {
  if (slot.index == ReadSlot::kNone) return;
  Slot& s = slots_[slot.index];
  if (!s.reading) return;
  s.reading = false;
  s.to_libuv = true;
  if (s.armed) {
    s.ending = true;
    s.ending_tag = tag_of(slot.index, s);
    cancel(slot.index);
  }
}

void RingReads::release(ReadSlot& slot) {
  const uint32_t index = std::exchange(slot.index, ReadSlot::kNone);
  if (index == ReadSlot::kNone) return;
  Slot& s = slots_[index];
  if (s.armed) cancel(index);
  const uint32_t next_owner = s.owner_gen + 1;
  s = Slot{};
  s.owner_gen = next_owner;
  free_.push_back(index);
  --registered_;
}

void RingReads::arm(uint32_t index) {
  Slot& s = slots_[index];
  ++s.arm_gen;
  s.armed = true;
  to_arm_.push_back({index, tag_of(index, s)});
}

void RingReads::cancel(uint32_t index) {
  Slot& s = slots_[index];
  to_cancel_.push_back(tag_of(index, s));
  s.armed = false;
}

bool RingReads::queue_into_ring() {
  // Cancels first: a receive stopped and started again within one
  // iteration has its old arm cancelled before the new one is armed.
  size_t done = 0;
  for (; done < to_cancel_.size(); ++done)
    if (!ring_.queue_cancel(to_cancel_[done], kCancelTag)) break;
  to_cancel_.erase(to_cancel_.begin(), to_cancel_.begin() + ptrdiff_t(done));
  if (!to_cancel_.empty()) return false;
  done = 0;
  for (; done < to_arm_.size(); ++done) {
    const auto [index, tag] = to_arm_[done];
    Slot& s = slots_[index];
    // Stopped, released or armed again since: this arm is stale. If it was
    // the receive a stop cancelled, it never reached the kernel: ended.
    if (s.stream == nullptr || !s.armed || tag_of(index, s) != tag) {
      if (s.stream != nullptr && s.ending && s.ending_tag == tag) s.ending = false;
      continue;
    }
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(s.stream), &fd) != 0) continue;
    if (!ring_.queue_recv(fd, tag)) break;
  }
  to_arm_.erase(to_arm_.begin(), to_arm_.begin() + ptrdiff_t(done));
  return to_arm_.empty();
}

void RingReads::call(uint32_t index, ssize_t nread, const char* data) {
  // Copied first: the callback may start other sockets (slots_ grows) or
  // release this one.
  uv_stream_t* stream = slots_[index].stream;
  uv_read_cb cb = slots_[index].cb;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), nread > 0 ? unsigned(nread) : 0);
  cb(stream, nread, &buf);
}

void RingReads::deliver(uint64_t tag, int32_t res, uint32_t flags) {
  const uint32_t index = uint32_t(tag & kIndexMask);
  const uint32_t owner = uint32_t(tag >> 24) & kOwnerMask;
  const uint32_t armed_as = uint32_t(tag >> 44) & kArmMask;
  if (index >= slots_.size() || slots_[index].stream == nullptr || (slots_[index].owner_gen & kOwnerMask) != owner) {
    ring_.recycle(flags);  // for a socket since closed
    return;
  }
  Slot& s = slots_[index];
  const bool current = (s.arm_gen & kArmMask) == armed_as && s.armed;
  const bool ended = !(flags & IoRing::kMore);
  if (current && ended) s.armed = false;
  if (ended && s.ending && s.ending_tag == tag) s.ending = false;
  if (res > 0) {
    std::span<const char> data = ring_.received(res, flags);
    if (s.reading && s.kept.empty() && s.kept_end == 0) {
      call(index, res, data.data());
    } else {
      s.kept.append(data.data(), data.size());  // stopped: kept, in order
    }
    ring_.recycle(flags);
    // A receive can end with data (the completion ring was full): go on.
    Slot& now = slots_[index];
    if (current && ended && now.stream != nullptr && (now.owner_gen & kOwnerMask) == owner && now.reading &&
        !now.armed && now.kept_end == 0)
      arm(index);
    return;
  }
  ring_.recycle(flags);
  if (!current || !ended) return;  // the end of a receive already stopped
  if (res == -ENOBUFS) {           // every buffer was in use: arm again
    if (s.reading) arm(index);
    return;
  }
  if (res == -ECANCELED) return;
  const int end = res == 0 ? UV_EOF : res;  // libuv's errors are negative errnos too
  if (s.reading && s.kept.empty()) {
    s.reading = false;  // as libuv after EOF or an error
    call(index, end, nullptr);
  } else {
    s.kept_end = end;
  }
}

bool RingReads::deliver_kept() {
  bool called = false;
  std::vector<uint32_t> list = std::exchange(restarted_, {});
  for (uint32_t index : list) {
    if (index >= slots_.size() || slots_[index].stream == nullptr || !slots_[index].reading) continue;
    const uint32_t owner = slots_[index].owner_gen;
    if (!slots_[index].kept.empty()) {
      std::string bytes = std::move(slots_[index].kept);
      slots_[index].kept.clear();
      called = true;
      call(index, ssize_t(bytes.size()), bytes.data());
    }
    Slot& s = slots_[index];
    if (s.stream == nullptr || s.owner_gen != owner || !s.reading) continue;
    if (s.kept_end != 0) {
      const int end = std::exchange(s.kept_end, 0);
      s.reading = false;
      called = true;
      call(index, end, nullptr);
      continue;
    }
    if (s.to_libuv) {
      // Not before the kernel is done with the cancelled receive: two
      // readers of one socket could reorder its bytes.
      if (s.ending) restarted_.push_back(index);
      else move_to_libuv(index);
      continue;
    }
    if (!s.armed) arm(index);
  }
  return called;
}

void RingReads::move_to_libuv(uint32_t index) {
  Slot& s = slots_[index];
  uv_stream_t* stream = s.stream;
  uv_alloc_cb alloc = s.alloc;
  uv_read_cb cb = s.cb;
  ReadSlot* owner = s.owner;
  owner->libuv = true;
  release(*owner);  // nothing armed: no cancel
  uv_read_start(stream, alloc, cb);
}

void RingReads::fall_back() {
  for (uint32_t index = 0; index < slots_.size(); ++index) {
    Slot& s = slots_[index];
    if (s.stream != nullptr) s.owner->libuv = true;
    if (s.stream == nullptr || !s.reading) continue;
    s.armed = false;
    const uint32_t owner = s.owner_gen;
    if (!s.kept.empty()) {
      std::string bytes = std::move(s.kept);
      s.kept.clear();
      call(index, ssize_t(bytes.size()), bytes.data());
    }
    Slot& now = slots_[index];
    if (now.stream == nullptr || now.owner_gen != owner || !now.reading) continue;
    if (now.kept_end != 0) {
      now.reading = false;
      call(index, std::exchange(now.kept_end, 0), nullptr);
      continue;
    }
    uv_read_start(now.stream, now.alloc, now.cb);
  }
  to_arm_.clear();
  to_cancel_.clear();
}

}  // namespace fcgimux
