// Incremental parser for the byte stream a FastCGI application sends to its
// client (the web server). Any split of the stream into feed() calls gives
// the same sequence of events; content is delivered as it arrives, even
// before a record is complete, and padding is skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/protocol.h"
#include "fcgi/result.h"

namespace fcgi {

// Receives the parser's events. Spans point into the buffer given to feed()
// and are valid only during the call.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // A piece of FCGI_STDOUT content for |id|. An empty STDOUT record (end of
  // stream) is reported with an empty span.
  virtual void on_stdout(uint16_t id, std::span<const std::byte> bytes) = 0;
  // A piece of FCGI_STDERR content for |id|; empty span for the empty record.
  virtual void on_stderr(uint16_t id, std::span<const std::byte> bytes) = 0;
  // FCGI_END_REQUEST for |id|.
  virtual void on_end_request(uint16_t id, uint32_t app_status, ProtocolStatus status) = 0;
  // FCGI_GET_VALUES_RESULT (management record, id 0), pairs decoded.
  virtual void on_get_values_result(std::vector<std::pair<std::string, std::string>> values) = 0;
  // FCGI_UNKNOWN_TYPE: the application did not know record type |type| we sent.
  virtual void on_unknown_type(uint8_t type) = 0;
};

class StreamParser {
 public:
  // |max_values_len| caps the size of a GET_VALUES_RESULT body we accept.
  explicit StreamParser(size_t max_values_len = 4096);

  // Parses |in|, calling |h| for every event it completes. Returns an error
  // for malformed input; after an error the parser must not be fed again
  // (the connection cannot be trusted). Never reads past |in|.
  Result<void, ParseError> feed(std::span<const std::byte> in, StreamHandler& h);

  // True when the parser stands between records (no partial record pending):
  // a connection closed now lost nothing mid-record.
  bool at_record_boundary() const;

 private:
  // Implementation state: header bytes collected so far, the current record's
  // header, content and padding remaining, GET_VALUES_RESULT/END_REQUEST body
  // accumulated.
  enum class State { Header, Content, Padding };
  State state_ = State::Header;
  std::byte header_buf_[kHeaderLen]{};
  size_t header_have_ = 0;
  uint8_t type_ = 0;
  uint16_t id_ = 0;
  size_t content_left_ = 0;
  size_t padding_left_ = 0;
  std::string small_body_;  // END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE bodies
  size_t max_values_len_;
};

}  // namespace fcgi
