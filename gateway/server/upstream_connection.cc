#include "gateway/server/upstream_connection.h"

#include "gateway/base/unpolled_io.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "fcgi/request_writer.h"
#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/pool.h"
#include "gateway/server/worker.h"
#include "gateway/upstream/proven_conns.h"
#include "gateway/upstream/saturation.h"

namespace fcgimux {

namespace {
// A connection the worker closes within this long after its response was
// complete is taken as "closes after every response" (uWSGI), not as an idle
// timeout.
constexpr auto kCloseAfterResponseWindow = std::chrono::milliseconds(1000);
// A request that timed out waits this much longer than probe_timeout for the
// probe's verdict.
constexpr auto kVerdictSlack = std::chrono::milliseconds(100);
}  // namespace

UpstreamConnection::UpstreamConnection(Worker& worker, uv_loop_t* loop, bool multiplexed)
    : worker_(worker), loop_(loop), multiplexed_(multiplexed), parser_(4096) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  worker_.health().add_open_conn(1);
  opened_with_ = worker_.health().open_conns();
  closed_before_ = worker_.health().conns_closed();
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
  wake_at(now(loop_) + worker_.pool_config().connect_timeout);
  return true;
}

void UpstreamConnection::on_connect_cb(uv_connect_t* req, int status) {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  if (status == UV_ECANCELED || self->state_ == State::Closing) return;
  self->on_connect(status);
}

void UpstreamConnection::on_connect(int status) {
  stop_timer();
  if (status != 0) {
    fail(Error::WorkerVanished, FailureKind::ConnectRefused,
         fmt::format("connect failed: {}", uv_strerror(status)));
    return;
  }
  backlog_wait_ = worker_.pool().backlog_wait(worker_.health());
  reading_ = true;
  worker_.thread().read_start(&tcp_, read_slot_, &UpstreamConnection::on_alloc_cb,
                &UpstreamConnection::on_read_cb);
  state_ = State::Active;
  if (streams_.empty()) {
    after_stream_ended();  // every request let go while connecting: idle, or closed
    return;
  }
  for (Stream& s : streams_) start_stream(s);
  arm_timer();
  // Each exchange writes its request now. Collected first: a write may fail
  // the connection and empty the list.
  std::vector<uint16_t> ids;
  for (const Stream& s : streams_) ids.push_back(s.id);
  for (uint16_t id : ids) {
    Stream* s = find(id);
    if (state_ == State::Closing) return;
    if (s && s->exchange) s->exchange->on_upstream_ready();
  }
}

bool UpstreamConnection::accepts(unsigned reqs_per_conn) const {
  if (state_ == State::Closing || retired_) return false;
  if (!multiplexed_) return state_ == State::Idle;
  return streams_.size() < std::max(1u, reqs_per_conn);
}

bool UpstreamConnection::peer_closed() {
  if (state_ != State::Idle) return state_ == State::Closing;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) != 0) return true;
  char b;
  const ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0: orderly close. <0 other than EAGAIN: reset. >0: the worker sent
  // something while idle, which no request asked for: not reusable either.
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

size_t UpstreamConnection::unsafe_in_flight() const {
  return size_t(std::count_if(streams_.begin(), streams_.end(), [](const Stream& s) { return s.unsafe; }));
}

UpstreamConnection::Stream* UpstreamConnection::find(uint16_t id) {
  for (Stream& s : streams_)
    if (s.id == id) return &s;
  return nullptr;
}

void UpstreamConnection::start_stream(Stream& s) {
  s.started = now(loop_);
  s.last_activity = s.started;
  s.suspect_at = s.started + worker_.pool().suspect_threshold().value_or(worker_.pool_config().suspect_after);
  s.suspected = false;
}

uint16_t UpstreamConnection::attach(Exchange* ex) {
  // A fresh id per request, also on an unshared connection: late records for
  // a finished request carry the old id and are dropped instead of leaking
  // into the next response.
  const uint16_t id = ids_.acquire().value_or(0);
  ++requests_started_;
  const unsigned max_requests = worker_.pool_config().keepalive_requests;
  if (max_requests > 0 && requests_started_ >= max_requests) retired_ = true;
  // A multiplexed connection is always kept: the worker must not close it
  // under the other requests. The last request of a retired unshared one
  // lets the worker close it.
  keep_conn_ = multiplexed_ || (worker_.keeps_connections() && !retired_);
  streams_.push_back({.id = id, .exchange = ex, .unsafe = !ex->is_safe_method()});
  ex->on_upstream_assigned(this, id, &worker_);
  if (state_ == State::Idle || state_ == State::Active) {
    state_ = State::Active;
    Stream* s = find(id);
    start_stream(*s);
    arm_timer();
    ex->on_upstream_ready();
  }
  return id;
}

Exchange* UpstreamConnection::end_stream(uint16_t id) {
  auto it = std::find_if(streams_.begin(), streams_.end(), [id](const Stream& s) { return s.id == id; });
  if (it == streams_.end()) return nullptr;
  Exchange* ex = it->exchange;
  streams_.erase(it);
  ids_.release(id);
  return ex;
}

void UpstreamConnection::release(uint16_t id) {
  Stream* s = find(id);
  if (s == nullptr || state_ == State::Closing) return;
  if (!multiplexed_) {
    // Closing the connection is the abort: the worker sees its client go,
    // and this request's id dies with the socket.
    end_stream(id);
    close();
    worker_.on_request_done(this, /*ok=*/false);
    return;
  }
  if (!s->wrote_request_bytes) {
    end_stream(id);  // nothing of it reached the worker
    worker_.on_request_done(this, /*ok=*/false);
    after_stream_ended();
    return;
  }
  // The worker hears FCGI_ABORT_REQUEST; the id stays taken (and counted in
  // flight) until its END_REQUEST, and what it still sends is dropped. A
  // worker that never ends it gets response_timeout, then the connection is
  // retired.
  s->exchange = nullptr;
  s->last_activity = now(loop_);
  auto batch = new_batch();
  fcgi::write_abort_request(id, *batch);
  write_batch(std::move(batch));
  if (state_ == State::Active) arm_timer();
}

std::unique_ptr<WriteBatch> UpstreamConnection::new_batch() {
  if (auto spare = worker_.thread().spare_batches().take()) return spare;
  return std::make_unique<WriteBatch>();
}

void UpstreamConnection::recycle(std::unique_ptr<WriteBatch> batch) {
  batch->reset();  // lets go of its pins (request bodies) now
  worker_.thread().spare_batches().give(std::move(batch));
}

void UpstreamConnection::send(uint16_t id, std::unique_ptr<WriteBatch> batch) {
  if (state_ == State::Closing || batch->empty()) return;
  if (Stream* s = find(id)) s->wrote_request_bytes = true;
  write_batch(std::move(batch));
}

void UpstreamConnection::write_batch(std::unique_ptr<WriteBatch> batch) {
  // With an IoRing, a batch waits for the end of the loop iteration and
  // leaves with all the others in one system call (io_ring.h). Not while
  // connecting (libuv queues until connected), and never past bytes already
  // queued in libuv: nothing may overtake them.
  if (!unsent_.empty() ||
      (write_backlog_ == 0 && state_ != State::Connecting && worker_.thread().has_io_ring())) {
    write_backlog_ += batch->size();
    unsent_.push_back(std::move(batch));
    if (!std::exchange(flush_scheduled_, true)) worker_.thread().schedule_upstream_flush(this);
    return;
  }
  write_now(std::move(batch));
}

std::span<const iovec> UpstreamConnection::unsent_iovecs() {
  unsent_iov_.clear();
  if (state_ == State::Closing) return {};
  for (auto& b : unsent_)
    for (const uv_buf_t& buf : b->bufs()) unsent_iov_.push_back(iovec{buf.base, buf.len});
  return unsent_iov_;
}

int UpstreamConnection::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd);
  return fd;
}

void UpstreamConnection::flush_unsent() {
  flush_scheduled_ = false;
  const int32_t result = std::exchange(tried_write_, IoRing::kNotSent);
  if (state_ == State::Closing || unsent_.empty()) return;  // close() dropped them
  std::vector<std::unique_ptr<WriteBatch>> batches;
  batches.swap(unsent_);
  for (auto& b : batches) write_backlog_ -= std::min(write_backlog_, b->size());
  if (result != IoRing::kNotSent && result < 0 && result != UV_EAGAIN) {
    fail(Error::WorkerVanished, FailureKind::Vanished, fmt::format("write failed: {}", uv_strerror(result)));
    return;
  }
  size_t sent = result > 0 ? size_t(result) : 0;
  for (auto& b : batches) {
    if (state_ == State::Closing) return;
    if (result != IoRing::kNotSent && sent >= b->size()) {
      sent -= b->size();
      recycle(std::move(b));  // all of it went: the batch (and its pins) can go
      continue;
    }
    if (sent > 0) b->consume(std::exchange(sent, 0));
    write_now(std::move(b));  // what the kernel did not take: libuv's queue
  }
  // Keep the vector's capacity for the next iteration.
  batches.clear();
  if (unsent_.empty()) unsent_.swap(batches);
  // All taken at once: no write callback will say so. Only when an exchange
  // paused its client for this backlog (rare: over a megabyte of body in one
  // iteration), so a plain request costs no walk over the streams.
  if (write_backlog_ == 0 && state_ != State::Closing && std::exchange(drain_awaited_, false)) notify_drained();
}

void UpstreamConnection::write_now(std::unique_ptr<WriteBatch> batch) {
  WriteBatch* b = batch.get();
  b->req.data = b;
  // Most batches fit the socket buffer: write them now, and only queue (and
  // wait for a callback) what the kernel did not take. Nothing may overtake
  // bytes already queued.
  size_t left = size_t(b->unwritten_count());
  int rc = state_ == State::Connecting || write_backlog_ > 0
               ? UV_EAGAIN
               : uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), b->unwritten(), unsigned(left));
  if (rc > 0) left = b->consume(size_t(rc));
  else if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    fail(Error::WorkerVanished, FailureKind::Vanished, fmt::format("write failed: {}", uv_strerror(rc)));
    return;
  }
  if (left == 0) {
    recycle(std::move(batch));  // all written: the batch (and its pins) can go
    return;
  }
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
  // Before the close callbacks (libuv cancels writes first), so |self| is
  // still there.
  self->recycle(std::move(batch));
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
  notify_drained();
}

void UpstreamConnection::notify_drained() {
  drain_awaited_ = false;
  // Request bodies may flow again. Collected first: an exchange may write,
  // and a failed write empties the list.
  std::vector<uint16_t> ids;
  for (const Stream& s : streams_)
    if (s.exchange) ids.push_back(s.id);
  for (uint16_t id : ids) {
    if (state_ == State::Closing) return;
    if (Stream* s = find(id); s && s->exchange) s->exchange->on_upstream_drained();
  }
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
  gave_poll_a_turn_ = false;
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
  if (!answered_) {
    answered_ = true;
    const unsigned racing = worker_.thread().thread_count() - 1;
    worker_.health().note_conn_answered(
        fifo_proof(opened_with_, worker_.health().conns_closed() - closed_before_, racing), now(loop_));
  }
  // On an unshared connection any byte is the request's progress (a large
  // record arrives in many reads); on a shared one each record says whose.
  if (streams_.size() == 1 && !multiplexed_) {
    streams_.front().last_activity = now(loop_);
    streams_.front().awaiting_verdict = false;
  }
  auto r = parser_.feed({reinterpret_cast<const std::byte*>(buf->base), size_t(nread)}, *this);
  if (state_ == State::Closing) return;
  if (!r) {
    worker_.thread().log().warn("worker_protocol_error", "worker={} error={}", worker_.name(),
                                fcgi::to_string(r.error()));
    fail(Error::WorkerProtocol, FailureKind::Protocol,
         fmt::format("FastCGI protocol error: {}", fcgi::to_string(r.error())));
    return;
  }
  if (state_ == State::Active && !read_paused_) arm_timer();
}

UpstreamConnection::Stream* UpstreamConnection::stream_for_record(uint16_t id, std::string_view type) {
  if (Stream* s = find(id)) return s;
  // Ids stay taken until their END_REQUEST, aborted ones included: no record
  // of a well-behaved worker can name an id that is not in flight.
  worker_.thread().log().warn("worker_stray_record", "worker={} type={} request_id={} in_flight={}",
                              worker_.name(), type, id, streams_.size());
  if (!streams_.empty()) {
    fail(Error::WorkerProtocol, FailureKind::Protocol,
         fmt::format("{} record for request id {}, which is not in flight", type, id));
    return nullptr;
  }
  if (state_ == State::Idle) worker_.on_idle_closed(this, false);
  close();
  return nullptr;
}

void UpstreamConnection::on_stdout(uint16_t id, std::span<const std::byte> bytes) {
  if (state_ == State::Closing) return;
  Stream* s = stream_for_record(id, "STDOUT");
  if (s == nullptr) return;
  s->last_activity = now(loop_);
  s->awaiting_verdict = false;
  if (bytes.empty() || s->exchange == nullptr) return;  // end of STDOUT, or an aborted request's output
  if (!s->got_response_bytes) {
    s->got_response_bytes = true;
    worker_.pool().record_first_byte(s->last_activity - s->started, requests_served_ > 0);
    worker_.health().note_ttfb(s->last_activity - s->started);
    // A fresh connection answered: fresh ones that started no later are not
    // in a backlog (is_backlog_sign(), saturation.h).
    if (requests_served_ == 0 && !multiplexed_) worker_.health().note_fresh_answered(s->started);
  }
  s->exchange->on_stdout(bytes);  // may release the stream: |s| is not used after this
}

void UpstreamConnection::on_stderr(uint16_t id, std::span<const std::byte> bytes) {
  if (state_ == State::Closing) return;
  Stream* s = stream_for_record(id, "STDERR");
  if (s == nullptr) return;
  s->last_activity = now(loop_);
  s->awaiting_verdict = false;
  s->got_response_bytes = true;
  if (s->exchange) s->exchange->on_stderr(bytes);
}

void UpstreamConnection::on_end_request(uint16_t id, uint32_t app_status, fcgi::ProtocolStatus status) {
  if (state_ == State::Closing) return;
  Stream* s = stream_for_record(id, "END_REQUEST");
  if (s == nullptr) return;
  const bool got_response_bytes = s->got_response_bytes;
  Exchange* ex = end_stream(id);
  ++requests_served_;
  last_end_ = now(loop_);
  if (ex == nullptr) {
    // An aborted request ended: its id is free, and the worker's capacity.
    after_stream_ended();
    worker_.on_request_done(this, /*ok=*/true);
    return;
  }
  if (status == fcgi::ProtocolStatus::CantMpxConn && multiplexed_ && !got_response_bytes) {
    // The worker takes one request per connection after all: this one did
    // not run, and goes elsewhere (or on a connection of its own).
    worker_.on_cant_multiplex();
    retire();
    after_stream_ended();
    worker_.on_request_done(this, /*ok=*/false);
    ex->on_upstream_failed({Error::NoWorker, FailureKind::Overloaded, /*reached_worker=*/false,
                            /*reused_connection=*/false, /*evicted=*/false});
    return;
  }
  const bool refused = status == fcgi::ProtocolStatus::Overloaded ||
                       status == fcgi::ProtocolStatus::CantMpxConn;
  if (refused && !got_response_bytes) {
    // The worker turned the request away before doing anything with it.
    worker_.on_failure(FailureKind::Overloaded, fmt::format("END_REQUEST {}", fcgi::to_string(status)));
    std::vector<Stream> others = std::exchange(streams_, {});
    close();
    worker_.on_request_done(this, /*ok=*/false);
    ex->on_upstream_failed({Error::NoWorker, FailureKind::Overloaded, /*reached_worker=*/false,
                            /*reused_connection=*/false, /*evicted=*/false});
    for (const Stream& o : others) {
      worker_.on_request_done(this, /*ok=*/false);
      if (o.exchange)
        o.exchange->on_upstream_failed({Error::NoWorker, FailureKind::Overloaded,
                                        /*reached_worker=*/o.got_response_bytes, false, false});
    }
    return;
  }
  // The parser lives as long as the connection, so a record still arriving
  // (padding, or a late record for this id) is consumed and dropped later.
  // Idle (or closed) first, then the capacity is freed: a queued request may
  // take this very connection.
  after_stream_ended();
  worker_.on_request_done(this, /*ok=*/true);
  ex->on_end_request(app_status, status);
}

void UpstreamConnection::after_stream_ended() {
  if (state_ == State::Closing) return;
  if (!streams_.empty()) {
    if (state_ == State::Active) arm_timer();
    return;  // the others carry on
  }
  if (state_ == State::Connecting) return;  // connecting for nobody: on_connect decides
  const bool reusable = keep_conn_ && write_backlog_ == 0 && !read_paused_ && !retired_;
  if (!reusable) {
    close();
    return;
  }
  state_ = State::Idle;
  idle_since_ = now(loop_);
  idle_limit_ = worker_.pool_config().keepalive_timeout;
  wake_at(idle_since_ + idle_limit_);
  worker_.on_connection_idle(this);  // kept for reuse, or closed
}

void UpstreamConnection::limit_idle(Millis limit) {
  if (state_ != State::Idle || limit >= idle_limit_) return;
  idle_limit_ = limit;
  wake_at(idle_since_ + idle_limit_);
}

void UpstreamConnection::retire() {
  retired_ = true;
  if (state_ == State::Idle) close();
}

void UpstreamConnection::on_get_values_result(std::vector<std::pair<std::string, std::string>>) {
  // Capabilities are learned by probes on connections of their own; an
  // unsolicited answer here is harmless.
}

void UpstreamConnection::on_unknown_type(uint8_t type) {
  worker_.thread().log().debug("worker_unknown_type", "worker={} type={}", worker_.name(), type);
}

void UpstreamConnection::pause_reading() {
  if (multiplexed_ || read_paused_ || state_ == State::Closing) return;
  read_paused_ = true;
  worker_.thread().read_stop(&tcp_, read_slot_);
  // The worker is not slow: our client is. The gap timer waits with the reads.
  if (state_ == State::Active) stop_timer();
}

void UpstreamConnection::resume_reading() {
  if (!read_paused_ || state_ == State::Closing) return;
  read_paused_ = false;
  if (state_ != State::Connecting) {
    worker_.thread().read_start(&tcp_, read_slot_, &UpstreamConnection::on_alloc_cb,
                  &UpstreamConnection::on_read_cb);
    for (Stream& s : streams_) s.last_activity = now(loop_);  // the wait was the client's
    if (state_ == State::Active) arm_timer();
  }
}

void UpstreamConnection::restart_response_clock(uint16_t id) {
  Stream* s = find(id);
  if (state_ != State::Active || s == nullptr || s->exchange == nullptr) return;
  const bool got = s->got_response_bytes;
  start_stream(*s);
  if (got) s->last_activity = now(loop_);
  arm_timer();
}

void UpstreamConnection::arm_timer() {
  // One timer, lazily re-armed (STYLE C6): it wakes at the earliest of every
  // request's deadline (last byte + response_timeout), its verdict time when
  // held for a probe, and, while no byte has come yet, its early-suspicion
  // point.
  if (state_ != State::Active || read_paused_) return;
  if (const TimePoint wake = next_deadline(); wake != TimePoint::max()) wake_at(wake);
}

TimePoint UpstreamConnection::next_deadline() const {
  const Millis response_timeout = worker_.pool_config().response_timeout;
  TimePoint wake = TimePoint::max();
  for (const Stream& s : streams_) {
    if (s.exchange && s.awaiting_verdict) {
      wake = std::min(wake, s.verdict_at);  // its response deadline has passed already
      continue;
    }
    wake = std::min(wake, s.last_activity + response_timeout);
    if (s.exchange && !s.got_response_bytes && !s.suspected) wake = std::min(wake, s.suspect_at);
  }
  if (watching_backlog()) wake = std::min(wake, streams_.front().started + backlog_wait_);
  return wake;
}

bool UpstreamConnection::watching_backlog() const {
  return !multiplexed_ && !backlog_reported_ && requests_served_ == 0 && streams_.size() == 1 &&
         !streams_.front().got_response_bytes;
}

void UpstreamConnection::check_deadlines() {
  const TimePoint t = now(loop_);
  const Millis response_timeout = worker_.pool_config().response_timeout;
  if (watching_backlog() && t >= streams_.front().started + backlog_wait_) {
    // A fresh connection still waits: perhaps in the worker's backlog, unless
    // a child was free for it or a newer fresh one was answered already
    // (is_backlog_sign(), saturation.h).
    backlog_reported_ = true;
    if (is_backlog_sign(t, {.started = streams_.front().started, .opened_with = opened_with_},
                        {.suspect_after = worker_.pool_config().suspect_after,
                         .wait = backlog_wait_,
                         .latest_fresh_answered = worker_.health().latest_fresh_answered(),
                         .proven = worker_.health().proven_conns(t)})) {
      worker_.on_backlog_sign(t - streams_.front().started, backlog_wait_);
      if (state_ != State::Active) return;
    }
  }
  // Collected first: a timed-out request's exchange may retry, and the
  // connection may close under the loop.
  std::vector<uint16_t> ids;
  for (const Stream& s : streams_) ids.push_back(s.id);
  for (uint16_t id : ids) {
    if (state_ == State::Closing) return;
    Stream* s = find(id);
    if (s == nullptr) continue;
    if (s->exchange == nullptr) {
      if (t >= s->last_activity + response_timeout) {
        // An aborted request the worker never ended: stop waiting for it,
        // and stop using a connection whose id it may still answer later.
        end_stream(id);
        retire();
        worker_.on_request_done(this, /*ok=*/false);
        after_stream_ended();
      }
      continue;
    }
    if (!s->exchange->request_complete() && !s->got_response_bytes && write_backlog_ == 0 &&
        (t >= s->last_activity + response_timeout || (!s->suspected && t >= s->suspect_at))) {
      // The worker has taken all of the body we have; the client is the one
      // still sending it (body_timeout bounds that). Neither a timeout nor a
      // suspicion: the clock restarts once the request is complete. Until
      // then, look again in response_timeout.
      s->last_activity = t;
      s->suspect_at = t + response_timeout;
      s->started = t;
      continue;
    }
    if (t >= s->last_activity + response_timeout) {
      if (!s->awaiting_verdict && !s->got_response_bytes && s->exchange->is_safe_method()) {
        // A safe request that got nothing yet is held for the probe's verdict
        // (at most probe_timeout): if the worker is hung, the eviction moves
        // the request to another worker instead of failing it; if the worker
        // answers, only this request was slow, and it gets its 504.
        s->awaiting_verdict = true;
        s->verdict_at = t + worker_.pool_config().probe_timeout + kVerdictSlack;
        worker_.suspect(fmt::format("response timeout {}ms", response_timeout.count()));
        continue;
      }
      if (s->awaiting_verdict && t < s->verdict_at) continue;
      on_response_timeout(id);
      continue;
    }
    if (!s->got_response_bytes && !s->suspected && t >= s->suspect_at) {
      // The threshold is looked at again now: a request sent before the pool
      // had any history (the first ones after start) is judged by the
      // history gathered since, from the other workers' answers.
      const Millis waited = t - s->started;
      if (auto threshold = worker_.pool().suspect_threshold(); threshold && waited >= *threshold) {
        s->suspected = true;
        worker_.suspect(fmt::format("no response byte after {}ms (pool threshold {}ms)", waited.count(),
                                    threshold->count()));
      } else {
        s->suspect_at = s->started + (threshold ? *threshold : waited * 2);
      }
    }
  }
  if (state_ == State::Active) arm_timer();
}

void UpstreamConnection::on_response_timeout(uint16_t id) {
  const Millis response_timeout = worker_.pool_config().response_timeout;
  worker_.thread().log().warn("worker_response_timeout", "worker={} after={}ms request_id={}",
                              worker_.name(), response_timeout.count(), id);
  Stream* s = find(id);
  Exchange* ex = s ? s->exchange : nullptr;
  // A timeout alone does not tell a hung worker from a slow request: the
  // request fails (504), and a probe decides about the worker. The request
  // is aborted on the worker; an unshared connection cannot be reused (its
  // answer may still come), a shared one goes on with the others.
  release(id);
  worker_.suspect(fmt::format("response timeout {}ms", response_timeout.count()));
  if (ex)
    ex->on_upstream_failed({Error::ResponseTimeout, FailureKind::ResponseTimeout,
                            /*reached_worker=*/true, /*reused_connection=*/false, /*evicted=*/false});
}

void UpstreamConnection::on_worker_evicted() {
  switch (state_) {
    case State::Idle:
      close();
      return;
    case State::Connecting: {
      // Nothing reached the worker: every request moves.
      std::vector<uint16_t> ids;
      for (const Stream& s : streams_) ids.push_back(s.id);
      for (uint16_t id : ids) {
        if (state_ == State::Closing) break;
        abandon(id, /*reached_worker=*/false);
      }
      close();
      return;
    }
    case State::Active: {
      std::vector<uint16_t> ids;
      for (const Stream& s : streams_) ids.push_back(s.id);
      for (uint16_t id : ids) {
        if (state_ == State::Closing) return;
        Stream* s = find(id);
        if (s && s->exchange && !s->got_response_bytes && s->exchange->may_move_on_eviction())
          abandon(id, /*reached_worker=*/true);
      }
      // A shared connection left with only abandoned requests on a hung
      // worker has nothing more to wait for.
      if (state_ != State::Closing && multiplexed_ &&
          std::none_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.exchange != nullptr; })) {
        std::vector<Stream> aborted = std::exchange(streams_, {});
        close();
        for (size_t i = 0; i < aborted.size(); ++i) worker_.on_request_done(this, /*ok=*/false);
      }
      return;  // the rest keep their own deadline
    }
    case State::Closing:
      return;
  }
}

void UpstreamConnection::abandon(uint16_t id, bool reached_worker) {
  Stream* s = find(id);
  Exchange* ex = s ? s->exchange : nullptr;
  release(id);
  if (ex)
    ex->on_upstream_failed({Error::WorkerVanished, FailureKind::ProbeUnanswered, reached_worker,
                            /*reused_connection=*/false, /*evicted=*/true});
}

void UpstreamConnection::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConnection*>(t->data);
  self->deadline_timer_.fired();
  if (self->state_ == State::Closing) return;
  self->on_timer();
}

void UpstreamConnection::on_timer() {
  switch (state_) {
    case State::Connecting:
      if (!std::exchange(gave_poll_a_turn_, true) && has_unpolled_io(tcp_, AwaitedIo::Connect)) {
        wake_at(now(loop_));  // connected in time; the late loop has not polled it yet (unpolled_io.h)
        return;
      }
      fail(Error::WorkerVanished, FailureKind::ConnectTimeout,
           fmt::format("connect timeout {}ms", worker_.pool_config().connect_timeout.count()));
      return;
    case State::Idle:
      if (const TimePoint due = idle_since_ + idle_limit_; now(loop_) < due) {
        wake_at(due);  // an earlier request's deadline woke it: not idle long enough yet
        return;
      }
      worker_.on_idle_closed(this, false);
      close();  // kept long enough
      return;
    case State::Active:
      // Woken for an earlier request's deadline (the timer is only ever moved
      // earlier, lazy_timer.h): the requests in flight now have none due yet.
      // Under load this is most wake-ups (a connection serves a request
      // every millisecond, each with a deadline 100 ms or more ahead), and
      // neither the poll(2) below nor check_deadlines() has anything to do.
      if (now(loop_) < next_deadline()) {
        gave_poll_a_turn_ = false;
        arm_timer();
        return;
      }
      // Bytes from the worker waiting unpolled are read first: they may be
      // the answer a deadline is about to be judged without (unpolled_io.h),
      // and so are receives the thread's IoRing has not handed out yet.
      if (!std::exchange(gave_poll_a_turn_, true) &&
          (has_unpolled_io(tcp_, AwaitedIo::Read) || worker_.thread().ring_has_news())) {
        wake_at(now(loop_));
        return;
      }
      gave_poll_a_turn_ = false;
      check_deadlines();
      return;
    case State::Closing:
      return;
  }
}

void UpstreamConnection::fail(Error e, FailureKind kind, std::string_view detail) {
  if (state_ == State::Closing) return;
  const bool was_connecting = state_ == State::Connecting;
  // A reused connection that died before answering any of its requests is
  // the stale keep-alive race, not a worker fault: the worker closed it just
  // before our request arrived.
  const bool stale_keepalive =
      requests_served_ > 0 && kind == FailureKind::Vanished &&
      std::none_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.got_response_bytes; });
  if (!stale_keepalive) worker_.on_failure(kind, detail);
  // The worker closed right after its first response although we asked it
  // to keep the connection: the same lesson as a close while idle.
  else if (requests_served_ == 1 && now(loop_) - last_end_ <= kCloseAfterResponseWindow)
    worker_.on_closed_after_response();
  for (const Stream& s : streams_)
    if (s.exchange)
      worker_.thread().log().warn("worker_request_failed", "worker={} request_id={} reason={} detail={}",
                                  worker_.name(), s.id, to_string(kind), q(detail));
  // Closed before anyone is told: no request may be given to it again.
  std::vector<Stream> failed = std::exchange(streams_, {});
  close();
  for (const Stream& s : failed) {
    worker_.on_request_done(this, /*ok=*/false);
    if (s.exchange)
      s.exchange->on_upstream_failed({e, kind, /*reached_worker=*/!was_connecting && s.wrote_request_bytes,
                                      stale_keepalive, /*evicted=*/false});
  }
}

void UpstreamConnection::close() {
  if (state_ == State::Closing) return;
  state_ = State::Closing;
  worker_.health().add_open_conn(-1);
  if (answered_) worker_.health().note_answered_conn_closed();
  // Batches not yet tried die with the connection (their pins with them).
  if (std::exchange(flush_scheduled_, false)) worker_.thread().unschedule_upstream_flush(this);
  unsent_.clear();
  // Requests still attached here (shutdown) are let go without a word: their
  // exchanges are being closed too.
  for (size_t i = 0; i < streams_.size(); ++i) worker_.forget_request();
  streams_.clear();
  deadline_timer_.stop();
  worker_.thread().read_release(read_slot_);  // before the socket is closed (ring_reads.h)
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &UpstreamConnection::on_close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &UpstreamConnection::on_close_cb);
}

void UpstreamConnection::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<UpstreamConnection*>(h->data);
  if (--self->open_handles_ == 0) self->worker_.on_connection_closed(self);  // this was freed
}

}  // namespace fcgimux
