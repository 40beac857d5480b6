#include "gateway/base/lazy_timer.h"

#include <catch2/catch.hpp>

using namespace fcgimux;

namespace {

struct Loop {
  uv_loop_t loop;
  uv_timer_t timer;
  int fired = 0;
  LazyTimer lazy{timer, [](uv_timer_t* t) {
                   auto* self = static_cast<Loop*>(t->data);
                   self->lazy.fired();
                   ++self->fired;
                 }};
  Loop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &timer);
    timer.data = this;
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  TimePoint t() { return now(&loop); }
  uint64_t libuv_due() { return uv_timer_get_due_in(&timer); }
};

}  // namespace

TEST_CASE("lazy timer: only an earlier time moves the timer", "[lazy-timer]") {
  Loop l;
  const TimePoint t0 = l.t();
  CHECK(l.lazy.due() == TimePoint::max());
  l.lazy.wake_at(t0, t0 + Millis(500));
  CHECK(l.lazy.due() == t0 + Millis(500));
  CHECK(l.libuv_due() == 500);

  l.lazy.wake_at(t0, t0 + Millis(900));  // later: left alone
  CHECK(l.lazy.due() == t0 + Millis(500));
  CHECK(l.libuv_due() == 500);

  l.lazy.wake_at(t0, t0 + Millis(200));  // earlier: moved
  CHECK(l.lazy.due() == t0 + Millis(200));
  CHECK(l.libuv_due() == 200);

  l.lazy.arm(t0, Millis(700));  // forced, even later
  CHECK(l.lazy.due() == t0 + Millis(700));
  CHECK(l.libuv_due() == 700);

  l.lazy.stop();
  CHECK(l.lazy.due() == TimePoint::max());
  CHECK_FALSE(uv_is_active(reinterpret_cast<uv_handle_t*>(&l.timer)));
}

TEST_CASE("lazy timer: a time already past waits 1 ms, and a fired timer can be armed again later", "[lazy-timer]") {
  Loop l;
  const TimePoint t0 = l.t();
  l.lazy.wake_at(t0, t0 - Millis(5));  // overdue: at least 1 ms, so the loop's clock moves first
  CHECK(l.lazy.due() == t0 + Millis(1));
  CHECK(l.libuv_due() == 1);
  uv_run(&l.loop, UV_RUN_ONCE);
  CHECK(l.fired == 1);
  CHECK(l.lazy.due() == TimePoint::max());  // fired: not armed

  // Not armed any more, so a later time than the old one arms it.
  const TimePoint t1 = l.t();
  l.lazy.wake_at(t1, t1 + Millis(3));
  CHECK(l.lazy.due() == t1 + Millis(3));
  uv_run(&l.loop, UV_RUN_ONCE);
  CHECK(l.fired == 2);
}
