// Spare byte buffers (std::string) of one loop thread. A client connection
// takes one when it has a response to send and gives it back once the bytes
// are written: a busy connection allocates no output buffer per response,
// and an idle one holds none (issue #5's 2 KiB per idle connection).
// Not thread-safe: one per loop thread.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace fcgimux {

class BufferCache {
 public:
  // Keeps at most |max_buffers| buffers of at most |max_capacity| bytes each.
  BufferCache(size_t max_buffers, size_t max_capacity) : max_buffers_(max_buffers), max_capacity_(max_capacity) {
    spare_.reserve(max_buffers);
  }
  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;

  // An empty buffer: the most recently given back (warm, with its capacity),
  // or a new one without any.
  std::string take() {
    if (spare_.empty()) return {};
    std::string s = std::move(spare_.back());
    spare_.pop_back();
    return s;
  }

  // Takes |s| back, cleared; frees it instead when it has no capacity worth
  // keeping, more than max_capacity, or max_buffers are kept already.
  void give(std::string&& s) {
    std::string mine = std::move(s);  // |s| is left empty, whatever happens here
    if (mine.capacity() <= kInline || mine.capacity() > max_capacity_ || spare_.size() >= max_buffers_) return;
    mine.clear();
    spare_.push_back(std::move(mine));
  }

  size_t size() const { return spare_.size(); }

 private:
  // A string this short lives inside the std::string object: nothing to keep.
  static constexpr size_t kInline = std::string().capacity();

  size_t max_buffers_;
  size_t max_capacity_;
  std::vector<std::string> spare_;
};

}  // namespace fcgimux
