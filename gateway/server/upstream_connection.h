// A FastCGI client connection over TCP to one worker. Carries one request at
// a time (a fresh request id for each, so records that arrive late for a
// finished request are recognised and dropped); kept alive with
// FCGI_KEEP_CONN between requests when the worker allows it.
//
// Lifetime: owned by its Worker. close() closes the socket and the timer; the
// last close callback tells the Worker, which frees it.
#pragma once

#include <uv.h>

#include <array>
#include <list>
#include <memory>

#include "fcgi/stream_parser.h"
#include "gateway/base/clock.h"
#include "gateway/base/error.h"
#include "gateway/base/write_batch.h"
#include "gateway/upstream/health_tracker.h"

namespace fcgimux {

class Exchange;
class Worker;

class UpstreamConnection : private fcgi::StreamHandler {
 public:
  UpstreamConnection(Worker& worker, uv_loop_t* loop);
  ~UpstreamConnection() override;

  // Starts connecting. Returns false when libuv refused at once (the caller
  // treats it like a refused connection).
  bool connect();
  // |ex| becomes the request this connection carries; a new request id is
  // taken. If connected already, the exchange is told it may write.
  void attach(Exchange* ex);
  // The exchange went away mid-request: the connection cannot be reused.
  void detach_and_close();
  // Writes a batch (records for the current request).
  void send(std::unique_ptr<WriteBatch> batch);
  // Backpressure from a slow client.
  // The request is completely written (STDIN ended): the worker's time to
  // answer, and the early-suspicion point, count from now.
  void restart_response_clock();
  void pause_reading();
  void resume_reading();
  void close();
  // The worker was evicted: a request that never reached it moves at once;
  // one whose exchange may be replayed (safe, nothing sent to the client,
  // within the retry budget) is abandoned here and moves too; the rest keep
  // their own deadline.
  void on_worker_evicted();

  uint16_t request_id() const { return request_id_; }
  bool idle() const { return state_ == State::Idle; }
  unsigned requests_served() const { return requests_served_; }
  size_t write_backlog() const { return write_backlog_; }
  bool keep_conn() const { return keep_conn_; }
  TimePoint idle_since() const { return idle_since_; }

  std::list<std::unique_ptr<UpstreamConnection>>::iterator self_;  // in Worker::conns_

 private:
  enum class State { Connecting, Idle, Active, Closing };

  // fcgi::StreamHandler
  void on_stdout(uint16_t id, std::span<const std::byte> bytes) override;
  void on_stderr(uint16_t id, std::span<const std::byte> bytes) override;
  void on_end_request(uint16_t id, uint32_t app_status, fcgi::ProtocolStatus status) override;
  void on_get_values_result(std::vector<std::pair<std::string, std::string>> values) override;
  void on_unknown_type(uint8_t type) override;

  void on_connect(int status);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_written(WriteBatch* b, int status);
  void on_timer();
  void fail(Error e, FailureKind kind, std::string_view detail);
  void abandon(bool reached_worker);
  // True (and the connection failed or closed) when a record for |id| is not
  // for the request in flight.
  bool stray_record(uint16_t id, std::string_view type);
  void arm_response_timer();
  void on_response_deadline();
  void become_idle();

  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_timer_cb(uv_timer_t* t);
  static void on_close_cb(uv_handle_t* h);

  Worker& worker_;
  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  int open_handles_ = 0;
  State state_ = State::Connecting;
  fcgi::StreamParser parser_;
  Exchange* exchange_ = nullptr;  // not owned; cleared by both sides
  uint16_t request_id_ = 0;
  unsigned requests_served_ = 0;
  bool got_response_bytes_ = false;
  bool wrote_request_bytes_ = false;
  bool reading_ = false;
  bool read_paused_ = false;
  bool keep_conn_ = true;         // FCGI_KEEP_CONN asked for the current request
  size_t write_backlog_ = 0;
  TimePoint last_activity_{};
  TimePoint idle_since_{};
  TimePoint request_started_{};   // the current request was written
  TimePoint suspect_at_{};        // early suspicion: no byte by then → probe the worker
  bool suspected_ = false;
  // A first request on this connection that waited suspect_after for its
  // first byte was reported to the worker as a backlog sign (once).
  bool backlog_reported_ = false;
  bool awaiting_verdict_ = false;  // timed out; held for the probe's verdict
};

}  // namespace fcgimux
