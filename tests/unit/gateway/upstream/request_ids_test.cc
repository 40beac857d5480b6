#include "gateway/upstream/request_ids.h"

#include <catch2/catch.hpp>

#include <set>

using namespace fcgimux;

TEST_CASE("request ids start at 1 and are never 0 (the management id)", "[request-ids]") {
  RequestIds ids;
  CHECK(ids.acquire() == uint16_t(1));
  CHECK(ids.acquire() == uint16_t(2));
  CHECK(ids.in_flight() == 2);
  CHECK_FALSE(ids.in_use(0));
}

TEST_CASE("an id is reused only after it is released, and then last", "[request-ids]") {
  RequestIds ids;
  const uint16_t a = *ids.acquire();
  const uint16_t b = *ids.acquire();
  ids.release(a);
  CHECK_FALSE(ids.in_use(a));
  CHECK(ids.in_use(b));
  // Round-robin: the released id is not handed out again at once.
  const uint16_t c = *ids.acquire();
  CHECK(c != a);
  CHECK(c != b);
  // An aborted request whose END_REQUEST has not come keeps its id.
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint16_t id = *ids.acquire();
    CHECK(id != b);
    CHECK(id != c);
    seen.insert(id);
    ids.release(id);
  }
  CHECK(seen.size() == 1000);  // every acquisition a different id while ids remain
}

TEST_CASE("ids wrap past 65535 to 1, skipping those still in flight", "[request-ids]") {
  RequestIds ids;
  const uint16_t held = *ids.acquire();  // 1, never released
  uint16_t last = held;
  for (int i = 0; i < 65534; ++i) {
    last = *ids.acquire();
    ids.release(last);
  }
  CHECK(last == 65535);
  const uint16_t next = *ids.acquire();
  CHECK(next == 2);  // 1 is still in flight
  CHECK(ids.in_use(held));
}

TEST_CASE("all 65535 ids in flight: no more until one ends", "[request-ids]") {
  RequestIds ids;
  for (int i = 0; i < 65535; ++i) REQUIRE(ids.acquire());
  CHECK(ids.in_flight() == 65535);
  CHECK_FALSE(ids.acquire());
  ids.release(4242);
  CHECK(ids.acquire() == uint16_t(4242));
  ids.release(7);
  ids.release(7);  // twice: harmless
  ids.release(0);  // never taken: ignored
  CHECK(ids.in_flight() == 65534);
}
