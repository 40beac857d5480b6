#include "gateway/base/reaper.h"

#include <utility>

namespace fcgimux {

Reaper::Reaper(uv_loop_t* loop) {
  uv_idle_init(loop, &idle_);
  idle_.data = this;
}

Reaper::~Reaper() { drain(); }

void Reaper::defer(std::unique_ptr<Reapable> victim) {
  if (!victim) return;
  graveyard_.push_back(std::move(victim));
  // An active idle handle makes the loop poll without blocking, so the
  // graveyard is emptied right after the current callbacks return.
  if (!closed_) uv_idle_start(&idle_, &Reaper::on_idle_cb);
}

void Reaper::drain() {
  while (!graveyard_.empty()) {
    auto batch = std::exchange(graveyard_, {});  // destructors may defer() more
    batch.clear();
  }
}

void Reaper::close() {
  if (std::exchange(closed_, true)) return;
  uv_idle_stop(&idle_);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);  // idle_ is a member: freed with us
}

void Reaper::on_idle_cb(uv_idle_t* h) {
  auto* self = static_cast<Reaper*>(h->data);
  self->drain();
  uv_idle_stop(h);
}

}  // namespace fcgimux
