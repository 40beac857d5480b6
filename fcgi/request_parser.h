// Incremental parser for the byte stream a web server sends to a FastCGI
// application: the worker side. fcgimux does not use it at run time; test
// workers, the scriptable fault worker and round-trip tests do. Like
// StreamParser, any split of the stream gives the same events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/params.h"
#include "fcgi/protocol.h"
#include "fcgi/record.h"
#include "fcgi/record_reader.h"
#include "fcgi/result.h"

namespace fcgi {

// Receives the parser's events. Every method does nothing unless overridden,
// so a test worker implements only what it needs. Spans point into the buffer
// given to feed() and are valid only during the call.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // FCGI_BEGIN_REQUEST: |flags| & kKeepConn tells whether to keep the
  // connection open after the request. |role| may be a value the
  // specification does not define; the application then answers
  // END_REQUEST with FCGI_UNKNOWN_ROLE.
  virtual void on_begin_request(uint16_t id, Role role, uint8_t flags) {
    (void)id, (void)role, (void)flags;
  }
  // One decoded FCGI_PARAMS pair (pairs that straddled records arrive whole).
  virtual void on_param(uint16_t id, std::string name, std::string value) {
    (void)id, (void)name, (void)value;
  }
  // The empty PARAMS record: all params of |id| have arrived.
  virtual void on_params_end(uint16_t id) { (void)id; }
  // A piece of FCGI_STDIN content; an empty span for the empty record.
  virtual void on_stdin(uint16_t id, std::span<const std::byte> bytes) { (void)id, (void)bytes; }
  // A piece of FCGI_DATA content (Filter role); an empty span ends it.
  virtual void on_data(uint16_t id, std::span<const std::byte> bytes) { (void)id, (void)bytes; }
  // FCGI_ABORT_REQUEST. Reported for any id: it may race the application's
  // own END_REQUEST, so an id the application already finished is normal.
  virtual void on_abort_request(uint16_t id) { (void)id; }
  // FCGI_GET_VALUES: the names asked for (§4.1; values are empty on the wire).
  virtual void on_get_values(std::vector<std::string> names) { (void)names; }
  // A management record (id 0) of a type the application does not know; it
  // should answer write_unknown_type(type) (§4.2).
  virtual void on_unknown_management(uint8_t type) { (void)type; }
};

class RequestParser {
 public:
  // |max_pair_len| caps each PARAMS name and value; |max_values_len| caps a
  // GET_VALUES body.
  explicit RequestParser(size_t max_pair_len = kDefaultMaxPairLen, size_t max_values_len = 4096);

  // Parses |in|, calling |h| for every event it completes. After an error the
  // parser returns it again without reading. Never reads past |in|. Errors:
  //   BadVersion        version byte not 1
  //   BadLength         BEGIN_REQUEST content not 8 bytes; GET_VALUES over the cap
  //   UnexpectedRecord  a type only an application sends (STDOUT, STDERR,
  //                     END_REQUEST, GET_VALUES_RESULT, UNKNOWN_TYPE); a
  //                     request record with id 0; GET_VALUES with an id other
  //                     than 0; BEGIN_REQUEST for an id whose PARAMS are still
  //                     open; PARAMS for an id with no BEGIN_REQUEST before it
  //   TruncatedPair     the empty PARAMS record arrived inside a pair, or a
  //                     GET_VALUES body ends inside one
  //   PairTooLong       a name or value over the cap
  // Records of undefined types with a request id are skipped; ABORT_REQUEST
  // content, which §5.4 says is empty, is ignored.
  Result<void, ParseError> feed(std::span<const std::byte> in, RequestHandler& h);

  bool at_record_boundary() const { return reader_.at_record_boundary(); }

 private:
  enum class Body { Params, Stdin, Data, Collect, Skip };
  struct Visitor;  // defined in request_parser.cc

  RecordReader reader_;
  RecordHeader record_;
  Body body_ = Body::Skip;
  size_t max_pair_len_;
  size_t max_values_len_;
  std::string small_body_;                         // BEGIN_REQUEST, GET_VALUES bodies
  std::map<uint16_t, ParamsDecoder> open_params_;  // ids between BEGIN and empty PARAMS
};

}  // namespace fcgi
