// One libuv loop on its own thread: its listeners (SO_REUSEPORT sockets made
// by the Server), its client connections, and its own pools of upstream
// connections. Nothing here is shared with other threads but the config, the
// loggers and the connection counter.
#pragma once

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "gateway/base/buffer_cache.h"
#include "gateway/base/log.h"
#include "gateway/base/reaper.h"
#include "gateway/base/spare_cache.h"
#include "gateway/base/recycler.h"
#include "gateway/base/io_ring.h"
#include "gateway/base/ring_reads.h"
#include "gateway/base/write_batch.h"
#include "gateway/config/config.h"
#include "gateway/routing/router.h"
#include "gateway/server/access_log.h"
#include "gateway/server/queue_board.h"
#include "gateway/server/worker_health.h"

namespace fcgimux {

class Exchange;
class HttpConnection;
class Pool;
class UpstreamConnection;

// What all loop threads share. Outlives them.
struct SharedState {
  const Config& config;
  Logger& log;
  AccessLog* access_log;          // nullptr: access_log = ""
  std::atomic<size_t> connections{0};
  std::string server_software;    // "fcgimux/0.1.0"
  // One shared health record per configured worker, by pool name, in the
  // order of the pool's workers. Built before the threads start.
  std::map<std::string, std::vector<std::unique_ptr<WorkerHealth>>> health;
  // Per pool: how long requests have waited for it on each thread.
  std::map<std::string, std::unique_ptr<QueueBoard>> queues;
  // Every loop thread, so that a health change reaches them all.
  std::vector<class LoopThread*> threads;
  // Set before any thread is asked to stop: health notifications cease, so
  // none is sent to a thread that is closing its handles.
  std::atomic<bool> stopping{false};
};

class LoopThread {
 public:
  // |listen_fds| are bound, listening sockets; the thread takes them over.
  LoopThread(SharedState& shared, unsigned index, std::vector<int> listen_fds);
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  void start();              // spawns the thread
  void join();
  // Thread-safe: stop accepting, finish in-flight requests, then exit the loop.
  void request_stop();
  // Thread-safe: a worker's health changed; every thread re-examines its
  // in-flight requests and queue on its next loop iteration.
  void notify_health_changed();

  uv_loop_t* loop() { return &loop_; }
  // One read buffer for every socket of this loop: libuv reads into it and
  // the read callback consumes or copies what it got before returning, so an
  // idle connection costs no buffer at all.
  uv_buf_t read_buffer() { return uv_buf_init(read_buffer_.get(), unsigned(kReadBufferSize)); }
  static constexpr size_t kReadBufferSize = 64 * 1024;
  const Config& config() const { return shared_.config; }
  Logger& log() { return shared_.log; }
  AccessLog* access_log() { return shared_.access_log; }
  const std::string& server_software() const { return shared_.server_software; }
  Reaper& reaper() { return *reaper_; }
  // Finished exchanges, kept to serve the next requests of this thread
  // (HttpConnection::retire_exchange): no malloc per request, warm memory.
  Recycler<Exchange>& exchanges() { return *exchanges_; }
  // Enough for the responses one loop iteration finishes at high
  // concurrency; past that, exchanges are freed.
  static constexpr size_t kMaxSpareExchanges = 128;
  // Client connections' output buffers (HttpConnection::out_): taken for a
  // response, given back once it is written. Sized like the exchanges: the
  // responses queued in one loop iteration each hold one until the flush.
  BufferCache& output_buffers() { return output_buffers_; }
  // Header vectors of client connections' request heads between requests
  // (empty, with their capacity): parked when a connection goes idle, taken
  // when its next request starts. Only small ones are kept.
  using HeaderVector = std::vector<std::pair<std::string, std::string>>;
  SpareCache<HeaderVector>& spare_headers() { return spare_headers_; }
  static constexpr size_t kMaxSpareHeaders = 128;
  static constexpr size_t kMaxKeptHeaderSlots = 64;
  static constexpr size_t kMaxSpareOutputBuffers = 128;
  static constexpr size_t kMaxKeptOutputBuffer = 16 * 1024;
  // Worker connections' write batches (UpstreamConnection::new_batch):
  // taken for the records of a request, given back once written. Shared by
  // the thread's connections, so that a multiplexed one sending several
  // requests in one loop iteration, and the batches the ring holds until
  // the iteration's end, do not each allocate, and an idle connection holds
  // none.
  SpareCache<std::unique_ptr<WriteBatch>>& spare_batches() { return spare_batches_; }
  static constexpr size_t kMaxSpareBatches = 128;
  const Router& router() const { return *router_; }
  Pool* pool(const std::string& name);
  bool stopping() const { return stopping_; }
  unsigned index() const { return index_; }
  unsigned thread_count() const { return unsigned(std::max<size_t>(1, shared_.threads.size())); }

  // A connection freed its slot of max_connections.
  void shared_connections_release() { shared_.connections.fetch_sub(1, std::memory_order_relaxed); }
  // Client writes are gathered: everything a connection queues during one
  // loop iteration leaves in one write, flushed after the I/O callbacks
  // (uv_check) and before any handle's close callback can free it.
  // Queued from timer or idle callbacks, they leave in uv_prepare, before the
  // loop blocks in poll; queued from I/O callbacks, in uv_check.
  void schedule_flush(HttpConnection* c) { flush_queue_.push_back(c); }
  // A closing connection leaves the queue (it may be freed before the next flush).
  void unschedule_flush(HttpConnection* c);
  // Worker connections hold their writes for the end of the iteration only
  // when there is an IoRing to send them all at once.
  bool has_io_ring() const { return io_ring_ != nullptr; }
  // Reading a socket: through the IoRing's receives where the kernel has
  // them (ring_reads.h), else uv_read_start/uv_read_stop. |slot| belongs to
  // the socket's owner, which calls read_release() before uv_close.
  void read_start(uv_tcp_t* tcp, ReadSlot& slot, uv_alloc_cb alloc, uv_read_cb cb);
  void read_stop(uv_tcp_t* tcp, ReadSlot& slot);
  void read_release(ReadSlot& slot);
  // Receives completed (or about to) that the loop has not handed out yet.
  bool ring_has_news() const { return ring_reads_ && io_ring_->has_news(); }
  void schedule_upstream_flush(UpstreamConnection* c);
  void unschedule_upstream_flush(UpstreamConnection* c);
  // Idle keep-alive connections, oldest first (see HttpConnection::set_idle).
  void add_idle(HttpConnection* c);
  void remove_idle(HttpConnection* c);
  // Called by a connection from its last close callback: frees it.
  void on_connection_closed(HttpConnection* c);

 private:
  struct Listener {
    uv_tcp_t tcp;
    LoopThread* owner;
  };
  void run();
  void begin_stop();
  void on_connection(uv_stream_t* server);
  void on_grace_expired();
  void maybe_finish_stop();
  static void on_connection_cb(uv_stream_t* server, int status);
  static void on_async_cb(uv_async_t* h);
  static void on_health_async_cb(uv_async_t* h);
  static void on_health_timer_cb(uv_timer_t* t);
  static void on_flush_check_cb(uv_check_t* h);
  static void on_flush_prepare_cb(uv_prepare_t* h);
  static void on_flush_idle_cb(uv_idle_t* h);
  static void on_ring_event_cb(uv_poll_t* h, int status, int events);
  void flush_pending(bool before_poll);
  bool run_ring();   // one io_uring_enter: sends, arms, cancels; completions handed out
  void flush_without_ring();
  void flush_taken(std::vector<UpstreamConnection*>& upstream, std::vector<HttpConnection*>& batch);
  void drop_ring();  // the ring broke: write(2) and libuv reads from now on
  void rearm_health_timer();
  static void on_grace_cb(uv_timer_t* t);
  static void on_walk_close_cb(uv_handle_t* h, void* arg);

  SharedState& shared_;
  unsigned index_;
  uv_loop_t loop_;
  uv_async_t stop_async_;
  uv_async_t health_async_;       // "some worker's health changed"
  uv_timer_t health_timer_;       // thread 0 only: starts re-admission probes when due
  uv_timer_t grace_timer_;
  uv_check_t flush_check_;
  uv_prepare_t flush_prepare_;
  uv_idle_t flush_idle_;  // active while flushes wait: the loop must not block in poll
  std::vector<HttpConnection*> flush_queue_;  // not owned; see schedule_flush()
  std::vector<UpstreamConnection*> upstream_flush_queue_;  // not owned; close() takes one out
  // Made on the loop's own thread (run()); null: io_uring unavailable or
  // turned off, and connections write with uv_try_write.
  std::unique_ptr<IoRing> io_ring_;
  // Reads through io_ring_ (null: libuv reads), and the eventfd the ring
  // signals when a receive completes while the loop may block in poll.
  std::unique_ptr<RingReads> ring_reads_;
  uv_poll_t ring_event_poll_;
  bool ring_event_polled_ = false;
  // Receive completions of one run, handed out after the sends' results.
  struct Received {
    uint64_t tag;
    int32_t res;
    uint32_t flags;
  };
  std::vector<Received> received_;
  std::unique_ptr<char[]> read_buffer_{new char[kReadBufferSize]};
  std::vector<int> listen_fds_;
  std::list<Listener> listeners_;  // list: addresses stay stable for handle->data
  std::unique_ptr<Reaper> reaper_;
  // Behind a pointer: Exchange is complete only in loop_thread.cc.
  std::unique_ptr<Recycler<Exchange>> exchanges_;
  BufferCache output_buffers_{kMaxSpareOutputBuffers, kMaxKeptOutputBuffer};
  SpareCache<HeaderVector> spare_headers_{kMaxSpareHeaders};
  SpareCache<std::unique_ptr<WriteBatch>> spare_batches_{kMaxSpareBatches};
  std::unique_ptr<Router> router_;
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::list<std::unique_ptr<HttpConnection>> connections_;
  // Idle keep-alive connections, oldest first: an intrusive list through
  // HttpConnection::idle_prev_/idle_next_, so going idle between requests
  // allocates nothing. Not owned; a connection leaves it before it closes.
  HttpConnection* idle_head_ = nullptr;
  HttpConnection* idle_tail_ = nullptr;
  std::thread thread_;
  // Set by the thread once its IoRing is made (or refused): start() returns
  // only then, so the descriptors a running gateway holds are all open by
  // the time it logs event=started.
  std::promise<void> ring_ready_;
  bool stopping_ = false;
  bool pools_closed_ = false;
};

}  // namespace fcgimux
