#include "gateway/server/access_log.h"

#include <iterator>

namespace fcgimux {

void AccessLog::write(const AccessRecord& r) {
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line),
                 "ts={} event=access client={} method={} target={} proto=HTTP/1.{} status={} "
                 "bytes={} duration_ms={} worker={} error={}\n",
                 wall_clock_rfc3339(), r.client, q(r.method), q(r.target), r.http_minor, r.status,
                 r.bytes, r.duration_ms, r.worker.empty() ? "-" : r.worker,
                 r.error.empty() ? "-" : r.error);
  sink_->write({line.data(), line.size()});
}

}  // namespace fcgimux
