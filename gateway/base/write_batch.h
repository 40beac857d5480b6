// One uv_write and every byte it points at (STYLE C3). The batch owns its
// strings and holds pins on borrowed bytes; it is freed only in the write
// callback, on every path, including UV_ECANCELED after a close.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fcgi/iovec_sink.h"

namespace fcgimux {

class WriteBatch : public fcgi::IovecSink {
 public:
  uv_write_t req{};

  void push_copy(std::span<const std::byte> bytes) override;
  void push_borrowed(std::span<const std::byte> bytes, fcgi::Pin pin) override;
  // Appends an owned string without copying its bytes again.
  void push_owned(std::string s);

  bool empty() const { return pieces_.empty(); }
  size_t size() const { return size_; }
  // Builds the uv_buf_t array; call once, just before writing.
  std::vector<uv_buf_t>& bufs();
  uv_buf_t* unwritten() { return bufs_.data() + first_buf_; }
  // Drops the first |n| bytes from bufs() (they were written at once with
  // uv_try_write); returns the number of uv_buf_t left.
  size_t consume(size_t n);

 private:
  struct Piece {
    const char* data;
    size_t len;
  };
  std::vector<Piece> pieces_;
  std::deque<std::string> owned_;  // deque: appending never moves earlier strings
  std::vector<fcgi::Pin> pins_;
  std::vector<uv_buf_t> bufs_;
  size_t first_buf_ = 0;  // bufs_[first_buf_..] are still to be written
  size_t size_ = 0;
};

}  // namespace fcgimux
