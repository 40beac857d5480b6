#include "gateway/upstream/proven_conns.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("FIFO proof: the connections open before a fresh one, if none of ours closed since, less racing "
          "threads",
          "[proven-conns]") {
  // A cold start: 171 connections opened in one burst, the last one
  // answered with none closed meanwhile (2 loop threads: 1 may race).
  CHECK(fifo_proof(171, 0, 1) == 170);
  CHECK(fifo_proof(171, 0, 3) == 168);  // 4 loop threads
  // PHP-FPM with 4 children held by our kept connections, listen.backlog 64:
  // the 68th connection gets a child once 62 of ours closed, and some of
  // those the kernel dropped from the full backlog come back behind it.
  // Nothing is proven.
  CHECK(fifo_proof(68, 62, 1) == 0);
  CHECK(fifo_proof(5, 1, 1) == 0);
  CHECK(fifo_proof(1, 0, 1) == 0);
}

TEST_CASE("proven connections: held now, or the most proven within the last one to two windows",
          "[proven-conns]") {
  ProvenConns p;
  const TimePoint t0{std::chrono::hours(1)};
  CHECK(p.floor(t0) == 0);

  SECTION("connections answered and still open are held") {
    for (int i = 0; i < 4; ++i) p.on_answered(0, t0);
    CHECK(p.held() == 4);
    CHECK(p.floor(t0) == 4);
    p.on_closed();
    CHECK(p.held() == 3);
    CHECK(p.floor(t0) == 4);  // the peak stays for a while: the children it proved stay
    CHECK(p.floor(t0 + 999ms) == 4);
    CHECK(p.floor(t0 + 3s) == 3);  // then only what is held now
  }
  SECTION("held keeps the floor up however long ago it was proven (steady keep-alive)") {
    for (int i = 0; i < 170; ++i) p.on_answered(0, t0);
    CHECK(p.floor(t0 + 1h) == 170);
  }
  SECTION("a FIFO proof raises the floor above what is held") {
    p.on_answered(170, t0);  // the last of a burst of 171
    CHECK(p.held() == 1);
    CHECK(p.floor(t0 + 10ms) == 170);
    p.on_closed();
    CHECK(p.floor(t0 + 999ms) == 170);
    CHECK(p.floor(t0 + 3s) == 0);  // forgotten: the worker may have fewer children for us now
  }
  SECTION("more closes than answers never underflow") {
    p.on_closed();
    CHECK(p.held() == 0);
  }
}
