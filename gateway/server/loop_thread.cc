#include "gateway/server/loop_thread.h"

#include <climits>

#include <span>

#include <unistd.h>

#include <algorithm>

#include "gateway/server/exchange.h"
#include "gateway/server/http_connection.h"
#include "gateway/server/upstream_connection.h"
#include "gateway/server/pool.h"

namespace fcgimux {

LoopThread::LoopThread(SharedState& shared, unsigned index, std::vector<int> listen_fds)
    : shared_(shared), index_(index), listen_fds_(std::move(listen_fds)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &stop_async_, &LoopThread::on_async_cb);
  stop_async_.data = this;
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  uv_async_init(&loop_, &health_async_, &LoopThread::on_health_async_cb);
  health_async_.data = this;
  uv_timer_init(&loop_, &health_timer_);
  health_timer_.data = this;
  uv_check_init(&loop_, &flush_check_);
  flush_check_.data = this;
  uv_check_start(&flush_check_, &LoopThread::on_flush_check_cb);
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_check_));  // it alone does not keep the loop running
  uv_prepare_init(&loop_, &flush_prepare_);
  flush_prepare_.data = this;
  uv_prepare_start(&flush_prepare_, &LoopThread::on_flush_prepare_cb);
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_prepare_));
  uv_idle_init(&loop_, &flush_idle_);
  flush_idle_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&flush_idle_));
  reaper_ = std::make_unique<Reaper>(&loop_);
  exchanges_ = std::make_unique<Recycler<Exchange>>(kMaxSpareExchanges);
  router_ = std::make_unique<Router>(shared_.config.routes);
  for (const PoolConfig& p : shared_.config.pools) {
    std::vector<WorkerHealth*> health;
    for (auto& h : shared_.health.at(p.name)) health.push_back(h.get());
    pools_[p.name] = std::make_unique<Pool>(p, health, *shared_.queues.at(p.name), *this);
  }
  for (int fd : listen_fds_) {
    Listener& l = listeners_.emplace_back();
    l.owner = this;
    uv_tcp_init(&loop_, &l.tcp);
    l.tcp.data = &l;
    uv_tcp_open(&l.tcp, fd);
  }
}

LoopThread::~LoopThread() {
  // The loop has finished: every handle is closed. Destroy what used it, then the loop.
  connections_.clear();
  pools_.clear();
  reaper_->drain();
  reaper_.reset();
  uv_loop_close(&loop_);
}

Pool* LoopThread::pool(const std::string& name) {
  auto it = pools_.find(name);
  return it == pools_.end() ? nullptr : it->second.get();
}

void LoopThread::start() {
  for (Listener& l : listeners_) {
    int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l.tcp), 511, &LoopThread::on_connection_cb);
    if (rc != 0) log().error("listen_failed", "thread={} error={}", index_, uv_strerror(rc));
  }
  if (index_ == 0) {
    // One thread speaks for all at first contact and for re-admission; the
    // health it learns is shared.
    for (auto& [name, p] : pools_) p->discover_workers();
    rearm_health_timer();
  }
  thread_ = std::thread([this] { run(); });
  ring_ready_.get_future().wait();
}

void LoopThread::on_flush_check_cb(uv_check_t* h) { static_cast<LoopThread*>(h->data)->flush_pending(false); }

void LoopThread::on_flush_prepare_cb(uv_prepare_t* h) { static_cast<LoopThread*>(h->data)->flush_pending(true); }

void LoopThread::on_flush_idle_cb(uv_idle_t* h) { static_cast<LoopThread*>(h->data)->flush_pending(false); }

void LoopThread::on_ring_event_cb(uv_poll_t* h, int, int) {
  auto* self = static_cast<LoopThread*>(h->data);
  if (!self->io_ring_) return;
  // Only a wake-up: the completions are taken in the check phase, next.
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(self->io_ring_->event_fd(), &count, sizeof count);
  self->io_ring_->set_notify(false);
}

// Runs after the I/O callbacks (check), before the loop may block (prepare)
// and while the idle handle is active. Sends what connections queued, and
// with receives, hands out what arrived meanwhile, which usually queues
// more: a few rounds go on while there is work, each one io_uring_enter.
void LoopThread::flush_pending(bool before_poll) {
  // A connection in a queue is alive: close() takes it out of the queue,
  // and close callbacks (which free) run after check and before prepare.
  constexpr int kMaxRounds = 8;  // then timers and new connections get their turn
  if (io_ring_) {
    io_ring_->set_notify(false);  // no eventfd wake-ups while we are awake anyway
    for (int round = 0; round < kMaxRounds && io_ring_; ++round)
      if (!run_ring()) break;
  } else {
    flush_without_ring();
  }
  bool more = !flush_queue_.empty() || !upstream_flush_queue_.empty();
  if (io_ring_ && before_poll && !more) {
    // From here the loop may sleep in epoll_wait: a receive completing
    // must then wake it through the eventfd. Anything that arrived before
    // this line is seen by has_news() below instead.
    io_ring_->set_notify(true);
  }
  if (io_ring_) more = more || io_ring_->has_news() || (ring_reads_ && (ring_reads_->has_kept() || ring_reads_->has_queued()));
  // Work left (the rounds ran out, a write that completed at once let an
  // exchange refill from its spill file, data arrived): nothing else may
  // wake the loop, so an active idle handle keeps the next poll from
  // blocking.
  if (more) uv_idle_start(&flush_idle_, &LoopThread::on_flush_idle_cb);
  else uv_idle_stop(&flush_idle_);
}

void LoopThread::flush_without_ring() {
  if (flush_queue_.empty() && upstream_flush_queue_.empty()) return;
  auto upstream = std::exchange(upstream_flush_queue_, {});
  auto batch = std::exchange(flush_queue_, {});
  flush_taken(upstream, batch);
}

// Lets each connection taken from the flush queues write (or finish what
// the ring sent for it), then gives the queues their capacity back.
void LoopThread::flush_taken(std::vector<UpstreamConnection*>& upstream, std::vector<HttpConnection*>& batch) {
  // Requests to workers first: they start working while the responses go out.
  for (UpstreamConnection* u : upstream) u->flush_unsent();
  for (HttpConnection* c : batch) c->flush_now();
  // Keep the capacities: no allocation per iteration.
  if (upstream_flush_queue_.empty()) {
    upstream.clear();
    upstream_flush_queue_.swap(upstream);
  }
  if (flush_queue_.empty()) {
    batch.clear();
    flush_queue_.swap(batch);
  }
}

// Every connection's bytes go to the kernel in one io_uring_enter (see
// io_ring.h: one return to user space, so at most one preemption by the
// threads the writes wake, for the whole batch, instead of one per write),
// with the receives armed or cancelled since the last one; the same call
// collects what the receives got. Each connection is told its send's result
// and flushes as usual; then the receives' bytes are handed to their
// sockets' read callbacks. False when there was nothing to do.
bool LoopThread::run_ring() {
  bool worked = ring_reads_ && ring_reads_->has_kept() && ring_reads_->deliver_kept();
  const bool flushes = !flush_queue_.empty() || !upstream_flush_queue_.empty();
  if (!flushes && !io_ring_->has_news() && !(ring_reads_ && ring_reads_->has_queued())) return worked;
  auto upstream = std::exchange(upstream_flush_queue_, {});
  auto batch = std::exchange(flush_queue_, {});
  // Tags: the index into |batch|, or into |upstream| with kUpstreamSend;
  // receives and cancels are RingReads' (top bits 10 and 11).
  constexpr uint64_t kUpstreamSend = uint64_t(1) << 62;
  received_.clear();
  auto apply = [&](uint64_t tag, int32_t res, uint32_t flags) {
    if (RingReads::is_recv(tag)) received_.push_back({tag, res, flags});
    else if (tag == RingReads::kCancelTag) return;
    else if (tag & kUpstreamSend) upstream[tag & ~kUpstreamSend]->set_tried_write(res);
    else batch[tag]->set_tried_write(res);
  };
  if (ring_reads_) ring_reads_->queue_into_ring();  // what does not fit waits for the next round
  auto queue = [&](int fd, auto bytes, uint64_t tag) {
    if (io_ring_->queue(fd, bytes, tag)) return;
    io_ring_->run(apply);  // full: send these, then start again
    if (!io_ring_->broken()) io_ring_->queue(fd, bytes, tag);
  };
  for (size_t i = 0; i < upstream.size(); ++i) {
    std::span<const iovec> iov = upstream[i]->unsent_iovecs();
    if (!iov.empty() && iov.size() <= IOV_MAX) queue(upstream[i]->fd(), iov, i | kUpstreamSend);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    std::span<const char> bytes = batch[i]->bytes_to_try();
    if (!bytes.empty()) queue(batch[i]->fd(), bytes, i);
  }
  io_ring_->run(apply);
  flush_taken(upstream, batch);
  // The receives' bytes, after the sends' results (a read callback may
  // close a connection that is in |batch|): each buffer is handed back to
  // the ring once its callback returns. No callback runs the ring, so
  // received_ does not change under this loop.
  if (ring_reads_) {
    for (const Received& r : received_) ring_reads_->deliver(r.tag, r.res, r.flags);
  }
  if (io_ring_->broken()) drop_ring();
  return true;
}

void LoopThread::drop_ring() {
  log().warn("io_uring_off", "thread={} error=\"{}\" (writing with write(2) and reading through libuv from now on)",
             index_, io_ring_->error());
  std::unique_ptr<RingReads> reads = std::move(ring_reads_);
  if (ring_event_polled_) {
    ring_event_polled_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&ring_event_poll_), nullptr);
  }
  // Closing the ring ends the receives armed in it.
  io_ring_.reset();
  if (reads) reads->fall_back();
}

void LoopThread::read_start(uv_tcp_t* tcp, ReadSlot& slot, uv_alloc_cb alloc, uv_read_cb cb) {
  if (ring_reads_ && !slot.libuv) ring_reads_->start(reinterpret_cast<uv_stream_t*>(tcp), slot, alloc, cb);
  else uv_read_start(reinterpret_cast<uv_stream_t*>(tcp), alloc, cb);
}

void LoopThread::read_stop(uv_tcp_t* tcp, ReadSlot& slot) {
  if (ring_reads_ && !slot.libuv) ring_reads_->stop(slot);
  else uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp));
}

void LoopThread::read_release(ReadSlot& slot) {
  if (ring_reads_ && !slot.libuv) ring_reads_->release(slot);
  slot.index = ReadSlot::kNone;
}

void LoopThread::schedule_upstream_flush(UpstreamConnection* c) {
  upstream_flush_queue_.push_back(c);
  // Queued from a timer or an idle callback, the writes must still leave
  // before the loop blocks: the prepare handle flushes then.
}

void LoopThread::unschedule_upstream_flush(UpstreamConnection* c) {
  upstream_flush_queue_.erase(std::remove(upstream_flush_queue_.begin(), upstream_flush_queue_.end(), c),
                              upstream_flush_queue_.end());
}

void LoopThread::unschedule_flush(HttpConnection* c) {
  flush_queue_.erase(std::remove(flush_queue_.begin(), flush_queue_.end(), c), flush_queue_.end());
}

void LoopThread::notify_health_changed() {
  if (shared_.stopping.load(std::memory_order_acquire)) return;
  for (LoopThread* t : shared_.threads) uv_async_send(&t->health_async_);
}

void LoopThread::on_health_async_cb(uv_async_t* h) {
  auto* self = static_cast<LoopThread*>(h->data);
  if (self->pools_closed_) return;
  for (auto& [name, p] : self->pools_) p->on_health_changed();
  if (self->index_ == 0) self->rearm_health_timer();
}

void LoopThread::on_health_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<LoopThread*>(t->data);
  if (self->stopping_) return;
  for (auto& [name, p] : self->pools_) p->probe_due_workers();
  self->rearm_health_timer();
}

void LoopThread::rearm_health_timer() {
  // Thread 0 wakes exactly when the next disabled worker is due for a probe
  // (no polling tick); at most a second apart in any case.
  const TimePoint t = now(&loop_);
  Millis wait{1000};
  for (auto& [name, p] : pools_)
    if (auto due = p->next_probe_due()) wait = std::min(wait, std::max(Millis(0), *due - t));
  uv_timer_start(&health_timer_, &LoopThread::on_health_timer_cb, uint64_t(wait.count()), 0);
}

void LoopThread::join() {
  if (thread_.joinable()) thread_.join();
}

void LoopThread::run() {
  // The ring belongs to the thread that makes it (IORING_SETUP_SINGLE_ISSUER).
  if (config().server.io_uring) {
    std::string why_not, why_no_recv;
    io_ring_ = IoRing::open(why_not, why_no_recv);
    if (!io_ring_ && index_ == 0)
      log().info("io_uring_unavailable", "error=\"{}\" (client writes use write(2))", why_not);
    if (io_ring_ && !io_ring_->can_receive() && index_ == 0)
      log().info("io_uring_receive_unavailable", "error=\"{}\" (reads use read(2))", why_no_recv);
    if (io_ring_ && io_ring_->can_receive()) {
      ring_reads_ = std::make_unique<RingReads>(*io_ring_);
      uv_poll_init(&loop_, &ring_event_poll_, io_ring_->event_fd());
      ring_event_poll_.data = this;
      uv_poll_start(&ring_event_poll_, UV_READABLE, &LoopThread::on_ring_event_cb);
      uv_unref(reinterpret_cast<uv_handle_t*>(&ring_event_poll_));  // connections keep the loop running
      ring_event_polled_ = true;
    }
  }
  ring_ready_.set_value();
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Anything still open (it should not be) is closed so the loop can end.
  uv_walk(&loop_, &LoopThread::on_walk_close_cb, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  // The poll of its eventfd is closed: the ring goes on the thread that made it.
  ring_reads_.reset();
  io_ring_.reset();
}

void LoopThread::on_walk_close_cb(uv_handle_t* h, void*) {
  if (!uv_is_closing(h)) uv_close(h, nullptr);
}

void LoopThread::request_stop() { uv_async_send(&stop_async_); }

void LoopThread::on_async_cb(uv_async_t* h) { static_cast<LoopThread*>(h->data)->begin_stop(); }

void LoopThread::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  for (Listener& l : listeners_) uv_close(reinterpret_cast<uv_handle_t*>(&l.tcp), nullptr);
  // Collect first: begin_shutdown() may close a connection, which removes it.
  std::vector<HttpConnection*> conns;
  for (auto& c : connections_) conns.push_back(c.get());
  for (HttpConnection* c : conns) c->begin_shutdown();
  uv_timer_start(&grace_timer_, &LoopThread::on_grace_cb, uint64_t(config().server.shutdown_timeout.count()), 0);
  maybe_finish_stop();
}

void LoopThread::on_grace_cb(uv_timer_t* t) { static_cast<LoopThread*>(t->data)->on_grace_expired(); }

void LoopThread::on_grace_expired() {
  log().warn("shutdown_grace_expired", "thread={} connections={}", index_, connections_.size());
  std::vector<HttpConnection*> conns;
  for (auto& c : connections_) conns.push_back(c.get());
  for (HttpConnection* c : conns) c->abort();
}

void LoopThread::maybe_finish_stop() {
  if (!stopping_ || !connections_.empty() || pools_closed_) return;
  pools_closed_ = true;
  for (auto& [name, p] : pools_) p->close();
  reaper_->close();
  uv_timer_stop(&grace_timer_);
  uv_timer_stop(&health_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&health_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&health_async_), nullptr);
  uv_check_stop(&flush_check_);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), nullptr);
  uv_prepare_stop(&flush_prepare_);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_prepare_), nullptr);
  if (ring_event_polled_) {
    ring_event_polled_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&ring_event_poll_), nullptr);
  }
}

void LoopThread::on_connection_cb(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  if (status < 0) {
    l->owner->log().warn("accept_failed", "thread={} error={}", l->owner->index_, uv_strerror(status));
    return;
  }
  l->owner->on_connection(server);
}

void LoopThread::on_connection(uv_stream_t* server) {
  if (stopping_) return;
  auto conn = std::make_unique<HttpConnection>(*this);
  HttpConnection* c = conn.get();
  connections_.push_front(std::move(conn));
  c->self_ = connections_.begin();
  const size_t n = shared_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
  if (!c->accept(server)) return;  // it closed itself; its slot is released when freed
  if (n > config().server.max_connections) {
    // Full. A connection idling between requests costs a client nothing to
    // lose (it reconnects), so the oldest of them makes room for the new
    // one; the slot it frees is counted once its handles are closed.
    if (idle_head_ != nullptr) {
      idle_head_->close_for_capacity();
      return;
    }
    log().warn("max_connections", "limit={} client={}", config().server.max_connections, c->client_text());
    c->abort();
  }
}

void LoopThread::add_idle(HttpConnection* c) {
  c->idle_prev_ = idle_tail_;
  c->idle_next_ = nullptr;
  (idle_tail_ ? idle_tail_->idle_next_ : idle_head_) = c;
  idle_tail_ = c;
}

void LoopThread::remove_idle(HttpConnection* c) {
  (c->idle_prev_ ? c->idle_prev_->idle_next_ : idle_head_) = c->idle_next_;
  (c->idle_next_ ? c->idle_next_->idle_prev_ : idle_tail_) = c->idle_prev_;
  c->idle_prev_ = c->idle_next_ = nullptr;
}

void LoopThread::on_connection_closed(HttpConnection* c) {
  connections_.erase(c->self_);  // frees |c|
  maybe_finish_stop();
}

}  // namespace fcgimux
