#include "gateway/server/upstream_connection.h"

#include <utility>

#include "fcgi/request_writer.h"
#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/pool.h"
#include "gateway/server/worker.h"

namespace fcgimux {

namespace {
// A connection the worker closes within this long after its response was
// complete is taken as "closes after every response" (uWSGI), not as an idle
// timeout.
constexpr auto kCloseAfterResponseWindow = std::chrono::milliseconds(1000);
}  // namespace

UpstreamConnection::UpstreamConnection(Worker& worker, uv_loop_t* loop)
    : worker_(worker), loop_(loop), parser_(4096) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  worker_.health().add_open_conn(1);
}

UpstreamConnection::~UpstreamConnection() = default;

bool UpstreamConnection::connect() {
  uv_tcp_nodelay(&tcp_, 1);
  const auto& addr = worker_.config().address.addr;
  connect_req_.data = this;
  int rc = uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
                          &UpstreamConnection::on_connect_cb);
  if (rc != 0) {
    worker_.thread().log().warn("worker_connect_failed", "worker={} error={}", worker_.name(),
                                uv_strerror(rc));
    close();
    return false;
  }
  uv_timer_start(&timer_, &UpstreamConnection::on_timer_cb,
                 uint64_t(worker_.pool_config().connect_timeout.count()), 0);
  last_activity_ = now(loop_);
  return true;
}

void UpstreamConnection::on_connect_cb(uv_connect_t* req, int status) {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  if (status == UV_ECANCELED || self->state_ == State::Closing) return;
  self->on_connect(status);
}

void UpstreamConnection::on_connect(int status) {
  uv_timer_stop(&timer_);
  if (status != 0) {
    fail(Error::WorkerVanished, FailureKind::ConnectRefused,
         fmt::format("connect failed: {}", uv_strerror(status)));
    return;
  }
  state_ = exchange_ ? State::Active : State::Idle;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &UpstreamConnection::on_alloc_cb,
                &UpstreamConnection::on_read_cb);
  if (exchange_) {
    request_started_ = now(loop_);
    suspect_at_ = request_started_ + worker_.pool().suspect_threshold().value_or(worker_.pool_config().suspect_after);
    suspected_ = false;
    last_activity_ = request_started_;
    arm_response_timer();
    exchange_->on_upstream_ready();
  }
}

void UpstreamConnection::attach(Exchange* ex) {
  exchange_ = ex;
  // A fresh id per request: late records for a finished request carry the old
  // id and are dropped instead of leaking into the next response.
  request_id_ = uint16_t(request_id_ % 0xFFFF + 1);
  got_response_bytes_ = false;
  wrote_request_bytes_ = false;
  awaiting_verdict_ = false;
  keep_conn_ = worker_.keeps_connections();
  if (state_ == State::Idle) {
    state_ = State::Active;
    request_started_ = now(loop_);
    suspect_at_ = request_started_ + worker_.pool().suspect_threshold().value_or(worker_.pool_config().suspect_after);
    suspected_ = false;
    last_activity_ = request_started_;
    arm_response_timer();
    ex->on_upstream_ready();
  }
}

void UpstreamConnection::detach_and_close() {
  exchange_ = nullptr;
  worker_.on_request_done(this, /*ok=*/true, /*reusable=*/false);
}

void UpstreamConnection::send(std::unique_ptr<WriteBatch> batch) {
  if (state_ == State::Closing || batch->empty()) return;
  WriteBatch* b = batch.get();
  b->req.data = b;
  auto& bufs = b->bufs();
  wrote_request_bytes_ = true;
  // Most batches fit the socket buffer: write them now, and only queue (and
  // wait for a callback) what the kernel did not take.
  int rc = state_ == State::Connecting
               ? UV_EAGAIN
               : uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), bufs.data(), unsigned(bufs.size()));
  size_t left = bufs.size();
  if (rc > 0) left = b->consume(size_t(rc));
  else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    fail(Error::WorkerVanished, FailureKind::Vanished, fmt::format("write failed: {}", uv_strerror(rc)));
    return;
  }
  if (left == 0) return;  // all written; the batch (and its pins) can go
  const size_t n = b->size();
  rc = uv_write(&b->req, reinterpret_cast<uv_stream_t*>(&tcp_), b->unwritten(), unsigned(left),
                &UpstreamConnection::on_write_cb);
  if (rc != 0) {
    // libuv will not call back: the batch dies here. The socket is broken.
    fail(Error::WorkerVanished, FailureKind::Vanished, fmt::format("write failed: {}", uv_strerror(rc)));
    return;
  }
  batch.release();  // libuv holds it until on_write_cb
  write_backlog_ += n;
}

void UpstreamConnection::on_write_cb(uv_write_t* req, int status) {
  std::unique_ptr<WriteBatch> batch{static_cast<WriteBatch*>(req->data)};  // freed on every path
  auto* self = static_cast<UpstreamConnection*>(req->handle->data);
  self->on_written(batch.get(), status);
}

void UpstreamConnection::on_written(WriteBatch* b, int status) {
  write_backlog_ -= std::min(write_backlog_, b->size());
  if (status == UV_ECANCELED || state_ == State::Closing) return;
  if (status < 0) {
    // A write error (EPIPE, ECONNRESET): the worker is gone. Reading will
    // usually report it too; whichever comes first fails the attempt.
    fail(Error::WorkerVanished, FailureKind::Vanished, fmt::format("write failed: {}", uv_strerror(status)));
    return;
  }
  if (exchange_) exchange_->on_upstream_drained();
}

void UpstreamConnection::on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConnection*>(h->data);
  *buf = self->worker_.thread().read_buffer();  // shared by the loop; consumed within the callback
}

void UpstreamConnection::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConnection*>(s->data);
  if (self->state_ == State::Closing) return;
  self->on_read(nread, buf);
}

void UpstreamConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;  // EAGAIN: nothing to do
  if (nread < 0) {
    if (state_ == State::Idle) {
      // The worker closed a kept-alive connection between requests.
      const bool soon = now(loop_) - idle_since_ <= kCloseAfterResponseWindow;
      worker_.on_idle_closed(this, soon);
      close();
      return;
    }
    fail(Error::WorkerVanished, FailureKind::Vanished,
         nread == UV_EOF ? std::string("connection closed mid-request")
                         : fmt::format("connection lost mid-request: {}", uv_strerror(int(nread))));
    return;
  }
  last_activity_ = now(loop_);
  awaiting_verdict_ = false;
  if (exchange_ && !read_paused_) arm_response_timer();
  auto r = parser_.feed({reinterpret_cast<const std::byte*>(buf->base), size_t(nread)}, *this);
  if (state_ == State::Closing) return;
  if (!r) {
    worker_.thread().log().warn("worker_protocol_error", "worker={} error={}", worker_.name(),
                                fcgi::to_string(r.error()));
    fail(Error::WorkerProtocol, FailureKind::Protocol,
         fmt::format("FastCGI protocol error: {}", fcgi::to_string(r.error())));
  }
}

bool UpstreamConnection::stray_record(uint16_t id, std::string_view type) {
  if (exchange_ != nullptr && id == request_id_) return false;
  // One request at a time runs on a connection, and an abandoned request's
  // connection is closed, never reused: a record for any other id (a wrong
  // id, or output after END_REQUEST) is the worker's mistake, and nothing
  // more it sends on this connection can be trusted.
  worker_.thread().log().warn("worker_stray_record", "worker={} type={} request_id={} expected={}",
                              worker_.name(), type, id, exchange_ ? request_id_ : 0);
  if (exchange_ != nullptr) {
    fail(Error::WorkerProtocol, FailureKind::Protocol,
         fmt::format("{} record for request id {}, expected {}", type, id, request_id_));
    return true;
  }
  if (state_ == State::Idle) worker_.on_idle_closed(this, false);
  close();
  return true;
}

void UpstreamConnection::on_stdout(uint16_t id, std::span<const std::byte> bytes) {
  if (state_ == State::Closing || stray_record(id, "STDOUT")) return;
  if (bytes.empty()) return;  // the end of STDOUT: END_REQUEST follows
  if (!got_response_bytes_) {
    got_response_bytes_ = true;
    worker_.pool().record_first_byte(now(loop_) - request_started_);
  }
  exchange_->on_stdout(bytes);
}

void UpstreamConnection::on_stderr(uint16_t id, std::span<const std::byte> bytes) {
  if (state_ == State::Closing || stray_record(id, "STDERR")) return;
  got_response_bytes_ = true;
  exchange_->on_stderr(bytes);
}

void UpstreamConnection::on_end_request(uint16_t id, uint32_t app_status, fcgi::ProtocolStatus status) {
  if (state_ == State::Closing || stray_record(id, "END_REQUEST")) return;
  Exchange* ex = std::exchange(exchange_, nullptr);
  uv_timer_stop(&timer_);
  ++requests_served_;
  const bool refused = status == fcgi::ProtocolStatus::Overloaded ||
                       status == fcgi::ProtocolStatus::CantMpxConn;
  if (refused && !got_response_bytes_) {
    // The worker turned the request away before doing anything with it.
    worker_.on_failure(FailureKind::Overloaded, fmt::format("END_REQUEST {}", fcgi::to_string(status)));
    worker_.on_request_done(this, /*ok=*/false, /*reusable=*/false);
    close();
    ex->on_upstream_failed({Error::NoWorker, FailureKind::Overloaded, /*reached_worker=*/false,
                            requests_served_ > 1, /*evicted=*/false});
    return;
  }
  // The parser lives as long as the connection, so a record still arriving
  // (padding, or a late record for this id) is consumed and dropped later;
  // what matters is that our side has nothing of this request in flight.
  const bool reusable = write_backlog_ == 0 && keep_conn_ && !read_paused_;
  if (reusable) become_idle();
  worker_.on_request_done(this, /*ok=*/true, reusable);
  ex->on_end_request(app_status, status);
}

void UpstreamConnection::become_idle() {
  state_ = State::Idle;
  idle_since_ = now(loop_);
  uv_timer_start(&timer_, &UpstreamConnection::on_timer_cb,
                 uint64_t(worker_.pool_config().keepalive_timeout.count()), 0);
}

void UpstreamConnection::on_get_values_result(std::vector<std::pair<std::string, std::string>>) {
  // Capability discovery is not asked for yet; an unsolicited answer is harmless.
}

void UpstreamConnection::on_unknown_type(uint8_t type) {
  worker_.thread().log().debug("worker_unknown_type", "worker={} type={}", worker_.name(), type);
}

void UpstreamConnection::pause_reading() {
  if (read_paused_ || state_ == State::Closing) return;
  read_paused_ = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  // The worker is not slow: our client is. The gap timer waits with the reads.
  if (state_ == State::Active) uv_timer_stop(&timer_);
}

void UpstreamConnection::resume_reading() {
  if (!read_paused_ || state_ == State::Closing) return;
  read_paused_ = false;
  if (state_ != State::Connecting) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &UpstreamConnection::on_alloc_cb,
                  &UpstreamConnection::on_read_cb);
    if (exchange_) arm_response_timer();
  }
}

void UpstreamConnection::restart_response_clock() {
  if (state_ != State::Active || exchange_ == nullptr) return;
  request_started_ = now(loop_);
  suspect_at_ = request_started_ + worker_.pool().suspect_threshold().value_or(worker_.pool_config().suspect_after);
  suspected_ = false;
  if (!got_response_bytes_) last_activity_ = request_started_;
  if (!read_paused_) arm_response_timer();
}

void UpstreamConnection::arm_response_timer() {
  // One timer, lazily re-armed (STYLE C6): it wakes at the earlier of the
  // response deadline (last byte + response_timeout) and, while no byte has
  // come yet, the early-suspicion point.
  const TimePoint t = now(loop_);
  TimePoint wake = last_activity_ + worker_.pool_config().response_timeout;
  if (!got_response_bytes_ && !suspected_) wake = std::min(wake, suspect_at_);
  if (!got_response_bytes_ && requests_served_ == 0 && !backlog_reported_)
    wake = std::min(wake, request_started_ + worker_.pool_config().suspect_after);
  // At least 1 ms: a zero timeout started from this timer's own callback
  // runs again within the same uv__run_timers pass (loop time does not
  // advance), so a deadline that stays in the past would spin forever.
  const auto wait = wake > t ? wake - t : Millis(1);
  uv_timer_start(&timer_, &UpstreamConnection::on_timer_cb, uint64_t(wait.count()), 0);
}

void UpstreamConnection::on_response_deadline() {
  const TimePoint t = now(loop_);
  const Millis response_timeout = worker_.pool_config().response_timeout;
  if (exchange_ && !exchange_->request_complete() && write_backlog_ == 0 && !got_response_bytes_) {
    // The worker has taken all of the body we have; the client is the one
    // still sending it (body_timeout bounds that). Neither a timeout nor a
    // suspicion: the clock restarts once the request is complete. Until
    // then, look again later: every deadline armed from the request's start
    // (early suspicion, the backlog sign) moves with it, or the timer would
    // be due at once, again and again.
    request_started_ = t;
    last_activity_ = t;
    suspect_at_ = t + response_timeout;
    arm_response_timer();
    return;
  }
  if (t >= last_activity_ + response_timeout) {
    if (!awaiting_verdict_ && exchange_ && !got_response_bytes_ && exchange_->is_safe_method()) {
      // A safe request that got nothing yet is held for the probe's verdict
      // (at most probe_timeout): if the worker is hung, the eviction moves
      // the request to another worker instead of failing it; if the worker
      // answers, only this request was slow, and it gets its 504.
      awaiting_verdict_ = true;
      worker_.suspect(fmt::format("response timeout {}ms", response_timeout.count()));
      uv_timer_start(&timer_, &UpstreamConnection::on_timer_cb,
                     uint64_t((worker_.pool_config().probe_timeout + Millis(100)).count()), 0);
      return;
    }
    worker_.thread().log().warn("worker_response_timeout", "worker={} after={}ms request_id={}",
                                worker_.name(), response_timeout.count(), request_id_);
    // A timeout alone does not tell a hung worker from a slow request: the
    // request fails (504), and a probe decides about the worker.
    Exchange* ex = std::exchange(exchange_, nullptr);
    worker_.on_request_done(this, /*ok=*/false, /*reusable=*/false);
    worker_.suspect(fmt::format("response timeout {}ms", response_timeout.count()));
    if (ex)
      ex->on_upstream_failed({Error::ResponseTimeout, FailureKind::ResponseTimeout,
                              /*reached_worker=*/true, requests_served_ > 0, /*evicted=*/false});
    close();
    return;
  }
  if (!got_response_bytes_ && requests_served_ == 0 && !backlog_reported_ &&
      t >= request_started_ + worker_.pool_config().suspect_after) {
    // A fresh connection still waits: perhaps in the worker's backlog.
    backlog_reported_ = true;
    worker_.on_backlog_sign();
    if (state_ != State::Active) return;
  }
  if (!got_response_bytes_ && !suspected_ && t >= suspect_at_) {
    // The threshold is looked at again now: a request sent before the pool
    // had any history (the first ones after start) is judged by the history
    // gathered since, from the other workers' answers.
    const Millis waited = t - request_started_;
    if (auto threshold = worker_.pool().suspect_threshold(); threshold && waited >= *threshold) {
      suspected_ = true;
      worker_.suspect(fmt::format("no response byte after {}ms (pool threshold {}ms)", waited.count(),
                                  threshold->count()));
    } else {
      suspect_at_ = request_started_ + (threshold ? *threshold : waited * 2);
    }
  }
  if (state_ == State::Active) arm_response_timer();
}

void UpstreamConnection::on_worker_evicted() {
  switch (state_) {
    case State::Idle:
      close();
      return;
    case State::Connecting:
      if (exchange_) abandon(/*reached_worker=*/false);  // never reached it: always moves
      else close();
      return;
    case State::Active:
      if (exchange_ && !got_response_bytes_ && exchange_->may_move_on_eviction()) abandon(true);
      return;  // the rest keep their own deadline
    case State::Closing:
      return;
  }
}

void UpstreamConnection::abandon(bool reached_worker) {
  Exchange* ex = std::exchange(exchange_, nullptr);
  // Closing the connection is the abort: a hung worker would not read an
  // FCGI_ABORT_REQUEST anyway, and this request's id dies with the socket.
  worker_.on_request_done(this, /*ok=*/false, /*reusable=*/false);
  close();
  if (ex)
    ex->on_upstream_failed({Error::WorkerVanished, FailureKind::ProbeUnanswered, reached_worker,
                            requests_served_ > 0, /*evicted=*/true});
}

void UpstreamConnection::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConnection*>(t->data);
  if (self->state_ == State::Closing) return;
  self->on_timer();
}

void UpstreamConnection::on_timer() {
  switch (state_) {
    case State::Connecting:
      fail(Error::WorkerVanished, FailureKind::ConnectTimeout,
           fmt::format("connect timeout {}ms", worker_.pool_config().connect_timeout.count()));
      return;
    case State::Idle:
      worker_.on_idle_closed(this, false);
      close();  // kept long enough
      return;
    case State::Active:
      on_response_deadline();
      return;
    case State::Closing:
      return;
  }
}

void UpstreamConnection::fail(Error e, FailureKind kind, std::string_view detail) {
  if (state_ == State::Closing) return;
  const bool was_connecting = state_ == State::Connecting;
  const bool reused = requests_served_ > 0;
  Exchange* ex = std::exchange(exchange_, nullptr);
  // A reused connection that died before answering anything is the stale
  // keep-alive race, not a worker fault: the worker closed it just before our
  // request arrived.
  const bool stale_keepalive = reused && !got_response_bytes_ && kind == FailureKind::Vanished;
  if (ex)
    worker_.thread().log().warn("worker_request_failed", "worker={} request_id={} reason={} detail={}",
                                worker_.name(), request_id_, to_string(kind), q(detail));
  if (!stale_keepalive) worker_.on_failure(kind, detail);
  if (ex) {
    worker_.on_request_done(this, /*ok=*/false, /*reusable=*/false);
    close();
    ex->on_upstream_failed(
        {e, kind, /*reached_worker=*/!was_connecting && wrote_request_bytes_, reused, /*evicted=*/false});
  }
  close();
}

void UpstreamConnection::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  worker_.health().add_open_conn(-1);
  exchange_ = nullptr;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &UpstreamConnection::on_close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &UpstreamConnection::on_close_cb);
}

void UpstreamConnection::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<UpstreamConnection*>(h->data);
  if (--self->open_handles_ == 0) self->worker_.on_connection_closed(self);  // this was freed
}

}  // namespace fcgimux
