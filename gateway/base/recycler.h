// Spare objects of one class, kept by their loop thread so that an object
// made once per request (Exchange) costs no malloc and no free, and its
// containers keep the capacity the previous request grew them to.
//
// Reuse builds a new object, with its own constructor, in the memory of a
// spare one, after destroying that one: no reset() to keep in step with the
// members, so a field added later cannot leak from one request into the next.
// What should survive is handed over explicitly:
//
//   struct T {
//     struct Reusable { ... };             // containers worth keeping, default-constructible
//     T(Args..., Reusable&&);              // builds a new object, taking them over
//     Reusable take_reusable();            // moves them out (cleared), just before destruction
//     bool worth_keeping() const;          // false: too big to keep (freed instead)
//   };
//
// Not thread-safe: one per loop thread, like everything it recycles.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace fcgimux {

template <class T>
class Recycler {
 public:
  explicit Recycler(size_t max_spare) : max_spare_(max_spare) { spare_.reserve(max_spare); }
  Recycler(const Recycler&) = delete;
  Recycler& operator=(const Recycler&) = delete;

  // T(args..., reusable): in the memory of the most recently given spare
  // (last in, first out: the warmest), with what that one handed over; or in
  // new memory with an empty Reusable when there is no spare.
  template <class... A>
  std::unique_ptr<T> make(A&&... args) {
    if (spare_.empty()) return std::make_unique<T>(std::forward<A>(args)..., typename T::Reusable{});
    T* p = spare_.back().release();
    spare_.pop_back();
    typename T::Reusable kept = p->take_reusable();
    std::destroy_at(p);
    // The same type in the same storage: the unique_ptr's delete later is the
    // one the original new expects.
    return std::unique_ptr<T>(std::construct_at(p, std::forward<A>(args)..., std::move(kept)));
  }

  // Takes |obj|, which nothing else refers to any more, as a spare; frees it
  // instead when max_spare are kept already or it is not worth keeping.
  void give(std::unique_ptr<T> obj) {
    if (!obj || spare_.size() >= max_spare_ || !obj->worth_keeping()) return;  // freed here
    spare_.push_back(std::move(obj));
  }

  size_t spare() const { return spare_.size(); }

 private:
  size_t max_spare_;
  std::vector<std::unique_ptr<T>> spare_;
};

}  // namespace fcgimux
