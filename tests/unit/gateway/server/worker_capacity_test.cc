// What a worker may be given, from the pool's settings and what the worker
// said in FCGI_GET_VALUES (WorkerHealth: capacity, connections, multiplexing).
#include "gateway/server/worker_health.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace fcgimux;

namespace {
WorkerConfig worker() {
  WorkerConfig w;
  w.address.text = "127.0.0.1:9001";
  return w;
}
}  // namespace

TEST_CASE("capacity: nothing configured or said means no cap and one request per connection",
          "[capacity][multiplex]") {
  PoolConfig pool;
  WorkerHealth h(pool, worker(), 1);
  CHECK(h.capacity() == 0);
  CHECK(h.conn_capacity() == 0);
  CHECK_FALSE(h.multiplexes());
  SECTION("an unanswered GET_VALUES (nothing learned) changes nothing") {
    h.learn_capacity(0, std::nullopt, 0);
    CHECK(h.capacity() == 0);
    CHECK_FALSE(h.multiplexes());
  }
  SECTION("FCGI_MPXS_CONNS=0 (PHP-FPM) keeps one request per connection") {
    h.learn_capacity(0, false, 0);
    CHECK_FALSE(h.multiplexes());
  }
}

TEST_CASE("capacity: the worker's FCGI_MAX_CONNS, lowered by max_conns, never raised",
          "[capacity]") {
  PoolConfig pool;
  SECTION("learned alone") {
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(10, false, 0);
    CHECK(h.conn_capacity() == 10);
    CHECK(h.capacity() == 10);  // one request per connection
  }
  SECTION("configured lower than the worker says") {
    pool.max_conns = 4;
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(10, false, 0);
    CHECK(h.conn_capacity() == 4);
    CHECK(h.capacity() == 4);
  }
  SECTION("configured higher than the worker says: the worker's word holds") {
    pool.max_conns = 50;
    WorkerHealth h(pool, worker(), 1);
    CHECK(h.conn_capacity() == 50);  // until it says
    h.learn_capacity(10, false, 0);
    CHECK(h.conn_capacity() == 10);
  }
}

TEST_CASE("multiplexing: auto follows FCGI_MPXS_CONNS, on and off override it", "[capacity][multiplex]") {
  PoolConfig pool;
  SECTION("auto") {
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(0, true, 0);
    CHECK(h.multiplexes());
    CHECK(h.reqs_per_conn() == 64);  // the built-in default
    CHECK(h.capacity() == 0);        // nothing caps it
    SECTION("FCGI_CANT_MPX_CONN turns it off") {
      h.learn_no_multiplexing();
      CHECK_FALSE(h.multiplexes());
    }
    SECTION("a re-admission probe that says MPXS_CONNS=0 turns it off") {
      h.learn_capacity(0, false, 0);
      CHECK_FALSE(h.multiplexes());
    }
  }
  SECTION("on: multiplexed without being told") {
    pool.multiplex = Multiplex::On;
    WorkerHealth h(pool, worker(), 1);
    CHECK(h.multiplexes());
  }
  SECTION("off: never, whatever the worker says") {
    pool.multiplex = Multiplex::Off;
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(5, true, 100);
    CHECK_FALSE(h.multiplexes());
    CHECK(h.capacity() == 5);  // connections = requests
  }
}

TEST_CASE("multiplexing: requests per connection and in all, from FCGI_MAX_REQS and the settings",
          "[capacity][multiplex]") {
  PoolConfig pool;
  SECTION("FCGI_MAX_REQS below the default lowers requests per connection and caps the worker") {
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(0, true, 20);
    CHECK(h.reqs_per_conn() == 20);
    CHECK(h.capacity() == 20);
  }
  SECTION("max_reqs_per_conn lower than the worker's word wins") {
    pool.max_reqs_per_conn = 8;
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(0, true, 1024);
    CHECK(h.reqs_per_conn() == 8);
    CHECK(h.capacity() == 1024);
  }
  SECTION("with connections capped, the worker takes at most connections x requests per connection") {
    pool.max_conns = 2;
    pool.max_reqs_per_conn = 10;
    WorkerHealth h(pool, worker(), 1);
    h.learn_capacity(0, true, 0);
    CHECK(h.capacity() == 20);
    h.learn_capacity(0, true, 15);
    CHECK(h.capacity() == 15);  // and never more than it said
  }
}

TEST_CASE("WorkerHealth: threads racing for the last slot never take more than the cap", "[capacity]") {
  // Loop threads share one count per worker: two that see the last slot
  // free at once must not both get it.
  PoolConfig pool;
  WorkerHealth h(pool, worker(), 1);
  constexpr unsigned kCap = 2;
  std::atomic<int> most{0};
  std::atomic<long> taken{0};
  auto race = [&] {
    for (int i = 0; i < 100000; ++i) {
      if (!h.try_take_slot(kCap)) continue;
      ++taken;
      // Hold the slot a moment, watching the count.
      for (int k = 0; k < 20; ++k) {
        const int now = h.in_flight();
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
      }
      h.add_in_flight(-1);
    }
  };
  std::thread a(race), b(race), c(race), d(race);
  a.join();
  b.join();
  c.join();
  d.join();
  CHECK(taken > 0);
  CHECK(most <= int(kCap));
  CHECK(h.in_flight() == 0);
  // No cap: always taken.
  CHECK(h.try_take_slot(0));
  CHECK(h.try_take_slot(0));
  CHECK(h.in_flight() == 2);
}
