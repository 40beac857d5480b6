// One worker's health, shared by every loop thread: a worker evicted by one
// thread is avoided by all. A HealthTracker (pure) behind a mutex, plus what
// the pool learned about the worker at first contact.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "gateway/config/config.h"
#include "gateway/upstream/health_tracker.h"
#include "gateway/upstream/proven_conns.h"

namespace fcgimux {

// How a liveness probe reaches this worker, learned at first contact.
enum class ProbeKind {
  Unknown,    // not learned yet: ask FCGI_GET_VALUES, then fall back to a request
  GetValues,  // answers FCGI_GET_VALUES on a fresh connection (flup, PHP-FPM, node-fastcgi, Net::Async::FastCGI)
  Request,    // answers only a request (uWSGI never answers GET_VALUES; libfcgi only once a request follows)
};
std::string_view to_string(ProbeKind k);

class WorkerHealth {
 public:
  WorkerHealth(const PoolConfig& pool, const WorkerConfig& worker, uint64_t seed);

  const std::string& name() const { return name_; }

  // Everything the balancer needs, read under one lock.
  struct View {
    bool admits = false;
    HealthState state = HealthState::Healthy;
    double weight_factor = 1.0;
    unsigned capacity = 0;
  };
  View view(TimePoint now);

  bool admits_new_work(TimePoint now);
  double weight_factor(TimePoint now);
  HealthState state();
  TimePoint next_probe_at();
  unsigned consecutive_failures();

  HealthTransition on_failure(FailureKind kind, TimePoint now);
  bool on_suspect(TimePoint now);
  // Claims the re-admission probe: true for exactly one caller once due.
  bool claim_readmission_probe(TimePoint now);
  // Whether the worker was busy rather than hung is decided here, by
  // silence_means_full() (gateway/upstream/saturation.h): our requests in
  // flight fill its known capacity, or one of ours completed on it within
  // max(the probe's duration, 2 × |recent_p99|) (a hung worker completes
  // nothing; a saturated one keeps completing, whatever its unknown
  // capacity).
  HealthTransition on_probe_result(ProbeOutcome outcome, TimePoint now, TimePoint probe_started,
                                   std::optional<Millis> recent_p99, bool& was_full);
  // One of our requests completed on the worker (any thread).
  void on_completion(TimePoint now) {
    last_completion_ms_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    requests_completed_.fetch_add(1, std::memory_order_relaxed);
  }
  HealthTransition on_success(TimePoint now);
  HealthTransition on_busy(TimePoint now);
  HealthTransition on_nothing_in_flight(TimePoint now);
  // One of our requests completed on the worker at or after |since|.
  bool completed_since(TimePoint since) const {
    return last_completion_ms_.load(std::memory_order_relaxed) >= since.time_since_epoch().count();
  }

  // Our requests in flight on this worker, all threads together.
  void add_in_flight(int delta) {
    in_flight_.fetch_add(delta, std::memory_order_relaxed);
    if (delta > 0) requests_sent_.fetch_add(uint64_t(delta), std::memory_order_relaxed);
  }
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // Takes one of the worker's |cap| slots (0: no cap) for a request. Every
  // thread takes from this one count, and two that saw the last slot free
  // at once must not both get it: false for the one that came second.
  bool try_take_slot(unsigned cap) {
    if (cap == 0) {
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    int n = in_flight_.load(std::memory_order_relaxed);
    do {
      if (n >= int(cap)) return false;
    } while (!in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    return true;
  }
  void note_request_sent() { requests_sent_.fetch_add(1, std::memory_order_relaxed); }
  // Our open connections to this worker (busy and idle), all threads together.
  // A prefork worker (PHP-FPM) ties a child to each open connection, idle ones
  // included, so past its capacity a new connection waits in its backlog.
  void add_open_conn(int delta) {
    open_conns_.fetch_add(delta, std::memory_order_relaxed);
    if (delta > 0) conns_opened_.fetch_add(uint64_t(delta), std::memory_order_relaxed);
    else conns_closed_.fetch_add(uint64_t(-delta), std::memory_order_relaxed);
  }
  // Our connections to this worker closed so far, all threads together.
  uint64_t conns_closed() const { return conns_closed_.load(std::memory_order_relaxed); }
  int open_conns() const { return open_conns_.load(std::memory_order_relaxed); }
  // The most requests in flight on this worker: for one request per
  // connection, its connection capacity; when multiplexing, FCGI_MAX_REQS if
  // the worker said it, else connections × requests per connection when the
  // connections are capped. 0 = unknown, no cap.
  unsigned capacity();
  // FCGI_MAX_CONNS when the worker said it, lowered to max_conns when that
  // is set and smaller (or max_conns alone); 0 = unknown.
  unsigned conn_capacity();
  // What FCGI_GET_VALUES said (first contact, and every re-admission).
  void learn_capacity(unsigned max_conns, std::optional<bool> mpxs, unsigned max_reqs = 0);
  // The worker answered FCGI_CANT_MPX_CONN: it does not multiplex after all.
  void learn_no_multiplexing();
  // Whether new connections carry several requests: multiplex = "on", or
  // "auto" and the worker said FCGI_MPXS_CONNS=1; never for "off".
  bool multiplexes();
  // Requests in flight on one multiplexed connection: max_reqs_per_conn,
  // lowered to FCGI_MAX_REQS when the worker said less.
  unsigned reqs_per_conn();

  ProbeKind probe_kind();
  void learn_probe_kind(ProbeKind k);

  // Everything /status shows of this worker, read at |now| (counters are
  // totals since start, all threads together).
  struct Snapshot {
    std::string address;
    HealthState state = HealthState::Healthy;
    Millis disabled_for_ms{0};      // while disabled: until the next probe
    unsigned consecutive_failures = 0;
    int in_flight = 0;
    int open_conns = 0;
    uint64_t requests_sent = 0;       // requests given to the worker (retries count again)
    uint64_t requests_completed = 0;  // of those, completed without a worker fault
    uint64_t connections_opened = 0;
    ProbeKind probe_kind = ProbeKind::Unknown;
    unsigned configured_capacity = 0;  // max_conns; 0 = not set
    unsigned learned_capacity = 0;     // FCGI_MAX_CONNS; 0 = not said
    std::optional<bool> mpxs;          // FCGI_MPXS_CONNS, when the worker said
    unsigned learned_max_reqs = 0;     // FCGI_MAX_REQS; 0 = not said
    unsigned capacity = 0;             // requests in flight at most (capacity()); 0 = no cap
    bool multiplexing = false;         // several requests per connection (multiplexes())
  };
  Snapshot snapshot(TimePoint now);

  // A fresh connection of ours has waited past suspect_after for its first
  // byte: perhaps in the worker's backlog behind children our idle
  // connections hold (see keeps_idle_connections() in saturation.h).
  void note_backlog_sign(TimePoint now) {
    last_backlog_sign_ms_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  // Time to first byte of one of our requests on this worker (any thread):
  // a slowly decaying maximum, so that a thread whose own pool history is
  // thin (its only request on the worker is the one that timed out) still
  // knows how long this worker's answers take (see on_probe_result()). A
  // longer answer raises it at once; each answer after that takes an eighth
  // (rounded up, so it reaches the answers' own time) off, never going below
  // that answer. It changes only with answers: a worker that stops answering
  // keeps the memory of its last ones. Compare-and-swap: threads note at
  // once, and a longer answer must not be lost to a concurrent shorter one.
  void note_ttfb(Millis d) {
    int64_t cur = recent_ttfb_ms_.load(std::memory_order_relaxed);
    while (!recent_ttfb_ms_.compare_exchange_weak(cur, std::max<int64_t>(d.count(), cur - (cur + 7) / 8),
                                                  std::memory_order_relaxed)) {
    }
  }
  Millis recent_ttfb() const { return Millis{recent_ttfb_ms_.load(std::memory_order_relaxed)}; }
  // A fresh connection whose request started at |started| got its first
  // byte: newer fresh connections still waiting are not in a backlog (FIFO).
  void note_fresh_answered(TimePoint started) {
    const int64_t v = started.time_since_epoch().count();
    int64_t cur = latest_fresh_answered_ms_.load(std::memory_order_relaxed);
    while (v > cur && !latest_fresh_answered_ms_.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }
  TimePoint latest_fresh_answered() const {
    const int64_t v = latest_fresh_answered_ms_.load(std::memory_order_relaxed);
    return v == INT64_MIN ? TimePoint::min() : TimePoint{Millis{v}};
  }
  // Whether idle connections may be kept to this worker at |now|: always
  // with a known capacity (open connections stay within it), else
  // |quiet_after| past the last backlog sign, or within it while our open
  // connections stay below proven_conns().
  bool keeps_idle_connections(TimePoint now, Millis quiet_after);

  // One of our connections got its first byte from the worker (|fifo|: what
  // that proves, fifo_proof()), and one so answered closed: how many the
  // worker can hold at once, at least (ProvenConns, proven_conns.h). A
  // backlog sign needs more open than that.
  void note_conn_answered(unsigned fifo, TimePoint now) {
    std::lock_guard lock(mu_);
    proven_.on_answered(fifo, now);
  }
  void note_answered_conn_closed() {
    std::lock_guard lock(mu_);
    proven_.on_closed();
  }
  unsigned proven_conns(TimePoint now) {
    std::lock_guard lock(mu_);
    return proven_.floor(now);
  }

 private:
  std::string name_;
  unsigned configured_capacity_;
  Multiplex multiplex_;
  unsigned configured_reqs_per_conn_;
  std::mutex mu_;
  HealthTracker tracker_;
  ProvenConns proven_;
  unsigned learned_capacity_ = 0;
  unsigned learned_max_reqs_ = 0;
  std::optional<bool> mpxs_;
  unsigned request_capacity_locked() const;
  unsigned conn_capacity_locked() const;
  bool multiplexes_locked() const;
  ProbeKind probe_kind_ = ProbeKind::Unknown;
  std::atomic<int> in_flight_{0};
  std::atomic<int> open_conns_{0};
  std::atomic<int64_t> last_completion_ms_{INT64_MIN};
  std::atomic<int64_t> last_backlog_sign_ms_{INT64_MIN};
  std::atomic<int64_t> latest_fresh_answered_ms_{INT64_MIN};
  std::atomic<int64_t> recent_ttfb_ms_{0};
  std::atomic<uint64_t> requests_sent_{0};
  std::atomic<uint64_t> requests_completed_{0};
  std::atomic<uint64_t> conns_opened_{0};
  std::atomic<uint64_t> conns_closed_{0};
};

}  // namespace fcgimux
