// Logging: one line of key=value pairs per event, formatted with fmt and
// written with a single write(2), so lines from several loop threads never
// interleave. The Logger is passed in (no global); tests capture lines with a
// MemorySink and assert on them.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fcgimux {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
std::string_view to_string(Level l);
// "debug" | "info" | "warn" | "error"; false when |text| is none of them.
bool parse_level(std::string_view text, Level& out);

class LogSink {
 public:
  virtual ~LogSink() = default;
  // Writes one complete line (ending in '\n').
  virtual void write(std::string_view line) = 0;
};

// Writes to a file descriptor (stderr, stdout, or an opened file).
class FdSink : public LogSink {
 public:
  explicit FdSink(int fd, bool owned = false) : fd_(fd), owned_(owned) {}
  ~FdSink() override;
  void write(std::string_view line) override;
  // Opens |path| for appending ("-" is stdout). nullptr on failure.
  static std::unique_ptr<FdSink> open(const std::string& path);

 private:
  int fd_;
  bool owned_;
};

// Keeps lines in memory, for tests.
class MemorySink : public LogSink {
 public:
  void write(std::string_view line) override;
  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// Quotes a client- or worker-controlled value for a log line: wrapped in
// double quotes, with '"', '\\' and control bytes escaped (no log injection).
std::string q(std::string_view value);

class Logger {
 public:
  Logger(std::shared_ptr<LogSink> sink, Level min_level) : sink_(std::move(sink)), min_(min_level) {}

  bool enabled(Level l) const { return l >= min_; }

  template <class... A>
  void debug(std::string_view event, fmt::format_string<A...> kv, A&&... a) {
    if (enabled(Level::Debug)) write(Level::Debug, event, kv, fmt::make_format_args(a...));
  }
  template <class... A>
  void info(std::string_view event, fmt::format_string<A...> kv, A&&... a) {
    if (enabled(Level::Info)) write(Level::Info, event, kv, fmt::make_format_args(a...));
  }
  template <class... A>
  void warn(std::string_view event, fmt::format_string<A...> kv, A&&... a) {
    if (enabled(Level::Warn)) write(Level::Warn, event, kv, fmt::make_format_args(a...));
  }
  template <class... A>
  void error(std::string_view event, fmt::format_string<A...> kv, A&&... a) {
    if (enabled(Level::Error)) write(Level::Error, event, kv, fmt::make_format_args(a...));
  }

 private:
  void write(Level lv, std::string_view event, fmt::string_view kv, fmt::format_args args);

  std::shared_ptr<LogSink> sink_;
  Level min_;
};

// RFC 3339 UTC timestamp with milliseconds, for log lines.
std::string wall_clock_rfc3339();

}  // namespace fcgimux
