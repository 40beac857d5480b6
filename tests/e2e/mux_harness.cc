// Multiplexing workers, their logs, connection counts, memory (mux_harness.h).
#include "mux_harness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "harness_internal.h"

#ifndef MUX_WORKER_BIN
#define MUX_WORKER_BIN "mux_worker"
#endif

namespace e2e {

namespace {
std::atomic<int> g_counter{0};

std::string field(const std::string &line, const std::string &key) {
  const std::string k = key + "=";
  size_t at = line.find(" " + k);
  if (at == std::string::npos)
    return "";
  at += 1 + k.size();
  return line.substr(at, line.find(' ', at) - at);
}

int conn_number(const std::string &line) {
  if (line.rfind("conn=", 0) != 0)
    return -1;
  return std::atoi(line.c_str() + 5);
}

Worker spawn_listening(const std::vector<std::string> &argv, const fs::path &log,
                       const std::string &name,
                       const std::vector<std::pair<std::string, std::string>> &env = {}) {
  Worker w;
  w.child = Child::spawn(argv, log, env);
  w.port = wait_for_listen_port(w.child, 15s);
  w.name = name;
  return w;
}
} // namespace

fs::path mux_worker_bin() { return MUX_WORKER_BIN; }

Worker spawn_mux_worker(const TempDir &dir, const std::string &name, const fs::path &event_log,
                        const MuxWorkerOptions &o) {
  std::vector<std::string> argv = {mux_worker_bin().string(), "--listen", "127.0.0.1:0",
                                    "--name", name, "--event-log", event_log.string(),
                                    "--max-conns", std::to_string(o.max_conns),
                                    "--max-reqs", std::to_string(o.max_reqs),
                                    "--mpxs", o.mpxs ? "1" : "0"};
  if (!o.answer_values)
    argv.push_back("--no-values");
  if (o.abort_end_delay_ms > 0) {
    argv.push_back("--abort-end-delay-ms");
    argv.push_back(std::to_string(o.abort_end_delay_ms));
  }
  return spawn_listening(argv, dir / ("mux-" + name + "-" + std::to_string(++g_counter) + ".log"),
                         name);
}

bool have_node_fastcgi() {
  return ::access("/usr/bin/node", X_OK) == 0 &&
         fs::exists("/usr/share/nodejs/node-fastcgi/index.js") &&
         fs::exists("/usr/share/nodejs/fastcgi-stream");
}

bool have_perl_fastcgi() {
  return ::access("/usr/bin/perl", X_OK) == 0 &&
         fs::exists("/usr/share/perl5/Net/Async/FastCGI.pm");
}

Worker spawn_node_worker(const TempDir &dir, const std::string &name, const fs::path &abort_log) {
  return spawn_listening({"/usr/bin/node", (source_dir() / "examples/node/worker.js").string(),
                          "127.0.0.1:0", name},
                         dir / ("node-" + name + "-" + std::to_string(++g_counter) + ".log"), name,
                         {{"WORKER_ABORT_LOG", abort_log.string()}});
}

Worker spawn_perl_worker(const TempDir &dir, const std::string &name, const fs::path &abort_log) {
  return spawn_listening({"/usr/bin/perl", (source_dir() / "examples/perl/worker.pl").string(),
                          "127.0.0.1:0", name},
                         dir / ("perl-" + name + "-" + std::to_string(++g_counter) + ".log"), name,
                         {{"WORKER_ABORT_LOG", abort_log.string()}});
}

int MuxEvents::total_requests() const {
  int n = 0;
  for (const auto &[num, c] : conns)
    n += c.requests;
  return n;
}

int MuxEvents::conns_with_requests() const {
  int n = 0;
  for (const auto &[num, c] : conns)
    n += c.requests > 0;
  return n;
}

int MuxEvents::max_inflight() const {
  int n = 0;
  for (const auto &[num, c] : conns)
    n = std::max(n, c.max_inflight);
  return n;
}

int MuxEvents::conn_of(const std::string &prefix) const {
  for (const auto &l : lines) {
    const size_t at = l.find(" uri=");
    if (l.find(" request ") != std::string::npos && at != std::string::npos &&
        l.compare(at + 5, prefix.size(), prefix) == 0)
      return conn_number(l);
  }
  return -1;
}

int MuxEvents::count_on(int conn, const std::string &prefix) const {
  auto it = uris_by_conn.find(conn);
  if (it == uris_by_conn.end())
    return 0;
  int n = 0;
  for (const auto &u : it->second)
    n += u.rfind(prefix, 0) == 0;
  return n;
}

std::string MuxEvents::summary() const {
  std::ostringstream s;
  for (const auto &[num, c] : conns)
    s << "conn " << num << ": " << c.requests << " requests, at most " << c.max_inflight
      << " in flight" << (c.closed ? ", closed" : ", open") << "\n";
  for (const auto &e : errors)
    s << e << "\n";
  return s.str();
}

MuxEvents read_mux_events(const fs::path &event_log) {
  MuxEvents ev;
  std::ifstream in(event_log);
  std::string line;
  while (std::getline(in, line)) {
    ev.lines.push_back(line);
    const int n = conn_number(line);
    if (n < 0)
      continue;
    MuxConn &c = ev.conns[n];
    if (line.find(" begin ") != std::string::npos) {
      ++c.requests;
      c.max_inflight = std::max(c.max_inflight, std::atoi(field(line, "inflight").c_str()));
    } else if (line.find(" request ") != std::string::npos) {
      ev.uris_by_request.push_back(field(line, "uri"));
      ev.uris_by_conn[n].push_back(field(line, "uri"));
    } else if (line.find(" abort ") != std::string::npos) {
      if (field(line, "unknown").empty())
        ev.aborts.push_back(line);
    } else if (line.find(" error ") != std::string::npos) {
      ev.errors.push_back(line);
    } else if (line.find(" closed") != std::string::npos) {
      c.closed = true;
    }
  }
  return ev;
}

int established_to_port(int port) {
  // Distinct connections, not lines: the kernel lists /proc/net/tcp a read()
  // at a time and, while other sockets come and go (the 200 clients of the
  // multiplex tests), resumes by position, so one connection can appear
  // several times in one pass (seen: 15 and 60 lines for 5 connections).
  std::set<std::string> conns; // "local remote"
  for (const char *file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string slot, local, remote, state;
      s >> slot >> local >> remote >> state;
      if (state != "01") // TCP_ESTABLISHED
        continue;
      const size_t colon = remote.rfind(':');
      if (colon != std::string::npos && std::stoi(remote.substr(colon + 1), nullptr, 16) == port)
        conns.insert(local + " " + remote);
    }
  }
  return int(conns.size());
}

void reset_on_close(HttpClient &c) {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::vector<Response> concurrent_gets(int port, const std::vector<std::string> &targets,
                                      Duration timeout) {
  std::vector<std::unique_ptr<HttpClient>> clients;
  std::vector<Response> out(targets.size());
  std::vector<bool> sent(targets.size(), false);
  for (size_t i = 0; i < targets.size(); ++i) {
    try {
      clients.push_back(std::make_unique<HttpClient>(port, timeout));
      clients.back()->send("GET " + targets[i] + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      sent[i] = true;
    } catch (const std::exception &e) {
      clients.push_back(nullptr);
      out[i].body = std::string("send failed: ") + e.what();
    }
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!sent[i])
      continue;
    try {
      out[i] = clients[i]->read_response();
    } catch (const std::exception &e) {
      out[i].status = 0;
      out[i].body = std::string("read failed: ") + e.what();
    }
  }
  return out;
}

} // namespace e2e
