// One FastCGI worker as seen by one loop thread: its upstream connections
// (busy and idle), its load and its health.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/upstream/health_tracker.h"

namespace fcgimux {

class Exchange;
class LoopThread;
class Pool;
class UpstreamConnection;

class Worker {
 public:
  Worker(Pool& pool, const WorkerConfig& cfg, LoopThread& thread);
  ~Worker();

  // Gives |ex| a connection: an idle kept-alive one, else a new one. Returns
  // false when a new connection could not even be started.
  bool assign(Exchange* ex);
  // The request on |c| ended. |reusable|: the connection is at a record
  // boundary with nothing outstanding and the worker kept it open.
  void on_request_done(UpstreamConnection* c, bool ok, bool reusable);
  // A kept-alive connection was closed by the worker while idle.
  void on_idle_closed(UpstreamConnection* c, bool soon_after_response);
  // A fault attributable to the worker (connect refused, timeout, protocol...).
  void on_failure(FailureKind kind);
  // Called from the connection's last close callback: frees it.
  void on_connection_closed(UpstreamConnection* c);
  // Closes every connection (shutdown).
  void close_all();
  void close_idle();

  bool admits_new_work(TimePoint now) const;
  bool has_capacity() const;
  unsigned in_flight() const { return in_flight_; }
  unsigned weight() const { return cfg_.weight; }
  const std::string& name() const { return cfg_.address.text; }
  const WorkerConfig& config() const { return cfg_; }
  const PoolConfig& pool_config() const;
  Pool& pool() { return pool_; }
  LoopThread& thread() { return thread_; }
  bool keeps_connections() const { return keeps_connections_; }
  size_t open_connections() const { return conns_.size(); }
  TimePoint disabled_until() const { return health_.disabled_until(); }

 private:
  Pool& pool_;
  const WorkerConfig& cfg_;
  LoopThread& thread_;
  HealthTracker health_;
  std::list<std::unique_ptr<UpstreamConnection>> conns_;  // all, busy and idle
  std::vector<UpstreamConnection*> idle_;                 // most recently used last
  unsigned in_flight_ = 0;
  // Learned: workers such as uWSGI close after every response whatever
  // FCGI_KEEP_CONN says. After two such closes we stop asking for keep-alive,
  // so a request is never sent on a connection the worker is about to close.
  bool keeps_connections_ = true;
  unsigned closes_after_response_ = 0;
};

}  // namespace fcgimux
