#include "gateway/upstream/balancer.h"

#include <catch2/catch.hpp>
#include <map>
#include <vector>

using namespace fcgimux;

namespace {

std::vector<WorkerLoad> weights(std::initializer_list<unsigned> ws) {
  std::vector<WorkerLoad> out;
  for (unsigned w : ws) out.push_back({.eligible = true, .in_flight = 0, .weight = w});
  return out;
}

}  // namespace

TEST_CASE("round-robin gives each worker its weight, interleaved", "[balancer][rr]") {
  Balancer b(Balance::RoundRobin, 3);
  const auto ws = weights({1, 1, 2});
  std::vector<size_t> counts(3);
  std::vector<size_t> seq;
  for (int i = 0; i < 400; ++i) {
    auto p = b.pick(ws);
    REQUIRE(p);
    ++counts[*p];
    seq.push_back(*p);
  }
  CHECK(counts == std::vector<size_t>{100, 100, 200});
  // Smooth: the weight-2 worker never gets three picks in a row, and every
  // window of sum(weights) = 4 picks holds exactly 1:1:2.
  for (size_t i = 2; i < seq.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE((seq[i] == 2 && seq[i - 1] == 2 && seq[i - 2] == 2));
  }
  for (size_t i = 0; i + 4 <= seq.size(); i += 4) {
    std::vector<size_t> w(3);
    for (size_t j = i; j < i + 4; ++j) ++w[seq[j]];
    CAPTURE(i);
    CHECK(w == std::vector<size_t>{1, 1, 2});
  }
}

TEST_CASE("round-robin with equal weights is plain rotation", "[balancer][rr]") {
  Balancer b(Balance::RoundRobin, 3);
  const auto ws = weights({1, 1, 1});
  std::vector<size_t> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(*b.pick(ws));
  CHECK(seq == std::vector<size_t>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("only eligible workers are picked", "[balancer]") {
  const Balance policy = GENERATE(Balance::RoundRobin, Balance::LeastConn, Balance::Sticky);
  CAPTURE(int(policy));
  Balancer b(policy, 4);
  auto ws = weights({1, 5, 1, 1});
  ws[1].eligible = false;
  ws[3].eligible = false;
  std::map<size_t, int> counts;
  for (uint64_t i = 0; i < 200; ++i) {
    auto p = b.pick(ws, /*sticky_key=*/i * 7919);
    REQUIRE(p);
    ++counts[*p];
  }
  CHECK(counts.count(1) == 0);
  CHECK(counts.count(3) == 0);
  CHECK(counts[0] + counts[2] == 200);

  SECTION("none eligible: nullopt") {
    for (auto& w : ws) w.eligible = false;
    CHECK_FALSE(b.pick(ws, 42));
  }
  SECTION("an empty pool: nullopt") {
    CHECK_FALSE(b.pick({}, 42));
  }
}

TEST_CASE("round-robin gives a returning worker no burst", "[balancer][rr]") {
  Balancer b(Balance::RoundRobin, 2);
  auto ws = weights({1, 1});
  ws[1].eligible = false;
  for (int i = 0; i < 10; ++i) CHECK(*b.pick(ws) == 0);
  ws[1].eligible = true;
  std::vector<size_t> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(*b.pick(ws));
  std::vector<size_t> counts(2);
  for (size_t s : seq) ++counts[s];
  CHECK(counts == std::vector<size_t>{3, 3});
}

TEST_CASE("least-conn picks the lowest in_flight per weight", "[balancer][lc]") {
  Balancer b(Balance::LeastConn, 3);
  auto ws = weights({1, 1, 1});
  ws[0].in_flight = 3;
  ws[1].in_flight = 1;
  ws[2].in_flight = 2;
  CHECK(*b.pick(ws) == 1);

  SECTION("weights scale the load") {
    // 4/4 = 1 beats 2/1 = 2 and 3/2 = 1.5.
    ws[0] = {.eligible = true, .in_flight = 2, .weight = 1};
    ws[1] = {.eligible = true, .in_flight = 3, .weight = 2};
    ws[2] = {.eligible = true, .in_flight = 4, .weight = 4};
    CHECK(*b.pick(ws) == 2);
  }
  SECTION("the least loaded is skipped when ineligible") {
    ws[1].eligible = false;
    CHECK(*b.pick(ws) == 2);
  }
}

TEST_CASE("least-conn ties rotate, so an idle pool uses every worker", "[balancer][lc]") {
  Balancer b(Balance::LeastConn, 4);
  const auto ws = weights({1, 1, 2, 1});
  std::vector<size_t> counts(4);
  for (int i = 0; i < 400; ++i) ++counts[*b.pick(ws)];  // loads never change: all tie
  CHECK(counts == std::vector<size_t>{100, 100, 100, 100});

  SECTION("ties among the least loaded only") {
    auto loaded = ws;
    loaded[1].in_flight = 5;
    std::map<size_t, int> c;
    for (int i = 0; i < 30; ++i) ++c[*b.pick(loaded)];
    CHECK(c[0] == 10);
    CHECK(c[1] == 0);
    CHECK(c[2] == 10);
    CHECK(c[3] == 10);
  }
}

TEST_CASE("least-conn follows the load as requests start", "[balancer][lc]") {
  // Simulate requests that never finish: each pick adds one in flight. The
  // weight-2 worker ends up with twice the load of the others.
  Balancer b(Balance::LeastConn, 3);
  auto ws = weights({1, 2, 1});
  for (int i = 0; i < 400; ++i) ++ws[*b.pick(ws)].in_flight;
  CHECK(ws[0].in_flight == 100);
  CHECK(ws[1].in_flight == 200);
  CHECK(ws[2].in_flight == 100);
}

TEST_CASE("sticky is stable and moves only a removed worker's keys", "[balancer][sticky]") {
  Balancer b(Balance::Sticky, 5);
  auto ws = weights({1, 1, 1, 1, 1});
  constexpr uint64_t kKeys = 5000;
  std::vector<size_t> before(kKeys);
  std::vector<size_t> counts(5);
  for (uint64_t k = 0; k < kKeys; ++k) {
    before[k] = *b.pick(ws, k);
    ++counts[before[k]];
  }
  // Every worker gets a fair share (expected 1000 each).
  for (size_t c : counts) CHECK((c > 850 && c < 1150));

  SECTION("the same key gives the same worker, call after call") {
    for (uint64_t k = 0; k < kKeys; ++k) REQUIRE(*b.pick(ws, k) == before[k]);
  }
  SECTION("an ineligible worker's keys move; no other key does") {
    ws[2].eligible = false;
    size_t moved = 0;
    for (uint64_t k = 0; k < kKeys; ++k) {
      const size_t now = *b.pick(ws, k);
      if (before[k] == 2) {
        CHECK(now != 2);
        ++moved;
      } else {
        REQUIRE(now == before[k]);
      }
    }
    CHECK(moved == counts[2]);
    ws[2].eligible = true;  // and back: everyone returns home
    for (uint64_t k = 0; k < kKeys; ++k) REQUIRE(*b.pick(ws, k) == before[k]);
  }
  SECTION("with identities, removing a worker from the list moves only its keys") {
    for (size_t i = 0; i < ws.size(); ++i) ws[i].identity = 1000 + i;
    std::vector<size_t> home(kKeys);
    for (uint64_t k = 0; k < kKeys; ++k) home[k] = *b.pick(ws, k);
    auto fewer = ws;
    fewer.erase(fewer.begin() + 1);  // indices after 1 shift down by one
    for (uint64_t k = 0; k < kKeys; ++k) {
      const size_t now = *b.pick(fewer, k);
      if (home[k] != 1) REQUIRE(fewer[now].identity == ws[home[k]].identity);
    }
  }
}

TEST_CASE("sticky honours weights", "[balancer][sticky]") {
  Balancer b(Balance::Sticky, 2);
  const auto ws = weights({1, 3});
  std::vector<size_t> counts(2);
  for (uint64_t k = 0; k < 8000; ++k) ++counts[*b.pick(ws, k)];
  // Expected 2000 : 6000.
  CHECK((counts[0] > 1700 && counts[0] < 2300));
  CHECK(counts[0] + counts[1] == 8000);
}
