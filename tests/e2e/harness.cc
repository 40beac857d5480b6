#include "harness.h"
#include "harness_internal.h"

#include <catch2/catch.hpp>

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

namespace detail {

[[noreturn]] void fail(const std::string &what) { throw std::runtime_error(what); }
[[noreturn]] void fail_errno(const std::string &what) { fail(what + ": " + std::strerror(errno)); }

std::string read_file(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path &p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out)
    fail("cannot write " + p.string());
}

std::string tail(const std::string &s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

int decode_wait_status(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
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
    if (left <= 0)
      fail("timed out sending a request");
    int r = ::poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      fail_errno("poll");
    if (r == 0)
      continue;
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0)
      fail_errno("send");
    data.remove_prefix(size_t(n));
  }
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

} // namespace detail

using namespace detail;

namespace {
std::atomic<int> g_config_counter{0};
} // namespace

// ---------------------------------------------------------------------------

fs::path source_dir() { return FCGIMUX_SOURCE_DIR; }
// FCGIMUX_E2E_BIN in the environment runs the tests against another build
// of fcgimux (a branch being integrated), with this tree's tests and workers.
fs::path fcgimux_bin() {
  const char *other = std::getenv("FCGIMUX_E2E_BIN");
  return other && *other ? fs::path(other) : fs::path(FCGIMUX_BIN);
}
fs::path fault_worker_bin() { return FAULT_WORKER_BIN; }

void poll_pause() { std::this_thread::sleep_for(20ms); }

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/fcgimux-e2e.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    fail_errno("mkdtemp " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  if (std::getenv("FCGIMUX_E2E_KEEP"))
    return; // for post-mortems
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------------------
// Child

Child Child::spawn(const std::vector<std::string> &argv, const fs::path &log,
                   const std::vector<std::pair<std::string, std::string>> &env) {
  if (argv.empty())
    fail("Child::spawn: empty argv");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char *> args;
  for (const auto &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char **e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto &[k, v] : env)
      if (kv.size() > k.size() && kv.substr(0, k.size()) == k && kv[k.size()] == '=')
        overridden = true;
    if (!overridden)
      env_strings.emplace_back(kv);
  }
  for (const auto &[k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char *> envp;
  for (auto &s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);

  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    fail_errno("open " + log.string());
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0)
    fail_errno("open /dev/null");
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
    for (int s = 1; s < NSIG; ++s)
      ::signal(s, SIG_DFL); // fails harmlessly for KILL/STOP
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126); // the test died before prctl
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execvpe(args[0], args.data(), envp.data());
    const char msg[] = "harness: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ::setpgid(pid, pid); // also from the parent: no race with an early kill(-pid)
  ::close(log_fd);
  ::close(null_fd);
  Child c;
  c.pid_ = pid;
  c.log_ = log;
  return c;
}

Child::Child(Child &&other) noexcept
    : pid_(std::exchange(other.pid_, -1)), log_(std::move(other.log_)), status_(other.status_) {}

Child &Child::operator=(Child &&other) noexcept {
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
  if (pid_ <= 0 || status_)
    return false;
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
  if (pid_ <= 0)
    return -1;
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
  // A leak is reported at exit, so the log is complete only now.
  if (const std::string report = sanitizer_report(); !report.empty())
    FAIL_CHECK(log_.filename().string() << " has a sanitizer report:\n" << report);
  return status_.value_or(-1);
}

std::string Child::sanitizer_report() const {
  if (log_.empty())
    return "";
  const std::string text = read_file(log_);
  size_t at = std::string::npos;
  for (const char *marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer"})
    at = std::min(at, text.find(marker));
  if (at == std::string::npos)
    return "";
  const size_t from = text.rfind('\n', at);
  return text.substr(from == std::string::npos ? 0 : from + 1, 6000);
}

// ---------------------------------------------------------------------------
// Ports and readiness

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    fail_errno("socket");
  sockaddr_in a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    ::close(fd);
    fail_errno("bind 127.0.0.1:0");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool wait_for_tcp(int port, Duration timeout, Child *watch) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int fd = connect_loopback(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (watch != nullptr && !watch->running())
      return false;
    if (Clock::now() >= deadline)
      fail("nothing listens on 127.0.0.1:" + std::to_string(port) + " after " +
           std::to_string(timeout.count()) + " ms");
    poll_pause();
  }
}

int wait_for_listen_port(Child &child, Duration timeout, int nth) {
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
      if (seen++ == nth)
        return std::stoi((*it)[1].str());
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

std::vector<std::string> log_lines(const Child &child, std::string_view needle) {
  std::vector<std::string> out;
  std::istringstream in(child.log_text());
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos)
      out.push_back(line);
  return out;
}

// ---------------------------------------------------------------------------
// Workers

namespace {
fs::path django_db(const TempDir &dir) { return dir / "django.sqlite3"; }

// Starts |make(port)| on fresh ports until one binds (a port found free may
// be taken by the time the worker binds it: retry, as C10 says). Ready means
// the port accepts connections and the log contains |ready_line| (when not
// empty).
template <class Make>
Worker start_on_free_port(const std::string &what, const std::string &ready_line, Make make) {
  std::string last_log;
  for (int attempt = 0; attempt < 6; ++attempt) {
    Worker w;
    w.port = free_port();
    w.child = make(w.port);
    if (wait_for_tcp(w.port, 60s, &w.child)) {
      if (ready_line.empty())
        return w;
      const bool ready = eventually(
          [&] {
            return !w.child.running() || w.child.log_text().find(ready_line) != std::string::npos;
          },
          60s);
      if (ready && w.child.running())
        return w;
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
} // namespace

namespace {
// A name for the migrated database that changes whenever the example site's
// code or Debian's Django changes: a hash of their files' sizes and times.
std::string django_schema_key() {
  std::string fingerprint;
  auto add = [&](const fs::path &p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    fingerprint +=
        p.string() + ":" + std::to_string(ec ? 0 : size) + ":" + std::to_string(mtime) + ";";
  };
  const fs::path site = source_dir() / "examples/django";
  std::error_code ec;
  for (const auto &e : fs::recursive_directory_iterator(site / "exampleproj", ec))
    if (e.path().extension() == ".py")
      add(e.path());
  add(site / "manage.py");
  add("/usr/lib/python3/dist-packages/django/__init__.py");
  return sha256_hex(fingerprint).substr(0, 16);
}

void run_migrate(const fs::path &db, const fs::path &log) {
  Child c = Child::spawn({"/usr/bin/python3", (source_dir() / "examples/django/manage.py").string(),
                          "migrate", "--noinput", "-v0"},
                         log, {{"FCGIMUX_EXAMPLE_DB", db.string()}});
  auto st = c.wait_exit(120s);
  if (!st || *st != 0)
    fail("manage.py migrate failed; log:\n" + tail(read_file(log)));
}
} // namespace

void migrate_django_db(const TempDir &dir) {
  const fs::path marker = dir / "django.migrated";
  if (fs::exists(marker))
    return;
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
    if (!ec)
      fs::rename(staged, templ, ec);
    if (ec) { // no cache then: use the fresh one
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

Worker spawn_uwsgi_django(const TempDir &dir, const std::string &name, int processes, int threads) {
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

namespace {
// Where examples/php/run-fpm.sh keeps the pool on |port|: its config, PHP's
// error log.
fs::path php_fpm_dir(const TempDir &dir, int port) { return dir / ("php-fpm-" + std::to_string(port)); }
}  // namespace

Worker spawn_php_fpm(const TempDir &dir, int children) {
  Worker w = start_on_free_port("php-fpm", "", [&](int port) {
    const fs::path fpm_dir = php_fpm_dir(dir, port);
    return Child::spawn({"bash", (source_dir() / "examples/php/run-fpm.sh").string(),
                         "127.0.0.1:" + std::to_string(port), fpm_dir.string()},
                        dir / ("php-fpm-" + std::to_string(port) + ".log"),
                        {{"FPM_MAX_CHILDREN", std::to_string(children > 0 ? children : 2)}});
  });
  w.name = "php-fpm";
  return w;
}

fs::path php_error_log(const TempDir &dir, const Worker &php) {
  return php_fpm_dir(dir, php.port) / "php-errors.log";
}

std::string php_test_route_toml() {
  return route_toml("/", "php", "document_root = \"" + (source_dir() / "tests/e2e/php").string() + "\"");
}

Worker spawn_fault_worker(const TempDir &dir, const std::string &mode,
                          const std::vector<std::string> &extra_args) {
  static std::atomic<int> counter{0};
  const std::string tag =
      mode.substr(mode.find_first_not_of('-')) + "-" + std::to_string(++counter);
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

Gateway spawn_fcgimux(const TempDir &dir, const std::string &toml) {
  const int n = ++g_config_counter;
  Gateway g;
  g.config = dir / ("fcgimux-" + std::to_string(n) + ".toml");
  write_file(g.config, toml);
  g.child = Child::spawn({fcgimux_bin().string(), "-c", g.config.string()},
                         dir / ("fcgimux-" + std::to_string(n) + ".log"));
  g.port = wait_for_listen_port(g.child, 15s);
  return g;
}

std::string server_toml(const std::string &extra) {
  return "[server]\nlisten = [\"127.0.0.1:0\"]\naccess_log = \"-\"\n" + extra +
         (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
}

std::string pool_toml_ports(const std::string &name, const std::vector<int> &ports,
                            const std::string &extra) {
  std::string s = "[pools." + name + "]\nworkers = [";
  for (size_t i = 0; i < ports.size(); ++i)
    s += (i ? ", " : "") + std::string("\"127.0.0.1:") + std::to_string(ports[i]) + "\"";
  s += "]\n" + extra + (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
  return s;
}

std::string pool_toml(const std::string &name, const std::vector<const Worker *> &workers,
                      const std::string &extra) {
  std::vector<int> ports;
  for (const Worker *w : workers)
    ports.push_back(w->port);
  return pool_toml_ports(name, ports, extra);
}

std::string route_toml(const std::string &prefix, const std::string &pool,
                       const std::string &extra) {
  return "[[route]]\nprefix = \"" + prefix + "\"\npool = \"" + pool + "\"\n" + extra +
         (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
}

// ---------------------------------------------------------------------------
// /proc readings

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return -1;
}

int open_fds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

} // namespace e2e
