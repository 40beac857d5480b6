// Incremental parser for the CGI response head an application writes at the
// start of its FCGI_STDOUT stream (RFC 3875 section 6): header lines, then a
// blank line, then the body. Works across any split of the stream.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/result.h"

namespace fcgi {

struct CgiResponseHead {
  int status = 200;                // from Status:, or 302 for Location without Status, else 200
  std::string reason;              // from Status: "404 Not Found" → "Not Found"; may be empty
  // Every header but Status, in order, names as written. Repeated headers
  // (Set-Cookie) stay separate entries.
  std::vector<std::pair<std::string, std::string>> headers;
  // Convenience lookups (case-insensitive). Content-Length is the parsed value
  // when present and valid.
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
  // the bytes of |in| after |consumed| are the start of the body. Lines may
  // end in CRLF or LF. Errors: HeadTooLarge, MalformedHeader, BadStatus.
  Result<Progress, CgiError> feed(std::span<const std::byte> in);

  bool head_complete() const { return complete_; }
  const CgiResponseHead& head() const { return head_; }
  CgiResponseHead& head() { return head_; }

 private:
  size_t max_head_bytes_;
  size_t seen_ = 0;
  bool complete_ = false;
  std::string line_;
  CgiResponseHead head_;
};

}  // namespace fcgi
