// Frames the records a FastCGI client (the web server) sends. Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi/iovec_sink.h"
#include "fcgi/protocol.h"

namespace fcgi {

struct Param {
  std::string_view name;
  std::string_view value;
};

// FCGI_BEGIN_REQUEST for |id| with |role|; |keep_conn| sets FCGI_KEEP_CONN.
void write_begin_request(uint16_t id, Role role, bool keep_conn, IovecSink& out);

// All of |params| as FCGI_PARAMS records (pairs may straddle records, each
// record at most 65535 bytes of content, padded to a multiple of 8), followed
// by the empty PARAMS record that ends the stream.
void write_params(uint16_t id, std::span<const Param> params, IovecSink& out);
// write_params() for params kept as owned strings (the gateway's CGI params),
// so that the caller need not build a vector of views for every request.
void write_owned_params(uint16_t id, std::span<const std::pair<std::string, std::string>> params, IovecSink& out);

// Params already encoded as name-value pairs (params.h's encode_pair), framed
// as write_params() frames them: PARAMS records of at most 65535 bytes, then
// the empty one. The gateway encodes its CGI params once per request and
// frames them for each attempt.
void write_encoded_params(uint16_t id, std::span<const std::byte> encoded, IovecSink& out);

// |body| as FCGI_STDIN records, borrowed (not copied), split at 65535 bytes.
// An empty |body| writes nothing: the end of the stream is write_stdin_end().
void write_stdin(uint16_t id, std::span<const std::byte> body, const Pin& pin, IovecSink& out);

// The empty FCGI_STDIN record that ends the request body. Always sent, even
// for requests without a body.
void write_stdin_end(uint16_t id, IovecSink& out);

// FCGI_ABORT_REQUEST for |id|.
void write_abort_request(uint16_t id, IovecSink& out);

// FCGI_GET_VALUES (id 0) asking for |names| (empty values).
void write_get_values(std::span<const std::string_view> names, IovecSink& out);

// A simple sink that copies everything into one contiguous byte string; used
// by tests, fuzzers and the probe path.
class StringSink : public IovecSink {
 public:
  void push_copy(std::span<const std::byte> bytes) override;
  void push_borrowed(std::span<const std::byte> bytes, Pin pin) override;
  const std::string& bytes() const { return bytes_; }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

}  // namespace fcgi
