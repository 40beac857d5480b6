// Spare values of one type (their capacity is the point), kept by a loop
// thread between a user that is done with one and the next that needs one.
// The caller clears a value and decides whether it is worth keeping before
// giving it; take() hands out the most recently given (the warmest), or a
// default-constructed value when none is kept. Not thread-safe: one per loop
// thread. (BufferCache is one of strings, with std::string's own rules.)
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace fcgimux {

template <class T>
class SpareCache {
 public:
  explicit SpareCache(size_t max_spare) : max_spare_(max_spare) { spare_.reserve(max_spare); }
  SpareCache(const SpareCache&) = delete;
  SpareCache& operator=(const SpareCache&) = delete;

  T take() {
    if (spare_.empty()) return T{};
    T v = std::move(spare_.back());
    spare_.pop_back();
    return v;
  }

  // Takes |v| (left default-constructed) as a spare, or frees it when
  // max_spare are kept already.
  void give(T&& v) {
    T mine = std::exchange(v, T{});
    if (spare_.size() < max_spare_) spare_.push_back(std::move(mine));
  }

  size_t size() const { return spare_.size(); }

 private:
  size_t max_spare_;
  std::vector<T> spare_;
};

}  // namespace fcgimux
