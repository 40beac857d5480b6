// Deferred destruction (Envoy's deferredDelete, nghttpx's delete-at-top).
// An object that finishes deep inside a call chain is handed to the Reaper
// and destroyed on the next loop iteration, after the stack that was using it
// has unwound. Objects that own libuv handles are not reaped: they close
// their handles and free themselves in the last close callback (STYLE C1).
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

namespace fcgimux {

class Reapable {
 public:
  virtual ~Reapable() = default;
};

class Reaper {
 public:
  explicit Reaper(uv_loop_t* loop);
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Takes |victim| and destroys it on the next loop iteration.
  void defer(std::unique_ptr<Reapable> victim);
  // Destroys everything deferred so far, now (loop shutdown).
  void drain();
  // Closes the idle handle; call before the loop's final run.
  void close();

 private:
  static void on_idle_cb(uv_idle_t* h);

  uv_idle_t idle_;
  bool closed_ = false;
  std::vector<std::unique_ptr<Reapable>> graveyard_;
  std::vector<std::unique_ptr<Reapable>> spare_;  // empty; keeps its capacity for drain()
};

}  // namespace fcgimux
