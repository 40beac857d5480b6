#include "gateway/base/write_batch.h"

namespace fcgimux {

void WriteBatch::push_copy(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  // Small copies (record headers, padding) are coalesced into the last owned
  // string when it is the last piece, so a batch of many records stays a few iovecs.
  if (!owned_.empty() && !pieces_.empty() && pieces_.back().data == owned_.back().data() &&
      pieces_.back().len == owned_.back().size() &&
      owned_.back().size() + bytes.size() <= owned_.back().capacity()) {
    owned_.back().append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    pieces_.back().data = owned_.back().data();
    pieces_.back().len = owned_.back().size();
    size_ += bytes.size();
    return;
  }
  std::string s;
  s.reserve(std::max<size_t>(bytes.size(), 256));
  s.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  push_owned(std::move(s));
}

void WriteBatch::push_borrowed(std::span<const std::byte> bytes, fcgi::Pin pin) {
  if (bytes.empty()) return;
  pieces_.push_back({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  pins_.push_back(std::move(pin));
  size_ += bytes.size();
}

void WriteBatch::push_owned(std::string s) {
  if (s.empty()) return;
  size_ += s.size();
  owned_.push_back(std::move(s));
  pieces_.push_back({owned_.back().data(), owned_.back().size()});
}

size_t WriteBatch::consume(size_t n) {
  while (first_buf_ < bufs_.size() && n > 0) {
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
  return bufs_.size() - first_buf_;
}

std::vector<uv_buf_t>& WriteBatch::bufs() {
  first_buf_ = 0;
  bufs_.clear();
  bufs_.reserve(pieces_.size());
  for (const Piece& p : pieces_) bufs_.push_back(uv_buf_init(const_cast<char*>(p.data), unsigned(p.len)));
  return bufs_;
}

}  // namespace fcgimux
