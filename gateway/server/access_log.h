// One line per finished request, key=value like every other log line, to its
// own sink (access_log: "-" stdout, a path, or "" for none).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "gateway/base/log.h"

namespace fcgimux {

struct AccessRecord {
  std::string_view client;   // "127.0.0.1:50412"
  std::string_view method;
  std::string_view target;   // raw, quoted in the line
  unsigned http_minor = 1;
  int status = 0;
  uint64_t bytes = 0;        // body bytes sent to the client
  int64_t duration_ms = 0;   // from the head's arrival to the last byte queued
  std::string_view worker;   // "127.0.0.1:9001", or "-" when none answered
  std::string_view error;    // why fcgimux answered itself, or "-"
};

class AccessLog {
 public:
  explicit AccessLog(std::shared_ptr<LogSink> sink) : sink_(std::move(sink)) {}
  void write(const AccessRecord& r);

 private:
  std::shared_ptr<LogSink> sink_;
};

}  // namespace fcgimux
