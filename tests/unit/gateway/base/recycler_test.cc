#include "gateway/base/recycler.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>

using namespace fcgimux;

namespace {

// Counts constructions and destructions, and carries one buffer over.
struct Counters {
  int built = 0;
  int destroyed = 0;
};

struct Thing {
  struct Reusable {
    std::string buffer;
  };
  Thing(Counters& c, int id, Reusable&& r) : counters(&c), id(id), buffer(std::move(r.buffer)) { ++c.built; }
  ~Thing() { ++counters->destroyed; }
  Reusable take_reusable() {
    Reusable r{std::move(buffer)};
    r.buffer.clear();
    return r;
  }
  bool worth_keeping() const { return buffer.capacity() <= 1000; }

  Counters* counters;
  int id;
  std::string buffer;
  int state = 0;  // set by a user; a rebuilt Thing starts from 0 again
};

}  // namespace

TEST_CASE("a recycler builds new objects in the memory of given ones, with their buffers", "[base][recycler]") {
  Counters c;
  Recycler<Thing> r(2);
  auto a = r.make(c, 1);
  CHECK(c.built == 1);
  CHECK(a->id == 1);
  CHECK(a->buffer.empty());
  a->buffer.assign(200, 'x');
  a->state = 7;
  const Thing* where = a.get();
  const char* buffer_at = a->buffer.data();

  r.give(std::move(a));
  CHECK(r.spare() == 1);
  CHECK(c.destroyed == 0);  // kept whole until reused

  auto b = r.make(c, 2);
  CHECK(r.spare() == 0);
  CHECK(b.get() == where);              // the same memory
  CHECK(c.destroyed == 1);              // the old object was destroyed first
  CHECK(c.built == 2);                  // and a new one built by its constructor
  CHECK(b->id == 2);
  CHECK(b->state == 0);                 // nothing of the old object's state
  CHECK(b->buffer.empty());             // the buffer is cleared...
  CHECK(b->buffer.capacity() >= 200);   // ...and keeps its capacity
  CHECK(b->buffer.data() == buffer_at);
}

TEST_CASE("a recycler keeps at most its maximum, last in first out", "[base][recycler]") {
  Counters c;
  Recycler<Thing> r(2);
  auto x = r.make(c, 1), y = r.make(c, 2), z = r.make(c, 3);
  const Thing* y_at = y.get();
  const Thing* z_at = z.get();
  r.give(std::move(x));
  r.give(std::move(y));
  r.give(std::move(z));  // over the maximum: freed
  CHECK(r.spare() == 2);
  CHECK(c.destroyed == 1);
  auto first = r.make(c, 4);
  CHECK(first.get() == y_at);  // the most recently given
  CHECK(first.get() != z_at);
  r.give(nullptr);  // nothing to keep
  CHECK(r.spare() == 1);
}

TEST_CASE("a recycler frees an object that is not worth keeping", "[base][recycler]") {
  Counters c;
  Recycler<Thing> r(4);
  auto big = r.make(c, 1);
  big->buffer.assign(5000, 'x');
  r.give(std::move(big));
  CHECK(r.spare() == 0);
  CHECK(c.destroyed == 1);
  {
    Recycler<Thing> scoped(4);
    scoped.give(scoped.make(c, 2));
    CHECK(scoped.spare() == 1);
  }
  CHECK(c.destroyed == 2);  // spares die with their recycler
}
