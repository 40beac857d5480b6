// Harness pieces for the multiplexing tests (issue #4): the multiplexing
// workers (mux_worker, examples/node, examples/perl), mux_worker's event log,
// worker-side connection counts, fcgimux's memory, and many requests in
// flight at once.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace e2e {

fs::path mux_worker_bin();

struct MuxWorkerOptions {
  int max_conns = 100; // announced in FCGI_MAX_CONNS
  int max_reqs = 100;  // announced in FCGI_MAX_REQS
  bool mpxs = true;    // FCGI_MPXS_CONNS=1
  bool answer_values = true;
  int abort_end_delay_ms = 0; // END_REQUEST of an aborted request comes this late
};

// tests/e2e/mux_worker named |name|, its event log at |event_log|.
Worker spawn_mux_worker(const TempDir &dir, const std::string &name, const fs::path &event_log,
                        const MuxWorkerOptions &opts = {});

// examples/node/worker.js (node-fastcgi) and examples/perl/worker.pl
// (Net::Async::FastCGI), each logging "aborted id=N uri=..." to |abort_log|.
// have_*() says whether this machine has the interpreter and the library.
bool have_node_fastcgi();
bool have_perl_fastcgi();
Worker spawn_node_worker(const TempDir &dir, const std::string &name, const fs::path &abort_log);
Worker spawn_perl_worker(const TempDir &dir, const std::string &name, const fs::path &abort_log);

// mux_worker's event log, read back.
struct MuxConn {
  bool closed = false;
  int requests = 0;     // BEGIN_REQUESTs
  int max_inflight = 0; // most requests in flight at once
};
struct MuxEvents {
  std::map<int, MuxConn> conns; // by connection number
  std::vector<std::string> uris_by_request; // "request" lines' uri, in order
  std::map<int, std::vector<std::string>> uris_by_conn; // the same, per connection
  std::vector<std::string> aborts;          // "abort" lines (ids in flight)
  std::vector<std::string> errors;          // "error" lines
  std::vector<std::string> lines;
  int total_requests() const;
  // Connections that carried at least one request.
  int conns_with_requests() const;
  int max_inflight() const;
  // The connection of the first request whose URI starts with |prefix|, or -1.
  int conn_of(const std::string &prefix) const;
  // Requests on connection |conn| whose URI starts with |prefix|.
  int count_on(int conn, const std::string &prefix) const;
  std::string summary() const; // one line per connection, for INFO
};
MuxEvents read_mux_events(const fs::path &event_log);

// TCP connections in state ESTABLISHED whose remote end is 127.0.0.1:|port|
// (/proc/net/tcp and tcp6), each counted once: a gateway's open connections
// to a worker.
int established_to_port(int port);

// Makes |c|'s close a reset (SO_LINGER 0): the client is unmistakably gone,
// where a plain close() (FIN) may be a half-close that still reads the answer.
void reset_on_close(HttpClient &c);

// (VmRSS of a process: rss_kib() in harness.h.)

// Sends every request of |targets| at once, each on its own connection to
// 127.0.0.1:|port| ("GET TARGET", Connection: close), then reads all the
// responses. A response that failed has status 0 and the error in its body.
std::vector<Response> concurrent_gets(int port, const std::vector<std::string> &targets,
                                      Duration timeout = 30000ms);

} // namespace e2e
