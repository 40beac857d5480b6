#include "gateway/server/probe.h"

#include "gateway/base/unpolled_io.h"

#include <charconv>

#include "fcgi/request_writer.h"
#include "gateway/base/write_batch.h"
#include "gateway/server/loop_thread.h"
#include "gateway/server/worker.h"

namespace fcgimux {

namespace {
constexpr uint16_t kProbeRequestId = 1;

std::optional<unsigned> parse_uint(const std::string& s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}
}  // namespace

Probe::Probe(Worker& worker, uv_loop_t* loop, ProbeKind mode, Millis timeout)
    : worker_(worker), loop_(loop), mode_(mode), timeout_(timeout), parser_(4096) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
}

Probe::~Probe() = default;

void Probe::start() {
  started_ = now(loop_);
  connect_req_.data = this;
  const auto& addr = worker_.config().address.addr;
  int rc = uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr), &Probe::on_connect_cb);
  uv_timer_start(&timer_, &Probe::on_timer_cb, uint64_t(timeout_.count()), 0);
  if (rc != 0) {
    result_.connect_failed = true;
    // Reported from the timer callback rather than from inside start(): a
    // completion is never delivered inside the call that began it (STYLE C2).
    uv_timer_start(&timer_, &Probe::on_timer_cb, 0, 0);
  }
}

void Probe::on_connect_cb(uv_connect_t* req, int status) {
  auto* self = static_cast<Probe*>(req->data);
  if (status == UV_ECANCELED || self->closing_) return;
  self->on_connect(status);
}

void Probe::on_connect(int status) {
  if (status != 0) {
    result_.connect_failed = true;
    report();
    return;
  }
  connected_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &Probe::on_alloc_cb, &Probe::on_read_cb);
  auto batch = std::make_unique<WriteBatch>();
  if (mode_ == ProbeKind::GetValues) {
    const std::string_view names[] = {fcgi::kMaxConns, fcgi::kMaxReqs, fcgi::kMpxsConns};
    fcgi::write_get_values(names, *batch);
  } else {
    // A plain GET for probe_path, as a client would send it. Whatever the
    // application answers (200, 404, 400) proves the worker is alive.
    const std::string& path = worker_.pool_config().probe_path;
    const auto& host = worker_.config().address.text;
    const fcgi::Param params[] = {
        {"GATEWAY_INTERFACE", "CGI/1.1"}, {"SERVER_SOFTWARE", "fcgimux/0.1.0"},
        {"SERVER_PROTOCOL", "HTTP/1.1"},  {"REQUEST_METHOD", "GET"},
        {"REQUEST_URI", path},            {"SCRIPT_NAME", ""},
        {"PATH_INFO", path},              {"QUERY_STRING", ""},
        {"SERVER_NAME", "localhost"},     {"SERVER_PORT", "80"},
        {"REMOTE_ADDR", "127.0.0.1"},     {"REMOTE_PORT", "0"},
        {"HTTP_HOST", "localhost"},       {"HTTP_USER_AGENT", "fcgimux-probe"},
        {"HTTP_X_FCGIMUX_PROBE", host},
    };
    fcgi::write_begin_request(kProbeRequestId, fcgi::Role::Responder, /*keep_conn=*/false, *batch);
    fcgi::write_params(kProbeRequestId, params, *batch);
    fcgi::write_stdin_end(kProbeRequestId, *batch);
  }
  WriteBatch* b = batch.release();  // freed in on_write_cb, on every path
  b->req.data = b;
  auto bufs = b->bufs();  // a span over the batch's iovecs
  if (uv_write(&b->req, reinterpret_cast<uv_stream_t*>(&tcp_), bufs.data(), unsigned(bufs.size()),
               &Probe::on_write_cb) != 0) {
    delete b;
    report();
  }
}

void Probe::on_write_cb(uv_write_t* req, int) {
  std::unique_ptr<WriteBatch> b{static_cast<WriteBatch*>(req->data)};
  // A write error is reported by the read side (EOF/reset) or the deadline.
}

void Probe::on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Probe*>(h->data);
  *buf = uv_buf_init(self->read_buf_.data(), unsigned(self->read_buf_.size()));
}

void Probe::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* self = static_cast<Probe*>(s->data);
  if (self->closing_) return;
  self->on_read(nread);
}

void Probe::on_read(ssize_t nread) {
  if (nread == 0) return;
  if (nread < 0) {
    if (!result_.answered) result_.closed_unanswered = true;
    report();
    close();
    return;
  }
  auto r = parser_.feed({reinterpret_cast<const std::byte*>(read_buf_.data()), size_t(nread)}, *this);
  if (!r && !closing_) {
    // Garbage is an answer of sorts, but not from a working FastCGI worker.
    report();
    close();
  }
}

void Probe::answered() {
  if (result_.answered) return;
  result_.answered = true;
  report();
}

void Probe::on_stdout(uint16_t, std::span<const std::byte>) { answered(); }
void Probe::on_stderr(uint16_t, std::span<const std::byte>) { answered(); }

void Probe::on_end_request(uint16_t, uint32_t, fcgi::ProtocolStatus) {
  answered();
  close();  // the probe request is complete: nothing more to wait for
}

void Probe::on_get_values_result(std::vector<std::pair<std::string, std::string>> values) {
  for (const auto& [k, v] : values) {
    if (k == fcgi::kMaxConns) result_.max_conns = parse_uint(v);
    if (k == fcgi::kMaxReqs) result_.max_reqs = parse_uint(v);
    if (k == fcgi::kMpxsConns) result_.mpxs_conns = v == "1";
  }
  answered();
  if (mode_ == ProbeKind::GetValues) close();
}

void Probe::on_unknown_type(uint8_t) { answered(); }

void Probe::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<Probe*>(t->data);
  if (self->closing_) return;
  // A late loop runs this before polling an answer (or a connect) that came
  // in time: let it poll once first (unpolled_io.h).
  if (!self->result_.connect_failed && !std::exchange(self->gave_poll_a_turn_, true) &&
      has_unpolled_io(self->tcp_, self->connected_ ? AwaitedIo::Read : AwaitedIo::Connect)) {
    uv_timer_start(&self->timer_, &Probe::on_timer_cb, 1, 0);
    return;
  }
  // Out of time before the connection was even made (an unreachable
  // machine): say so, rather than "unanswered".
  if (!self->connected_) self->result_.connect_timed_out = true;
  self->report();
  self->close();
}

void Probe::report() {
  if (std::exchange(reported_, true)) return;
  result_.latency = now(loop_) - started_;
  worker_.on_probe_done(this, result_);
}

void Probe::close() {
  if (std::exchange(closing_, true)) return;
  if (!reported_) report();
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Probe::on_close_cb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Probe::on_close_cb);
}

void Probe::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<Probe*>(h->data);
  if (--self->open_handles_ == 0) self->worker_.on_probe_closed(self);  // this was freed
}

}  // namespace fcgimux
