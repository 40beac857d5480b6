// The process: opens the listening sockets, starts one LoopThread per
// configured thread, and turns SIGINT/SIGTERM into a graceful stop.
#pragma once

#include <memory>
#include <vector>

#include "gateway/base/log.h"
#include "gateway/config/config.h"
#include "gateway/server/access_log.h"
#include "gateway/server/admin_server.h"
#include "gateway/server/loop_thread.h"

namespace fcgimux {

class Server {
 public:
  Server(const Config& config, Logger& log, std::unique_ptr<AccessLog> access_log);
  ~Server();

  // Runs until SIGINT or SIGTERM and every in-flight request has finished
  // (or shutdown_timeout passed). Returns the process exit code.
  int run();

 private:
  bool open_listeners(unsigned threads, std::vector<std::vector<int>>& per_thread);
  static void on_signal_cb(uv_signal_t* h, int signum);
  // GET /status's body: every pool's workers, their health and counters.
  std::string render_status();

  const Config& config_;
  Logger& log_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<SharedState> shared_;
  std::vector<std::unique_ptr<LoopThread>> threads_;
  uv_loop_t main_loop_;
  std::unique_ptr<AdminServer> admin_;  // [server] admin_listen; on main_loop_
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
};

}  // namespace fcgimux
