// The end-to-end harness (STYLE.md C10): real fcgimux, real workers (uWSGI +
// Django, PHP-FPM, fault_worker), on loopback, each started by the test that
// needs it and stopped by PID when that test ends, pass or fail.
//
// Nothing here sleeps for readiness: ports and log lines are polled with a
// deadline. Nothing uses fixed ports: fcgimux listens on 127.0.0.1:0 and
// logs the port it got; fault_worker does the same; uWSGI and PHP-FPM get a
// port that was free a moment ago and are restarted on another one if they
// lose the race for it. Every blocking call has a timeout and throws
// std::runtime_error when it passes, so a broken server fails a test instead
// of hanging it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace e2e {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;
namespace fs = std::filesystem;

// Where things are: the source tree, the fcgimux binary under test and the
// fault worker (compile definitions from tests/e2e/CMakeLists.txt).
fs::path source_dir();
fs::path fcgimux_bin();
fs::path fault_worker_bin();

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object dies.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const fs::path &path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

private:
  fs::path path_;
};

// A process this test started. Its stdout and stderr go, appended, to |log|.
// It runs in a process group of its own (its PID is the group id), so helper
// processes it forks can be reached too. The destructor stops it by PID:
// SIGTERM, up to |grace| for it to exit, then SIGKILL to its group, and reaps
// it. If the test process itself dies, the kernel kills the child
// (PR_SET_PDEATHSIG).
class Child {
public:
  // Starts |argv| (argv[0] is looked up in PATH) with |env| added to the
  // environment. Throws if fork/exec setup fails; an exec failure shows up as
  // exit status 127 and a line in the log.
  static Child spawn(const std::vector<std::string> &argv, const fs::path &log,
                     const std::vector<std::pair<std::string, std::string>> &env = {});

  Child() = default;
  Child(Child &&other) noexcept;
  Child &operator=(Child &&other) noexcept;
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  const fs::path &log() const { return log_; }
  std::string log_text() const;

  // True while the process has not exited (reaps it if it has).
  bool running();
  // The exit status once it has exited: the exit code, or 128+signal.
  std::optional<int> exit_status() const { return status_; }

  // SIGTERM (or |sig|), wait up to |grace|, then SIGKILL the group; reaps.
  // Returns the exit status (128+signal when killed). Idempotent.
  int stop(Duration grace = 5000ms, int sig = 15);
  // Waits up to |timeout| for the process to exit by itself; nullopt if not.
  std::optional<int> wait_exit(Duration timeout);

private:
  pid_t pid_ = -1;
  fs::path log_;
  std::optional<int> status_;
};

// A TCP port on 127.0.0.1 that was free when asked (bind to 0, read, close).
int free_port();

// Polls until 127.0.0.1:|port| accepts a connection. If |watch| is given and
// exits meanwhile, returns false early. Throws on timeout.
bool wait_for_tcp(int port, Duration timeout, Child *watch = nullptr);

// Polls |child|'s log for "event=listening addr=127.0.0.1:PORT" and returns
// PORT (the |nth| such line, from 0). Throws, with the log, if the child
// exits first or |timeout| passes.
int wait_for_listen_port(Child &child, Duration timeout = 15000ms, int nth = 0);

// Lines of |child|'s log containing |needle|.
std::vector<std::string> log_lines(const Child &child, std::string_view needle);

// The pause between two polls of something that is not ready yet (20 ms).
void poll_pause();

// Polls until |pred| is true or |timeout| passes; returns its last value.
template <class Pred> bool eventually(Pred pred, Duration timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred())
      return true;
    if (Clock::now() >= deadline)
      return false;
    poll_pause();
  }
}

// A worker process and the port it serves FastCGI on.
struct Worker {
  Child child;
  int port = 0;
  std::string name;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// Runs `manage.py migrate` for the example Django site into |dir|/django.sqlite3
// (the database spawn_uwsgi_django uses). Idempotent; must run before the
// workers start (the sessions table).
void migrate_django_db(const TempDir &dir);

// One uWSGI worker (examples/django/run-worker.sh) with WORKER_NAME=|name|,
// serving FastCGI on a fresh port, sharing |dir|'s database (migrated here on
// first use). Returns once the port accepts connections.
Worker spawn_uwsgi_django(const TempDir &dir, const std::string &name, int processes = 1,
                          int threads = 4);

// PHP-FPM (examples/php/run-fpm.sh) with its pid/logs under |dir|.
Worker spawn_php_fpm(const TempDir &dir);

// tests/e2e/fault_worker in |mode| ("--ok", "--garbage", "--stall", ...).
Worker spawn_fault_worker(const TempDir &dir, const std::string &mode,
                          const std::vector<std::string> &extra_args = {});

// fcgimux -c |dir|/fcgimux-N.toml with |toml| as the config. Returns when it
// logged its listening port.
struct Gateway {
  Child child;
  int port = 0;
  fs::path config;
};
Gateway spawn_fcgimux(const TempDir &dir, const std::string &toml);

// Pieces of fcgimux configs. server_toml's |extra| lines go into [server]
// (listen is always 127.0.0.1:0 and access_log "-").
std::string server_toml(const std::string &extra = "");
std::string pool_toml(const std::string &name, const std::vector<const Worker *> &workers,
                      const std::string &extra = "");
std::string pool_toml_ports(const std::string &name, const std::vector<int> &ports,
                            const std::string &extra = "");
std::string route_toml(const std::string &prefix, const std::string &pool,
                       const std::string &extra = "");

// ---------------------------------------------------------------------------
// A blocking HTTP/1.1 client over a raw socket.

struct Response {
  std::string version; // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::multimap<std::string, std::string> headers; // names lowercased, values trimmed
  std::string body;                                // de-chunked
  bool chunked = false;
  bool until_close = false; // body framed by the connection closing
  std::vector<int> interim; // 1xx statuses seen before this one
  // When body bytes arrived: (time, body length so far), one entry per read.
  std::vector<std::pair<Clock::time_point, size_t>> arrivals;
  Clock::time_point head_at{};

  bool has(const std::string &name) const { return headers.count(lower(name)) != 0; }
  size_t count(const std::string &name) const { return headers.count(lower(name)); }
  // First value of |name|, or "" when absent.
  std::string header(const std::string &name) const;
  std::vector<std::string> all(const std::string &name) const;
  // When the body first reached |length| bytes.
  std::optional<Clock::time_point> time_body_reached(size_t length) const;

  static std::string lower(std::string s);
};

class HttpClient {
public:
  // Connects to 127.0.0.1:|port|. |timeout| bounds every single read.
  explicit HttpClient(int port, Duration timeout = 30000ms);
  ~HttpClient();
  HttpClient(const HttpClient &) = delete;
  HttpClient &operator=(const HttpClient &) = delete;

  // Sends |raw| bytes as they are.
  void send(std::string_view raw);
  // Reads one response. |head_request|: it answers HEAD, so no body follows.
  // Throws on timeout, or if the connection ends before the response does.
  Response read_response(bool head_request = false);
  // Sends a request built from the parts (Host and Content-Length added
  // unless given) and reads its response.
  Response request(const std::string &method, const std::string &target,
                   const std::vector<std::pair<std::string, std::string>> &headers = {},
                   const std::string &body = "");
  // True if the peer closes the connection (EOF or reset) within |wait|.
  // Bytes that arrive meanwhile are kept for the next read_response().
  bool closed_within(Duration wait);
  // Bytes received but not consumed by a response.
  const std::string &pending() const { return buf_; }
  void set_timeout(Duration t) { timeout_ = t; }
  int fd() const { return fd_; }

private:
  // Reads more bytes into buf_; false on EOF. Throws on timeout or error.
  bool fill(Clock::time_point deadline);
  bool fill_until(size_t n, Clock::time_point deadline);

  int fd_ = -1;
  int port_;
  Duration timeout_;
  std::string buf_;
  bool eof_ = false;
};

// A request on a new connection ("Connection: close").
Response http_request(int port, const std::string &method, const std::string &target,
                      const std::vector<std::pair<std::string, std::string>> &headers = {},
                      const std::string &body = "", Duration timeout = 30000ms);
Response http_get(int port, const std::string &target,
                  const std::vector<std::pair<std::string, std::string>> &headers = {});

// ---------------------------------------------------------------------------
// A blocking FastCGI client (one request, one connection), to check workers
// without fcgimux in between.
struct FcgiResult {
  std::string stdout_data;
  std::string stderr_data;
  bool ended = false; // FCGI_END_REQUEST seen
  int app_status = 0;
};
FcgiResult fcgi_request(int port, const std::vector<std::pair<std::string, std::string>> &params,
                        const std::string &body = "", Duration timeout = 30000ms);

// ---------------------------------------------------------------------------
// Small helpers.

std::string sha256_hex(std::string_view data);
// The body /big?mb=|mb| answers: byte i is (i mod 2^20) mod 251.
std::string big_body(int mb);
// Minimal JSON reading, enough for the example views' answers, whose keys
// are unique: the string value of the first "key" (the first string when the
// value is an array), or nullopt when absent, null or another type.
std::optional<std::string> json_string(const std::string &json, const std::string &key);
std::optional<long long> json_int(const std::string &json, const std::string &key);

} // namespace e2e
