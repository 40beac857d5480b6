// The admin listener ([server] admin_listen): a tiny plain-HTTP responder on
// a loopback address, on the main thread's loop (which otherwise only waits
// for signals), so it costs the loop threads nothing. It answers
//   GET /status  → 200, JSON from |render| (admin_status.h)
//   anything else → 404 (405 for another method than GET/HEAD, 400 for a
//                   request head it cannot read)
// one request per connection (Connection: close).
//
// Lifetime: owned by the Server; close() closes the listener and every open
// connection, whose memory is freed in their close callbacks; the Server
// runs the loop until they are done, then destroys this.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "gateway/base/log.h"
#include "gateway/config/config.h"

namespace fcgimux {

class AdminServer {
 public:
  using Render = std::function<std::string()>;
  AdminServer(uv_loop_t* loop, Logger& log, Render render_status);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens on |addr|; logs event=admin_listening with the bound
  // address (port 0: the kernel's choice). False (logged) on failure.
  bool start(const SocketAddress& addr);
  void close();

 private:
  struct Conn {
    uv_tcp_t tcp{};
    uv_write_t write_req{};
    AdminServer* owner = nullptr;  // not owned
    std::string in;
    std::string out;
    bool closing = false;
    std::list<std::unique_ptr<Conn>>::iterator self;  // in conns_
  };
  static constexpr size_t kMaxHead = 8 * 1024;

  void on_connection();
  void on_read(Conn* c, ssize_t nread, const uv_buf_t* buf);
  void respond(Conn* c, int status, std::string_view reason, std::string_view type, std::string body,
               bool head_only);
  void close_conn(Conn* c);

  static void on_connection_cb(uv_stream_t* server, int status);
  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_conn_closed_cb(uv_handle_t* h);

  uv_loop_t* loop_;
  Logger& log_;
  Render render_status_;
  uv_tcp_t listener_{};
  bool listening_ = false;
  bool closed_ = false;
  std::list<std::unique_ptr<Conn>> conns_;
  char read_buf_[4096];
};

}  // namespace fcgimux
