// fault_worker: a FastCGI responder that misbehaves on purpose, for the
// end-to-end tests (STYLE.md C10, HAProxy's VTest idea).
//
//   fault_worker MODE [--listen 127.0.0.1:0] [--name NAME] [--delay-ms N]
//
// It listens on the given address (port 0: the kernel picks one), logs
// "event=listening addr=127.0.0.1:PORT" on stdout, and serves every
// connection in a thread of its own until it is killed. Modes:
//
//   --ok                answers each request "200 ok" (honours FCGI_KEEP_CONN,
//                       answers FCGI_GET_VALUES)
//   --garbage           after reading a request, sends bytes that are not
//                       FastCGI, then keeps the connection open
//   --bad-version       after reading a request, sends a STDOUT record with
//                       version 2, then keeps the connection open
//   --stall             reads everything, never answers, keeps the connection
//   --close             closes the connection as soon as a request is read
//   --close-mid-stdout  sends a response head promising 100000 bytes and 1000
//                       of them, then closes
//   --stderr            writes 64 KiB of STDERR lines, then answers like --ok
//   --truncated-record  sends a STDOUT record header announcing 4000 bytes,
//                       100 of them (part of a response head), then closes
//   --stalled-record    sends a STDOUT record header announcing 65535 bytes,
//                       10 of them, then stays silent with the connection open
//   --endless-head      sends "Status: 200 OK" and then header lines, never
//                       the blank line that ends the head, until the
//                       connection breaks
//   --wrong-id          answers like --ok, but with a request id that was
//                       never sent (the real one + 1)
//   --endless-body      sends a response head and then body bytes forever
//                       (until the connection breaks), logging
//                       "event=sent mib=N" after every MiB
//   --stdout-after-end  answers like --ok, then sends one more STDOUT record
//                       for the finished request, and keeps the connection
//   --close-mid-record  sends a complete response head (Content-Length:
//                       100000) in one record, then a record header announcing
//                       1000 bytes and 10 of them, then closes
//   --no-read           accepts connections and never reads from them (nor
//                       answers anything, probes included)
//   --trickle           answers like --ok, one byte at a time, --delay-ms
//                       apart
//
// A worker broken this way is otherwise alive: in every mode but --stall it
// answers FCGI_GET_VALUES properly, and requests for the probe path
// (--probe-path, default /healthz) with "200 ok", so that fcgimux's health
// probes admit it and the fault meets a real request. --stall answers
// nothing at all, like a hung process.
//
// --delay-ms N waits N ms before answering (all modes that answer; for
// --trickle, between two bytes).
// --close-after-response closes the connection after each answer even when
// the request asked for FCGI_KEEP_CONN (uWSGI's FastCGI socket does this).
//
// Records are built from fcgi/protocol.h's constants with a few local lines:
// this worker must stay independent of the fcgimux code it tests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "fcgi/protocol.h"

namespace {

using fcgi::RecordType;

enum class Mode {
  Ok,
  Garbage,
  BadVersion,
  Stall,
  Close,
  CloseMidStdout,
  Stderr,
  TruncatedRecord,
  StalledRecord,
  EndlessHead,
  WrongId,
  EndlessBody,
  StdoutAfterEnd,
  CloseMidRecord,
  NoRead,
  Trickle
};

struct Options {
  Mode mode = Mode::Ok;
  std::string listen = "127.0.0.1:0";
  std::string name = "fault";
  int delay_ms = 0;
  bool close_after_response = false;
  std::string probe_path = "/healthz";
};

Options g_opts; // set once in main before any thread starts; read-only after

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(size_t(n));
  }
  return true;
}

// One record (FastCGI 1.0 section 3.3), content split at 65535 bytes,
// padded to a multiple of 8. |version| is 1 except when forging bad ones.
std::string record(RecordType type, uint16_t id, std::string_view content,
                   uint8_t version = fcgi::kVersion1) {
  std::string out;
  do {
    const size_t n = std::min(content.size(), fcgi::kMaxContentLen);
    const size_t pad = (8 - n % 8) % 8;
    const char h[8] = {char(version), char(type),     char(id >> 8), char(id & 0xff),
                       char(n >> 8),  char(n & 0xff), char(pad),     0};
    out.append(h, 8);
    out.append(content.substr(0, n));
    out.append(pad, '\0');
    content.remove_prefix(n);
  } while (!content.empty());
  return out;
}

// The 8-byte header of a STDOUT record that announces |len| content bytes
// (and no padding): the content is up to the caller, who may send less.
std::string stdout_header(uint16_t id, size_t len) {
  const char h[8] = {char(fcgi::kVersion1), char(RecordType::Stdout), char(id >> 8), char(id & 0xff),
                     char(len >> 8),        char(len & 0xff),         0,             0};
  return std::string(h, 8);
}

std::string end_request(uint16_t id) {
  const char body[8] = {0, 0, 0, 0, char(fcgi::ProtocolStatus::RequestComplete), 0, 0, 0};
  return record(RecordType::EndRequest, id, std::string_view(body, 8));
}

void append_pair(std::string &out, std::string_view name, std::string_view value) {
  for (size_t len : {name.size(), value.size()}) {
    if (len < 128) {
      out.push_back(char(len));
    } else {
      out.push_back(char(0x80 | (len >> 24)));
      out.push_back(char(len >> 16));
      out.push_back(char(len >> 8));
      out.push_back(char(len));
    }
  }
  out.append(name);
  out.append(value);
}

// Decodes FastCGI name-value pairs (section 3.4) from |in|, adding them to
// |out|. Stops at a truncated pair (this worker gets all PARAMS before it
// decodes them).
void decode_pairs(std::string_view in, std::map<std::string, std::string> &out) {
  auto length = [&](size_t &n) {
    if (in.empty())
      return false;
    const auto b0 = static_cast<unsigned char>(in[0]);
    if (b0 < 128) {
      n = b0;
      in.remove_prefix(1);
      return true;
    }
    if (in.size() < 4)
      return false;
    n = size_t(b0 & 0x7f) << 24 | size_t(static_cast<unsigned char>(in[1])) << 16 |
        size_t(static_cast<unsigned char>(in[2])) << 8 | static_cast<unsigned char>(in[3]);
    in.remove_prefix(4);
    return true;
  };
  size_t name_len = 0, value_len = 0;
  while (length(name_len) && length(value_len) && in.size() >= name_len + value_len) {
    out[std::string(in.substr(0, name_len))] = std::string(in.substr(name_len, value_len));
    in.remove_prefix(name_len + value_len);
  }
}

// True when the request (its PARAMS) is for the probe path. Logs one line
// per request read ("event=request uri=... probe=0|1"), so that tests can
// wait until a request has reached this worker.
bool is_probe(const std::string &params) {
  std::map<std::string, std::string> p;
  decode_pairs(params, p);
  std::string path = p["SCRIPT_NAME"] + p["PATH_INFO"];
  std::string uri = p["REQUEST_URI"];
  const bool probe = path == g_opts.probe_path || uri.substr(0, uri.find('?')) == g_opts.probe_path;
  std::printf("event=request uri=%s probe=%d\n", uri.empty() ? "-" : uri.c_str(), probe ? 1 : 0);
  std::fflush(stdout);
  return probe;
}

std::string ok_response(uint16_t id) {
  const std::string body = "ok\n";
  std::string head = "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Worker: " + g_opts.name +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return record(RecordType::Stdout, id, head + body) + record(RecordType::Stdout, id, "") +
         end_request(id);
}

void pause_before_answer() {
  if (g_opts.delay_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(g_opts.delay_ms));
}

// Blocks until the peer closes (or errors), discarding what it sends.
void drain_until_close(int fd) {
  char tmp[4096];
  while (true) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
  }
}

// What to do once request |id| has been read completely. Returns false when
// the connection must end (closed, or handed to drain_until_close).
bool answer(int fd, uint16_t id, bool keep_conn) {
  switch (g_opts.mode) {
  case Mode::Ok:
    pause_before_answer();
    return send_all(fd, ok_response(id)) && keep_conn && !g_opts.close_after_response;
  case Mode::Stderr: {
    pause_before_answer();
    std::string err;
    for (int i = 0; err.size() < 64 * 1024; ++i)
      err += "fault_worker: stderr line " + std::to_string(i) + "\n";
    return send_all(fd, record(RecordType::Stderr, id, err) + record(RecordType::Stderr, id, "")) &&
           send_all(fd, ok_response(id)) && keep_conn && !g_opts.close_after_response;
  }
  case Mode::Garbage:
    pause_before_answer();
    send_all(fd, "HTTP/1.0 200 OK\r\nThis is not FastCGI at all.\r\n\r\n");
    drain_until_close(fd);
    return false;
  case Mode::BadVersion:
    pause_before_answer();
    send_all(fd, record(RecordType::Stdout, id, "Status: 200 OK\r\n\r\nbad version\n", 2));
    drain_until_close(fd);
    return false;
  case Mode::Stall:
    drain_until_close(fd);
    return false;
  case Mode::Close:
    pause_before_answer();
    return false;
  case Mode::TruncatedRecord: {
    pause_before_answer();
    std::string part = "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Filler: ";
    part.resize(100, 'f'); // a head cut short: no blank line yet
    send_all(fd, stdout_header(id, 4000) + part);
    return false;
  }
  case Mode::StalledRecord:
    pause_before_answer();
    send_all(fd, stdout_header(id, 65535) + "Status: 2");
    drain_until_close(fd);
    return false;
  case Mode::EndlessHead: {
    pause_before_answer();
    if (!send_all(fd, record(RecordType::Stdout, id, "Status: 200 OK\r\n")))
      return false;
    std::string lines;
    for (int i = 0; lines.size() < 8192; ++i)
      lines += "X-Endless-" + std::to_string(i) + ": " + std::string(40, 'h') + "\r\n";
    while (send_all(fd, record(RecordType::Stdout, id, lines))) {
    }
    return false;
  }
  case Mode::WrongId:
    pause_before_answer();
    send_all(fd, ok_response(uint16_t(id + 1)));
    drain_until_close(fd);
    return false;
  case Mode::EndlessBody: {
    pause_before_answer();
    if (!send_all(fd, record(RecordType::Stdout, id,
                             "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")))
      return false;
    const std::string chunk = record(RecordType::Stdout, id, std::string(65528, 'e'));
    size_t sent = 0;
    for (int mib = 1; send_all(fd, chunk);) {
      sent += 65528;
      if (sent >= size_t(mib) << 20) {
        std::printf("event=sent mib=%d\n", mib++);
        std::fflush(stdout);
      }
    }
    return false;
  }
  case Mode::StdoutAfterEnd:
    pause_before_answer();
    return send_all(fd, ok_response(id) + record(RecordType::Stdout, id, "LATE BYTES\n")) && keep_conn &&
           !g_opts.close_after_response;
  case Mode::CloseMidRecord: {
    pause_before_answer();
    std::string head = "Status: 200 OK\r\nContent-Type: "
                       "application/octet-stream\r\nContent-Length: 100000\r\n\r\n";
    send_all(fd, record(RecordType::Stdout, id, head) + stdout_header(id, 1000) + std::string(10, 'x'));
    return false;
  }
  case Mode::NoRead:
    return false; // not reached: serve() never reads in this mode
  case Mode::Trickle: {
    pause_before_answer();
    const std::string all = ok_response(id);
    for (char c : all) {
      if (!send_all(fd, std::string_view(&c, 1)))
        return false;
      pause_before_answer();
    }
    return keep_conn && !g_opts.close_after_response;
  }
  case Mode::CloseMidStdout: {
    pause_before_answer();
    std::string head = "Status: 200 OK\r\nContent-Type: "
                       "application/octet-stream\r\nContent-Length: 100000\r\n\r\n";
    send_all(fd, record(RecordType::Stdout, id, head + std::string(1000, 'x')));
    return false;
  }
  }
  return false;
}

void serve(int fd) {
  if (g_opts.mode == Mode::NoRead) {
    // Holds the connection without ever reading: the peer's bytes fill the
    // socket buffers. The process exits when the test kills it.
    while (true)
      std::this_thread::sleep_for(std::chrono::hours(1));
  }
  std::string in;
  std::map<uint16_t, bool> keep_conn;     // requests begun on this connection
  std::map<uint16_t, std::string> params; // their PARAMS stream so far
  char tmp[65536];
  bool open = true;
  while (open) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    in.append(tmp, size_t(n));
    while (open && in.size() >= fcgi::kHeaderLen) {
      const auto *h = reinterpret_cast<const unsigned char *>(in.data());
      const size_t len = size_t(h[4]) << 8 | h[5];
      const size_t total = fcgi::kHeaderLen + len + h[6];
      if (in.size() < total)
        break;
      const uint8_t version = h[0];
      const auto type = RecordType(h[1]);
      const uint16_t id = uint16_t(h[2] << 8 | h[3]);
      const std::string content = in.substr(fcgi::kHeaderLen, len);
      in.erase(0, total);               // |h| dangles from here on
      if (version != fcgi::kVersion1) { // not FastCGI: nothing sensible to say
        open = false;
        break;
      }
      if (type == RecordType::GetValues) {
        if (g_opts.mode != Mode::Stall) { // (--no-read never gets here)
          std::string values;
          append_pair(values, fcgi::kMaxConns, "16");
          append_pair(values, fcgi::kMaxReqs, "16");
          append_pair(values, fcgi::kMpxsConns, "0");
          open = send_all(fd, record(RecordType::GetValuesResult, 0, values));
        }
        continue; // a hung process says nothing
      }
      if (type == RecordType::BeginRequest) {
        keep_conn[id] = len >= 3 && (static_cast<unsigned char>(content[2]) & fcgi::kKeepConn) != 0;
        params[id].clear();
        continue;
      }
      if (type == RecordType::AbortRequest) {
        params.erase(id);
        if (keep_conn.erase(id))
          open = send_all(fd, end_request(id));
        continue;
      }
      if (type == RecordType::Params) {
        params[id] += content;
        continue;
      }
      if (type == RecordType::Stdin && len == 0 && keep_conn.count(id)) {
        const bool keep = keep_conn[id];
        const bool probe = is_probe(params[id]);
        keep_conn.erase(id);
        params.erase(id);
        if (probe && g_opts.mode != Mode::Stall)
          open = send_all(fd, ok_response(id)) && keep && !g_opts.close_after_response;
        else
          open = answer(fd, id, keep);
      }
      // Non-empty STDIN: read and forgotten.
    }
  }
  ::close(fd);
}

bool parse_args(int argc, char **argv) {
  bool have_mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
    static const std::map<std::string_view, Mode> modes = {
        {"--ok", Mode::Ok},
        {"--garbage", Mode::Garbage},
        {"--bad-version", Mode::BadVersion},
        {"--stall", Mode::Stall},
        {"--close", Mode::Close},
        {"--close-mid-stdout", Mode::CloseMidStdout},
        {"--stderr", Mode::Stderr},
        {"--truncated-record", Mode::TruncatedRecord},
        {"--stalled-record", Mode::StalledRecord},
        {"--endless-head", Mode::EndlessHead},
        {"--wrong-id", Mode::WrongId},
        {"--endless-body", Mode::EndlessBody},
        {"--stdout-after-end", Mode::StdoutAfterEnd},
        {"--close-mid-record", Mode::CloseMidRecord},
        {"--no-read", Mode::NoRead},
        {"--trickle", Mode::Trickle}};
    if (auto it = modes.find(a); it != modes.end()) {
      g_opts.mode = it->second;
      have_mode = true;
    } else if (a == "--listen") {
      const char *v = value();
      if (!v)
        return false;
      g_opts.listen = v;
    } else if (a == "--name") {
      const char *v = value();
      if (!v)
        return false;
      g_opts.name = v;
    } else if (a == "--probe-path") {
      const char *v = value();
      if (!v)
        return false;
      g_opts.probe_path = v;
    } else if (a == "--close-after-response") {
      g_opts.close_after_response = true;
    } else if (a == "--delay-ms") {
      const char *v = value();
      if (!v)
        return false;
      g_opts.delay_ms = std::atoi(v);
    } else {
      return false;
    }
  }
  return have_mode;
}

} // namespace

int main(int argc, char **argv) {
  if (!parse_args(argc, argv)) {
    std::fprintf(
        stderr,
        "usage: %s --ok|--garbage|--bad-version|--stall|--close|--close-mid-stdout|--stderr|"
        "--truncated-record|--stalled-record|--endless-head|--wrong-id|--endless-body|"
        "--stdout-after-end|--close-mid-record|--no-read|--trickle "
        "[--listen 127.0.0.1:PORT] [--name NAME] [--delay-ms N] [--close-after-response] "
        "[--probe-path P]\n",
        argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const auto colon = g_opts.listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "fault_worker: --listen wants HOST:PORT\n");
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(std::atoi(g_opts.listen.c_str() + colon + 1)));
  if (::inet_pton(AF_INET, g_opts.listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "fault_worker: bad IPv4 address in %s\n", g_opts.listen.c_str());
    return 2;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 128) != 0) {
    std::fprintf(stderr, "fault_worker: cannot listen on %s: %s\n", g_opts.listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr *>(&addr), &len);
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  std::printf("event=listening addr=%s:%d\n", ip, ntohs(addr.sin_port));
  std::fflush(stdout);
  while (true) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      std::perror("fault_worker: accept");
      return 1;
    }
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve, fd).detach();
  }
}
