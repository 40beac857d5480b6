// One uv_write and every byte it points at (STYLE C3). The batch owns its
// copies and holds pins on borrowed bytes; it is freed only in the write
// callback, on every path, including UV_ECANCELED after a close.
//
// A request's batch (BEGIN_REQUEST, PARAMS, the end of STDIN) is a few
// hundred copied bytes in two or three iovecs: both live inside the batch
// (kInlineBytes, kInlineBufs), so building and writing one allocates nothing
// but the batch itself. Larger batches spill to the heap (owned_, more_bufs_).
// A batch that was written whole can be reset() and reused for the next
// request's records (UpstreamConnection keeps one spare), so the common
// request allocates no batch at all.
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fcgi/iovec_sink.h"

namespace fcgimux {

class WriteBatch : public fcgi::IovecSink {
 public:
  // Not defaulted: make_unique would then zero the inline bytes (value
  // initialisation) for every batch.
  WriteBatch();
  // The iovecs point into the batch itself: it never moves.
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  uv_write_t req{};

  void push_copy(std::span<const std::byte> bytes) override;
  void push_borrowed(std::span<const std::byte> bytes, fcgi::Pin pin) override;
  // Appends an owned string without copying its bytes again.
  void push_owned(std::string s);

  // Back to the state of a new batch: drops every copy, owned string and
  // pin. Only for a batch libuv no longer holds (written whole, or after its
  // write callback).
  void reset();

  bool empty() const { return nbufs_ == 0; }
  size_t size() const { return size_; }
  // The iovecs, in order; call once, when everything is pushed, just before writing.
  std::span<uv_buf_t> bufs() { return {bufs_, nbufs_}; }
  uv_buf_t* unwritten() { return bufs_ + first_buf_; }
  size_t unwritten_count() const { return nbufs_ - first_buf_; }
  // Drops the first |n| bytes from bufs() (they were written at once with
  // uv_try_write); returns the number of uv_buf_t left.
  size_t consume(size_t n);

 private:
  // Enough for a request's records with a typical set of params; a batch
  // with more copied bytes keeps the rest in owned_.
  static constexpr size_t kInlineBytes = 1024;
  static constexpr size_t kInlineBufs = 8;
  enum class Last { None, Inline, Owned, Other };  // what the last iovec points at

  void add_buf(const char* data, size_t len, Last kind);

  std::array<char, kInlineBytes> inline_bytes_;
  size_t inline_used_ = 0;
  std::array<uv_buf_t, kInlineBufs> inline_bufs_;
  std::vector<uv_buf_t> more_bufs_;  // all the iovecs, once there are more than kInlineBufs
  uv_buf_t* bufs_ = inline_bufs_.data();
  size_t nbufs_ = 0;
  Last last_ = Last::None;
  // A list, not a deque: appending never moves earlier strings, and an empty
  // list (the usual case) allocates nothing, where libstdc++'s deque
  // allocates two blocks as soon as it is constructed.
  std::list<std::string> owned_;
  std::vector<fcgi::Pin> pins_;
  size_t first_buf_ = 0;  // bufs_[first_buf_..] are still to be written
  size_t size_ = 0;
};

}  // namespace fcgimux
