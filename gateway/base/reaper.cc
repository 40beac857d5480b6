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
    // The graveyard trades places with spare_ (empty, with the capacity of
    // an earlier batch) rather than being replaced by a new vector, so that
    // defer() does not allocate once per request. Destructors may defer()
    // more, into graveyard_, or even drain() again: batch is local.
    std::vector<std::unique_ptr<Reapable>> batch = std::move(spare_);
    batch.swap(graveyard_);
    batch.clear();
    spare_ = std::move(batch);
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
