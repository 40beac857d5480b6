// A FastCGI client connection over TCP to one worker.
//
// Unshared (the worker does not multiplex): one request at a time, kept
// alive with FCGI_KEEP_CONN between requests when the worker allows it.
// Multiplexed (the worker said FCGI_MPXS_CONNS=1, or multiplex = "on"):
// many requests in flight at once, each with its own request id, their
// records interleaved in both directions.
//
// Every request in flight is a Stream, keyed by its id. An id stays taken
// until the worker's END_REQUEST for it (RequestIds), also after an abort,
// so a late record is always recognised and dropped.
//
// Lifetime: owned by its Worker. close() closes the socket and the timer; the
// last close callback tells the Worker, which frees it.
#pragma once

#include <uv.h>

#include <list>
#include <span>
#include <memory>
#include <vector>

#include "fcgi/stream_parser.h"
#include "gateway/base/clock.h"
#include "gateway/base/lazy_timer.h"
#include "gateway/base/error.h"
#include "gateway/base/io_ring.h"
#include "gateway/base/ring_reads.h"
#include "gateway/base/write_batch.h"
#include "gateway/upstream/health_tracker.h"
#include "gateway/upstream/request_ids.h"

namespace fcgimux {

class Exchange;
class Worker;

class UpstreamConnection : private fcgi::StreamHandler {
 public:
  UpstreamConnection(Worker& worker, uv_loop_t* loop, bool multiplexed);
  ~UpstreamConnection() override;

  // Starts connecting. Returns false when libuv refused at once (the caller
  // treats it like a refused connection).
  bool connect();
  // |ex| becomes a request on this connection, with a request id of its own
  // (returned, and told to the exchange). If connected already, the exchange
  // is told it may write.
  uint16_t attach(Exchange* ex);
  // The exchange of request |id| let go (client gone, unusable response).
  // Unshared: the connection closes, which is the abort the worker sees.
  // Multiplexed: FCGI_ABORT_REQUEST is sent and the id stays taken until the
  // worker's END_REQUEST; the request's output is dropped meanwhile.
  void release(uint16_t id);
  // An empty batch for send(): one of the thread's spares (a batch written
  // whole is given back at once), else a new one.
  std::unique_ptr<WriteBatch> new_batch();
  // Writes a batch of records of request |id|.
  void send(uint16_t id, std::unique_ptr<WriteBatch> batch);
  // Request |id| is completely written (STDIN ended): the worker's time to
  // answer, and the early-suspicion point, count from now.
  void restart_response_clock(uint16_t id);
  // Backpressure from a slow client; only on an unshared connection (a
  // shared one must keep reading for the other requests).
  void pause_reading();
  void resume_reading();
  void close();
  // The worker was evicted: requests that never reached it move at once;
  // those whose exchange may be replayed (safe, nothing sent to the client,
  // within the retry budget) are abandoned here and move too; the rest keep
  // their own deadline.
  void on_worker_evicted();
  // No new requests: the worker said it cannot multiplex, or the connection
  // served keepalive_requests. It closes when its last request ends.
  void retire();

  bool multiplexed() const { return multiplexed_; }
  // An idle connection the worker has closed (its FIN or RST is waiting in
  // the socket, not yet read by the loop): checked before reuse, so that the
  // stale keep-alive race is lost only in the last microseconds.
  bool peer_closed();
  // Takes another request now: connected or connecting, not retired, under
  // its cap (1 unshared; requests per connection when multiplexed).
  bool accepts(unsigned reqs_per_conn) const;
  bool idle() const { return state_ == State::Idle; }
  size_t in_flight() const { return streams_.size(); }
  // Requests in flight here that may not be sent twice (POST...).
  size_t unsafe_in_flight() const;
  unsigned requests_served() const { return requests_served_; }
  // Bytes not yet taken by the kernel: queued in libuv, or waiting for the
  // end of this loop iteration (unsent_).
  size_t write_backlog() const { return write_backlog_; }
  // For the thread's IoRing (LoopThread::flush_pending): the iovecs of
  // the batches written during this iteration, the socket, and what the
  // ring made of them; then flush_unsent() finishes the job (what the kernel
  // did not take goes to libuv's queue; kNotSent: everything does).
  std::span<const iovec> unsent_iovecs();
  int fd() const;
  void set_tried_write(int32_t result) { tried_write_ = result; }
  void flush_unsent();
  // An exchange paused its client for this connection's backlog: tell it
  // (on_upstream_drained) once the kernel has taken the backlog.
  void wait_for_drain() { drain_awaited_ = true; }
  bool keep_conn() const { return keep_conn_; }
  TimePoint idle_since() const { return idle_since_; }
  // Closes this idle connection after |limit| unless reused by then (less
  // than keepalive_timeout: a connection kept only for a burst).
  void limit_idle(Millis limit);

  std::list<std::unique_ptr<UpstreamConnection>>::iterator self_;  // in Worker::conns_

 private:
  enum class State { Connecting, Idle, Active, Closing };

  // One request in flight on this connection.
  struct Stream {
    uint16_t id = 0;
    Exchange* exchange = nullptr;  // not owned; null once released (aborting)
    TimePoint started{};           // attached (the request is written as soon as connected)
    TimePoint last_activity{};     // the request's last record from the worker (or its start)
    TimePoint suspect_at{};        // early suspicion: no byte by then → probe the worker
    TimePoint verdict_at{};        // held for a probe's verdict until then
    bool got_response_bytes = false;
    bool wrote_request_bytes = false;
    bool suspected = false;
    bool awaiting_verdict = false;  // timed out; held for the probe's verdict
    bool unsafe = false;            // not a safe method: never replayed
  };

  // fcgi::StreamHandler
  void on_stdout(uint16_t id, std::span<const std::byte> bytes) override;
  void on_stderr(uint16_t id, std::span<const std::byte> bytes) override;
  void on_end_request(uint16_t id, uint32_t app_status, fcgi::ProtocolStatus status) override;
  void on_get_values_result(std::vector<std::pair<std::string, std::string>> values) override;
  void on_unknown_type(uint8_t type) override;

  Stream* find(uint16_t id);
  // The stream a record for |id| belongs to; null (and the connection failed
  // or closed) when no request in flight has that id: a wrong id, or output
  // after END_REQUEST, is the worker's mistake, and nothing more it sends on
  // this connection can be trusted.
  Stream* stream_for_record(uint16_t id, std::string_view type);
  void start_stream(Stream& s);
  // Removes |id|'s stream and frees its id; returns its exchange (or null).
  Exchange* end_stream(uint16_t id);
  // The last request ended: idle (kept for reuse) or closed.
  void after_stream_ended();

  void on_connect(int status);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void on_written(WriteBatch* b, int status);
  void on_timer();
  void check_deadlines();
  // Request |id| got no byte in response_timeout (or its verdict is due).
  void on_response_timeout(uint16_t id);
  void fail(Error e, FailureKind kind, std::string_view detail);
  void abandon(uint16_t id, bool reached_worker);
  void arm_timer();
  // The earliest of the deadlines arm_timer() wakes for; TimePoint::max()
  // when there is none.
  TimePoint next_deadline() const;
  void wake_at(TimePoint due) { deadline_timer_.wake_at(now(loop_), due); }
  void stop_timer() { deadline_timer_.stop(); }
  void write_batch(std::unique_ptr<WriteBatch> batch);
  // A batch libuv no longer holds: reset, and kept by the thread as a spare
  // (LoopThread::spare_batches) or freed.
  void recycle(std::unique_ptr<WriteBatch> batch);
  void write_now(std::unique_ptr<WriteBatch> batch);
  void notify_drained();

  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_timer_cb(uv_timer_t* t);
  static void on_close_cb(uv_handle_t* h);

  Worker& worker_;
  uv_loop_t* loop_;
  const bool multiplexed_;
  uv_tcp_t tcp_{};
  ReadSlot read_slot_;  // its reads through the thread's IoRing, if any (LoopThread::read_start)
  uv_timer_t timer_{};
  LazyTimer deadline_timer_{timer_, &UpstreamConnection::on_timer_cb};  // timer_, moved only earlier
  uv_connect_t connect_req_{};
  int open_handles_ = 0;
  // Batches written during this loop iteration while the thread has a
  // IoRing: they leave with every other socket's writes in one system call
  // at the end of the iteration. Counted in write_backlog_.
  std::vector<std::unique_ptr<WriteBatch>> unsent_;
  std::vector<iovec> unsent_iov_;  // theirs, handed to the ring
  bool flush_scheduled_ = false;
  bool drain_awaited_ = false;  // see wait_for_drain()
  int32_t tried_write_ = IoRing::kNotSent;
  State state_ = State::Connecting;
  fcgi::StreamParser parser_;
  std::vector<Stream> streams_;   // in flight, live and aborting; few
  RequestIds ids_;
  unsigned requests_started_ = 0;
  unsigned requests_served_ = 0;
  bool retired_ = false;
  // A first request on this (unshared) connection that waited suspect_after
  // for its first byte was reported to the worker as a backlog sign (once).
  bool backlog_reported_ = false;
  // Our open connections to the worker, this one included, and how many of
  // ours had closed, when it opened; and whether the worker has sent a byte
  // on it (then it holds one of the worker's children, and its first byte
  // proves more: WorkerHealth::note_conn_answered, proven_conns.h).
  int opened_with_ = 0;
  uint64_t closed_before_ = 0;
  bool answered_ = false;
  // How long its first request may wait for a byte before that is a backlog
  // sign (Pool::backlog_wait(), taken when it connected).
  Millis backlog_wait_{};
  // The backlog sign is still to be watched for: the connection's first
  // request has no byte yet.
  bool watching_backlog() const;
  bool reading_ = false;
  bool read_paused_ = false;
  bool keep_conn_ = true;         // FCGI_KEEP_CONN asked for the current request
  size_t write_backlog_ = 0;
  TimePoint idle_since_{};
  Millis idle_limit_{};  // closed when idle this long (keepalive_timeout, or less: limit_idle)
  bool gave_poll_a_turn_ = false;  // a deadline waited one loop turn for unpolled I/O (unpolled_io.h)
  TimePoint last_end_{};          // the last END_REQUEST
};

}  // namespace fcgimux
