#include "gateway/server/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "gateway/server/admin_status.h"
#include "gateway/server/pool.h"

namespace fcgimux {

namespace {
std::string address_text(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  return fmt::format("{}:{}", buf, ntohs(a->sin_port));
}

void set_port(sockaddr_storage& ss, uint16_t port) {
  if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  else reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
}

uint16_t get_port(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}
}  // namespace

Server::Server(const Config& config, Logger& log, std::unique_ptr<AccessLog> access_log)
    : config_(config), log_(log), access_log_(std::move(access_log)) {
  uv_loop_init(&main_loop_);
}

Server::~Server() {
  threads_.clear();
  uv_loop_close(&main_loop_);
}

bool Server::open_listeners(unsigned threads, std::vector<std::vector<int>>& per_thread) {
  per_thread.assign(threads, {});
  for (const SocketAddress& a : config_.server.listen) {
    sockaddr_storage addr = a.addr;
    for (unsigned t = 0; t < threads; ++t) {
      int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        log_.error("listen_failed", "addr={} error={}", a.text, std::strerror(errno));
        return false;
      }
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      // One socket per loop thread on the same address: the kernel spreads
      // new connections across them (SO_REUSEPORT).
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      if (addr.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), a.addr_len) != 0 || ::listen(fd, 511) != 0) {
        log_.error("listen_failed", "addr={} error={}", a.text, std::strerror(errno));
        ::close(fd);
        return false;
      }
      if (t == 0) {
        // Port 0 means "any free port": every thread's socket takes the one
        // the kernel chose for the first.
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
        set_port(addr, get_port(bound));
        log_.info("listening", "addr={} threads={}", address_text(bound), threads);
      }
      per_thread[t].push_back(fd);
    }
  }
  return true;
}

int Server::run() {
  unsigned threads = config_.server.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::vector<int>> fds;
  if (!open_listeners(threads, fds)) return 1;

  shared_ = std::unique_ptr<SharedState>(new SharedState{config_, log_, access_log_.get(), {}, "fcgimux/0.1.0", {}, {}, {}, {}});
  uint64_t seed = uint64_t(uv_hrtime());
  for (const PoolConfig& p : config_.pools) {
    auto& v = shared_->health[p.name];
    for (const WorkerConfig& w : p.workers) v.push_back(std::make_unique<WorkerHealth>(p, w, ++seed * 0x9E3779B97F4A7C15ull));
    shared_->queues[p.name] = std::make_unique<QueueBoard>(threads);
  }
  if (config_.server.admin_listen) {
    // On the main thread's loop: it only waits for signals otherwise.
    admin_ = std::make_unique<AdminServer>(&main_loop_, log_, [this] { return render_status(); });
    if (!admin_->start(*config_.server.admin_listen)) {
      uv_run(&main_loop_, UV_RUN_NOWAIT);  // runs the listener's close callback
      return 1;
    }
  }
  for (unsigned t = 0; t < threads; ++t)
    threads_.push_back(std::make_unique<LoopThread>(*shared_, t, std::move(fds[t])));
  for (auto& t : threads_) shared_->threads.push_back(t.get());

  uv_signal_init(&main_loop_, &sigint_);
  uv_signal_init(&main_loop_, &sigterm_);
  sigint_.data = sigterm_.data = this;
  uv_signal_start(&sigint_, &Server::on_signal_cb, SIGINT);
  uv_signal_start(&sigterm_, &Server::on_signal_cb, SIGTERM);

  for (auto& t : threads_) t->start();
  log_.info("started", "threads={} pools={} routes={}", threads, config_.pools.size(), config_.routes.size());
  uv_run(&main_loop_, UV_RUN_DEFAULT);
  for (auto& t : threads_) t->join();
  log_.info("stopped", "reason={}", "signal");
  return 0;
}

void Server::on_signal_cb(uv_signal_t* h, int signum) {
  auto* self = static_cast<Server*>(h->data);
  self->log_.info("stopping", "signal={} grace={}ms", signum == SIGINT ? "SIGINT" : "SIGTERM",
                  self->config_.server.shutdown_timeout.count());
  self->shared_->stopping.store(true, std::memory_order_release);
  for (auto& t : self->threads_) t->request_stop();
  // Closing the watchers restores the default action: a second signal ends
  // the process at once.
  uv_close(reinterpret_cast<uv_handle_t*>(&self->sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->sigterm_), nullptr);
  if (self->admin_) self->admin_->close();
}

std::string Server::render_status() {
  const TimePoint t = now(&main_loop_);
  std::vector<PoolStatus> pools;
  for (const PoolConfig& p : config_.pools) {
    PoolStatus ps{p.name, {}};
    for (auto& h : shared_->health.at(p.name)) ps.workers.push_back(h->snapshot(t));
    pools.push_back(std::move(ps));
  }
  return render_status_json(shared_->server_software, pools);
}

}  // namespace fcgimux
