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
#include "fcgi/record.h"
#include "fcgi/record_reader.h"
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
  // A record of a type FastCGI 1.0 does not define (0, or 12..255) has
  // begun; its content and padding are consumed unread. A later
  // protocol revision may add types a client can ignore; failing the
  // connection over one would be harsher than the specification asks, and its
  // framing is still sound. Override to log it.
  virtual void on_skipped_record(uint8_t type, uint16_t id) {
    (void)type;
    (void)id;
  }
};

class StreamParser {
 public:
  // |max_values_len| caps the size of a GET_VALUES_RESULT body we accept.
  explicit StreamParser(size_t max_values_len = 4096);

  // Parses |in|, calling |h| for every event it completes. Returns an error
  // for malformed input; after an error the parser must not be fed again
  // (the connection cannot be trusted), and if it is, it returns the same
  // error without reading. Never reads past |in|.
  //
  // What is an error (every case is checked when the header completes, so the
  // events before it are the same for any split of the input):
  //   BadVersion        version byte not 1
  //   BadLength         END_REQUEST or UNKNOWN_TYPE content not 8 bytes;
  //                     GET_VALUES_RESULT content over |max_values_len|
  //   UnexpectedRecord  a type only a client sends (BEGIN_REQUEST, ABORT_REQUEST,
  //                     PARAMS, STDIN, DATA, GET_VALUES); STDOUT, STDERR or
  //                     END_REQUEST with id 0; GET_VALUES_RESULT or
  //                     UNKNOWN_TYPE with an id other than 0
  //   TruncatedPair, PairTooLong   a GET_VALUES_RESULT body that does not decode
  // Padding of any length 0..255 is skipped. Undefined types are skipped (see
  // StreamHandler::on_skipped_record). An END_REQUEST protocolStatus above 3 is
  // passed on as its raw value: callers treat a status they do not know as a
  // failure of the request.
  Result<void, ParseError> feed(std::span<const std::byte> in, StreamHandler& h);

  // True when the parser stands between records (no partial record pending):
  // a connection closed now lost nothing mid-record.
  bool at_record_boundary() const;

 private:
  // What to do with the current record's content.
  enum class Body { Stdout, Stderr, Collect, Skip };
  // Adapts RecordReader's callbacks to this parser for one feed() call;
  // defined in stream_parser.cc.
  struct Visitor;

  RecordReader reader_;
  RecordHeader record_;  // the current record's header
  Body body_ = Body::Skip;
  std::string small_body_;  // END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE bodies
  size_t max_values_len_;
};

}  // namespace fcgi
