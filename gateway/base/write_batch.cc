#include "gateway/base/write_batch.h"

#include <algorithm>
#include <cstring>

namespace fcgimux {

WriteBatch::WriteBatch() {}

void WriteBatch::reset() {
  // Every member but the inline storage, which is only read through bufs_.
  req = uv_write_t{};
  inline_used_ = 0;
  more_bufs_.clear();  // keeps its capacity: a batch that needed it once may again
  bufs_ = inline_bufs_.data();
  nbufs_ = 0;
  last_ = Last::None;
  owned_.clear();
  pins_.clear();
  first_buf_ = 0;
  size_ = 0;
}

void WriteBatch::push_copy(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  const char* src = reinterpret_cast<const char*>(bytes.data());
  const size_t n = bytes.size();
  size_ += n;
  // Small copies (record headers, params, padding) go to the inline bytes;
  // consecutive ones extend the same iovec, so a batch of many records stays
  // a few iovecs.
  if (n <= kInlineBytes - inline_used_) {
    char* dst = inline_bytes_.data() + inline_used_;
    std::memcpy(dst, src, n);
    inline_used_ += n;
    if (last_ == Last::Inline) {
      bufs_[nbufs_ - 1].len += n;
      return;
    }
    add_buf(dst, n, Last::Inline);
    return;
  }
  // Past the inline bytes: into the last owned string when it is the last
  // iovec and has room, else a new one.
  if (last_ == Last::Owned && owned_.back().size() + n <= owned_.back().capacity()) {
    owned_.back().append(src, n);  // within capacity: the data pointer stays
    bufs_[nbufs_ - 1].len += n;
    return;
  }
  std::string s;
  s.reserve(std::max<size_t>(n, 256));
  s.append(src, n);
  owned_.push_back(std::move(s));
  add_buf(owned_.back().data(), n, Last::Owned);
}

void WriteBatch::push_borrowed(std::span<const std::byte> bytes, fcgi::Pin pin) {
  if (bytes.empty()) return;
  pins_.push_back(std::move(pin));
  size_ += bytes.size();
  add_buf(reinterpret_cast<const char*>(bytes.data()), bytes.size(), Last::Other);
}

void WriteBatch::push_owned(std::string s) {
  if (s.empty()) return;
  size_ += s.size();
  owned_.push_back(std::move(s));
  // Not Last::Owned: its capacity is the caller's, and appending to it is
  // fine, but the next copy would rather go inline.
  add_buf(owned_.back().data(), owned_.back().size(), Last::Other);
}

void WriteBatch::add_buf(const char* data, size_t len, Last kind) {
  const uv_buf_t b = uv_buf_init(const_cast<char*>(data), unsigned(len));
  if (nbufs_ < kInlineBufs) {
    inline_bufs_[nbufs_] = b;
  } else {
    if (more_bufs_.empty()) more_bufs_.assign(inline_bufs_.begin(), inline_bufs_.end());
    more_bufs_.push_back(b);
    bufs_ = more_bufs_.data();
  }
  ++nbufs_;
  last_ = kind;
}

size_t WriteBatch::consume(size_t n) {
  while (first_buf_ < nbufs_ && n > 0) {
    uv_buf_t& b = bufs_[first_buf_];
    if (n < b.len) {
      b.base += n;
      b.len -= unsigned(n);
      n = 0;
    } else {
      n -= b.len;
      ++first_buf_;
    }
  }
  return nbufs_ - first_buf_;
}

}  // namespace fcgimux
