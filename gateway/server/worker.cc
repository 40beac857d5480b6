#include "gateway/server/worker.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/pool.h"
#include "gateway/server/upstream_connection.h"
#include "gateway/upstream/saturation.h"

namespace fcgimux {

namespace {
// How long a kept-alive connection must have stayed open after its response
// before an unsafe request may use it on a worker not yet proven to keep
// connections.
constexpr Millis kKeepaliveSettle{50};

// A connection idle at least this long is checked for a close before reuse
// even for a safe request (must_check_closed).
constexpr Millis kCheckClosedAfterIdle{1000};

// How long a connection kept idle past max_idle_conns, for a burst, waits to
// be reused before it is closed.
constexpr Millis kBurstIdle{100};

// "2s", "2.5s", "500ms": durations as people write them.
std::string human(Millis d) {
  if (d.count() >= 1000 && d.count() % 100 == 0)
    return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000)
                                 : fmt::format("{:.1f}s", double(d.count()) / 1000.0);
  return fmt::format("{}ms", d.count());
}

std::string ordinal(unsigned n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    else if (n % 10 == 2) suffix = "nd";
    else if (n % 10 == 3) suffix = "rd";
  }
  return fmt::format("{}{}", n, suffix);
}
}  // namespace

Worker::Worker(Pool& pool, const WorkerConfig& cfg, WorkerHealth& health, LoopThread& thread)
    : pool_(pool), cfg_(cfg), health_(health), thread_(thread),
      identity_(std::hash<std::string>{}(cfg.address.text)) {}

Worker::~Worker() = default;

const PoolConfig& Worker::pool_config() const { return pool_.config(); }

Worker::Assigned Worker::assign(Exchange* ex, bool slot_held) {
  if (!slot_held && !health_.try_take_slot(health_.capacity())) return Assigned::Full;
  if (multiplexing()) {
    if (UpstreamConnection* c = shared_connection_for(*ex)) {
      attach(c, ex);
      return Assigned::Yes;
    }
  } else if (UpstreamConnection* c = ex->needs_fresh_connection() ? nullptr : idle_connection_for(*ex)) {
    attach(c, ex);
    return Assigned::Yes;
  }
  auto conn = std::make_unique<UpstreamConnection>(*this, thread_.loop(), multiplexing());
  UpstreamConnection* c = conn.get();
  conns_.push_front(std::move(conn));
  c->self_ = conns_.begin();
  const unsigned cap = health_.conn_capacity();
  if (cap > 0 && health_.open_conns() > int(cap)) {
    // This new connection goes past the worker's capacity: as many idle
    // ones as are too many must go, here or on the other threads, or it
    // would wait behind them.
    close_idle(size_t(health_.open_conns() - int(cap)));
    if (health_.open_conns() > int(cap)) thread_.notify_health_changed();
  }
  if (!c->connect()) {
    if (!slot_held) health_.add_in_flight(-1);
    on_failure(FailureKind::ConnectRefused, "connect failed");
    return Assigned::ConnectFailed;  // connect() closed it; on_connection_closed frees it
  }
  attach(c, ex);
  return Assigned::Yes;
}

void Worker::attach(UpstreamConnection* c, Exchange* ex) {
  ++in_flight_;  // the shared count has it already (assign())
  health_.note_request_sent();
  idle_demand_.note_in_flight(in_flight_, now(thread_.loop()));
  c->attach(ex);  // tells the exchange its connection and request id
}

UpstreamConnection* Worker::idle_connection_for(const Exchange& ex) {
  // Reuse the most recently used idle connection: it is the one least likely
  // to have been closed by the worker's own idle timeout.
  // Until the worker has proven that it keeps connections, an unsafe request
  // takes only a connection that has stayed open a while after its response:
  // a worker that closes after every response (uWSGI) has closed it by then.
  const TimePoint settled = now(thread_.loop()) - kKeepaliveSettle;
  for (size_t i = idle_.size(); i-- > 0;) {
    UpstreamConnection* c = idle_[i];
    if (!keepalive_proven_ && !ex.is_safe_method() && c->idle_since() > settled) continue;
    idle_.erase(idle_.begin() + ptrdiff_t(i));
    if (!c->idle() || !c->accepts(1)) continue;
    if (must_check_closed(*c, ex) && c->peer_closed()) {
      c->close();
      continue;
    }
    return c;
  }
  return nullptr;
}

bool Worker::must_check_closed(const UpstreamConnection& c, const Exchange& ex) const {
  // Reading stays on while a connection is idle, so the loop sees a close as
  // soon as it gets to it; only a close that lands in this very iteration
  // slips through, and a safe request caught by it is resent on a fresh
  // connection (the stale keep-alive race: it never reached the worker). So
  // the kernel is asked (one recv with MSG_PEEK, a system call per request
  // otherwise) only for requests that may not be resent, for workers not
  // proven to keep connections, and for connections idle long enough for a
  // worker's own idle timeout to have closed them.
  if (!keepalive_proven_ || !ex.is_safe_method()) return true;
  return now(thread_.loop()) - c.idle_since() >= kCheckClosedAfterIdle;
}

bool Worker::multiplexing() const { return keeps_connections_ && health_.multiplexes(); }

UpstreamConnection* Worker::shared_connection_for(const Exchange& ex) {
  // Requests gather on as few connections as their cap allows: the busiest
  // shared connection with room first, then a kept idle one, then a new one.
  // A worker may say FCGI_MPXS_CONNS=1 and still close the connection after
  // its first response (Debian's node-fastcgi ignores FCGI_KEEP_CONN),
  // cutting off every other request on it. Until a connection of this worker
  // has carried a second request, only safe requests share one (if cut off,
  // they are sent again); an unsafe one gets a connection of its own.
  const unsigned per_conn = health_.reqs_per_conn();
  const bool unsafe = !ex.is_safe_method();
  if (unsafe && !keepalive_proven_) return nullptr;
  const TimePoint settled = now(thread_.loop()) - kKeepaliveSettle;
  UpstreamConnection* busiest = nullptr;
  UpstreamConnection* least_loaded = nullptr;
  for (auto& conn : conns_) {
    UpstreamConnection* c = conn.get();
    if (!c->multiplexed() || c->idle() || !c->accepts(~0u)) continue;
    if (!keepalive_proven_ && c->unsafe_in_flight() > 0) continue;
    if (!least_loaded || c->in_flight() < least_loaded->in_flight()) least_loaded = c;
    if (c->accepts(per_conn) && (!busiest || c->in_flight() > busiest->in_flight())) busiest = c;
  }
  if (busiest) return busiest;
  for (size_t i = idle_.size(); i-- > 0;) {
    UpstreamConnection* c = idle_[i];
    if (!keepalive_proven_ && !ex.is_safe_method() && c->idle_since() > settled) continue;
    idle_.erase(idle_.begin() + ptrdiff_t(i));
    if (!c->idle() || !c->multiplexed() || !c->accepts(per_conn)) continue;
    if (must_check_closed(*c, ex) && c->peer_closed()) {
      c->close();
      continue;
    }
    return c;
  }
  // Every connection is at its cap. Past the worker's connection capacity a
  // new one would wait in its accept backlog: the least loaded takes more.
  const unsigned cap = health_.conn_capacity();
  if (least_loaded && cap > 0 && health_.open_conns() >= int(cap)) return least_loaded;
  return nullptr;
}

void Worker::on_request_done(UpstreamConnection* c, bool ok) {
  if (ok) note_success(c);
  bool freed_capacity = false;
  if (in_flight_ > 0) {
    --in_flight_;
    // The slot goes to a request waiting here, if this thread may keep it
    // (the shared count never drops, so no other thread sees it free) ...
    if (ok && pool_.hand_on_slot(*this)) return;
    // ... or is freed. The cap is shared by every loop thread: a request
    // queued on another thread may now go, so they are all told.
    const unsigned cap = health_.capacity();
    const bool waiting_elsewhere = pool_.waiting_elsewhere();
    freed_capacity = cap > 0 && (health_.in_flight() >= int(cap) || waiting_elsewhere);
    // This connection goes if it is one too many: requests wait for the
    // slot on another thread, which will open a connection of its own (kept,
    // this one would pin a child of a prefork worker), or the worker is past
    // its connection capacity. Closed before the slot is seen free, so that
    // the other thread's new connection never finds the worker past it.
    const unsigned conn_cap = health_.conn_capacity();
    if (c->idle() && !c->multiplexed() && conn_cap > 0 &&
        ((freed_capacity && waiting_elsewhere) || health_.open_conns() > int(conn_cap))) {
      idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
      c->close();
    }
    health_.add_in_flight(-1);
  }
  if (!ok && health_.in_flight() == 0) {
    const auto t = health_.on_nothing_in_flight(now(thread_.loop()));
    if (t.changed()) {
      log_transition(t, "none of our requests is in flight any more");
      thread_.notify_health_changed();
    }
  }
  pool_.on_capacity();
  if (freed_capacity) thread_.notify_health_changed();
}

void Worker::note_success(UpstreamConnection* c) {
  if (c->requests_served() >= 2) keepalive_proven_ = true;
  health_.on_completion(now(thread_.loop()));
  auto t = health_.on_success(now(thread_.loop()));
  if (t.changed()) {
    log_transition(t, "one of our requests completed");
    thread_.notify_health_changed();
  }
}

void Worker::forget_request() {
  if (in_flight_ == 0) return;
  --in_flight_;
  health_.add_in_flight(-1);
}

void Worker::on_connection_idle(UpstreamConnection* c) {
  const PoolConfig& pc = pool_.config();
  // Until keep-alive is proven one idle connection is enough to prove it;
  // more would only hold worker threads (libfcgi, PHP-FPM children) idle.
  // Once it is proven, as many as this thread's recent load will need again
  // (idle_demand.h): a burst of responses must not close what the clients'
  // next requests are about to reuse. This connection's own request still
  // counts in in_flight_ here.
  const TimePoint t = now(thread_.loop());
  size_t idle_cap = std::min<size_t>(1, pc.max_idle_conns);
  if (c->multiplexed()) idle_cap = pc.max_idle_conns;
  else if (keepalive_proven_)
    idle_cap = idle_demand_.idle_to_keep(pc.max_idle_conns, in_flight_ > 0 ? in_flight_ - 1 : 0, t);
  // Never keep more connections open than the worker's capacity: an idle one
  // would pin a child that another thread's new connection then waits for.
  // Unless a request waits here: it takes this very connection at once
  // (Pool::hand_on_slot()), or on_request_done() closes it; closed here, it
  // would be replaced by a new one, past the capacity again.
  const unsigned cap = health_.conn_capacity();
  const bool over_capacity = cap > 0 && health_.open_conns() > int(cap) && !pool_.waiting_here();
  const bool keeps = keeps_connections_ && (c->multiplexed() || c->keep_conn());
  if (keeps && !thread_.stopping() && idle_.size() < idle_cap && !over_capacity && admits_new_work(t) &&
      health_.keeps_idle_connections(t, pc.keepalive_timeout)) {
    // Kept past the configured cap only for the burst (idle_demand.h): if
    // the next requests do not take it soon, it goes, so that it does not
    // hold a child of a prefork worker whose capacity nobody told us.
    if (idle_.size() >= pc.max_idle_conns) c->limit_idle(kBurstIdle);
    idle_.push_back(c);
  } else {
    c->close();
  }
}

void Worker::on_cant_multiplex() {
  if (!health_.multiplexes()) return;
  health_.learn_no_multiplexing();
  thread_.log().warn("worker_no_multiplexing", "worker={} reason={}", name(),
                     q("FCGI_CANT_MPX_CONN: one request per connection from now on"));
  // Shared connections take no new requests; those in flight finish.
  for (auto& c : conns_)
    if (c->multiplexed()) c->retire();
}

void Worker::on_idle_closed(UpstreamConnection* c, bool soon_after_response) {
  idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  if (soon_after_response && c->requests_served() == 1) on_closed_after_response();
}

void Worker::on_closed_after_response() {
  if (keeps_connections_ && ++closes_after_response_ >= 2) {
    keeps_connections_ = false;
    thread_.log().info("worker_no_keepalive", "worker={} reason={}", name(),
                       q(health_.multiplexes()
                             ? "closes connections after each response despite FCGI_KEEP_CONN; no multiplexing"
                             : "closes connections after each response despite FCGI_KEEP_CONN"));
  }
}

void Worker::on_backlog_sign(Millis waited, Millis wait) {
  const TimePoint t = now(thread_.loop());
  if (health_.capacity() > 0) return;  // open connections stay within a known capacity already
  const bool idle_elsewhere = health_.open_conns() > health_.in_flight();
  health_.note_backlog_sign(t);
  if (!idle_elsewhere) return;
  thread_.log().debug("worker_backlog", "worker={} open={} in_flight={} proven={} waited={}ms wait={}ms msg={}",
                      name(), health_.open_conns(), health_.in_flight(), health_.proven_conns(t), waited.count(),
                      wait.count(),
                      q("a fresh connection waits for its first byte: idle connections closed"));
  close_idle();
  thread_.notify_health_changed();  // the other threads close theirs (Pool::on_health_changed)
}

void Worker::on_failure(FailureKind kind, std::string_view detail) {
  const TimePoint n = now(thread_.loop());
  // A completion within this window shows a worker making progress: at
  // least twice the connect timeout, and twice the pool's p99 time to first
  // byte when requests there are slow (the same window a silent probe gets,
  // saturation.h), so that slow views on few children still count.
  const Millis window = progress_window(2 * pool_.config().connect_timeout, pool_.recent_p99());
  if (kind == FailureKind::ConnectTimeout && health_.completed_since(n - window)) {
    // A connect that times out while the worker keeps completing our
    // requests is a full accept backlog, not a dead machine: stop sending it
    // new work until it completes one, and count nothing against it.
    const auto t = health_.on_busy(n);
    if (t.changed()) {
      log_transition(t, fmt::format("{} while it keeps completing requests", detail));
      thread_.notify_health_changed();
    }
    return;
  }
  const auto t = health_.on_failure(kind, n);
  if (t.changed()) {
    log_transition(t, detail);
    thread_.notify_health_changed();
  }
  // A worker that failed is not kept warm: its idle connections are suspect.
  close_idle();
}

void Worker::suspect(std::string reason) {
  if (thread_.stopping()) return;
  if (!health_.on_suspect(now(thread_.loop()))) return;  // a probe runs already, or it is out
  thread_.log().info("worker_suspect", "worker={} reason={}", name(), q(reason));
  start_probe(ProbePurpose::Suspicion, std::move(reason));
}

bool Worker::two_phase_probe(ProbePurpose purpose, ProbeKind kind) {
  return kind == ProbeKind::Unknown || (purpose == ProbePurpose::Readmission && kind == ProbeKind::GetValues);
}

void Worker::start_probe(ProbePurpose purpose, std::string reason) {
  probing_ = true;
  probe_purpose_ = purpose;
  probe_reason_ = std::move(reason);
  probe_started_ = now(thread_.loop());
  probe_second_phase_ = false;
  const ProbeKind kind = health_.probe_kind();
  const Millis timeout = pool_.config().probe_timeout;
  // A worker not known yet is asked FCGI_GET_VALUES for half the budget, and
  // sent a probe request for the other half if it stays silent. So is an
  // evicted one that answered GET_VALUES before: another program may be
  // there now (a restart, flup replaced by uWSGI), one that never answers it.
  const bool two_phases = two_phase_probe(purpose, kind);
  const ProbeKind mode = kind == ProbeKind::Unknown ? ProbeKind::GetValues : kind;
  const Millis budget = two_phases ? std::max(Millis(1), timeout / 2) : timeout;
  auto p = std::make_unique<Probe>(*this, thread_.loop(), mode, budget);
  Probe* raw = p.get();
  probes_.push_front(std::move(p));
  raw->self_ = probes_.begin();
  raw->start();
}

void Worker::on_probe_done(Probe* p, const ProbeResult& r) {
  if (!probing_ || thread_.stopping()) return;
  const TimePoint t = now(thread_.loop());
  if (!r.answered && !r.connect_failed && p->mode() == ProbeKind::GetValues && !probe_second_phase_ &&
      two_phase_probe(probe_purpose_, health_.probe_kind())) {
    // Silence to GET_VALUES proves nothing yet (uWSGI never answers it,
    // libfcgi only once a request follows): ask with a request.
    probe_second_phase_ = true;
    const Millis left = std::max(Millis(1), pool_.config().probe_timeout - (t - probe_started_));
    auto next = std::make_unique<Probe>(*this, thread_.loop(), ProbeKind::Request, left);
    Probe* raw = next.get();
    probes_.push_front(std::move(next));
    raw->self_ = probes_.begin();
    raw->start();
    return;
  }
  if (r.answered) {
    if (p->mode() == ProbeKind::GetValues) {
      const bool multiplexed_before = health_.multiplexes();
      health_.learn_capacity(r.max_conns.value_or(0), r.mpxs_conns, r.max_reqs.value_or(0));
      const bool multiplexes = health_.multiplexes();
      if (health_.probe_kind() != ProbeKind::GetValues || multiplexes != multiplexed_before) {
        health_.learn_probe_kind(ProbeKind::GetValues);
        thread_.log().info("worker_capabilities",
                           "worker={} probe_kind={} max_conns={} max_reqs={} mpxs_conns={} multiplexing={}",
                           name(), to_string(ProbeKind::GetValues), r.max_conns.value_or(0),
                           r.max_reqs.value_or(0), r.mpxs_conns.value_or(false) ? 1 : 0,
                           multiplexes ? "on" : "off");
      }
      if (multiplexed_before && !multiplexes)
        for (auto& c : conns_)
          if (c->multiplexed()) c->retire();
    } else if (health_.probe_kind() == ProbeKind::GetValues) {
      // Re-admitted by the request after a silent GET_VALUES: another
      // program, or one that resumed just then (a stopped PHP-FPM). The next
      // probe learns which, as at first contact.
      health_.learn_probe_kind(ProbeKind::Unknown);
      thread_.log().info("worker_probe_kind", "worker={} kind={} reason={}", name(), to_string(ProbeKind::Unknown),
                         q("answered a probe request but not FCGI_GET_VALUES: learned again at the next probe"));
    } else if (health_.probe_kind() == ProbeKind::Unknown) {
      health_.learn_probe_kind(ProbeKind::Request);
      thread_.log().info("worker_probe_kind", "worker={} kind={} probe_path={}", name(),
                         to_string(ProbeKind::Request), q(pool_.config().probe_path));
    }
  }
  probing_ = false;
  apply_probe(r);
}

void Worker::apply_probe(const ProbeResult& r) {
  const TimePoint t = now(thread_.loop());
  const Millis took = t - probe_started_;
  const std::string heard =
      r.answered ? fmt::format("probe answered in {}", human(took))
      : r.connect_failed || r.connect_timed_out ? fmt::format("probe could not connect ({})", human(took))
      : r.closed_unanswered ? fmt::format("probe connection closed unanswered after {}", human(took))
                            : fmt::format("probe unanswered in {}", human(took));
  switch (probe_purpose_) {
    case ProbePurpose::Discovery:
      // First contact learns; it does not judge. A worker still loading its
      // application may be slow to answer once, and a hung one is caught by
      // suspicion as soon as a request finds it so. Only a refused or
      // unreachable connection is a verdict.
      if (r.connect_failed) {
        on_failure(FailureKind::ConnectRefused, "no connection at first contact");
      } else if (!r.answered) {
        thread_.log().info("worker_probe_kind", "worker={} kind={} reason={}", name(),
                           to_string(ProbeKind::Unknown), q(fmt::format("no answer at first contact, {}", heard)));
      }
      return;
    case ProbePurpose::Suspicion:
    case ProbePurpose::Readmission: {
      bool full = false;
      const auto tr = health_.on_probe_result(r.answered ? ProbeOutcome::Answered : ProbeOutcome::Unanswered,
                                              t, probe_started_, pool_.recent_p99(), full);
      const std::string cause = probe_reason_.empty() ? heard : fmt::format("{}, {}", probe_reason_, heard);
      if (tr.changed()) {
        log_transition(tr, cause);
        thread_.notify_health_changed();
      }
      return;
    }
  }
}

void Worker::on_probe_closed(Probe* p) {
  probes_.erase(p->self_);  // frees |p|: this was its last close callback
}

void Worker::log_transition(const HealthTransition& t, std::string_view cause) {
  Logger& log = thread_.log();
  if (t.evicted()) {
    const std::string msg = fmt::format("worker {} evicted for {}: {}, {} consecutive failure", name(),
                                        human(t.disabled_for), cause, ordinal(t.consecutive_failures));
    log.warn("worker_evicted", "worker={} for={}ms failures={} msg={}", name(), t.disabled_for.count(),
             t.consecutive_failures, q(msg));
    return;
  }
  switch (t.to) {
    case HealthState::Healthy:
      if (t.from == HealthState::Probing) {
        log.info("worker_readmitted", "worker={} msg={}", name(),
                 q(fmt::format("worker {} re-admitted: {}", name(), cause)));
      } else if (t.from == HealthState::Suspect) {
        log.info("worker_kept", "worker={} msg={}", name(),
                 q(fmt::format("worker {} stays in: {}", name(), cause)));
      } else {
        log.debug("worker_healthy", "worker={} from={} msg={}", name(), to_string(t.from), q(cause));
      }
      return;
    case HealthState::Full:
      log.info("worker_full", "worker={} in_flight={} capacity={} msg={}", name(), health_.in_flight(),
               health_.capacity(),
               q(fmt::format("worker {} is full, not hung: {}; no new work until one of ours completes",
                             name(), cause)));
      return;
    case HealthState::Disabled:
      // Still silent after a re-admission probe: it is probed again soon, and
      // one line per probe would flood the log while a worker is down.
      log.debug("worker_still_out", "worker={} retry_in={}ms msg={}", name(), t.disabled_for.count(), q(cause));
      return;
    case HealthState::Suspect:
    case HealthState::Probing:
    case HealthState::Draining:
      log.info("worker_state", "worker={} from={} to={} msg={}", name(), to_string(t.from), to_string(t.to),
               q(cause));
      return;
  }
}

void Worker::on_evicted() {
  close_idle();
  // What the worker does with kept-alive connections is learned again once
  // it is back: it may come back as another program (a restart, a deploy),
  // and its death under load closed connections right after their first
  // response, which passes for a worker that closes after every response.
  keeps_connections_ = true;
  closes_after_response_ = 0;
  keepalive_proven_ = false;
  // Collect first: each connection may fail its exchange, which may retry
  // on another worker and so reshape this list.
  std::vector<UpstreamConnection*> all;
  for (auto& c : conns_) all.push_back(c.get());
  for (UpstreamConnection* c : all) c->on_worker_evicted();
}

void Worker::on_connection_closed(UpstreamConnection* c) {
  idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  conns_.erase(c->self_);  // frees |c|: this was its last close callback
}

void Worker::close_idle(size_t most) {
  // The least recently used first: they are at the front.
  const size_t n = std::min(most, idle_.size());
  std::vector<UpstreamConnection*> closing(idle_.begin(), idle_.begin() + ptrdiff_t(n));
  idle_.erase(idle_.begin(), idle_.begin() + ptrdiff_t(n));
  for (UpstreamConnection* c : closing) c->close();
}

void Worker::close_all() {
  idle_.clear();
  std::vector<UpstreamConnection*> all;
  for (auto& c : conns_) all.push_back(c.get());
  for (UpstreamConnection* c : all) c->close();
  std::vector<Probe*> probes;
  for (auto& p : probes_) probes.push_back(p.get());
  for (Probe* p : probes) p->close();
}

}  // namespace fcgimux
