#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef FCGIMUX_SOURCE_DIR
#error "FCGIMUX_SOURCE_DIR must be defined by the build"
#endif
#ifndef FCGIMUX_BIN
#define FCGIMUX_BIN "fcgimux"
#endif
#ifndef FAULT_WORKER_BIN
#define FAULT_WORKER_BIN "fault_worker"
#endif

namespace e2e {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }
[[noreturn]] void fail_errno(const std::string& what) {
  fail(what + ": " + std::strerror(errno));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) fail("cannot write " + p.string());
}

// The last |n| bytes of a log, for error messages.
std::string tail(const std::string& s, size_t n = 4000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

int decode_wait_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A connected, blocking TCP socket to 127.0.0.1:|port|, or -1 (errno set).
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
    if (left <= 0) fail("timed out sending a request");
    int r = ::poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_errno("poll");
    if (r == 0) continue;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) fail_errno("send");
    data.remove_prefix(size_t(n));
  }
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

std::atomic<int> g_config_counter{0};

}  // namespace

// ---------------------------------------------------------------------------

fs::path source_dir() { return FCGIMUX_SOURCE_DIR; }
fs::path fcgimux_bin() { return FCGIMUX_BIN; }
fs::path fault_worker_bin() { return FAULT_WORKER_BIN; }

void poll_pause() { std::this_thread::sleep_for(20ms); }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/fcgimux-e2e.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) fail_errno("mkdtemp " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  if (std::getenv("FCGIMUX_E2E_KEEP")) return;  // for post-mortems
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------------------
// Child

Child Child::spawn(const std::vector<std::string>& argv, const fs::path& log,
                   const std::vector<std::pair<std::string, std::string>>& env) {
  if (argv.empty()) fail("Child::spawn: empty argv");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto& [k, v] : env)
      if (kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=') overridden = true;
    if (!overridden) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) fail_errno("open " + log.string());
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) fail_errno("open /dev/null");
  const pid_t parent = ::getpid();

  // Signals stay blocked across fork until the child has reset the test
  // runner's handlers (Catch2 installs its own for SIGTERM, SIGSEGV, ...): a
  // SIGTERM that reaches the child before exec must kill it, not run
  // Catch2's reporter in a copy of the test process.
  sigset_t all, saved;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    ::close(log_fd);
    ::close(null_fd);
    errno = e;
    fail_errno("fork");
  }
  if (pid == 0) {
    for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);  // fails harmlessly for KILL/STOP
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the test died before prctl
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execvpe(args[0], args.data(), envp.data());
    const char msg[] = "harness: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ::setpgid(pid, pid);  // also from the parent: no race with an early kill(-pid)
  ::close(log_fd);
  ::close(null_fd);
  Child c;
  c.pid_ = pid;
  c.log_ = log;
  return c;
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), log_(std::move(other.log_)), status_(other.status_) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    log_ = std::move(other.log_);
    status_ = other.status_;
  }
  return *this;
}

Child::~Child() { stop(); }

std::string Child::log_text() const { return read_file(log_); }

bool Child::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = decode_wait_status(st);
    return false;
  }
  return true;
}

std::optional<int> Child::wait_exit(Duration timeout) {
  eventually([&] { return !running(); }, timeout);
  return status_;
}

int Child::stop(Duration grace, int sig) {
  if (pid_ <= 0) return -1;
  if (running()) {
    ::kill(pid_, sig);
    if (!wait_exit(grace)) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      status_ = decode_wait_status(st);
    }
  }
  // Anything the child left in its group (e.g. a uWSGI worker whose master
  // was killed) goes too. The group id cannot have been reused while a
  // member lives, so this reaches only what we started.
  ::kill(-pid_, SIGKILL);
  pid_ = -1;
  return status_.value_or(-1);
}

// ---------------------------------------------------------------------------
// Ports and readiness

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  sockaddr_in a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    fail_errno("bind 127.0.0.1:0");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool wait_for_tcp(int port, Duration timeout, Child* watch) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int fd = connect_loopback(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (watch != nullptr && !watch->running()) return false;
    if (Clock::now() >= deadline)
      fail("nothing listens on 127.0.0.1:" + std::to_string(port) + " after " +
           std::to_string(timeout.count()) + " ms");
    poll_pause();
  }
}

int wait_for_listen_port(Child& child, Duration timeout, int nth) {
  static const std::regex re(R"(event=listening\b.*\baddr=127\.0\.0\.1:(\d+))");
  const auto deadline = Clock::now() + timeout;
  while (true) {
    // Read the log before checking liveness, so a line written just before
    // an exit is not missed.
    const std::string text = child.log_text();
    const bool alive = child.running();
    int seen = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it) {
      if (seen++ == nth) return std::stoi((*it)[1].str());
    }
    if (!alive)
      fail("process exited (status " + std::to_string(child.exit_status().value_or(-1)) +
           ") before logging event=listening; log:\n" + tail(child.log_text()));
    if (Clock::now() >= deadline)
      fail("no event=listening line within " + std::to_string(timeout.count()) + " ms; log:\n" +
           tail(text));
    poll_pause();
  }
}

std::vector<std::string> log_lines(const Child& child, std::string_view needle) {
  std::vector<std::string> out;
  std::istringstream in(child.log_text());
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

// ---------------------------------------------------------------------------
// Workers

namespace {
fs::path django_db(const TempDir& dir) { return dir / "django.sqlite3"; }

// Starts |make(port)| on fresh ports until one binds (a port found free may
// be taken by the time the worker binds it: retry, as C10 says). Ready means
// the port accepts connections and the log contains |ready_line| (when not
// empty).
template <class Make>
Worker start_on_free_port(const std::string& what, const std::string& ready_line, Make make) {
  std::string last_log;
  for (int attempt = 0; attempt < 6; ++attempt) {
    Worker w;
    w.port = free_port();
    w.child = make(w.port);
    if (wait_for_tcp(w.port, 60s, &w.child)) {
      if (ready_line.empty()) return w;
      const bool ready = eventually(
          [&] {
            return !w.child.running() || w.child.log_text().find(ready_line) != std::string::npos;
          },
          60s);
      if (ready && w.child.running()) return w;
      fail(what + " did not get ready (no \"" + ready_line + "\" in its log); log:\n" +
           tail(w.child.log_text()));
    }
    last_log = w.child.log_text();
    // Only a lost race for the port is worth another try.
    if (last_log.find("Address already in use") == std::string::npos &&
        last_log.find("EADDRINUSE") == std::string::npos)
      break;
  }
  fail(what + " did not start; log:\n" + tail(last_log));
}
}  // namespace

namespace {
// A name for the migrated database that changes whenever the example site's
// code or Debian's Django changes: a hash of their files' sizes and times.
std::string django_schema_key() {
  std::string fingerprint;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    fingerprint += p.string() + ":" + std::to_string(ec ? 0 : size) + ":" + std::to_string(mtime) + ";";
  };
  const fs::path site = source_dir() / "examples/django";
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(site / "exampleproj", ec))
    if (e.path().extension() == ".py") add(e.path());
  add(site / "manage.py");
  add("/usr/lib/python3/dist-packages/django/__init__.py");
  return sha256_hex(fingerprint).substr(0, 16);
}

void run_migrate(const fs::path& db, const fs::path& log) {
  Child c = Child::spawn({"/usr/bin/python3", (source_dir() / "examples/django/manage.py").string(),
                          "migrate", "--noinput", "-v0"},
                         log, {{"FCGIMUX_EXAMPLE_DB", db.string()}});
  auto st = c.wait_exit(120s);
  if (!st || *st != 0) fail("manage.py migrate failed; log:\n" + tail(read_file(log)));
}
}  // namespace

void migrate_django_db(const TempDir& dir) {
  const fs::path marker = dir / "django.migrated";
  if (fs::exists(marker)) return;
  // Migrating takes a second or two of Python; every test needs the same
  // empty schema. So it is made once per build tree (template, published by
  // an atomic rename so parallel tests never see half a file) and copied.
#ifdef FCGIMUX_E2E_CACHE_DIR
  const fs::path cache = FCGIMUX_E2E_CACHE_DIR;
  const fs::path templ = cache / ("django-template-" + django_schema_key() + ".sqlite3");
  if (!fs::exists(templ)) {
    const fs::path fresh = dir / "django-template.sqlite3";
    run_migrate(fresh, dir / "django-migrate.log");
    std::error_code ec;
    fs::create_directories(cache, ec);
    const fs::path staged = cache / (templ.filename().string() + "." + std::to_string(::getpid()));
    fs::copy_file(fresh, staged, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::rename(staged, templ, ec);
    if (ec) {  // no cache then: use the fresh one
      fs::rename(fresh, django_db(dir));
      write_file(marker, "ok\n");
      return;
    }
  }
  fs::copy_file(templ, django_db(dir), fs::copy_options::overwrite_existing);
#else
  run_migrate(django_db(dir), dir / "django-migrate.log");
#endif
  write_file(marker, "ok\n");
}

Worker spawn_uwsgi_django(const TempDir& dir, const std::string& name, int processes,
                          int threads) {
  migrate_django_db(dir);
  // uWSGI binds its socket before it loads Django and installs its signal
  // handlers: a SIGTERM before "spawned uWSGI worker" would be lost, and the
  // test would wait out the grace period at its end.
  Worker w = start_on_free_port("uWSGI worker " + name, "spawned uWSGI worker", [&](int port) {
    return Child::spawn({"bash", (source_dir() / "examples/django/run-worker.sh").string(),
                         "127.0.0.1:" + std::to_string(port), name, std::to_string(processes),
                         std::to_string(threads)},
                        dir / ("uwsgi-" + name + ".log"),
                        {{"FCGIMUX_EXAMPLE_DB", django_db(dir).string()}});
  });
  w.name = name;
  return w;
}

Worker spawn_php_fpm(const TempDir& dir) {
  Worker w = start_on_free_port("php-fpm", "", [&](int port) {
    const fs::path fpm_dir = dir / ("php-fpm-" + std::to_string(port));
    return Child::spawn({"bash", (source_dir() / "examples/php/run-fpm.sh").string(),
                         "127.0.0.1:" + std::to_string(port), fpm_dir.string()},
                        dir / ("php-fpm-" + std::to_string(port) + ".log"));
  });
  w.name = "php-fpm";
  return w;
}

Worker spawn_fault_worker(const TempDir& dir, const std::string& mode,
                          const std::vector<std::string>& extra_args) {
  static std::atomic<int> counter{0};
  const std::string tag = mode.substr(mode.find_first_not_of('-')) + "-" + std::to_string(++counter);
  std::vector<std::string> argv = {fault_worker_bin().string(), mode, "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  Worker w;
  w.child = Child::spawn(argv, dir / ("fault-" + tag + ".log"));
  w.port = wait_for_listen_port(w.child, 10s);
  w.name = "fault" + mode;
  return w;
}

// ---------------------------------------------------------------------------
// fcgimux

Gateway spawn_fcgimux(const TempDir& dir, const std::string& toml) {
  const int n = ++g_config_counter;
  Gateway g;
  g.config = dir / ("fcgimux-" + std::to_string(n) + ".toml");
  write_file(g.config, toml);
  g.child = Child::spawn({fcgimux_bin().string(), "-c", g.config.string()},
                         dir / ("fcgimux-" + std::to_string(n) + ".log"));
  g.port = wait_for_listen_port(g.child, 15s);
  return g;
}

std::string server_toml(const std::string& extra) {
  return "[server]\nlisten = [\"127.0.0.1:0\"]\naccess_log = \"-\"\n" + extra +
         (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
}

std::string pool_toml_ports(const std::string& name, const std::vector<int>& ports,
                            const std::string& extra) {
  std::string s = "[pools." + name + "]\nworkers = [";
  for (size_t i = 0; i < ports.size(); ++i)
    s += (i ? ", " : "") + std::string("\"127.0.0.1:") + std::to_string(ports[i]) + "\"";
  s += "]\n" + extra + (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
  return s;
}

std::string pool_toml(const std::string& name, const std::vector<const Worker*>& workers,
                      const std::string& extra) {
  std::vector<int> ports;
  for (const Worker* w : workers) ports.push_back(w->port);
  return pool_toml_ports(name, ports, extra);
}

std::string route_toml(const std::string& prefix, const std::string& pool,
                       const std::string& extra) {
  return "[[route]]\nprefix = \"" + prefix + "\"\npool = \"" + pool + "\"\n" + extra +
         (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
}

// ---------------------------------------------------------------------------
// Response

std::string Response::lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> Response::all(const std::string& name) const {
  std::vector<std::string> out;
  auto [b, e] = headers.equal_range(lower(name));
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::optional<Clock::time_point> Response::time_body_reached(size_t length) const {
  for (const auto& [t, n] : arrivals)
    if (n >= length) return t;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// HttpClient

HttpClient::HttpClient(int port, Duration timeout) : port_(port), timeout_(timeout) {
  fd_ = connect_loopback(port);
  if (fd_ < 0) fail_errno("connect 127.0.0.1:" + std::to_string(port));
}

HttpClient::~HttpClient() {
  if (fd_ >= 0) ::close(fd_);
}

void HttpClient::send(std::string_view raw) { send_all(fd_, raw, Clock::now() + timeout_); }

bool HttpClient::fill(Clock::time_point deadline) {
  if (eof_) return false;
  char tmp[65536];
  while (true) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
    if (left <= 0)
      fail("timed out after " + std::to_string(timeout_.count()) +
           " ms waiting for the response from 127.0.0.1:" + std::to_string(port_) +
           "; received so far: " + tail(buf_, 600));
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_errno("poll");
    if (r == 0) continue;
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0 && errno == ECONNRESET) {
      eof_ = true;
      return false;
    }
    if (n < 0) fail_errno("recv");
    if (n == 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, size_t(n));
    return true;
  }
}

bool HttpClient::fill_until(size_t n, Clock::time_point deadline) {
  while (buf_.size() < n)
    if (!fill(deadline)) return false;
  return true;
}

Response HttpClient::read_response(bool head_request) {
  Response r;
  while (true) {
    // The head. Each read gets the full timeout: a slow but live response
    // is not a failure.
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(Clock::now() + timeout_))
        fail("connection closed before a complete response head; received: " + tail(buf_, 600));
    }
    r.head_at = Clock::now();
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::istringstream lines(head);
    std::string status_line;
    std::getline(lines, status_line);
    status_line = trim(status_line);
    std::smatch m;
    static const std::regex status_re(R"(^(HTTP/\d\.\d) (\d{3})(?: (.*))?$)");
    if (!std::regex_match(status_line, m, status_re)) fail("bad status line: " + status_line);
    r.version = m[1];
    r.status = std::stoi(m[2]);
    r.reason = m[3];
    r.headers.clear();
    for (std::string line; std::getline(lines, line);) {
      auto colon = line.find(':');
      if (colon == std::string::npos) fail("bad header line: " + line);
      r.headers.emplace(Response::lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    if (r.status >= 100 && r.status < 200 && r.status != 101) {
      r.interim.push_back(r.status);
      continue;  // 100 Continue and friends: the real response follows
    }
    break;
  }

  auto note = [&] { r.arrivals.emplace_back(Clock::now(), r.body.size()); };
  if (head_request || r.status == 204 || r.status == 304) return r;

  const std::string te = Response::lower(r.header("transfer-encoding"));
  if (!te.empty() && te.find("chunked") != std::string::npos) {
    r.chunked = true;
    while (true) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill(Clock::now() + timeout_)) fail("connection closed inside a chunk size line");
      std::string size_line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      size_t size = 0;
      try {
        size = std::stoul(size_line.substr(0, size_line.find(';')), nullptr, 16);
      } catch (...) {
        fail("bad chunk size line: " + size_line);
      }
      if (size == 0) {
        // Trailers, then the empty line.
        while (true) {
          while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (!fill(Clock::now() + timeout_)) fail("connection closed inside chunked trailers");
          std::string line = buf_.substr(0, eol);
          buf_.erase(0, eol + 2);
          if (line.empty()) break;
        }
        break;
      }
      while (buf_.size() < size + 2) {
        // Deliver what arrived so far, for arrival times.
        size_t have = std::min(buf_.size(), size);
        r.body.append(buf_, 0, have);
        buf_.erase(0, have);
        size -= have;
        if (have) note();
        if (!fill(Clock::now() + timeout_)) fail("connection closed inside a chunk");
      }
      r.body.append(buf_, 0, size);
      if (buf_.compare(size, 2, "\r\n") != 0) fail("chunk not followed by CRLF");
      buf_.erase(0, size + 2);
      note();
    }
    return r;
  }

  if (r.has("content-length")) {
    size_t len = 0;
    try {
      len = std::stoull(r.header("content-length"));
    } catch (...) {
      fail("bad Content-Length: " + r.header("content-length"));
    }
    while (r.body.size() < len) {
      if (buf_.empty() && !fill(Clock::now() + timeout_))
        fail("connection closed after " + std::to_string(r.body.size()) + " of " +
             std::to_string(len) + " body bytes");
      size_t take = std::min(buf_.size(), len - r.body.size());
      r.body.append(buf_, 0, take);
      buf_.erase(0, take);
      note();
    }
    return r;
  }

  // Neither: the body runs until the connection closes.
  r.until_close = true;
  while (true) {
    if (!buf_.empty()) {
      r.body += buf_;
      buf_.clear();
      note();
    }
    if (!fill(Clock::now() + timeout_)) break;
  }
  return r;
}

Response HttpClient::request(const std::string& method, const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body) {
  std::string req = method + " " + target + " HTTP/1.1\r\n";
  bool has_host = false, has_length = false;
  for (const auto& [k, v] : headers) {
    const std::string lk = Response::lower(k);
    has_host |= lk == "host";
    has_length |= lk == "content-length" || lk == "transfer-encoding";
    req += k + ": " + v + "\r\n";
  }
  if (!has_host) req += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT"))
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  send(req);
  if (!body.empty()) send(body);
  return read_response(method == "HEAD");
}

bool HttpClient::closed_within(Duration wait) {
  const auto deadline = Clock::now() + wait;
  while (!eof_) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left));
    if (r <= 0) continue;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) buf_.append(tmp, size_t(n));
    else if (n == 0 || errno == ECONNRESET) eof_ = true;
  }
  return true;
}

Response http_request(int port, const std::string& method, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      const std::string& body, Duration timeout) {
  HttpClient c(port, timeout);
  auto h = headers;
  h.emplace_back("Connection", "close");
  return c.request(method, target, h, body);
}

Response http_get(int port, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  return http_request(port, "GET", target, headers);
}

// ---------------------------------------------------------------------------
// A minimal FastCGI client. The records are written here, not with fcgi/,
// on purpose: it checks the workers independently of the code under test.

namespace {
void fcgi_record(std::string& out, int type, int id, std::string_view content) {
  do {
    const size_t n = std::min<size_t>(content.size(), 65535);
    const size_t pad = (8 - n % 8) % 8;
    const unsigned char h[8] = {1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                                (unsigned char)(n >> 8), (unsigned char)n, (unsigned char)pad, 0};
    out.append(reinterpret_cast<const char*>(h), 8);
    out.append(content.substr(0, n));
    out.append(pad, '\0');
    content.remove_prefix(n);
  } while (!content.empty());
}

void fcgi_length(std::string& out, size_t n) {
  if (n < 128) {
    out.push_back(char(n));
  } else {
    out.push_back(char(0x80 | (n >> 24)));
    out.push_back(char(n >> 16));
    out.push_back(char(n >> 8));
    out.push_back(char(n));
  }
}
}  // namespace

FcgiResult fcgi_request(int port, const std::vector<std::pair<std::string, std::string>>& params,
                        const std::string& body, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string out;
  fcgi_record(out, 1, 1, std::string("\0\1\0\0\0\0\0\0", 8));  // BEGIN_REQUEST, responder
  std::string p;
  for (const auto& [k, v] : params) {
    fcgi_length(p, k.size());
    fcgi_length(p, v.size());
    p += k + v;
  }
  if (!p.empty()) fcgi_record(out, 4, 1, p);
  fcgi_record(out, 4, 1, "");
  if (!body.empty()) fcgi_record(out, 5, 1, body);
  fcgi_record(out, 5, 1, "");

  int fd = connect_loopback(port);
  if (fd < 0) fail_errno("connect 127.0.0.1:" + std::to_string(port));
  FcgiResult res;
  std::string in;
  try {
    send_all(fd, out, deadline);
    char tmp[65536];
    while (!res.ended) {
      while (in.size() >= 8) {
        const auto* h = reinterpret_cast<const unsigned char*>(in.data());
        const size_t len = size_t(h[4]) << 8 | h[5], total = 8 + len + h[6];
        if (in.size() < total) break;
        const std::string content = in.substr(8, len);
        if (h[1] == 6) res.stdout_data += content;
        if (h[1] == 7) res.stderr_data += content;
        if (h[1] == 3) {
          res.ended = true;
          const auto* c = reinterpret_cast<const unsigned char*>(content.data());
          if (len >= 4) res.app_status = int(c[0]) << 24 | int(c[1]) << 16 | int(c[2]) << 8 | c[3];
        }
        in.erase(0, total);
      }
      if (res.ended) break;
      auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
      if (left <= 0) fail("FastCGI request to 127.0.0.1:" + std::to_string(port) + " timed out");
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, int(left)) <= 0) continue;
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) break;  // closed without END_REQUEST: res.ended stays false
      in.append(tmp, size_t(n));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return res;
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), compact.

std::string sha256_hex(std::string_view data) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const unsigned char* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 |
             p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) block(p + i);
  unsigned char last[128] = {};
  const size_t rest = n - i;
  std::memcpy(last, p + i, rest);
  last[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t(n) * 8;
  for (int j = 0; j < 8; ++j) last[tail_len - 1 - j] = (unsigned char)(bits >> (8 * j));
  block(last);
  if (tail_len == 128) block(last + 64);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int s = 28; s >= 0; s -= 4) out.push_back(hex[(v >> s) & 15]);
  return out;
}

std::string big_body(int mb) {
  std::string block(1 << 20, '\0');
  for (size_t i = 0; i < block.size(); ++i) block[i] = char(i % 251);
  std::string out;
  out.reserve(block.size() * size_t(mb));
  for (int i = 0; i < mb; ++i) out += block;
  return out;
}

// ---------------------------------------------------------------------------
// JSON, just enough

namespace {
// Position just after `"key"` and the colon that follows it, or npos.
size_t json_value_at(const std::string& json, const std::string& key) {
  const std::string quoted = "\"" + key + "\"";
  for (size_t at = json.find(quoted); at != std::string::npos; at = json.find(quoted, at + 1)) {
    if (at > 0 && json[at - 1] == '\\') continue;
    size_t p = at + quoted.size();
    while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
    if (p < json.size() && json[p] == ':') {
      ++p;
      while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
      return p;
    }
  }
  return std::string::npos;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}
}  // namespace

std::optional<std::string> json_string(const std::string& json, const std::string& key) {
  size_t p = json_value_at(json, key);
  if (p == std::string::npos) return std::nullopt;
  if (json[p] == '[') {  // the first string of an array
    ++p;
    while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
  }
  if (p >= json.size() || json[p] != '"') return std::nullopt;
  std::string out;
  for (++p; p < json.size() && json[p] != '"'; ++p) {
    if (json[p] != '\\') {
      out.push_back(json[p]);
      continue;
    }
    if (++p >= json.size()) break;
    switch (json[p]) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        uint32_t cp = std::stoul(json.substr(p + 1, 4), nullptr, 16);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && json.compare(p + 1, 2, "\\u") == 0) {
          uint32_t lo = std::stoul(json.substr(p + 3, 4), nullptr, 16);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out.push_back(json[p]);  // \" \\ \/
    }
  }
  return out;
}

std::optional<long long> json_int(const std::string& json, const std::string& key) {
  size_t p = json_value_at(json, key);
  if (p == std::string::npos) return std::nullopt;
  if (json[p] == '"') ++p;  // CONTENT_LENGTH and friends are strings
  size_t end = p;
  while (end < json.size() && (std::isdigit(static_cast<unsigned char>(json[end])) || json[end] == '-'))
    ++end;
  if (end == p) return std::nullopt;
  return std::stoll(json.substr(p, end - p));
}

}  // namespace e2e
