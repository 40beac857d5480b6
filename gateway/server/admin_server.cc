#include "gateway/server/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace fcgimux {

namespace {
std::string bound_address(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    return fmt::format("[{}]:{}", ip, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  return fmt::format("{}:{}", ip, ntohs(a->sin_port));
}
}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, Logger& log, Render render_status)
    : loop_(loop), log_(log), render_status_(std::move(render_status)) {}

AdminServer::~AdminServer() = default;

bool AdminServer::start(const SocketAddress& addr) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  listening_ = true;
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr.addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, &AdminServer::on_connection_cb);
  if (rc != 0) {
    log_.error("admin_listen_failed", "addr={} error={}", addr.text, uv_strerror(rc));
    close();
    return false;
  }
  log_.info("admin_listening", "addr={}", bound_address(&listener_));
  return true;
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  // The listener is a member: nothing to free in its close callback.
  if (listening_) uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  std::vector<Conn*> open;
  for (auto& c : conns_) open.push_back(c.get());
  for (Conn* c : open) close_conn(c);
}

void AdminServer::on_connection_cb(uv_stream_t* server, int status) {
  auto* self = static_cast<AdminServer*>(server->data);
  if (status < 0 || self->closed_) return;
  self->on_connection();
}

void AdminServer::on_connection() {
  auto conn = std::make_unique<Conn>();
  Conn* c = conn.get();
  c->owner = this;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  conns_.push_front(std::move(conn));
  c->self = conns_.begin();
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener_), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &AdminServer::on_alloc_cb, &AdminServer::on_read_cb);
}

void AdminServer::on_alloc_cb(uv_handle_t* h, size_t, uv_buf_t* buf) {
  AdminServer* self = static_cast<Conn*>(h->data)->owner;
  *buf = uv_buf_init(self->read_buf_, sizeof self->read_buf_);  // consumed within the read callback
}

void AdminServer::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (c->closing) return;
  c->owner->on_read(c, nread, buf);
}

void AdminServer::on_read(Conn* c, ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread < 0) {
    close_conn(c);
    return;
  }
  c->in.append(buf->base, size_t(nread));
  const bool complete = c->in.find("\r\n\r\n") != std::string::npos || c->in.find("\n\n") != std::string::npos;
  if (!complete && c->in.size() <= kMaxHead) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  if (!complete) {
    respond(c, 431, "Request Header Fields Too Large", "text/plain", "request head too large\n", false);
    return;
  }
  // "METHOD SP TARGET SP HTTP/x.y"
  const std::string line = c->in.substr(0, c->in.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    respond(c, 400, "Bad Request", "text/plain", "bad request\n", false);
    return;
  }
  const std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    respond(c, 405, "Method Not Allowed", "text/plain", "only GET and HEAD\n", false);
    return;
  }
  if (target == "/status") {
    respond(c, 200, "OK", "application/json", render_status_(), head);
    return;
  }
  respond(c, 404, "Not Found", "text/plain", "not found; try GET /status\n", head);
}

void AdminServer::respond(Conn* c, int status, std::string_view reason, std::string_view type, std::string body,
                          bool head_only) {
  c->out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "Connection: close\r\n\r\n",
      status, reason, type, body.size());
  if (!head_only) c->out += body;
  uv_buf_t b = uv_buf_init(c->out.data(), unsigned(c->out.size()));
  c->write_req.data = c;
  // c->out stays alive until the write callback: the connection is freed
  // only in its close callback, which comes after it.
  if (uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, &AdminServer::on_write_cb) != 0)
    close_conn(c);
}

void AdminServer::on_write_cb(uv_write_t* req, int) {
  auto* c = static_cast<Conn*>(req->data);
  c->owner->close_conn(c);
}

void AdminServer::close_conn(Conn* c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &AdminServer::on_conn_closed_cb);
}

void AdminServer::on_conn_closed_cb(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  c->owner->conns_.erase(c->self);  // frees |c|
}

}  // namespace fcgimux
