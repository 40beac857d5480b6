#include "gateway/base/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <iterator>

namespace fcgimux {

std::string_view to_string(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (text == to_string(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

FdSink::~FdSink() {
  if (owned_) ::close(fd_);
}

void FdSink::write(std::string_view line) {
  // One write(2) per line: O_APPEND files and pipes keep lines whole. A short
  // write on a full pipe is finished rather than dropped.
  while (!line.empty()) {
    ssize_t n = ::write(fd_, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    line.remove_prefix(static_cast<size_t>(n));
  }
}

std::unique_ptr<FdSink> FdSink::open(const std::string& path) {
  if (path == "-") return std::make_unique<FdSink>(STDOUT_FILENO);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return nullptr;
  return std::make_unique<FdSink>(fd, true);
}

void MemorySink::write(std::string_view line) {
  std::lock_guard lock(mu_);
  lines_.emplace_back(line);
}

std::vector<std::string> MemorySink::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

std::string q(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

std::string wall_clock_rfc3339() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tv.tv_usec / 1000);
}

void Logger::write(Level lv, std::string_view event, fmt::string_view kv, fmt::format_args args) {
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line), "ts={} level={} event={} ", wall_clock_rfc3339(),
                 to_string(lv), event);
  fmt::vformat_to(std::back_inserter(line), kv, args);
  line.push_back('\n');
  sink_->write({line.data(), line.size()});
}

}  // namespace fcgimux
