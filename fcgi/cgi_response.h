// Incremental parser for the CGI response head an application writes at the
// start of its FCGI_STDOUT stream (RFC 3875 section 6): header lines, then a
// blank line, then the body. Works across any split of the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/result.h"

namespace fcgi {

struct CgiResponseHead {
  int status = 200;    // from Status:, or 302 for Location without Status, else 200
  std::string reason;  // from Status: "404 Not Found" → "Not Found"; may be empty
  // Every header but Status, in order, names as written. Repeated headers
  // (Set-Cookie) stay separate entries.
  std::vector<std::pair<std::string, std::string>> headers;
  // Convenience lookups (names matched case-insensitively); both stay in
  // |headers| too. location is the first Location. content_length is set when
  // Content-Length is present; an invalid one fails the parse (MalformedHeader).
  std::optional<std::string> location;
  std::optional<uint64_t> content_length;
};

class CgiResponseParser {
 public:
  explicit CgiResponseParser(size_t max_head_bytes);

  struct Progress {
    bool head_complete = false;
    size_t consumed = 0;  // bytes of the fed span that belonged to the head
  };

  // Feeds STDOUT content. When the head completes, head_complete is true and
  // the bytes of |in| after |consumed| are the start of the body; they are not
  // read. Once the head is complete, feed() consumes nothing ({true, 0}).
  // Lines may end in CRLF or LF. After an error, feed() returns it again.
  // Errors:
  //   HeadTooLarge     more than max_head_bytes bytes before the end of the
  //                    blank line (its line ending included)
  //   MalformedHeader  a line without ':'; a name that is empty or not an
  //                    RFC 7230 token (so no folded continuation lines and no
  //                    space before ':'); a value holding a control character
  //                    other than HTAB (a bare CR could split the client's
  //                    response); a Content-Length that is not all digits, or
  //                    two that differ: we would frame the client response on
  //                    a length we cannot trust, so it is a worker fault (502)
  //   BadStatus        Status: not three digits 100..999 (optionally followed
  //                    by whitespace and a reason), or a second Status: line
  Result<Progress, CgiError> feed(std::span<const std::byte> in);

  // The STDOUT stream ended. IncompleteHead unless the head was complete (or
  // the error feed() already returned).
  Result<void, CgiError> finish() const;

  // Back to a new parser for another response, keeping the capacity of the
  // header vector and of the line buffer (one parser serves every attempt
  // and, recycled with its exchange, every request).
  void reset(size_t max_head_bytes);

  bool head_complete() const { return complete_; }
  const CgiResponseHead& head() const { return head_; }
  CgiResponseHead& head() { return head_; }

 private:
  // Handles one header line, without its line ending.
  Result<void, CgiError> on_line(std::string_view line);
  Result<void, CgiError> on_status(std::string_view value);
  // The blank line: applies the status defaults.
  void on_head_end();
  Result<Progress, CgiError> fail(CgiError e);

  size_t max_head_bytes_;
  size_t seen_ = 0;  // head bytes consumed so far, line endings included
  bool complete_ = false;
  bool status_seen_ = false;
  std::optional<CgiError> error_;
  std::string line_;  // the current line, as far as it has arrived
  CgiResponseHead head_;
};

}  // namespace fcgi
