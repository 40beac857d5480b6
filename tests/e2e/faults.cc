// Fault injection for the health tests (issue #3): libfcgi and fixed-port
// workers, signals to a worker's process group, a bounded load generator,
// reading fcgimux's log in order, and network namespaces.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "harness.h"
#include "harness_internal.h"

namespace e2e {

using namespace detail;

bool have_libfcgi_responder() {
#ifdef LIBFCGI_RESPONDER_BIN
  return fs::exists(LIBFCGI_RESPONDER_BIN);
#else
  return false;
#endif
}

fs::path libfcgi_responder_bin() {
#ifdef LIBFCGI_RESPONDER_BIN
  return LIBFCGI_RESPONDER_BIN;
#else
  fail("libfcgi_responder is not built (apt-get install libfcgi-dev)");
#endif
}

// ---------------------------------------------------------------------------
// Workers

namespace {
std::atomic<int> g_counter{0};

// Starts |make(port)| until it listens on |port| (fixed) or on a fresh free
// port (port 0), retrying while the port is taken. |ready_line|: a line the
// worker logs once it can serve (empty: a connection is enough).
template <class Make>
Worker start_worker(const std::string &what, int fixed_port, const std::string &ready_line,
                    Make make) {
  std::string last_log;
  const auto deadline = Clock::now() + 20s;
  for (int attempt = 0; Clock::now() < deadline && attempt < 200; ++attempt) {
    Worker w;
    w.port = fixed_port ? fixed_port : free_port();
    w.child = make(w.port, attempt);
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
    const bool port_taken = last_log.find("Address already in use") != std::string::npos ||
                            last_log.find("EADDRINUSE") != std::string::npos ||
                            last_log.find("cannot listen on") != std::string::npos;
    if (!port_taken)
      break;
    if (fixed_port)
      std::this_thread::sleep_for(100ms);
  }
  fail(what + " did not start; log:\n" + tail(last_log));
}
} // namespace

Worker spawn_libfcgi(const TempDir &dir, const std::string &name, int threads, int port,
                     const fs::path &request_log) {
  const int n = ++g_counter;
  std::vector<std::pair<std::string, std::string>> env;
  if (!request_log.empty())
    env.emplace_back("FCGI_RESPONDER_LOG", request_log.string());
  Worker w = start_worker("libfcgi_responder " + name, port,
                          "libfcgi_responder: " + name + " on ", [&](int p, int attempt) {
                            return Child::spawn({libfcgi_responder_bin().string(),
                                                 "127.0.0.1:" + std::to_string(p),
                                                 std::to_string(threads), name},
                                                dir / ("libfcgi-" + name + "-" + std::to_string(n) +
                                                       "-" + std::to_string(attempt) + ".log"),
                                                env);
                          });
  w.name = name;
  return w;
}

Worker spawn_uwsgi_django_on(const TempDir &dir, const std::string &name, int port, int processes,
                             int threads) {
  migrate_django_db(dir);
  const int n = ++g_counter;
  Worker w = start_worker("uWSGI worker " + name, port, "spawned uWSGI worker", [&](int p, int a) {
    return Child::spawn({"bash", (source_dir() / "examples/django/run-worker.sh").string(),
                         "127.0.0.1:" + std::to_string(p), name, std::to_string(processes),
                         std::to_string(threads)},
                        dir / ("uwsgi-" + name + "-" + std::to_string(n) + "-" + std::to_string(a) +
                               ".log"),
                        {{"FCGIMUX_EXAMPLE_DB", (dir / "django.sqlite3").string()}});
  });
  w.name = name;
  return w;
}

void signal_group(const Child &child, int sig) {
  if (child.pid() > 0)
    ::kill(-child.pid(), sig);
}

void kill_hard(Child &child) {
  if (child.pid() <= 0)
    return;
  // The leader is not reaped yet, so the group id still names our processes.
  ::kill(-child.pid(), SIGKILL);
  if (!child.wait_exit(10s))
    fail("a SIGKILLed worker did not exit");
}

PauseGuard::PauseGuard(const Child &child) : pid_(child.pid()) {
  if (pid_ <= 0)
    fail("PauseGuard: no process");
  ::kill(-pid_, SIGSTOP);
}

void PauseGuard::resume() {
  if (pid_ > 0)
    ::kill(-pid_, SIGCONT);
  pid_ = -1;
}

// ---------------------------------------------------------------------------
// Logs

std::vector<std::string> log_all_lines(const Child &child) {
  std::vector<std::string> out;
  std::istringstream in(child.log_text());
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

int find_line(const std::vector<std::string> &lines, std::string_view needle, int from) {
  for (int i = std::max(0, from); i < int(lines.size()); ++i)
    if (lines[size_t(i)].find(needle) != std::string::npos)
      return i;
  return -1;
}

std::string wait_log_line(const Child &child, const std::vector<std::string> &needles,
                          Duration timeout, int from) {
  std::string found;
  eventually(
      [&] {
        const auto lines = log_all_lines(child);
        for (size_t i = size_t(std::max(0, from)); i < lines.size(); ++i) {
          const std::string &line = lines[i];
          bool all = true;
          for (const auto &n : needles)
            all = all && line.find(n) != std::string::npos;
          if (all) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

std::string log_field(const std::string &line, const std::string &key) {
  const std::string k = key + "=";
  size_t at = 0;
  while ((at = line.find(k, at)) != std::string::npos) {
    if (at == 0 || line[at - 1] == ' ')
      break;
    at += k.size();
  }
  if (at == std::string::npos)
    return "";
  size_t p = at + k.size();
  if (p < line.size() && line[p] == '"') {
    std::string out;
    for (++p; p < line.size() && line[p] != '"'; ++p) {
      if (line[p] == '\\' && p + 1 < line.size())
        ++p;
      out.push_back(line[p]);
    }
    return out;
  }
  return line.substr(p, line.find(' ', p) - p);
}

std::string pool_toml_addresses(const std::string &name, const std::vector<std::string> &addresses,
                                const std::string &extra) {
  std::string s = "[pools." + name + "]\nworkers = [";
  for (size_t i = 0; i < addresses.size(); ++i)
    s += (i ? ", \"" : "\"") + addresses[i] + "\"";
  s += "]\n" + extra + (extra.empty() || extra.back() == '\n' ? "" : "\n") + "\n";
  return s;
}

// ---------------------------------------------------------------------------
// Load

struct Load::State {
  int port = 0;
  LoadOptions opts;
  Clock::time_point until{};
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  mutable std::mutex mu;
  std::vector<LoadSample> samples;
};

Load::Load(int port, LoadOptions opts) : st_(std::make_shared<State>()) {
  st_->port = port;
  st_->opts = std::move(opts);
  if (!st_->opts.target)
    st_->opts.target = [](int n) { return "/hello?id=" + std::to_string(n); };
  st_->until = Clock::now() + st_->opts.max_time;
  st_->running = st_->opts.threads;
  for (int t = 0; t < st_->opts.threads; ++t) {
    threads_.emplace_back([st = st_] {
      std::unique_ptr<HttpClient> kept; // keep_alive: this thread's connection
      while (!st->stop && Clock::now() < st->until) {
        const int n = st->next++;
        if (n >= st->opts.max_requests)
          break;
        LoadSample s;
        s.n = n;
        s.target = st->opts.target(n);
        const std::string body = st->opts.body ? st->opts.body(n) : std::string();
        s.start = Clock::now();
        try {
          Response r;
          if (st->opts.keep_alive) {
            if (!kept)
              kept = std::make_unique<HttpClient>(st->port, st->opts.request_timeout);
            r = kept->request(st->opts.method, s.target, {}, body);
            if (r.until_close || Response::lower(r.header("connection")) == "close")
              kept.reset();
          } else {
            r = http_request(st->port, st->opts.method, s.target, {}, body,
                             st->opts.request_timeout);
          }
          s.status = r.status;
          s.worker = r.header("x-worker");
          s.retry_after = r.header("retry-after");
          s.body = r.body.size() > 200 ? r.body.substr(0, 200) : r.body;
        } catch (const std::exception &e) {
          s.error = e.what();
          kept.reset();
        }
        s.end = Clock::now();
        {
          std::lock_guard<std::mutex> lock(st->mu);
          st->samples.push_back(std::move(s));
        }
        std::this_thread::sleep_for(st->opts.pause);
      }
      --st->running;
    });
  }
}

void Load::stop() {
  st_->stop = true;
  for (auto &t : threads_)
    if (t.joinable())
      t.join();
}

size_t Load::completed() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->samples.size();
}

bool Load::wait_more(size_t n, Duration timeout) {
  const size_t target = completed() + n;
  return eventually([&] { return completed() >= target || st_->running == 0; }, timeout) &&
         completed() >= target;
}

bool Load::wait_finished(Duration timeout) {
  return eventually([&] { return st_->running == 0; }, timeout);
}

std::vector<LoadSample> Load::samples() const {
  std::lock_guard<std::mutex> lock(st_->mu);
  return st_->samples;
}

std::string describe_samples(const std::vector<LoadSample> &s, int ok_status, size_t max_lines) {
  std::ostringstream out;
  size_t bad = 0;
  for (const auto &x : s) {
    if (x.status == ok_status)
      continue;
    if (++bad <= max_lines)
      out << "  #" << x.n << " " << x.target << " -> " << x.status << " worker=" << x.worker
          << " after " << x.latency().count() << " ms"
          << (x.error.empty() ? "" : " error: " + x.error.substr(0, 200)) << "\n";
  }
  return std::to_string(bad) + " of " + std::to_string(s.size()) + " requests not " +
         std::to_string(ok_status) + (bad ? ":\n" + out.str() : std::string());
}

// ---------------------------------------------------------------------------
// Commands and network namespaces

int run_command(const std::vector<std::string> &argv, std::string *output, Duration timeout) {
  TempDir tmp;
  Child c = Child::spawn(argv, tmp / "out.log");
  auto st = c.wait_exit(timeout);
  if (output)
    *output = c.log_text();
  if (!st) {
    c.stop(1000ms, SIGKILL);
    return -1;
  }
  return *st;
}

namespace {
std::atomic<int> g_netns_counter{0};

bool address_in_use(const std::string &prefix) {
  std::string out;
  run_command({"ip", "-4", "-o", "addr", "show"}, &out);
  return out.find(" " + prefix) != std::string::npos;
}
} // namespace

std::unique_ptr<NetNs> NetNs::create(std::string &why) {
  if (::geteuid() != 0) {
    why = "not root";
    return nullptr;
  }
  const int k = ++g_netns_counter;
  const int pid = int(::getpid());
  std::unique_ptr<NetNs> ns(new NetNs);
  ns->dir_ = std::make_unique<TempDir>();
  ns->name_ = "fcgimux-e2e-" + std::to_string(pid) + "-" + std::to_string(k);
  // Interface names have at most 15 characters.
  const std::string base = "fm" + std::to_string(pid % 10000000);
  ns->host_if_ = base + "h" + std::to_string(k);
  ns->ns_if_ = base + "n" + std::to_string(k);
  // 10.254.X.Y/30 with X from our PID, Y from k: another test process picks
  // another X; an X already on the host is skipped.
  int x = 20 + pid % 200;
  for (int tries = 0; tries < 200; ++tries, x = 20 + (x - 20 + 1) % 200) {
    const std::string host_ip = "10.254." + std::to_string(x) + "." + std::to_string(4 * k + 1);
    if (!address_in_use(host_ip + "/")) {
      ns->host_ip_ = host_ip;
      ns->ns_ip_ = "10.254." + std::to_string(x) + "." + std::to_string(4 * k + 2);
      break;
    }
  }
  if (ns->host_ip_.empty() || 4 * k + 2 > 254) {
    why = "no free 10.254.x.y/30 address";
    return nullptr;
  }
  std::string out;
  if (run_command({"ip", "netns", "add", ns->name_}, &out) != 0) {
    why = "ip netns add " + ns->name_ + " failed: " + out;
    ns->name_.clear(); // nothing to remove
    return nullptr;
  }
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "link", "add", ns->host_if_, "type", "veth", "peer", "name", ns->ns_if_},
      {"ip", "link", "set", ns->ns_if_, "netns", ns->name_},
      {"ip", "addr", "add", ns->host_ip_ + "/30", "dev", ns->host_if_},
      {"ip", "link", "set", ns->host_if_, "up"},
      {"ip", "-n", ns->name_, "addr", "add", ns->ns_ip_ + "/30", "dev", ns->ns_if_},
      {"ip", "-n", ns->name_, "link", "set", ns->ns_if_, "up"},
      {"ip", "-n", ns->name_, "link", "set", "lo", "up"},
  };
  for (const auto &argv : steps) {
    if (run_command(argv, &out) != 0) {
      why = "";
      for (const auto &a : argv)
        why += a + " ";
      why += "failed: " + out;
      return nullptr; // the destructor removes what was made
    }
  }
  return ns;
}

NetNs::~NetNs() {
  if (!host_if_.empty())
    run_command({"ip", "link", "del", host_if_}); // fails harmlessly if already gone
  if (!name_.empty())
    run_command({"ip", "netns", "del", name_});
}

void NetNs::set_link(bool up) {
  std::string out;
  if (run_command({"ip", "-n", name_, "link", "set", ns_if_, up ? "up" : "down"}, &out) != 0)
    fail("ip link set " + ns_if_ + (up ? " up" : " down") + " failed: " + out);
}

bool tcp_connects(const std::string &host, int port, Duration timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, int(timeout.count())) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
  }
  ::close(fd);
  return ok;
}

Worker spawn_libfcgi_in(const NetNs &ns, const TempDir &dir, const std::string &name, int port,
                        int threads) {
  Worker w;
  w.host = ns.ns_ip();
  w.port = port;
  w.name = name;
  std::vector<std::string> argv = ns.exec_prefix();
  argv.insert(argv.end(), {libfcgi_responder_bin().string(), w.address(), std::to_string(threads),
                           name});
  w.child = Child::spawn(argv, dir / ("libfcgi-" + name + "-" + std::to_string(++g_counter) + ".log"));
  const bool up = eventually(
      [&] {
        return !w.child.running() || (tcp_connects(w.host, port, 500ms) &&
                                      w.child.log_text().find("libfcgi_responder: " + name) !=
                                          std::string::npos);
      },
      20s);
  if (!up || !w.child.running())
    fail("libfcgi_responder " + name + " in " + ns.name() + " did not start; log:\n" +
         tail(w.child.log_text()));
  return w;
}

} // namespace e2e
