#include "gateway/server/worker.h"

#include <algorithm>

#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/pool.h"
#include "gateway/server/upstream_connection.h"

namespace fcgimux {

Worker::Worker(Pool& pool, const WorkerConfig& cfg, LoopThread& thread)
    : pool_(pool),
      cfg_(cfg),
      thread_(thread),
      health_({.disable_time = pool.config().disable_time,
               .max_disable_time = pool.config().max_disable_time}) {}

Worker::~Worker() = default;

const PoolConfig& Worker::pool_config() const { return pool_.config(); }

bool Worker::admits_new_work(TimePoint now) const { return health_.admits_new_work(now); }

bool Worker::has_capacity() const {
  const unsigned cap = pool_.config().max_conns;
  return cap == 0 || in_flight_ < cap;
}

bool Worker::assign(Exchange* ex) {
  // Reuse the most recently used idle connection: it is the one least likely
  // to have been closed by the worker's own idle timeout.
  while (!idle_.empty()) {
    UpstreamConnection* c = idle_.back();
    idle_.pop_back();
    if (!c->idle()) continue;  // closing
    ++in_flight_;
    ex->on_upstream_assigned(c, this);
    c->attach(ex);
    return true;
  }
  auto conn = std::make_unique<UpstreamConnection>(*this, thread_.loop());
  UpstreamConnection* c = conn.get();
  conns_.push_front(std::move(conn));
  c->self_ = conns_.begin();
  if (!c->connect()) {
    on_failure(FailureKind::ConnectRefused);
    return false;  // connect() closed it; on_connection_closed frees it
  }
  ++in_flight_;
  ex->on_upstream_assigned(c, this);
  c->attach(ex);
  return true;
}

void Worker::on_request_done(UpstreamConnection* c, bool ok, bool reusable) {
  if (in_flight_ > 0) --in_flight_;
  if (ok) health_.on_success();
  const PoolConfig& pc = pool_.config();
  if (reusable && keeps_connections_ && c->keep_conn() && !thread_.stopping() &&
      idle_.size() < pc.max_idle_conns) {
    idle_.push_back(c);
  } else {
    c->close();
  }
  pool_.on_capacity();
}

void Worker::on_idle_closed(UpstreamConnection* c, bool soon_after_response) {
  idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  if (soon_after_response && c->requests_served() == 1 && keeps_connections_ &&
      ++closes_after_response_ >= 2) {
    keeps_connections_ = false;
    thread_.log().info("worker_no_keepalive", "worker={} reason={}", name(),
                       "closes connections after each response despite FCGI_KEEP_CONN");
  }
}

void Worker::on_failure(FailureKind kind) {
  const TimePoint t = now(thread_.loop());
  const bool was_admitted = health_.admits_new_work(t);
  const auto d = health_.on_failure(kind, t);
  if (was_admitted) {
    thread_.log().warn("worker_disabled", "worker={} for={}ms reason={} failures={}", name(),
                       d.count(), to_string(kind), health_.consecutive_failures());
  }
  // A worker that failed is not kept warm: its idle connections are suspect.
  close_idle();
}

void Worker::on_connection_closed(UpstreamConnection* c) {
  idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  conns_.erase(c->self_);  // frees |c|: this was its last close callback
}

void Worker::close_idle() {
  auto idle = std::exchange(idle_, {});
  for (UpstreamConnection* c : idle) c->close();
}

void Worker::close_all() {
  idle_.clear();
  std::vector<UpstreamConnection*> all;
  for (auto& c : conns_) all.push_back(c.get());
  for (UpstreamConnection* c : all) c->close();
}

}  // namespace fcgimux
