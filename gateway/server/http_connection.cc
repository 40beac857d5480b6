#include "gateway/server/http_connection.h"

#include <arpa/inet.h>

#include <utility>

#include "gateway/http/response_head.h"
#include "gateway/server/exchange.h"
#include "gateway/server/loop_thread.h"

namespace fcgimux {

namespace {
// Pipelined requests wait in the input buffer while one is answered; past
// this much, reading from the client pauses until the buffer drains.
constexpr size_t kMaxPendingInput = 256 * 1024;
// After our last response on a closing connection, keep reading (and
// dropping) for this long so that the kernel does not answer the client's
// unread bytes with a reset that would destroy the response in flight.
constexpr uint64_t kLingerMs = 2000;

void sockaddr_to_text(const sockaddr_storage& ss, std::string& addr, uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  addr = buf;
}
}  // namespace

struct HttpConnection::WriteReq {
  uv_write_t req;
  std::string bytes;
};

HttpConnection::HttpConnection(LoopThread& thread)
    : thread_(thread),
      parser_({.max_header_size = thread.config().server.max_header_size,
               .max_body_size = thread.config().server.max_body_size},
              *this) {
  uv_tcp_init(thread.loop(), &tcp_);
  uv_timer_init(thread.loop(), &timer_);
  uv_timer_init(thread.loop(), &write_timer_);
  tcp_.data = this;
  timer_.data = this;
  write_timer_.data = this;
  open_handles_ = 3;
}

HttpConnection::~HttpConnection() {
  if (counted_) thread_.shared_connections_release();
}

bool HttpConnection::accept(uv_stream_t* server) {
  counted_ = true;  // the LoopThread took a slot of max_connections for us
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_)) != 0) {
    close();
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    sockaddr_to_text(ss, info_.remote_addr, info_.remote_port);
  len = sizeof ss;
  if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    sockaddr_to_text(ss, info_.server_addr, info_.server_port);
  client_text_ = info_.remote_addr.find(':') != std::string::npos
                     ? fmt::format("[{}]:{}", info_.remote_addr, info_.remote_port)
                     : fmt::format("{}:{}", info_.remote_addr, info_.remote_port);
  arm_head_timer(false);
  start_reading();
  return true;
}

void HttpConnection::start_reading() {
  if (reading_ || phase_ == Phase::Closing) return;
  reading_ = true;
  thread_.read_start(&tcp_, read_slot_, &HttpConnection::on_alloc_cb,
                &HttpConnection::on_read_cb);
}

void HttpConnection::pause_reading() {
  read_paused_ = true;
  if (reading_) {
    reading_ = false;
    thread_.read_stop(&tcp_, read_slot_);
  }
}

void HttpConnection::resume_reading() {
  if (!read_paused_) return;
  read_paused_ = false;
  // The body's clock restarts: the pause was ours, not the client's.
  if (body_expected_) arm_body_timer();
  if (pending_input_.size() - pending_pos_ <= kMaxPendingInput) start_reading();
}

void HttpConnection::on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<HttpConnection*>(h->data);
  *buf = self->thread_.read_buffer();
}

void HttpConnection::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<HttpConnection*>(s->data);
  self->on_read(nread, buf);
}

void HttpConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;  // EAGAIN
  if (phase_ == Phase::Closing) {
    if (nread < 0) close();  // lingering: the client has read our answer and gone
    return;                  // lingering: bytes are dropped
  }
  if (nread < 0) {
    peer_eof_ = true;
    reading_ = false;
    thread_.read_stop(&tcp_, read_slot_);
    if (exchange_) {
      // A client may half-close after sending its request and still read the
      // answer; a request cut short is another matter.
      if (!parser_.finish()) {
        close();
        return;
      }
      if (nread != UV_EOF) close();
      return;
    }
    if (parser_.in_request() && pending_input_.size() > pending_pos_) {
      fail_request(Error::BadRequest);
      return;
    }
    close();
    return;
  }
  // |buf| is the loop's shared read buffer: process_input() parses it now and
  // copies whatever must outlive this callback.
  process_input({reinterpret_cast<const std::byte*>(buf->base), size_t(nread)});
}

void HttpConnection::process_input(std::span<const std::byte> fresh) {
  if (phase_ == Phase::WaitingHead) arm_head_timer(true);
  if (body_expected_) deadline_ = now(thread_.loop()) + thread_.config().server.body_timeout;
  if (pending_pos_ == pending_input_.size()) {
    pending_input_.clear();
    pending_pos_ = 0;
  }
  if (pending_input_.empty() && !parser_.paused()) {
    // Common case: parse straight from the read buffer, keep only the rest.
    auto r = run_parser(fresh);
    if (!r) {
      fail_request(r.error());
      return;
    }
    if (phase_ == Phase::Closing) return;
    if (*r < fresh.size())
      pending_input_.append(reinterpret_cast<const char*>(fresh.data()) + *r, fresh.size() - *r);
  } else {
    pending_input_.append(reinterpret_cast<const char*>(fresh.data()), fresh.size());
    feed_buffered();
    if (phase_ == Phase::Closing) return;
  }
  if (pending_input_.size() - pending_pos_ > kMaxPendingInput && reading_) {
    reading_ = false;
    thread_.read_stop(&tcp_, read_slot_);
  }
}

Result<size_t> HttpConnection::run_parser(std::span<const std::byte> in) {
  feeding_ = true;
  auto r = parser_.feed(in);
  feeding_ = false;
  if (resume_after_feed_ && phase_ != Phase::Closing) {
    // The exchange finished while the parser was inside feed(): go on with
    // the next request on the next tick, once this call chain has unwound.
    resume_after_feed_ = false;
    schedule_advance();
  }
  return r;
}

void HttpConnection::feed_buffered() {
  while (pending_pos_ < pending_input_.size() && !parser_.paused() && phase_ != Phase::Closing) {
    std::span<const std::byte> in{reinterpret_cast<const std::byte*>(pending_input_.data()) + pending_pos_,
                                  pending_input_.size() - pending_pos_};
    auto r = run_parser(in);
    if (!r) {
      fail_request(r.error());
      return;
    }
    pending_pos_ += *r;
    if (*r == 0) break;
  }
  if (pending_pos_ == pending_input_.size()) {
    pending_input_.clear();
    pending_pos_ = 0;
  } else if (pending_pos_ > 64 * 1024) {
    pending_input_.erase(0, pending_pos_);
    pending_pos_ = 0;
  }
  if (phase_ != Phase::Closing && !reading_ && !read_paused_ && !peer_eof_ &&
      pending_input_.size() - pending_pos_ <= kMaxPendingInput)
    start_reading();
}

// --- HttpRequestSink ---------------------------------------------------------

void HttpConnection::on_request_head(RequestHead& head) {
  phase_ = Phase::InExchange;
  // The timer stays armed (deadlines are lazy, STYLE C6): if it fires during
  // the exchange, on_timer() finds nothing due.
  first_request_ = false;
  body_expected_ = head.has_body();
  if (body_expected_) arm_body_timer();
  // In the memory of an exchange this thread finished before, which leaves
  // its cleared head for the parser to fill next (no allocation per request).
  exchange_ = thread_.exchanges().make(*this, head);
  exchange_->start();
}

void HttpConnection::on_request_body(std::span<const std::byte> bytes) {
  if (exchange_) exchange_->on_request_body(bytes);
}

void HttpConnection::on_request_complete() {
  request_done_ = true;
  body_expected_ = false;  // a pending body deadline finds nothing to do
  if (exchange_) exchange_->on_request_complete();
  if (response_done_) resume_after_feed_ = true;  // the parser is inside feed(): continue after it
}

// --- exchange completion -----------------------------------------------------

void HttpConnection::on_exchange_finished(bool keep_alive) {
  response_done_ = true;
  if (!keep_alive || shutting_down_) {
    close_when_flushed();
    return;
  }
  if (request_done_) {
    // Go on with the next request once the callback chain that finished
    // this one has unwound (STYLE C2).
    if (feeding_) {
      resume_after_feed_ = true;
    } else {
      schedule_advance();
    }
  }
}

void HttpConnection::schedule_advance() {
  // In the loop's check phase, right after this response is flushed
  // (flush_now): no timer to move and no extra loop iteration per request.
  advance_pending_ = true;
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    thread_.schedule_flush(this);
  }
}

void HttpConnection::retire_exchange() {
  // Called from flush_now() only, at the top of a loop callback: no frame of
  // the exchange is on the stack, so if no worker connection or pool queue
  // holds it either, it may be rebuilt for the next request at once.
  if (!exchange_) return;
  if (exchange_->detached()) thread_.exchanges().give(std::move(exchange_));
  else thread_.reaper().defer(std::move(exchange_));
}

void HttpConnection::advance() {
  retire_exchange();
  response_done_ = false;
  request_done_ = false;
  body_expected_ = false;
  phase_ = Phase::WaitingHead;
  parser_.resume();
  if (peer_eof_ && pending_pos_ == pending_input_.size()) {
    close_when_flushed();
    return;
  }
  const bool pipelined = pending_pos_ < pending_input_.size();
  if (!pipelined) park_head();  // idle until the client speaks again
  arm_head_timer(pipelined);
  feed_buffered();
}

void HttpConnection::park_head() {
  auto h = parser_.take_header_storage();  // cleared by resume()
  if (h.capacity() != 0 && h.capacity() <= LoopThread::kMaxKeptHeaderSlots) thread_.spare_headers().give(std::move(h));
}

void HttpConnection::unpark_head() {
  if (!parser_.has_header_storage()) parser_.give_header_storage(thread_.spare_headers().take());
}

void HttpConnection::begin_shutdown() {
  shutting_down_ = true;
  if (phase_ == Phase::WaitingHead && pending_pos_ == pending_input_.size()) close_when_flushed();
}

// --- timers ------------------------------------------------------------------

void HttpConnection::arm_head_timer(bool first_byte_seen) {
  const auto& s = thread_.config().server;
  if (first_byte_seen) {
    if (phase_ == Phase::ReadingHead) return;  // the head's deadline runs from its first byte
    set_idle(false);
    unpark_head();  // before the parser sees the request's first byte
    phase_ = Phase::ReadingHead;
    deadline_ = now(thread_.loop()) + s.header_timeout;
    wake_at(deadline_);
    return;
  }
  phase_ = Phase::WaitingHead;
  // A new connection must send its first request within header_timeout; a
  // kept-alive one may stay silent for idle_timeout.
  const auto wait = first_request_ ? s.header_timeout : s.idle_timeout;
  deadline_ = now(thread_.loop()) + wait;
  wake_at(deadline_);
  if (!first_request_) set_idle(true);
}

void HttpConnection::arm_body_timer() {
  // Lazily re-armed (STYLE C6): every read moves deadline_, and the timer,
  // when it fires early, sleeps for the rest.
  const auto wait = thread_.config().server.body_timeout;
  deadline_ = now(thread_.loop()) + wait;
  wake_at(deadline_);
}

void HttpConnection::wake_at(TimePoint due) { deadline_timer_.wake_at(now(thread_.loop()), due); }

void HttpConnection::set_idle(bool idle) {
  if (idle == idle_listed_) return;
  idle_listed_ = idle;
  if (idle) thread_.add_idle(this);
  else thread_.remove_idle(this);
}

void HttpConnection::close_for_capacity() {
  thread_.log().info("connection_evicted", "client={} reason={}", client_text_,
                     q("idle keep-alive connection closed to admit a new one (max_connections)"));
  close();
}

void HttpConnection::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<HttpConnection*>(t->data);
  self->deadline_timer_.fired();
  self->on_timer();
}

void HttpConnection::on_timer() {
  switch (phase_) {
    case Phase::InExchange:
      // The body deadline. While reading is paused by backpressure the
      // client is not the one waiting: resume_reading() re-arms it.
      if (!body_expected_ || read_paused_ || !reading_) return;
      if (now(thread_.loop()) < deadline_) {
        wake_at(deadline_);
        return;
      }
      fail_request(Error::BodyTimeout);
      return;
    case Phase::WaitingHead:
      if (pending_pos_ < pending_input_.size() && !parser_.paused()) {
        feed_buffered();  // continuation
        return;
      }
      if (now(thread_.loop()) < deadline_) {
        wake_at(deadline_);  // an earlier deadline woke it
        return;
      }
      close();  // idle keep-alive connection, or a new one that never spoke
      return;
    case Phase::ReadingHead:
      if (now(thread_.loop()) < deadline_) {
        wake_at(deadline_);  // not yet: sleep for the rest (deadlines are lazy, STYLE C6)
        return;
      }
      fail_request(Error::HeadTimeout);
      return;
    case Phase::Closing:
      close();  // lingering over
      return;
  }
}

// --- errors and writing ------------------------------------------------------

void HttpConnection::fail_request(Error e) {
  if (phase_ == Phase::Closing) return;
  const int status = status_for(e);
  if (exchange_ && exchange_->head_sent() && !response_done_) {
    // Part of a response is out: an error response now would be read as its
    // continuation. Cutting the connection is the only honest signal.
    thread_.log().info("client_error", "client={} status=- reason={} action=close", client_text_, to_string(e));
    abort();
    return;
  }
  if (exchange_) {
    // The request was being answered: the stream cannot be trusted any more.
    exchange_->on_client_gone();
    thread_.reaper().defer(std::move(exchange_));
  }
  if (status != 0 && !response_done_) {
    thread_.log().info("client_error", "client={} status={} reason={}", client_text_, status, to_string(e));
    if (AccessLog* a = thread_.access_log())
      a->write({.client = client_text_, .method = "-", .target = "-", .status = status, .worker = "-",
                .error = to_string(e)});
    send(build_error_response(status, to_string(e), false, false, std::nullopt));
  }
  close_when_flushed();
}

void HttpConnection::send(std::string bytes) {
  if (phase_ == Phase::Closing || bytes.empty()) return;
  queued_bytes_ += bytes.size();
  if (!out_.empty() || (out_.capacity() >= bytes.size() && out_.capacity() > std::string().capacity())) {
    out_.append(bytes);  // behind what is queued, or into the cached buffer held
  } else {
    release_output();
    out_ = std::move(bytes);  // nothing queued: taken over whole
  }
  if (!writing_ && !flush_scheduled_) {
    flush_scheduled_ = true;
    thread_.schedule_flush(this);
  }
}

void HttpConnection::send_copy(std::string_view bytes) {
  if (phase_ == Phase::Closing || bytes.empty()) return;
  std::string& out = output_for_append();
  const size_t before = out.size();
  out.append(bytes);
  appended(before);
}

std::string& HttpConnection::output_for_append() {
  // Holding no buffer of its own (an empty string's inline capacity): one from the cache.
  if (phase_ != Phase::Closing && out_.empty() && out_.capacity() <= std::string().capacity())
    out_ = thread_.output_buffers().take();
  return out_;
}

void HttpConnection::appended(size_t size_before) {
  if (phase_ == Phase::Closing) {
    out_.resize(size_before);
    return;
  }
  queued_bytes_ += out_.size() - size_before;
  if (!writing_ && !flush_scheduled_ && !out_.empty()) {
    flush_scheduled_ = true;
    thread_.schedule_flush(this);
  }
}

void HttpConnection::release_output() {
  thread_.output_buffers().give(std::move(out_));
  out_ = std::string();  // moved from: made empty for sure
}

void HttpConnection::flush_now() {
  flush_scheduled_ = false;
  if (closed_) {
    tried_write_ = IoRing::kNotSent;  // (a ring result for a closed socket means nothing)
    return;
  }
  if (!writing_) start_write();
  if (closed_) return;
  if (!writing_ && out_.empty()) after_flush();
  // The next request, once this one's response is on its way
  // (schedule_advance).
  if (std::exchange(advance_pending_, false) && phase_ == Phase::InExchange && response_done_ && request_done_)
    advance();
}

std::span<const char> HttpConnection::bytes_to_try() const {
  if (closed_ || writing_) return {};
  return {out_.data(), out_.size()};
}

int HttpConnection::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd);
  return fd;
}

void HttpConnection::start_write() {
  if (out_.empty()) return;
  // Write at once what the socket takes; only the rest waits for a callback.
  // The thread's IoRing may have done that already for this flush.
  int n = std::exchange(tried_write_, IoRing::kNotSent);
  if (n == IoRing::kNotSent) {
    uv_buf_t now_buf = uv_buf_init(out_.data(), unsigned(out_.size()));
    n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &now_buf, 1);
  }
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
    queued_bytes_ = 0;
    out_.clear();
    if (exchange_) {
      exchange_->on_client_gone();
      thread_.reaper().defer(std::move(exchange_));
    }
    close();
    return;
  }
  if (n > 0) {
    queued_bytes_ -= std::min(queued_bytes_, size_t(n));
    if (size_t(n) == out_.size()) {
      // Let go of the buffer: the next response takes one from the cache,
      // and an idle keep-alive connection should hold nothing.
      release_output();
      after_flush();
      if (exchange_) exchange_->on_client_drained();
      return;
    }
    out_.erase(0, size_t(n));
  }
  auto* w = new WriteReq;
  w->bytes = std::move(out_);
  out_.clear();
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), unsigned(w->bytes.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &HttpConnection::on_write_cb);
  if (rc != 0) {
    delete w;  // libuv will not call back
    queued_bytes_ = 0;
    close();
    return;
  }
  writing_ = true;
  // The client has write_timeout to take some of it (restarted on each
  // completed write).
  uv_timer_start(&write_timer_, &HttpConnection::on_write_timer_cb,
                 uint64_t(thread_.config().server.write_timeout.count()), 0);
}

void HttpConnection::on_write_timer_cb(uv_timer_t* t) {
  static_cast<HttpConnection*>(t->data)->on_write_timeout();
}

void HttpConnection::on_write_timeout() {
  if (!writing_ || closed_) return;
  thread_.log().info("client_write_timeout", "client={} queued={} after={}ms", client_text_, queued_bytes_,
                     thread_.config().server.write_timeout.count());
  abort();  // the exchange lets go of its worker connection
}

void HttpConnection::on_write_cb(uv_write_t* req, int status) {
  std::unique_ptr<WriteReq> w{static_cast<WriteReq*>(req->data)};  // freed on every path
  auto* self = static_cast<HttpConnection*>(req->handle->data);
  self->on_written(w.get(), status);
}

void HttpConnection::on_written(WriteReq* w, int status) {
  writing_ = false;
  const size_t written = w->bytes.size();
  thread_.output_buffers().give(std::move(w->bytes));
  if (status != UV_ECANCELED) uv_timer_stop(&write_timer_);
  queued_bytes_ -= std::min(queued_bytes_, written);
  if (status == UV_ECANCELED) return;
  if (status < 0) {
    if (exchange_) {
      exchange_->on_client_gone();
      thread_.reaper().defer(std::move(exchange_));
    }
    close();
    return;
  }
  if (!out_.empty()) {
    start_write();
  } else {
    after_flush();
  }
  if (exchange_) exchange_->on_client_drained();
}

void HttpConnection::close_when_flushed() {
  close_after_flush_ = true;
  if (!writing_ && out_.empty() && !flush_scheduled_) after_flush();
}

void HttpConnection::after_flush() {
  if (!close_after_flush_ || phase_ == Phase::Closing) return;
  if (exchange_) {
    exchange_->on_client_gone();
    thread_.reaper().defer(std::move(exchange_));
  }
  phase_ = Phase::Closing;
  // Half-close, then drain what the client still sends until it closes or
  // the linger time passes.
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &HttpConnection::on_shutdown_cb) != 0) {
    close();
    return;
  }
  if (!peer_eof_) {
    reading_ = false;
    start_reading_for_linger();
  }
  // Forced, not lazy: any wake-up in the Closing phase closes.
  deadline_timer_.arm(now(thread_.loop()), Millis(kLingerMs));
}

void HttpConnection::start_reading_for_linger() {
  reading_ = true;
  thread_.read_start(&tcp_, read_slot_, &HttpConnection::on_alloc_cb, &HttpConnection::on_read_cb);
}

void HttpConnection::on_shutdown_cb(uv_shutdown_t* req, int status) {
  auto* self = static_cast<HttpConnection*>(req->data);
  if (status == UV_ECANCELED) return;
  if (self->peer_eof_) self->close();
}

void HttpConnection::abort() {
  // Bytes queued for the client and not yet tried go out first, as far as
  // the socket takes them now: a response cut short (a worker that failed
  // mid-response) still delivers every byte the worker sent. With reads
  // through the IoRing a worker's last bytes and its close are handed out
  // together, before this iteration's flush.
  if (!closed_ && !writing_ && !out_.empty()) {
    uv_buf_t now_buf = uv_buf_init(out_.data(), unsigned(out_.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &now_buf, 1);
  }
  if (exchange_) {
    exchange_->on_client_gone();
    thread_.reaper().defer(std::move(exchange_));
  }
  close();
}

void HttpConnection::close() {
  if (closed_) return;
  closed_ = true;
  set_idle(false);
  if (std::exchange(flush_scheduled_, false)) thread_.unschedule_flush(this);
  phase_ = Phase::Closing;
  if (exchange_) {
    exchange_->on_client_gone();
    thread_.reaper().defer(std::move(exchange_));
  }
  deadline_timer_.stop();
  uv_timer_stop(&write_timer_);
  thread_.read_release(read_slot_);  // before the socket is closed (ring_reads.h)
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &HttpConnection::on_close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &HttpConnection::on_close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&write_timer_), &HttpConnection::on_close_cb);
}

void HttpConnection::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<HttpConnection*>(h->data);
  if (--self->open_handles_ == 0) self->thread_.on_connection_closed(self);  // this was freed
}

}  // namespace fcgimux
