// A liveness probe of one worker, on a fresh connection of its own (never on
// a connection that carries requests): either FCGI_GET_VALUES, or a small
// FastCGI GET for the pool's probe_path, for workers that never answer
// GET_VALUES. Any answer within the deadline means "alive".
//
// Lifetime: owned by its Worker. It reports once through
// Worker::on_probe_done(), then closes; its last close callback tells the
// Worker, which frees it.
#pragma once

#include <uv.h>

#include <array>
#include <list>
#include <memory>
#include <optional>

#include "fcgi/stream_parser.h"
#include "gateway/base/clock.h"
#include "gateway/server/worker_health.h"

namespace fcgimux {

class Worker;

struct ProbeResult {
  bool answered = false;
  bool connect_failed = false;       // refused, unreachable, or no connect in time
  bool closed_unanswered = false;    // the worker closed the connection without a word
  // The deadline passed before the connection was even made (for the log:
  // an unreachable machine). Not a verdict by itself: a first-contact
  // phase's deadline is half the budget, and a SYN may just be retried.
  bool connect_timed_out = false;
  Millis latency{0};                 // from the start to the answer (or to giving up)
  std::optional<unsigned> max_conns; // FCGI_MAX_CONNS, when GET_VALUES was answered
  std::optional<unsigned> max_reqs;  // FCGI_MAX_REQS
  std::optional<bool> mpxs_conns;    // FCGI_MPXS_CONNS
};

class Probe : private fcgi::StreamHandler {
 public:
  // |mode| is GetValues or Request. |timeout| bounds connect and answer together.
  Probe(Worker& worker, uv_loop_t* loop, ProbeKind mode, Millis timeout);
  ~Probe() override;

  void start();
  void close();
  ProbeKind mode() const { return mode_; }

  std::list<std::unique_ptr<Probe>>::iterator self_;  // in Worker::probes_

 private:
  void on_stdout(uint16_t id, std::span<const std::byte> bytes) override;
  void on_stderr(uint16_t id, std::span<const std::byte> bytes) override;
  void on_end_request(uint16_t id, uint32_t app_status, fcgi::ProtocolStatus status) override;
  void on_get_values_result(std::vector<std::pair<std::string, std::string>> values) override;
  void on_unknown_type(uint8_t type) override;

  void on_connect(int status);
  void on_read(ssize_t nread);
  void answered();
  void report();

  static void on_connect_cb(uv_connect_t* req, int status);
  static void on_alloc_cb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_timer_cb(uv_timer_t* t);
  static void on_close_cb(uv_handle_t* h);

  Worker& worker_;
  uv_loop_t* loop_;
  ProbeKind mode_;
  Millis timeout_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  int open_handles_ = 0;
  bool connected_ = false;
  bool gave_poll_a_turn_ = false;  // the deadline waited one loop turn for unpolled I/O
  bool reported_ = false;
  bool closing_ = false;
  TimePoint started_{};
  ProbeResult result_;
  fcgi::StreamParser parser_;
  std::array<char, 4096> read_buf_;
};

}  // namespace fcgimux
