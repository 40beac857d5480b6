// Result<T, E>: the subset of C++23's std::expected that fcgimux uses. Every
// protocol boundary returns one; errors are enums, never exceptions.
#pragma once

#include <utility>
#include <variant>

namespace fcgi {

template <class E>
struct Unexpected {
  E error;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  Result(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}
  explicit operator bool() const { return v_.index() == 0; }
  bool has_value() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Unexpected<E> e) : ok_(false), e_(std::move(e.error)) {}
  explicit operator bool() const { return ok_; }
  bool has_value() const { return ok_; }
  const E& error() const { return e_; }

 private:
  bool ok_ = true;
  E e_{};
};

}  // namespace fcgi
