#include "gateway/base/buffer_cache.h"

#include <catch2/catch.hpp>

#include <string>

using namespace fcgimux;

TEST_CASE("a buffer cache gives back the last buffer it took, empty, with its capacity", "[base][buffer-cache]") {
  BufferCache cache(2, 4096);
  std::string a = cache.take();
  CHECK(a.empty());
  a.assign(1000, 'x');
  const char* at = a.data();
  cache.give(std::move(a));
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): give() leaves it empty
  CHECK(cache.size() == 1);
  std::string b = cache.take();
  CHECK(b.empty());
  CHECK(b.capacity() >= 1000);
  CHECK(b.data() == at);
  CHECK(cache.size() == 0);
}

TEST_CASE("a buffer cache keeps neither too many buffers nor big or empty ones", "[base][buffer-cache]") {
  BufferCache cache(2, 4096);
  std::string small(100, 's'), big(5000, 'b'), none;
  cache.give(std::move(big));   // over max_capacity
  cache.give(std::move(none));  // nothing to keep
  CHECK(cache.size() == 0);
  std::string x(200, 'x'), y(300, 'y'), z(400, 'z');
  const char* y_at = y.data();
  cache.give(std::move(small));
  cache.give(std::move(y));
  cache.give(std::move(z));  // a third: freed
  CHECK(cache.size() == 2);
  CHECK(cache.take().data() == y_at);  // last in, first out
  cache.give(std::move(x));
  CHECK(cache.size() == 2);
}
