// mux_worker: a deterministic multiplexing FastCGI responder for the
// end-to-end tests of issue #4. One thread, epoll, many connections, many
// request ids in flight on each; every event it sees goes, one line each, to
// an event log the tests read.
//
//   mux_worker [--listen 127.0.0.1:0] [--name NAME] [--event-log PATH]
//              [--max-conns N] [--max-reqs N] [--mpxs 1|0] [--no-values]
//              [--abort-end-delay-ms N]
//
// It logs "event=listening addr=127.0.0.1:PORT" on stderr once it accepts.
//
// FCGI_GET_VALUES is answered FCGI_MPXS_CONNS=1 (--mpxs 0: 0), and
// FCGI_MAX_CONNS / FCGI_MAX_REQS with the given numbers (default 100 / 100).
// --no-values never answers GET_VALUES (like libfcgi). The numbers are
// announced, not enforced: the event log shows whether a gateway kept to them.
// With --mpxs 0, a BEGIN_REQUEST while another request is in flight on the
// connection is refused with FCGI_CANT_MPX_CONN.
// An aborted request is ended (FCGI_END_REQUEST) at once, or after
// --abort-end-delay-ms: meanwhile its id is still in flight, and a gateway
// that reuses it too early shows up as an error line.
//
// Endpoints (PATH_INFO, else the path of REQUEST_URI):
//   /hello          "hello from NAME\n"
//   /healthz        "ok\n"
//   /tag?t=X        X (&ms=N: after N ms, like /sleep)
//   /echo           the request body back
//   /sleep?ms=N     answers "slept N\n" after N ms (other requests go on)
//   /bytes?n=N      N bytes, byte i = 'a' + i % 26, with Content-Length,
//                   produced 64 KiB at a time only while this connection's
//                   unsent output is under 256 KiB (a gateway that stops
//                   reading the connection stops the stream)
// Every response carries X-Worker: NAME and X-Conn: N (the connection it came
// on, numbered from 1 in accept order).
//
// Event log lines (flushed one by one):
//   conn=N opened
//   conn=N get_values
//   conn=N begin id=I keep_conn=0|1 inflight=K     K: in flight on N, this one included
//   conn=N request id=I uri=URI                    params and stdin complete
//   conn=N abort id=I                              FCGI_ABORT_REQUEST (unknown=1: not in flight)
//   conn=N end id=I status=complete|aborted|cant_mpx
//   conn=N error id=I reason=...                   e.g. BEGIN for an id still in flight
//   conn=N closed requests=R                       R: BEGIN_REQUESTs it carried
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/iovec_sink.h"
#include "fcgi/protocol.h"
#include "fcgi/request_parser.h"
#include "fcgi/response_writer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string name = "mux";
  std::string event_log;
  int max_conns = 100;
  int max_reqs = 100;
  int abort_end_delay_ms = 0;
  bool mpxs = true;
  bool answer_values = true;
};

Options g_opts;           // set once in main, read-only after
FILE *g_events = nullptr; // the event log (nullptr: none)

void event(const std::string &line) {
  if (!g_events)
    return;
  std::fputs(line.c_str(), g_events);
  std::fputc('\n', g_events);
  std::fflush(g_events);
}

constexpr size_t kChunk = 64 * 1024;
constexpr size_t kHighWater = 256 * 1024;

// Appends every record the response writer frames to one output string.
class StringSink : public fcgi::IovecSink {
public:
  explicit StringSink(std::string &out) : out_(out) {}
  void push_copy(std::span<const std::byte> b) override {
    out_.append(reinterpret_cast<const char *>(b.data()), b.size());
  }
  void push_borrowed(std::span<const std::byte> b, fcgi::Pin) override { push_copy(b); }

private:
  std::string &out_;
};

struct Request {
  bool keep_conn = false;
  bool params_done = false;
  std::map<std::string, std::string> params;
  std::string body;
  // Work still to do once dispatched.
  bool sleeping = false;
  bool aborted = false; // FCGI_ABORT_REQUEST seen; END_REQUEST due at |wake|
  Clock::time_point wake{};
  std::string sleep_answer;
  size_t bytes_left = 0; // /bytes: still to produce
  size_t bytes_pos = 0;
};

std::string query_value(const std::string &qs, const std::string &key) {
  size_t i = 0;
  while (i <= qs.size()) {
    size_t amp = qs.find('&', i);
    if (amp == std::string::npos)
      amp = qs.size();
    std::string kv = qs.substr(i, amp - i);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key)
      return eq == std::string::npos ? "" : kv.substr(eq + 1);
    i = amp + 1;
  }
  return "";
}

struct Conn : fcgi::RequestHandler {
  int fd = -1;
  int number = 0;
  int requests = 0;
  bool close_after_flush = false;
  bool dead = false;
  fcgi::RequestParser parser;
  std::map<uint16_t, Request> inflight;
  std::string out;
  size_t out_off = 0;

  std::string tag() const { return "conn=" + std::to_string(number); }
  size_t unsent() const { return out.size() - out_off; }

  void end(uint16_t id, const char *status, fcgi::ProtocolStatus ps = fcgi::ProtocolStatus::RequestComplete) {
    StringSink sink(out);
    fcgi::write_end_request(id, 0, ps, sink);
    auto it = inflight.find(id);
    if (it != inflight.end()) {
      if (!it->second.keep_conn)
        close_after_flush = true;
      inflight.erase(it);
    }
    event(tag() + " end id=" + std::to_string(id) + " status=" + status);
  }

  void answer(uint16_t id, int status, std::string_view body, const char *type = "text/plain") {
    StringSink sink(out);
    std::string head = "Status: " + std::to_string(status) + "\r\nContent-Type: " + type +
                       "\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nX-Worker: " + g_opts.name + "\r\nX-Conn: " + std::to_string(number) +
                       "\r\n\r\n";
    fcgi::write_stdout(id, head, sink);
    fcgi::write_stdout(id, body, sink);
    fcgi::write_stdout_end(id, sink);
    end(id, "complete");
  }

  void dispatch(uint16_t id, Request &r) {
    std::string uri = r.params["REQUEST_URI"];
    event(tag() + " request id=" + std::to_string(id) + " uri=" + uri);
    std::string path = r.params["PATH_INFO"];
    if (path.empty())
      path = uri.substr(0, uri.find('?'));
    const std::string qs = r.params["QUERY_STRING"];
    if (path == "/hello")
      return answer(id, 200, "hello from " + g_opts.name + "\n");
    if (path == "/healthz")
      return answer(id, 200, "ok\n");
    if (path == "/tag" && query_value(qs, "ms").empty())
      return answer(id, 200, query_value(qs, "t"));
    if (path == "/echo") {
      std::string body = std::move(r.body);
      return answer(id, 200, body, "application/octet-stream");
    }
    if (path == "/sleep" || path == "/tag") {
      int ms = std::atoi(query_value(qs, "ms").c_str());
      r.sleeping = true;
      r.wake = Clock::now() + std::chrono::milliseconds(ms);
      r.sleep_answer = path == "/tag" ? query_value(qs, "t") : "slept " + std::to_string(ms) + "\n";
      return;
    }
    if (path == "/bytes") {
      r.bytes_left = size_t(std::strtoull(query_value(qs, "n").c_str(), nullptr, 10));
      StringSink sink(out);
      fcgi::write_stdout(id,
                         "Status: 200\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                             std::to_string(r.bytes_left) + "\r\nX-Worker: " + g_opts.name +
                             "\r\nX-Conn: " + std::to_string(number) + "\r\n\r\n",
                         sink);
      return;
    }
    answer(id, 404, "not found\n");
  }

  // Produces /bytes output and wakes sleepers that are due. Streams take
  // turns, one chunk each, while the unsent output is under the high water.
  void work(Clock::time_point now) {
    std::vector<uint16_t> due;
    for (auto &[id, r] : inflight)
      if (r.sleeping && r.wake <= now)
        due.push_back(id);
    for (uint16_t id : due) {
      Request &r = inflight[id];
      r.sleeping = false;
      if (r.aborted) {
        StringSink sink(out);
        fcgi::write_stdout_end(id, sink);
        end(id, "aborted");
        continue;
      }
      std::string a = std::move(r.sleep_answer);
      answer(id, 200, a);
    }
    bool progress = true;
    while (progress && unsent() < kHighWater) {
      progress = false;
      std::vector<uint16_t> finished;
      for (auto &[id, r] : inflight) {
        if (r.bytes_left == 0 || unsent() >= kHighWater)
          continue;
        size_t n = std::min(r.bytes_left, kChunk);
        std::string piece(n, 'a');
        for (size_t i = 0; i < n; ++i)
          piece[i] = char('a' + (r.bytes_pos + i) % 26);
        StringSink sink(out);
        fcgi::write_stdout(id, piece, sink);
        r.bytes_left -= n;
        r.bytes_pos += n;
        progress = true;
        if (r.bytes_left == 0)
          finished.push_back(id);
      }
      for (uint16_t id : finished) {
        StringSink sink(out);
        fcgi::write_stdout_end(id, sink);
        end(id, "complete");
      }
    }
  }

  bool streaming() const {
    for (auto &[id, r] : inflight)
      if (r.bytes_left > 0)
        return true;
    return false;
  }
  std::optional<Clock::time_point> next_wake() const {
    std::optional<Clock::time_point> t;
    for (auto &[id, r] : inflight)
      if (r.sleeping && (!t || r.wake < *t))
        t = r.wake;
    return t;
  }

  // fcgi::RequestHandler
  void on_begin_request(uint16_t id, fcgi::Role, uint8_t flags) override {
    ++requests;
    if (inflight.count(id)) {
      event(tag() + " error id=" + std::to_string(id) + " reason=begin_for_id_in_flight");
      return;
    }
    if (!g_opts.mpxs && !inflight.empty()) {
      event(tag() + " begin id=" + std::to_string(id) + " keep_conn=" +
            std::to_string(flags & fcgi::kKeepConn) + " inflight=" + std::to_string(inflight.size() + 1));
      inflight[id].keep_conn = true; // refusing it must not close the others' connection
      end(id, "cant_mpx", fcgi::ProtocolStatus::CantMpxConn);
      return;
    }
    Request &r = inflight[id];
    r.keep_conn = (flags & fcgi::kKeepConn) != 0;
    event(tag() + " begin id=" + std::to_string(id) + " keep_conn=" + std::to_string(r.keep_conn ? 1 : 0) +
          " inflight=" + std::to_string(inflight.size()));
  }
  void on_param(uint16_t id, std::string name, std::string value) override {
    auto it = inflight.find(id);
    if (it != inflight.end())
      it->second.params[std::move(name)] = std::move(value);
  }
  void on_params_end(uint16_t id) override {
    auto it = inflight.find(id);
    if (it != inflight.end())
      it->second.params_done = true;
  }
  void on_stdin(uint16_t id, std::span<const std::byte> bytes) override {
    auto it = inflight.find(id);
    if (it == inflight.end())
      return;
    if (!bytes.empty()) {
      it->second.body.append(reinterpret_cast<const char *>(bytes.data()), bytes.size());
      return;
    }
    dispatch(id, it->second);
  }
  void on_abort_request(uint16_t id) override {
    if (!inflight.count(id)) {
      event(tag() + " abort id=" + std::to_string(id) + " unknown=1");
      return;
    }
    event(tag() + " abort id=" + std::to_string(id));
    Request &r = inflight[id];
    if (r.aborted)
      return;
    r.aborted = true;
    r.bytes_left = 0;
    if (g_opts.abort_end_delay_ms > 0) {
      r.sleeping = true;
      r.wake = Clock::now() + std::chrono::milliseconds(g_opts.abort_end_delay_ms);
      return;
    }
    StringSink sink(out);
    fcgi::write_stdout_end(id, sink);
    end(id, "aborted");
  }
  void on_get_values(std::vector<std::string> names) override {
    event(tag() + " get_values");
    if (!g_opts.answer_values)
      return;
    std::vector<std::string> values;
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    values.reserve(names.size());
    for (const std::string &n : names) {
      if (n == fcgi::kMpxsConns)
        values.push_back(g_opts.mpxs ? "1" : "0");
      else if (n == fcgi::kMaxConns)
        values.push_back(std::to_string(g_opts.max_conns));
      else if (n == fcgi::kMaxReqs)
        values.push_back(std::to_string(g_opts.max_reqs));
      else
        continue;
      pairs.emplace_back(n, values.back());
    }
    StringSink sink(out);
    fcgi::write_get_values_result(pairs, sink);
  }
  void on_unknown_management(uint8_t type) override {
    StringSink sink(out);
    fcgi::write_unknown_type(type, sink);
  }
};

int g_epoll = -1;

void set_interest(Conn &c) {
  epoll_event ev{};
  ev.events = EPOLLIN | (c.unsent() ? uint32_t(EPOLLOUT) : 0u);
  ev.data.ptr = &c;
  epoll_ctl(g_epoll, EPOLL_CTL_MOD, c.fd, &ev);
}

void close_conn(Conn &c) {
  if (c.dead)
    return;
  c.dead = true;
  epoll_ctl(g_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  event(c.tag() + " closed requests=" + std::to_string(c.requests));
}

void flush(Conn &c) {
  while (c.unsent()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.unsent(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0)
      return close_conn(c);
    c.out_off += size_t(n);
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  } else if (c.out_off > (1 << 20)) {
    c.out.erase(0, c.out_off);
    c.out_off = 0;
  }
  if (!c.unsent() && c.close_after_flush)
    close_conn(c);
}

void read_from(Conn &c) {
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0)
      return close_conn(c);
    auto r = c.parser.feed({reinterpret_cast<const std::byte *>(buf), size_t(n)}, c);
    if (!r) {
      event(c.tag() + " error id=0 reason=parse");
      return close_conn(c);
    }
  }
}

bool parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--listen")
      g_opts.listen = next();
    else if (a == "--name")
      g_opts.name = next();
    else if (a == "--event-log")
      g_opts.event_log = next();
    else if (a == "--max-conns")
      g_opts.max_conns = std::atoi(next().c_str());
    else if (a == "--max-reqs")
      g_opts.max_reqs = std::atoi(next().c_str());
    else if (a == "--mpxs")
      g_opts.mpxs = next() != "0";
    else if (a == "--abort-end-delay-ms")
      g_opts.abort_end_delay_ms = std::atoi(next().c_str());
    else if (a == "--no-values")
      g_opts.answer_values = false;
    else {
      std::fprintf(stderr, "mux_worker: unknown argument %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

int listen_on(const std::string &addr) {
  size_t colon = addr.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(std::atoi(addr.c_str() + colon + 1)));
  if (inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    return -1;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0 || ::listen(fd, 1024) != 0)
    return -1;
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr *>(&sa), &len);
  std::fprintf(stderr, "event=listening addr=%s:%d worker=%s\n", addr.substr(0, colon).c_str(),
               ntohs(sa.sin_port), g_opts.name.c_str());
  return fd;
}

} // namespace

int main(int argc, char **argv) {
  if (!parse_args(argc, argv))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stderr, nullptr, _IOLBF, 0);
  if (!g_opts.event_log.empty() && !(g_events = std::fopen(g_opts.event_log.c_str(), "a"))) {
    std::perror(g_opts.event_log.c_str());
    return 1;
  }
  int lfd = listen_on(g_opts.listen);
  if (lfd < 0) {
    std::perror("listen");
    return 1;
  }
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, lfd, &lev);

  std::map<int, std::unique_ptr<Conn>> conns; // by number
  int next_number = 1;
  std::vector<epoll_event> events(256);
  while (true) {
    // Sleep until the earliest /sleep is due; spin through /bytes streams
    // whose output is below the high water without waiting.
    int timeout = -1;
    const auto now = Clock::now();
    for (auto &[n, c] : conns) {
      if (c->streaming() && c->unsent() < kHighWater)
        timeout = 0;
      if (auto w = c->next_wake()) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*w - now).count() + 1;
        ms = std::max<long long>(ms, 0);
        if (timeout < 0 || ms < timeout)
          timeout = int(ms);
      }
    }
    int n = epoll_wait(g_epoll, events.data(), int(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      if (!events[i].data.ptr) {
        while (true) {
          int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0)
            break;
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>();
          c->fd = fd;
          c->number = next_number++;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = c.get();
          epoll_ctl(g_epoll, EPOLL_CTL_ADD, fd, &ev);
          event(c->tag() + " opened");
          conns[c->number] = std::move(c);
        }
        continue;
      }
      Conn &c = *static_cast<Conn *>(events[i].data.ptr);
      if (c.dead)
        continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        read_from(c);
    }
    const auto after = Clock::now();
    for (auto it = conns.begin(); it != conns.end();) {
      Conn &c = *it->second;
      if (!c.dead) {
        c.work(after);
        flush(c);
        if (!c.dead)
          set_interest(c);
      }
      if (c.dead)
        it = conns.erase(it);
      else
        ++it;
    }
  }
}
