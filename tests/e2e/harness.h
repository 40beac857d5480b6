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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
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
  // The first sanitizer report (ASan, LSan, UBSan) in the log, or "". stop()
  // fails the running test case when there is one: in the sanitizer build
  // (scripts/test.sh) a report from fcgimux or a test worker is a failure
  // even when every response looked right.
  std::string sanitizer_report() const;

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
  std::string host = "127.0.0.1"; // another address for workers in a network namespace
  std::string address() const { return host + ":" + std::to_string(port); }
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

// PHP-FPM (examples/php/run-fpm.sh) with its pid/logs under |dir|; a static
// pool of |children| (pm.max_children; 0: the template's 2).
Worker spawn_php_fpm(const TempDir &dir, int children = 0);

// PHP's error log of a worker spawn_php_fpm started in |dir|: the test
// scripts (tests/e2e/php/sleep.php) log each start there with its id.
fs::path php_error_log(const TempDir &dir, const Worker &php);

// [[route]] "/" to pool "php" with tests/e2e/php (sleep.php, ...) as its
// document root.
std::string php_test_route_toml();

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
// A process's resident memory (VmRSS in /proc/PID/status), in KiB; -1 when
// it cannot be read.
long rss_kib(pid_t pid);
// How many file descriptors a process has open (/proc/PID/fd); -1 when
// they cannot be listed.
int open_fds(pid_t pid);
// The body /big?mb=|mb| answers: byte i is (i mod 2^20) mod 251.
std::string big_body(int mb);
// Minimal JSON reading, enough for the example views' answers, whose keys
// are unique: the string value of the first "key" (the first string when the
// value is an array), or nullopt when absent, null or another type.
std::optional<std::string> json_string(const std::string &json, const std::string &key);
std::optional<long long> json_int(const std::string &json, const std::string &key);

// ---------------------------------------------------------------------------
// Fault injection (faults.cc): more workers, signals to a worker, a load
// generator, log order, network namespaces.

// examples/libfcgi's libfcgi_responder, when the build has it (libfcgi-dev).
bool have_libfcgi_responder();
fs::path libfcgi_responder_bin();

// One libfcgi_responder named |name| with |threads| threads, on |port| (0: a
// fresh free port), logging each request to |request_log| when not empty
// (FCGI_RESPONDER_LOG). A fixed |port| that is still taken is retried for a
// few seconds (a worker restarted where a killed one was). Returns once it
// accepts connections.
Worker spawn_libfcgi(const TempDir &dir, const std::string &name, int threads = 8, int port = 0,
                     const fs::path &request_log = {});

// A uWSGI Django worker (like spawn_uwsgi_django) on a fixed |port|: the
// restart of a killed one. Retried for a few seconds while the port is taken.
Worker spawn_uwsgi_django_on(const TempDir &dir, const std::string &name, int port,
                             int processes = 1, int threads = 4);

// Sends |sig| to |child|'s process group (every process of the worker).
void signal_group(const Child &child, int sig);
// SIGKILL to the whole group, then waits for (and reaps) the leader.
void kill_hard(Child &child);

// SIGSTOP to a process group now, SIGCONT when resume() is called or the
// guard dies: a test that fails while a worker is stopped leaves no stopped
// process behind (a stopped process would also wait out Child::stop's grace).
class PauseGuard {
public:
  explicit PauseGuard(const Child &child);
  ~PauseGuard() { resume(); }
  PauseGuard(const PauseGuard &) = delete;
  PauseGuard &operator=(const PauseGuard &) = delete;
  void resume();
  bool paused() const { return pid_ > 0; }

private:
  pid_t pid_ = -1;
};

// fcgimux's log, as lines, and the index of the first line containing
// |needle| at or after |from|, or -1.
std::vector<std::string> log_all_lines(const Child &child);
int find_line(const std::vector<std::string> &lines, std::string_view needle, int from = 0);
// Waits until |child|'s log has a line containing every one of |needles|
// (at index |from| or later: log_all_lines(child).size() taken before a
// fault looks only at what came after it); returns it, or "" when |timeout|
// passes.
std::string wait_log_line(const Child &child, const std::vector<std::string> &needles,
                          Duration timeout, int from = 0);
// The value of key=VALUE in a log line ("" when absent); quoted values are
// returned without their quotes.
std::string log_field(const std::string &line, const std::string &key);

// The pool lines for workers given as "host:port".
std::string pool_toml_addresses(const std::string &name, const std::vector<std::string> &addresses,
                                const std::string &extra = "");

// One request the load generator sent, and what came of it.
struct LoadSample {
  int n = 0;              // its number, 0.. (unique in one Load)
  std::string target;
  int status = 0;         // 0: no response at all (see error)
  std::string error;      // why there was no response
  std::string worker;     // the X-Worker header
  std::string retry_after;
  std::string body;
  Clock::time_point start{}, end{};
  Duration latency() const { return std::chrono::duration_cast<Duration>(end - start); }
};

struct LoadOptions {
  int threads = 4;
  int max_requests = 2000;     // all threads together
  Duration max_time = 20000ms; // then the threads stop by themselves
  Duration pause = 10ms;       // between two requests of one thread
  Duration request_timeout = 15000ms;
  // Each thread keeps its connection for the next request (as wrk does),
  // opening a new one only after an error; otherwise every request gets a
  // new connection.
  bool keep_alive = false;
  std::string method = "GET";
  // The target of request |n| (default "/hello?id=N"), and its body.
  std::function<std::string(int)> target;
  std::function<std::string(int)> body;
};

// |threads| client threads sending requests to 127.0.0.1:|port|, each on a
// new connection unless keep_alive, until stop(), |max_requests| or |max_time|. Every request
// ends in a sample: a response or an error, never a hang (request_timeout).
class Load {
public:
  Load(int port, LoadOptions opts);
  ~Load() { stop(); }
  Load(const Load &) = delete;
  Load &operator=(const Load &) = delete;
  // Stops sending (requests in flight finish) and joins the threads.
  void stop();
  size_t completed() const;
  // Waits until |n| more requests than now have completed (false: timeout,
  // or the load ended first).
  bool wait_more(size_t n, Duration timeout);
  // Waits until every thread has stopped by itself (max_requests or
  // max_time); false if |timeout| passes first.
  bool wait_finished(Duration timeout);
  std::vector<LoadSample> samples() const;

private:
  struct State;
  std::shared_ptr<State> st_;
  std::vector<std::thread> threads_;
};

// Samples that are not |ok_status|, one per line (for INFO).
std::string describe_samples(const std::vector<LoadSample> &s, int ok_status = 200,
                             size_t max_lines = 20);

// A network namespace fcgimux-e2e-PID-N that this test creates, joined to
// the host by a veth pair: HOST_IP (10.254.X.Y/30) on the host end,
// ns_ip() inside. Removed, with its link, when the object dies.
class NetNs {
public:
  // nullptr when namespaces cannot be made here (no permission, no ip(8));
  // |why| says what failed.
  static std::unique_ptr<NetNs> create(std::string &why);
  ~NetNs();
  NetNs(const NetNs &) = delete;
  NetNs &operator=(const NetNs &) = delete;
  const std::string &name() const { return name_; }
  const std::string &host_ip() const { return host_ip_; }
  const std::string &ns_ip() const { return ns_ip_; }
  // The namespace's end of the link down (the host keeps its route, so
  // packets to ns_ip() vanish: connects time out) or up again.
  void set_link(bool up);
  // argv prefix that runs a command inside the namespace.
  std::vector<std::string> exec_prefix() const { return {"ip", "netns", "exec", name_}; }

private:
  NetNs() = default;
  std::string name_, host_if_, ns_if_, host_ip_, ns_ip_;
  std::unique_ptr<TempDir> dir_;
};

// Runs |argv| to completion (|timeout|); returns its exit status and puts
// its output in |output|.
int run_command(const std::vector<std::string> &argv, std::string *output = nullptr,
                Duration timeout = 10000ms);

// A libfcgi_responder inside |ns| on ns.ns_ip():|port|; ready when the host
// can connect to it.
Worker spawn_libfcgi_in(const NetNs &ns, const TempDir &dir, const std::string &name, int port,
                        int threads = 8);

// True if |host|:|port| accepts a TCP connection within |timeout|.
bool tcp_connects(const std::string &host, int port, Duration timeout);

} // namespace e2e
