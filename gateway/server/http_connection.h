// One client connection: reads bytes, runs them through the HTTP parser, and
// owns the Exchange of the request being answered. Requests are answered one
// at a time, in order: the parser pauses after each complete request, and
// pipelined bytes wait in the input buffer until the response is queued.
//
// Lifetime: owned by its LoopThread. close() closes both handles; the last
// close callback hands the object back to the LoopThread, which frees it
// (STYLE C1). Nothing is freed while a libuv callback may still reach it.
#pragma once

#include <uv.h>

#include <span>

#include <array>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/base/clock.h"
#include "gateway/base/lazy_timer.h"
#include "gateway/base/io_ring.h"
#include "gateway/base/ring_reads.h"
#include "gateway/cgi/cgi_params.h"
#include "gateway/http/http_parser.h"

namespace fcgimux {

class Exchange;
class LoopThread;

class HttpConnection : public HttpRequestSink {
 public:
  explicit HttpConnection(LoopThread& thread);
  ~HttpConnection() override;

  // Accepts a pending connection from |server| and starts reading. Returns
  // false (and closes) when accepting fails.
  bool accept(uv_stream_t* server);

  // Queues |bytes| for the client. Writes happen in order; what is queued
  // during one loop iteration leaves in one write (see flush_now()).
  void send(std::string bytes);
  // The same for bytes the caller keeps: appended to what is queued, so a
  // small response body joins its head without a string of its own.
  void send_copy(std::string_view bytes);
  // The same for bytes built in place: |build| appends them to the string
  // it is given (the output buffer itself), and returns what it likes.
  // Used for response heads, so that none has a string of its own.
  template <class F>
  auto send_built(F&& build) {
    std::string& out = output_for_append();
    const size_t before = out.size();
    auto r = build(out);
    appended(before);
    return r;
  }
  // Called by the LoopThread after this iteration's I/O callbacks.
  void flush_now();
  // For the thread's IoRing, just before flush_now(): the bytes
  // flush_now() would try to write at once (empty: none, or a write is
  // already under way), the socket, and what the ring made of them
  // (IoRing::kNotSent: nothing; flush_now() then writes itself).
  std::span<const char> bytes_to_try() const;
  int fd() const;
  void set_tried_write(int32_t result) { tried_write_ = result; }
  // Bytes queued or being written, not yet taken by the kernel.
  size_t queued_bytes() const { return queued_bytes_; }
  // The current exchange finished its response (all of it queued). The
  // connection goes on to the next request when |keep_alive|, else closes
  // once the queued bytes are written.
  void on_exchange_finished(bool keep_alive);
  // The response cannot be completed (the worker broke mid-body): close now,
  // so the client sees a truncated response rather than a wrong one.
  void abort();
  // Request-body backpressure: the exchange asks to stop/resume reading.
  void pause_reading();
  void resume_reading();
  // The server is stopping: close when idle, else after the current response.
  void begin_shutdown();
  // max_connections is reached and this is the oldest idle keep-alive
  // connection of its thread: close it (logged) to make room.
  void close_for_capacity();

  const ConnInfo& info() const { return info_; }
  const std::string& client_text() const { return client_text_; }
  LoopThread& thread() { return thread_; }

  std::list<std::unique_ptr<HttpConnection>>::iterator self_;  // in LoopThread::connections_
  HttpConnection* idle_prev_ = nullptr;  // in the LoopThread idle list, when idle_listed_
  HttpConnection* idle_next_ = nullptr;
  bool idle_listed_ = false;

 private:
  enum class Phase { WaitingHead, ReadingHead, InExchange, Closing };
  struct WriteReq;

  // HttpRequestSink
  void on_request_head(RequestHead& head) override;
  void on_request_body(std::span<const std::byte> bytes) override;
  void on_request_complete() override;

  // send_built(): the output buffer, then the bookkeeping for what was
  // appended to it (dropped again while closing, as send() drops bytes).
  std::string& output_for_append();
  void appended(size_t size_before);
  // The output buffer is written: back to the thread's cache, so that an
  // idle connection holds none.
  void release_output();

  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_written(WriteReq* w, int status);
  void on_timer();
  void process_input(std::span<const std::byte> fresh);
  void feed_buffered();
  Result<size_t> run_parser(std::span<const std::byte> in);
  void fail_request(Error e);
  void start_write();
  void close();
  void close_when_flushed();
  void after_flush();
  void arm_head_timer(bool first_byte_seen);
  void wake_at(TimePoint due);  // deadline_timer_: moved only earlier
  void schedule_advance();
  void arm_body_timer();
  // Idle keep-alive connections are listed with the LoopThread, oldest
  // first, so that a full server can close them to admit new ones.
  void set_idle(bool idle);
  void start_reading();
  void start_reading_for_linger();
  void advance();
  // The current exchange is finished and the connection goes on: recycled
  // (LoopThread::exchanges) when nothing refers to it any more, else reaped.
  void retire_exchange();
  // Between requests: the parser's head storage goes to the thread while
  // the connection is idle, and comes back when the next request starts.
  void park_head();
  void unpark_head();

  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_timer_cb(uv_timer_t* t);
  static void on_write_timer_cb(uv_timer_t* t);
  void on_write_timeout();
  static void on_close_cb(uv_handle_t* h);

  LoopThread& thread_;
  uv_tcp_t tcp_{};
  ReadSlot read_slot_;  // its reads through the thread's IoRing, if any (LoopThread::read_start)
  uv_timer_t timer_{};
  LazyTimer deadline_timer_{timer_, &HttpConnection::on_timer_cb};  // timer_, moved only earlier
  uv_timer_t write_timer_{};    // runs while a write waits on the client (write_timeout)
  uv_shutdown_t shutdown_req_{};
  int open_handles_ = 0;
  ConnInfo info_;
  std::string client_text_;

  HttpParser parser_;
  std::unique_ptr<Exchange> exchange_;
  std::string pending_input_;   // unparsed bytes (pipelined requests, partial heads)
  size_t pending_pos_ = 0;

  std::string out_;             // bytes queued while a write is in flight
                                // (from LoopThread::output_buffers(), given back once written)
  bool writing_ = false;
  int32_t tried_write_ = IoRing::kNotSent;  // see set_tried_write()
  bool flush_scheduled_ = false;
  size_t queued_bytes_ = 0;

  Phase phase_ = Phase::WaitingHead;
  bool first_request_ = true;
  bool reading_ = false;
  bool read_paused_ = false;
  bool feeding_ = false;        // inside parser_.feed(): continuations wait for it to return
  bool resume_after_feed_ = false;
  bool advance_pending_ = false;  // advance() at the next flush_now()
  bool close_after_flush_ = false;
  bool shutting_down_ = false;
  bool peer_eof_ = false;
  bool counted_ = false;        // holds one of max_connections
  bool closed_ = false;
  bool request_done_ = false;   // the parser finished the current request
  bool response_done_ = false;  // the current exchange queued all of its response
  bool body_expected_ = false;  // the current request's body is still arriving
  TimePoint deadline_{};        // of the head (ReadingHead) or of the next body read (InExchange)
};

}  // namespace fcgimux
