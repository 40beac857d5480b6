// One FastCGI worker as seen by one loop thread: its upstream connections
// (busy and idle), its probes, and a reference to its health, which all
// threads share.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "gateway/base/clock.h"
#include "gateway/config/config.h"
#include "gateway/server/probe.h"
#include "gateway/server/worker_health.h"
#include "gateway/upstream/idle_demand.h"

namespace fcgimux {

class Exchange;
class LoopThread;
class Pool;
class UpstreamConnection;

// Why a probe runs; decides what its result means.
enum class ProbePurpose {
  Discovery,    // first contact: learn how the worker answers probes, and its capacity
  Suspicion,    // a request timed out or is suspiciously late: hung, or only slow?
  Readmission,  // the disable time is over: back in only if it answers
};

class Worker {
 public:
  Worker(Pool& pool, const WorkerConfig& cfg, WorkerHealth& health, LoopThread& thread);
  ~Worker();

  enum class Assigned {
    Yes,
    Full,           // another thread took the last slot first
    ConnectFailed,  // a new connection could not even be started
  };
  // Gives |ex| a slot under the worker's cap and a connection: an idle
  // kept-alive one, else a new one. |slot_held|: the caller hands over the
  // slot of a request that just ended on this thread (it stays counted).
  Assigned assign(Exchange* ex, bool slot_held = false);
  // A request on |c| ended (or was let go). |ok|: the worker completed it.
  void on_request_done(UpstreamConnection* c, bool ok);
  // A request on a connection being closed at shutdown is let go uncounted.
  void forget_request();
  // |c| carries no request now and may be reused: kept idle, or closed.
  void on_connection_idle(UpstreamConnection* c);
  // The worker answered FCGI_CANT_MPX_CONN: one request per connection.
  void on_cant_multiplex();
  // A kept-alive connection was closed by the worker while idle.
  void on_idle_closed(UpstreamConnection* c, bool soon_after_response);
  // A fresh connection, opened beyond what the worker was seen to hold, has
  // waited backlog_wait() for its first byte: with the capacity unknown,
  // idle connections (all threads) go, in case they hold the children it
  // waits for (is_backlog_sign(), keeps_idle_connections() in saturation.h).
  // |waited|: how long it has waited; |wait|: what counted as too long.
  void on_backlog_sign(Millis waited, Millis wait);
  // A connection was closed by the worker just after its first response,
  // despite FCGI_KEEP_CONN (seen while idle, or as a stale reuse).
  void on_closed_after_response();
  // A fault that proves the worker unusable (connect refused or timed out,
  // protocol error, reset mid-response, FCGI_OVERLOADED).
  void on_failure(FailureKind kind, std::string_view detail);
  // A request is late: |reason| says how ("response timeout 30s", "no
  // response byte after 340ms, 10x the pool's p99"). Starts a probe unless
  // one runs already.
  void suspect(std::string reason);
  // Starts a probe for |purpose| (the health state was claimed by the caller).
  void start_probe(ProbePurpose purpose, std::string reason);
  void on_probe_done(Probe* p, const ProbeResult& r);
  // Whether a probe asks FCGI_GET_VALUES for half its budget and then, if
  // unanswered, sends a request: for a worker whose kind is not known, and
  // to re-admit one known to answer GET_VALUES (it may have been replaced).
  static bool two_phase_probe(ProbePurpose purpose, ProbeKind kind);
  void on_probe_closed(Probe* p);
  // The worker was evicted (by any thread): move what may move, and learn
  // again whether it keeps connections once it is back.
  void on_evicted();
  // Called from the connection's last close callback: frees it.
  void on_connection_closed(UpstreamConnection* c);
  void close_all();
  // Closes idle connections, the least recently used first: |most| of them.
  void close_idle(size_t most = SIZE_MAX);

  bool admits_new_work(TimePoint now) const { return health_.admits_new_work(now); }
  unsigned in_flight() const { return in_flight_; }
  unsigned weight() const { return cfg_.weight; }
  uint64_t identity() const { return identity_; }
  const std::string& name() const { return cfg_.address.text; }
  const WorkerConfig& config() const { return cfg_; }
  const PoolConfig& pool_config() const;
  Pool& pool() { return pool_; }
  LoopThread& thread() { return thread_; }
  WorkerHealth& health() const { return health_; }
  bool keeps_connections() const { return keeps_connections_; }

 private:
  bool must_check_closed(const UpstreamConnection& c, const Exchange& ex) const;
  void attach(UpstreamConnection* c, Exchange* ex);
  UpstreamConnection* idle_connection_for(const Exchange& ex);
  UpstreamConnection* shared_connection_for(const Exchange& ex);
  // Several requests per connection: the worker says it multiplexes (or the
  // pool says "on"), and it keeps connections open.
  bool multiplexing() const;
  void log_transition(const HealthTransition& t, std::string_view cause);
  // A request on |c| completed: what that proves of the worker.
  void note_success(UpstreamConnection* c);
  void apply_probe(const ProbeResult& r);

  Pool& pool_;
  const WorkerConfig& cfg_;
  WorkerHealth& health_;  // shared by all threads; owned by the Server
  LoopThread& thread_;
  uint64_t identity_;  // hash of the address, for sticky balancing
  std::list<std::unique_ptr<UpstreamConnection>> conns_;  // all, busy and idle
  std::vector<UpstreamConnection*> idle_;                 // carrying nothing; most recently used last
  std::list<std::unique_ptr<Probe>> probes_;
  unsigned in_flight_ = 0;
  IdleDemand idle_demand_;  // how many idle connections recent load needs again
  // The probe run in progress on this thread: its purpose, why it started,
  // and (for an Unknown worker) whether the GET_VALUES phase already failed.
  bool probing_ = false;
  ProbePurpose probe_purpose_ = ProbePurpose::Discovery;
  std::string probe_reason_;
  TimePoint probe_started_{};
  bool probe_second_phase_ = false;
  // Learned: workers such as uWSGI close after every response whatever
  // FCGI_KEEP_CONN says. After two such closes we stop asking for keep-alive,
  // so a request is never sent on a connection the worker is about to close.
  bool keeps_connections_ = true;
  unsigned closes_after_response_ = 0;
  // Proven: a kept-alive connection served a second request. Until then an
  // unsafe request (POST) is never sent on a reused connection: if the worker
  // closed it just as we wrote, we could not tell whether the POST ran, and
  // it must not run twice.
  bool keepalive_proven_ = false;
};

}  // namespace fcgimux
