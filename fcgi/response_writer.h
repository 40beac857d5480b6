// Frames the records a FastCGI application (the worker) sends back to the web
// server. fcgimux itself never sends these; test workers, the scriptable
// fault worker and the fuzzers' seed generators do. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "fcgi/iovec_sink.h"
#include "fcgi/params.h"
#include "fcgi/protocol.h"

namespace fcgi {

// |bytes| as FCGI_STDOUT records for |id|, copied, split at 65535 bytes. Each
// record is padded to a multiple of 8, or gets exactly |padding| bytes when
// given (a test worker exercising a client's padding handling). Empty |bytes|
// writes nothing; write_stdout_end() sends the empty record.
void write_stdout(uint16_t id, std::span<const std::byte> bytes, IovecSink& out,
                  std::optional<uint8_t> padding = std::nullopt);
void write_stdout(uint16_t id, std::string_view text, IovecSink& out,
                  std::optional<uint8_t> padding = std::nullopt);
void write_stdout_end(uint16_t id, IovecSink& out);

// The same for FCGI_STDERR.
void write_stderr(uint16_t id, std::span<const std::byte> bytes, IovecSink& out,
                  std::optional<uint8_t> padding = std::nullopt);
void write_stderr(uint16_t id, std::string_view text, IovecSink& out,
                  std::optional<uint8_t> padding = std::nullopt);
void write_stderr_end(uint16_t id, IovecSink& out);

// FCGI_END_REQUEST for |id| (§5.5): |app_status| big-endian, |status|.
void write_end_request(uint16_t id, uint32_t app_status, ProtocolStatus status, IovecSink& out);

// FCGI_GET_VALUES_RESULT (id 0) carrying |values| (§4.1). Pairs that would push
// the single record past 65535 bytes are left out.
void write_get_values_result(std::span<const std::pair<std::string_view, std::string_view>> values,
                             IovecSink& out);

// FCGI_UNKNOWN_TYPE (id 0) naming the management record |type| the
// application did not understand (§4.2).
void write_unknown_type(uint8_t type, IovecSink& out);

}  // namespace fcgi
