// One request and its response: routes it, builds its CGI params, asks the
// pool for a worker, streams the body to it as STDIN, and streams the CGI
// response back to the client, re-framed. Decides retries.
//
// Lifetime: owned by its HttpConnection (unique_ptr). When done it is handed
// to the Reaper, never deleted inside a callback chain. Back-pointers to the
// upstream connection and the pool queue are raw and cleared by both sides.
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fcgi/cgi_response.h"
#include "fcgi/protocol.h"
#include "gateway/base/clock.h"
#include "gateway/base/spill_file.h"
#include "gateway/base/error.h"
#include "gateway/base/reaper.h"
#include "gateway/cgi/cgi_params.h"
#include "gateway/http/request_head.h"
#include "gateway/http/response_head.h"
#include "gateway/upstream/health_tracker.h"

namespace fcgimux {

class HttpConnection;
class Pool;
class UpstreamConnection;
class Worker;
struct RouteConfig;

// How an attempt on a worker ended without a response.
struct UpstreamFailure {
  Error error;               // WorkerVanished, WorkerProtocol, ResponseTimeout
  FailureKind kind;          // for the worker's health
  bool reached_worker;       // any byte of the request may have been processed
  bool reused_connection;    // a reused connection died unanswered: the stale keep-alive race
  bool evicted;              // the worker was evicted and this request was moved off it
};

class Exchange final : public Reapable {
 public:
  // What a finished exchange hands over to the next one built in its memory
  // (Recycler, STYLE: no reset() to keep in step): the containers a request
  // fills, cleared, with the capacity the last request grew them to.
  struct Reusable {
    RequestHead head;
    std::string path;
    std::string params;
    fcgi::CgiResponseParser cgi{0};
    std::string stderr_line;
  };

  // Takes the request's |head| and gives back in its place |spare|.head (for
  // the parser to fill with the next request, capacity and all).
  Exchange(HttpConnection& conn, RequestHead& head, Reusable&& spare);
  ~Exchange() override;

  // For Recycler<Exchange> (LoopThread::exchanges()).
  Reusable take_reusable();
  bool worth_keeping() const;
  // Nothing refers to this exchange any more: it is done, and no worker
  // connection or pool queue holds it. Only then may it be recycled.
  bool detached() const;

  // The head is complete: route, check, and dispatch (or wait for a chunked body).
  void start();
  void on_request_body(std::span<const std::byte> bytes);
  void on_request_complete();
  // The client connection is closing: let go of the worker and the queue.
  void on_client_gone();
  // The client took queued bytes: feed it what waits in the spill file, or
  // resume reading from the worker if paused.
  void on_client_drained();

  // From UpstreamConnection: |up| now carries this request as request |id|
  // (it may still be connecting).
  void on_upstream_assigned(UpstreamConnection* up, uint16_t id, Worker* worker);
  // From UpstreamConnection: connected (or reused): write the request.
  void on_upstream_ready();
  // From UpstreamConnection: a STDIN write completed; more body may be read.
  void on_upstream_drained();
  void on_stdout(std::span<const std::byte> bytes);
  void on_stderr(std::span<const std::byte> bytes);
  void on_end_request(uint32_t app_status, fcgi::ProtocolStatus status);
  // The attempt failed before END_REQUEST. |up| has already detached.
  void on_upstream_failed(const UpstreamFailure& f);
  // From Pool: waited in the queue for queue_timeout.
  void on_queue_timeout();
  // The worker carrying this request was evicted. True when the request may
  // move to another worker now (a safe method, nothing sent to the client,
  // the body still at hand, within the pool's retry budget); the caller then
  // abandons the attempt and reports it with UpstreamFailure::evicted.
  bool may_move_on_eviction();
  // GET, HEAD, OPTIONS: may be sent again if an attempt died unanswered.
  bool is_safe_method() const;

  bool request_complete() const { return request_complete_; }
  // A response head (the worker's or an error) has been queued for the client.
  bool head_sent() const { return head_sent_; }
  // After losing the stale keep-alive race, the retry goes on a connection
  // of its own, never on another reused one.
  bool needs_fresh_connection() const { return needs_fresh_connection_; }
  // balance = "sticky": requests from one client address go to one worker.
  uint64_t sticky_key() const { return sticky_key_; }
  bool tried(const Worker* w) const;
  const RequestHead& head() const { return head_; }

 private:
  void dispatch();
  void write_request();
  void finish_response(bool keep_alive_ok);
  void send_error(Error e, std::string_view detail, std::optional<unsigned> retry_after_s);
  void begin_body(std::span<const std::byte> first);
  void send_body(std::span<const std::byte> bytes);
  // Response bytes for the client: queued on the connection, or, when the
  // client is slow and the worker connection is shared, spilled to a file.
  void deliver(std::string_view bytes);
  void log_access(int status, std::string_view error);
  bool can_retry(const UpstreamFailure& f) const;

  HttpConnection* conn_;             // not owned; null after on_client_gone
  RequestHead head_;
  TimePoint started_;
  uint64_t sticky_key_ = 0;
  const RouteConfig* route_ = nullptr;  // not owned (config)
  std::string path_;                    // decoded, normalized: routed on, and PATH_INFO's source
  Pool* pool_ = nullptr;                // not owned (LoopThread)
  std::string params_;                  // the CGI params, encoded once as FastCGI name-value pairs

  // Request body. Pieces are kept until the request is known to have reached
  // a worker for good, so that a request that never reached one can be sent
  // elsewhere; |next_piece_| is the first piece not yet written upstream.
  std::vector<std::shared_ptr<std::string>> body_;
  size_t next_piece_ = 0;
  uint64_t body_bytes_ = 0;
  bool body_released_ = false;       // pieces dropped after being written: no replay possible
  bool request_complete_ = false;
  bool dispatched_ = false;
  bool queued_ = false;             // in the pool's queue (detached() says no while it is)

  UpstreamConnection* upstream_ = nullptr;  // not owned; cleared by both sides
  uint16_t upstream_id_ = 0;                // this request's id on |upstream_|
  Worker* worker_ = nullptr;                // not owned
  // Workers this request was sent to: the first few inline, since nearly
  // every request goes to one worker only (no allocation per request).
  std::array<const Worker*, 3> tried_inline_{};
  std::vector<const Worker*> tried_more_;
  size_t tried_count_ = 0;
  unsigned attempts_ = 0;
  bool needs_fresh_connection_ = false;
  bool request_written_ = false;     // BEGIN_REQUEST..params written to the current attempt
  bool stdin_ended_ = false;

  fcgi::CgiResponseParser cgi_;
  bool head_sent_ = false;           // a response head (ours or the worker's) is queued
  bool done_ = false;
  BodyFraming framing_ = BodyFraming::Close;
  bool keep_alive_ = true;
  uint64_t body_sent_ = 0;
  std::optional<uint64_t> body_limit_;  // Content-Length the app announced
  int status_ = 0;
  std::string stderr_line_;          // a partial STDERR line, completed by the next piece
  // A slow client on a shared worker connection: what it has not taken
  // waits here, and the response is finished once this is drained.
  std::unique_ptr<SpillFile> spill_;
  bool finish_pending_ = false;
};

}  // namespace fcgimux
