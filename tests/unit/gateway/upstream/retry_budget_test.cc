#include "gateway/upstream/retry_budget.h"

#include <catch2/catch.hpp>

using namespace fcgimux;
using namespace std::chrono_literals;

TEST_CASE("retries are capped at ratio x requests plus a floor over the window", "[retry-budget]") {
  RetryBudget b{{.ratio = 0.2, .floor = 3}};
  TimePoint t{};
  SECTION("a quiet pool may still retry the floor") {
    CHECK(b.try_spend(t));
    CHECK(b.try_spend(t));
    CHECK(b.try_spend(t));
    CHECK_FALSE(b.try_spend(t));
  }
  SECTION("a busy pool may retry 20% more") {
    for (int i = 0; i < 100; ++i) b.on_request(t);
    int allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += b.try_spend(t) ? 1 : 0;
    CHECK(allowed == 23);  // 3 + 0.2 x 100
    CHECK(b.retries_in_window(t) == 23);
  }
  SECTION("the window slides: old requests and retries stop counting") {
    for (int i = 0; i < 100; ++i) b.on_request(t);
    while (b.try_spend(t)) {
    }
    CHECK_FALSE(b.try_spend(t + 9s));   // still inside the 10 s window
    CHECK(b.requests_in_window(t + 9s) == 100);
    CHECK(b.requests_in_window(t + 10s) == 0);
    CHECK(b.try_spend(t + 10s));        // a new window: the floor again
  }
}
