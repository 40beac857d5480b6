#include "gateway/server/exchange.h"

#include <algorithm>
#include <functional>

#include "fcgi/request_writer.h"
#include "gateway/base/write_batch.h"
#include "gateway/cgi/cgi_params.h"
#include "gateway/server/access_log.h"
#include "gateway/server/http_connection.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/pool.h"
#include "gateway/server/upstream_connection.h"
#include "gateway/server/worker.h"

namespace fcgimux {

namespace {
// Request-body backpressure: stop reading from the client while this much
// of its body waits to be taken by the worker's socket.
constexpr size_t kBodyBacklogHigh = 1024 * 1024;
// A STDERR line longer than this is logged in pieces.
constexpr size_t kMaxStderrLine = 4096;
}  // namespace

namespace {
// A recycled exchange keeps at most this much in its containers; one that
// served a bigger request is freed rather than kept (Recycler::give).
constexpr size_t kMaxKeptBytes = 16 * 1024;

size_t kept_bytes(const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t n = pairs.capacity() * sizeof(pairs[0]);
  for (const auto& [k, v] : pairs) n += k.capacity() + v.capacity();
  return n;
}
}  // namespace

Exchange::Exchange(HttpConnection& conn, RequestHead& head, Reusable&& spare)
    : conn_(&conn),
      head_(std::move(head)),
      started_(now(conn.thread().loop())),
      path_(std::move(spare.path)),
      params_(std::move(spare.params)),
      cgi_(std::move(spare.cgi)),
      stderr_line_(std::move(spare.stderr_line)) {
  head = std::move(spare.head);  // the parser fills it with the next request
  cgi_.reset(conn.thread().config().server.max_response_header_size);
}

Exchange::~Exchange() = default;

Exchange::Reusable Exchange::take_reusable() {
  Reusable r{.head = std::move(head_),
             .path = std::move(path_),
             .params = std::move(params_),
             .cgi = std::move(cgi_),
             .stderr_line = std::move(stderr_line_)};
  // The head is cleared by the parser, which gets it (see the constructor);
  // the params buffer by encode_cgi_params().
  r.path.clear();
  r.stderr_line.clear();
  return r;
}

bool Exchange::worth_keeping() const {
  const size_t n = kept_bytes(head_.headers) + params_.capacity() + head_.target.capacity() +
                   head_.path.capacity() + head_.query.capacity() + path_.capacity() + stderr_line_.capacity();
  return n <= kMaxKeptBytes;
}

bool Exchange::detached() const {
  return done_ && upstream_ == nullptr && !queued_ && !spill_ && !finish_pending_;
}

bool Exchange::tried(const Worker* w) const {
  const auto inline_end = tried_inline_.begin() + std::min<size_t>(tried_count_, tried_inline_.size());
  return std::find(tried_inline_.begin(), inline_end, w) != inline_end ||
         std::find(tried_more_.begin(), tried_more_.end(), w) != tried_more_.end();
}

bool Exchange::is_safe_method() const {
  return head_.method == "GET" || head_.method == "HEAD" || head_.method == "OPTIONS";
}

void Exchange::start() {
  LoopThread& t = conn_->thread();
  if (head_.path == "*") {
    // "OPTIONS *" asks about the server itself, not a resource: answered here.
    status_ = 200;
    std::string r = "HTTP/1.1 200 OK\r\nDate: " + std::string(http_date_now()) +
                    "\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nContent-Length: 0\r\n\r\n";
    conn_->send(std::move(r));
    finish_response(true);
    return;
  }
  // Most paths have nothing to decode: normalized straight into path_,
  // whose capacity a recycled exchange keeps.
  bool path_ok;
  if (head_.path.find_first_of(std::string_view("%\0", 2)) == std::string::npos) {
    path_ok = normalize_path(head_.path, path_);
  } else {
    std::string decoded;
    path_ok = percent_decode(head_.path, decoded) && normalize_path(decoded, path_);
  }
  if (!path_ok) {
    send_error(Error::BadRequest, "invalid request path", std::nullopt);
    return;
  }
  route_ = t.router().match(path_);
  if (route_ == nullptr) {
    send_error(Error::NotFound, "no route for this path", std::nullopt);
    return;
  }
  pool_ = t.pool(route_->pool);
  if (pool_ == nullptr) {
    send_error(Error::NoWorker, "no pool for this route", 1);
    return;
  }
  if (pool_->config().balance == Balance::Sticky)
    sticky_key_ = std::hash<std::string>{}(conn_->info().remote_addr);
  if (head_.expect_continue && head_.has_body()) conn_->send(std::string(continue_response()));
  // A chunked body is gathered whole first, so CONTENT_LENGTH is exact;
  // anything else is dispatched now and its body streamed as it arrives.
  if (!head_.chunked) dispatch();
}

void Exchange::dispatch() {
  if (done_ || conn_ == nullptr) return;
  if (!dispatched_) {
    dispatched_ = true;
    const LoopThread& t = conn_->thread();
    const ConnInfo& ci = conn_->info();
    CgiInput in{.head = &head_,
                .route = route_,
                .conn = &ci,
                .server_software = t.server_software(),
                .default_server_name = t.config().server.server_name.empty()
                                           ? std::string_view(ci.server_addr)
                                           : std::string_view(t.config().server.server_name),
                .content_length = head_.chunked ? body_bytes_ : head_.content_length.value_or(0),
                .normalized_path = &path_};
    // Encoded once, for every attempt, into the buffer of the request this
    // exchange served before (recycled): no allocation for a similar request.
    if (auto p = encode_cgi_params(in, params_); !p) {
      send_error(p.error(), "invalid request", std::nullopt);
      return;
    }
  }
  if (attempts_ == 0) pool_->retry_budget().on_request(now(pool_->thread().loop()));
  auto r = pool_->dispatch(this);
  switch (r.kind) {
    case Pool::DispatchResult::Assigned:
      return;
    case Pool::DispatchResult::Queued:
      queued_ = true;  // until assigned, timed out or cancelled
      return;
    case Pool::DispatchResult::NoWorker:
      send_error(Error::NoWorker, "no worker available", r.retry_after_s);
      return;
  }
}

void Exchange::on_upstream_assigned(UpstreamConnection* up, uint16_t id, Worker* worker) {
  queued_ = false;
  upstream_ = up;
  upstream_id_ = id;
  worker_ = worker;
  if (!tried(worker)) {
    if (tried_count_ < tried_inline_.size()) tried_inline_[tried_count_] = worker;
    else tried_more_.push_back(worker);
    ++tried_count_;
  }
  ++attempts_;
  request_written_ = false;
  stdin_ended_ = false;
  next_piece_ = 0;
  cgi_.reset(conn_ ? conn_->thread().config().server.max_response_header_size : 64 * 1024);
}

void Exchange::on_upstream_ready() {
  if (upstream_ == nullptr || done_) return;
  write_request();
}

void Exchange::write_request() {
  auto batch = upstream_->new_batch();
  const uint16_t id = upstream_id_;
  fcgi::write_begin_request(id, fcgi::Role::Responder, upstream_->keep_conn(), *batch);
  fcgi::write_encoded_params(id, std::as_bytes(std::span(params_.data(), params_.size())), *batch);
  request_written_ = true;
  for (; next_piece_ < body_.size(); ++next_piece_) {
    const auto& piece = body_[next_piece_];
    fcgi::write_stdin(id, {reinterpret_cast<const std::byte*>(piece->data()), piece->size()}, piece, *batch);
  }
  // A request without a body ends its STDIN in the same write as its params:
  // workers such as libfcgi answer from the params alone and would read a
  // late empty STDIN record as the start of the next request.
  if (request_complete_ || !head_.has_body()) {
    fcgi::write_stdin_end(id, *batch);
    stdin_ended_ = true;
  }
  upstream_->send(id, std::move(batch));
  if (upstream_ && !is_safe_method() && !body_.empty()) {
    // An unsafe request that reached a worker is never replayed, so its body
    // need not be kept: the write batch pins what is in flight.
    body_.clear();
    next_piece_ = 0;
    body_released_ = true;
  }
  if (conn_) conn_->resume_reading();
}

void Exchange::on_request_body(std::span<const std::byte> bytes) {
  if (done_ || bytes.empty()) return;  // a finished exchange discards the rest of the body
  body_bytes_ += bytes.size();
  auto piece = std::make_shared<std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (upstream_ && request_written_) {
    auto batch = upstream_->new_batch();
    fcgi::write_stdin(upstream_id_, {reinterpret_cast<const std::byte*>(piece->data()), piece->size()},
                      piece, *batch);
    upstream_->send(upstream_id_, std::move(batch));
    if (is_safe_method() && !body_released_) {
      body_.push_back(std::move(piece));  // kept: a safe request may be replayed elsewhere
      next_piece_ = body_.size();
    } else {
      body_released_ = true;  // written and not kept: this request can no longer be replayed
    }
    if (upstream_ && upstream_->write_backlog() > kBodyBacklogHigh && conn_) {
      conn_->pause_reading();
      upstream_->wait_for_drain();  // on_upstream_drained() resumes it
    }
    return;
  }
  body_.push_back(std::move(piece));
  // Not connected yet (or queued): the body waits here, bounded by
  // max_body_size; reading pauses while too much of it piles up.
  size_t waiting = 0;
  for (size_t i = next_piece_; i < body_.size(); ++i) waiting += body_[i]->size();
  if (waiting > kBodyBacklogHigh && conn_ && !head_.chunked) conn_->pause_reading();
}

void Exchange::on_upstream_drained() {
  if (conn_ && upstream_ && upstream_->write_backlog() <= kBodyBacklogHigh / 2) conn_->resume_reading();
}

void Exchange::on_request_complete() {
  request_complete_ = true;
  if (done_) return;
  if (head_.chunked && !dispatched_) {
    dispatch();
    return;
  }
  if (upstream_ && request_written_ && !stdin_ended_) {
    auto batch = upstream_->new_batch();
    fcgi::write_stdin_end(upstream_id_, *batch);
    stdin_ended_ = true;
    upstream_->send(upstream_id_, std::move(batch));
    // The time the client took to send its body is not the worker's.
    if (upstream_) upstream_->restart_response_clock(upstream_id_);
  }
}

void Exchange::on_stdout(std::span<const std::byte> bytes) {
  if (done_) return;
  if (!cgi_.head_complete()) {
    auto r = cgi_.feed(bytes);
    if (!r) {
      if (conn_)
        conn_->thread().log().warn("worker_bad_response_head", "worker={} request_id={} error={} target={}",
                                   worker_ ? worker_->name() : "-", upstream_id_,
                                   fcgi::to_string(r.error()), q(head_.target));
      UpstreamConnection* up = std::exchange(upstream_, nullptr);
      send_error(Error::WorkerProtocol, "the worker sent an invalid response head", std::nullopt);
      if (up) up->release(upstream_id_);  // the rest of its output is unusable
      return;
    }
    if (!r->head_complete) return;
    begin_body(bytes.subspan(r->consumed));
    return;
  }
  send_body(bytes);
}

void Exchange::begin_body(std::span<const std::byte> first) {
  if (conn_ == nullptr) return;
  const fcgi::CgiResponseHead& h = cgi_.head();
  ResponseHeadInput in{.status = h.status,
                       .reason = h.reason,
                       .headers = &h.headers,
                       .content_length = h.content_length,
                       .request_is_head = head_.is_head(),
                       .http_minor = head_.version_minor,
                       .keep_alive = head_.keep_alive && !conn_->thread().stopping() &&
                                     (request_complete_ || !head_.has_body())};
  // Straight into the connection's output buffer: no string per head.
  const ResponseFraming out =
      conn_->send_built([&](std::string& buf) { return append_response_head(in, buf); });
  status_ = h.status;
  framing_ = out.framing;
  keep_alive_ = out.keep_alive;
  if (framing_ == BodyFraming::ContentLength) body_limit_ = h.content_length;
  head_sent_ = true;
  send_body(first);
}

void Exchange::send_body(std::span<const std::byte> bytes) {
  if (bytes.empty() || conn_ == nullptr) return;
  const char* p = reinterpret_cast<const char*>(bytes.data());
  size_t n = bytes.size();
  switch (framing_) {
    case BodyFraming::None:
      return;  // HEAD, 204, 304: the body is read and dropped
    case BodyFraming::ContentLength: {
      const uint64_t left = *body_limit_ - body_sent_;
      if (n > left) {
        if (left == 0 || n - left > 0)
          conn_->thread().log().warn("worker_body_overrun", "worker={} content_length={} target={}",
                                     worker_ ? worker_->name() : "-", *body_limit_, q(head_.target));
        n = size_t(left);
      }
      if (n == 0) return;
      deliver({p, n});
      break;
    }
    case BodyFraming::Chunked: {
      // Three appends to what is queued: the body is not copied into a
      // chunk string first.
      deliver(chunk_header(n));
      deliver({p, n});
      deliver(kChunkTrailer);
      break;
    }
    case BodyFraming::Close:
      deliver({p, n});
      break;
  }
  body_sent_ += n;
  // A slow client must not make us buffer the whole response: stop reading
  // from the worker until the client catches up. (A shared connection cannot
  // stop: deliver() spills instead.)
  if (conn_ && upstream_ && !upstream_->multiplexed() &&
      conn_->queued_bytes() > conn_->thread().config().server.response_buffer_size)
    upstream_->pause_reading();
}

void Exchange::deliver(std::string_view bytes) {
  if (conn_ == nullptr) return;
  const ServerConfig& sc = conn_->thread().config().server;
  const bool spilling = spill_ && !spill_->empty();
  if (!spilling && !(upstream_ && upstream_->multiplexed() && conn_->queued_bytes() >= sc.response_buffer_size)) {
    conn_->send_copy(bytes);  // appended to what is queued: no string per piece
    return;
  }
  // Behind a slow client, on a connection other requests share: the bytes
  // wait on disk, in order, and memory stays at response_buffer_size.
  if (!spill_) spill_ = std::make_unique<SpillFile>(sc.temp_dir, sc.max_temp_file_size);
  if (spill_->append(bytes)) return;
  conn_->thread().log().warn("response_spill_failed", "worker={} target={} error={}",
                             worker_ ? worker_->name() : "-", q(head_.target), q(spill_->error()));
  done_ = true;
  log_access(status_, "spill_failed");
  conn_->abort();  // the client sees a truncated response; the worker is told to stop
}

void Exchange::on_client_drained() {
  if (conn_ == nullptr) return;
  const size_t cap = conn_->thread().config().server.response_buffer_size;
  if (spill_ && !spill_->empty() && conn_->queued_bytes() <= cap / 2) {
    // Refill up to the cap; the next write's completion brings the rest.
    constexpr size_t kChunk = 64 * 1024;
    while (conn_ && !spill_->empty() && conn_->queued_bytes() < cap) {
      std::string piece = spill_->take(kChunk);
      if (piece.empty()) {
        conn_->thread().log().warn("response_spill_failed", "worker={} target={} error={}",
                                   worker_ ? worker_->name() : "-", q(head_.target), q(spill_->error()));
        done_ = true;
        log_access(status_, "spill_failed");
        conn_->abort();
        return;
      }
      conn_->send(std::move(piece));
    }
    if (spill_->empty() && finish_pending_) {
      finish_pending_ = false;
      spill_.reset();
      finish_response(keep_alive_);
    }
    return;
  }
  if (upstream_ && conn_->queued_bytes() <= cap / 2) upstream_->resume_reading();
}

void Exchange::on_stderr(std::span<const std::byte> bytes) {
  if (conn_ == nullptr) return;
  Logger& log = conn_->thread().log();
  auto flush = [&] {
    log.warn("worker_stderr", "worker={} request_id={} target={} line={}", worker_ ? worker_->name() : "-",
             upstream_id_, q(head_.target), q(stderr_line_));
    stderr_line_.clear();
  };
  for (std::byte b : bytes) {
    const char c = char(b);
    if (c == '\n') {
      if (!stderr_line_.empty() && stderr_line_.back() == '\r') stderr_line_.pop_back();
      flush();
    } else {
      stderr_line_.push_back(c);
      if (stderr_line_.size() >= kMaxStderrLine) flush();
    }
  }
}

void Exchange::on_end_request(uint32_t app_status, fcgi::ProtocolStatus status) {
  upstream_ = nullptr;  // the connection already let go of us
  if (conn_ && !stderr_line_.empty()) on_stderr(std::as_bytes(std::span("\n", 1)));
  if (done_ || conn_ == nullptr) return;
  Logger& log = conn_->thread().log();
  if (app_status != 0 || status != fcgi::ProtocolStatus::RequestComplete)
    log.info("worker_end_request", "worker={} app_status={} protocol_status={} target={}",
             worker_ ? worker_->name() : "-", app_status, fcgi::to_string(status), q(head_.target));
  if (!cgi_.head_complete()) {
    log.warn("worker_incomplete_head", "worker={} target={} reason={}", worker_ ? worker_->name() : "-",
             q(head_.target), "END_REQUEST before the response head ended");
    send_error(Error::WorkerProtocol, "the worker ended the request without a complete response head",
               std::nullopt);
    return;
  }
  if (framing_ == BodyFraming::ContentLength && body_limit_ && body_sent_ < *body_limit_) {
    log.warn("worker_body_short", "worker={} content_length={} sent={} target={}",
             worker_ ? worker_->name() : "-", *body_limit_, body_sent_, q(head_.target));
    done_ = true;
    log_access(status_, "worker_body_short");
    conn_->abort();  // the client sees a truncated body, never a wrong one
    return;
  }
  if (framing_ == BodyFraming::Chunked) deliver(kLastChunk);
  if (conn_ == nullptr || done_) return;
  if (spill_ && !spill_->empty()) {
    finish_pending_ = true;  // on_client_drained() finishes it
    return;
  }
  finish_response(keep_alive_);
}

bool Exchange::can_retry(const UpstreamFailure& f) const {
  if (head_sent_ || conn_ == nullptr) return false;
  if (attempts_ > pool_->workers().size() + 1) return false;
  const bool replayable = !body_released_;
  // Never reached a worker: always safe to send elsewhere.
  if (!f.reached_worker) return replayable;
  // Moved off an evicted worker: may_move_on_eviction() already decided.
  if (f.evicted) return replayable;
  // A reused keep-alive connection that died without answering: the worker
  // closed it just as we wrote (the stale keep-alive race).
  if (f.reused_connection && f.error == Error::WorkerVanished && is_safe_method() && replayable) return true;
  if (f.error == Error::ResponseTimeout) return false;  // the request had its time; the probe judges the worker
  return pool_->config().retry == RetryPolicy::Safe && is_safe_method() && replayable &&
         pool_->retry_budget().try_spend(now(pool_->thread().loop()));
}

bool Exchange::may_move_on_eviction() {
  if (done_ || head_sent_ || conn_ == nullptr || body_released_) return false;
  if (pool_->config().retry != RetryPolicy::Safe || !is_safe_method()) return false;
  return pool_->retry_budget().try_spend(now(pool_->thread().loop()));
}

void Exchange::on_upstream_failed(const UpstreamFailure& f) {
  upstream_ = nullptr;
  if (done_ || conn_ == nullptr) return;
  Logger& log = conn_->thread().log();
  if (can_retry(f)) {
    if (f.reused_connection) needs_fresh_connection_ = true;
    log.info("request_retry", "worker={} reason={} target={} attempt={}", worker_ ? worker_->name() : "-",
             to_string(f.kind), q(head_.target), attempts_ + 1);
    dispatch();
    return;
  }
  if (head_sent_) {
    log.warn("worker_failed_mid_response", "worker={} reason={} target={}", worker_ ? worker_->name() : "-",
             to_string(f.kind), q(head_.target));
    done_ = true;
    log_access(status_, to_string(f.error));
    conn_->abort();
    return;
  }
  // A request that never reached any worker had no answer to lose: the
  // client is told no worker was available (503), not that one failed.
  const Error e = !f.reached_worker ? Error::NoWorker : f.error;
  send_error(e, e == Error::ResponseTimeout ? "the worker did not answer in time"
                : e == Error::NoWorker      ? "the worker is overloaded"
                                            : "the worker failed",
             e == Error::NoWorker ? std::optional<unsigned>(1) : std::nullopt);
}

void Exchange::on_queue_timeout() {
  queued_ = false;  // the pool let go of it
  if (done_ || conn_ == nullptr) return;
  send_error(Error::NoWorker, "all workers are busy", 1);
}

void Exchange::send_error(Error e, std::string_view detail, std::optional<unsigned> retry_after_s) {
  if (done_ || conn_ == nullptr) return;
  if (head_sent_) {
    done_ = true;
    log_access(status_, to_string(e));
    conn_->abort();
    return;
  }
  status_ = status_for(e);
  // After an error the rest of an unread body would have to be read and
  // dropped; closing is cheaper and cannot desynchronise the stream.
  const bool body_pending = head_.has_body() && !request_complete_;
  keep_alive_ = head_.keep_alive && !body_pending && e != Error::BadRequest && !conn_->thread().stopping();
  conn_->send(build_error_response(status_, detail, keep_alive_, head_.is_head(), retry_after_s));
  head_sent_ = true;
  done_ = true;
  log_access(status_, to_string(e));
  if (pool_) pool_->cancel(this);
  queued_ = false;
  conn_->on_exchange_finished(keep_alive_);
}

void Exchange::finish_response(bool keep_alive_ok) {
  if (conn_ == nullptr) return;
  done_ = true;
  if (status_ != 0) log_access(status_, "");
  const bool body_pending = head_.has_body() && !request_complete_;
  conn_->on_exchange_finished(keep_alive_ok && !body_pending);
}

void Exchange::log_access(int status, std::string_view error) {
  if (conn_ == nullptr) return;
  AccessLog* a = conn_->thread().access_log();
  if (a == nullptr) return;
  const auto d = now(conn_->thread().loop()) - started_;
  a->write({.client = conn_->client_text(),
            .method = head_.method,
            .target = head_.target,
            .http_minor = head_.version_minor,
            .status = status,
            .bytes = body_sent_,
            .duration_ms = d.count(),
            .worker = worker_ ? std::string_view(worker_->name()) : std::string_view("-"),
            .error = error.empty() ? std::string_view("-") : error});
}

void Exchange::on_client_gone() {
  if (!done_ && conn_) log_access(499, "client_closed");
  done_ = true;
  if (pool_) pool_->cancel(this);
  queued_ = false;
  if (UpstreamConnection* up = std::exchange(upstream_, nullptr)) up->release(upstream_id_);
  spill_.reset();
  conn_ = nullptr;
}

}  // namespace fcgimux
