// Spare byte buffers (std::string) of one loop thread. A client connection
// takes one when it has a response to send and gives it back once the bytes
// are written: a busy connection allocates no output buffer per response,
// and an idle one holds none (issue #5's 2 KiB per idle connection).
// Not thread-safe: one per loop thread. A SpareCache of strings with
// std::string's own rules for what is worth keeping.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/spare_cache.h"

namespace fcgimux {

class BufferCache {
 public:
  // Keeps at most |max_buffers| buffers of at most |max_capacity| bytes each.
  BufferCache(size_t max_buffers, size_t max_capacity) : spares_(max_buffers), max_capacity_(max_capacity) {}

  // An empty buffer: the most recently given back (warm, with its capacity),
  // or a new one without any.
  std::string take() { return spares_.take(); }

  // Takes |s| back, cleared; frees it instead when it has no capacity worth
  // keeping, more than max_capacity, or max_buffers are kept already.
  void give(std::string&& s) {
    std::string mine = std::move(s);  // |s| is left empty, whatever happens here
    if (mine.capacity() <= kInline || mine.capacity() > max_capacity_) return;
    mine.clear();
    spares_.give(std::move(mine));
  }

  size_t size() const { return spares_.size(); }

 private:
  // A string this short lives inside the std::string object: nothing to keep.
  static constexpr size_t kInline = std::string().capacity();

  SpareCache<std::string> spares_;
  size_t max_capacity_;
};

}  // namespace fcgimux
