#include "gateway/base/spare_cache.h"

#include <catch2/catch.hpp>

#include <vector>

using namespace fcgimux;

TEST_CASE("a spare cache hands out the last value given, with its capacity", "[base][spare-cache]") {
  SpareCache<std::vector<int>> cache(2);
  std::vector<int> a = cache.take();
  CHECK(a.capacity() == 0);  // none kept: a new value
  a.reserve(100);
  const int* at = a.data();
  cache.give(std::move(a));
  CHECK(a.capacity() == 0);  // NOLINT(bugprone-use-after-move): left default-constructed
  std::vector<int> b = cache.take();
  CHECK(b.data() == at);
  CHECK(b.capacity() >= 100);
  CHECK(cache.size() == 0);
}

TEST_CASE("a spare cache keeps at most its maximum", "[base][spare-cache]") {
  SpareCache<std::vector<int>> cache(2);
  std::vector<int> x(10), y(20), z(30);
  const int* y_at = y.data();
  cache.give(std::move(x));
  cache.give(std::move(y));
  cache.give(std::move(z));  // freed
  CHECK(cache.size() == 2);
  CHECK(cache.take().data() == y_at);
  CHECK(cache.take().size() == 10);
  CHECK(cache.take().capacity() == 0);
}
