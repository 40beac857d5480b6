// Splits a FastCGI byte stream into records, for any split of the stream into
// feed() calls: collects the 8 header bytes, hands content on as it arrives
// and skips padding (any length 0..255). The two stream parsers (client side:
// StreamParser, application side: RequestParser) judge what the records mean.
#pragma once

#include <cstddef>
#include <span>

#include "fcgi/errors.h"
#include "fcgi/protocol.h"
#include "fcgi/record.h"
#include "fcgi/result.h"

namespace fcgi {

// What a RecordReader reports, record by record. Any error it returns stops
// the reader for good.
class RecordVisitor {
 public:
  virtual ~RecordVisitor() = default;
  // A header was decoded (its version is 1).
  virtual Result<void, ParseError> on_record_begin(const RecordHeader& h) = 0;
  // A non-empty piece of the current record's content; the span points into
  // the buffer given to feed() and is valid only during the call.
  virtual Result<void, ParseError> on_record_content(std::span<const std::byte> piece) = 0;
  // The current record's content is complete (called for empty records too,
  // right after on_record_begin). Its padding may still be to come.
  virtual Result<void, ParseError> on_record_content_end() = 0;
};

class RecordReader {
 public:
  // Reads |in|, reporting to |v|. Never reads past |in|. After an error
  // (BadVersion, or one |v| returned) it returns that error without reading.
  Result<void, ParseError> feed(std::span<const std::byte> in, RecordVisitor& v);

  // True when no partial record is pending.
  bool at_record_boundary() const { return state_ == State::Header && header_have_ == 0; }
  bool failed() const { return state_ == State::Failed; }

 private:
  enum class State { Header, Content, Padding, Failed };
  Result<void, ParseError> fail(ParseError e);
  Result<void, ParseError> end_content(RecordVisitor& v);

  State state_ = State::Header;
  ParseError error_ = ParseError::BadVersion;  // meaningful in State::Failed
  std::byte header_buf_[kHeaderLen]{};
  size_t header_have_ = 0;
  size_t content_left_ = 0;
  size_t padding_left_ = 0;
};

}  // namespace fcgi
