// Maps one HTTP request to its CGI/1.1 meta-variables (RFC 3875 section 4.1)
// as FastCGI PARAMS. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/base/error.h"
#include "gateway/config/config.h"
#include "gateway/http/request_head.h"

namespace fcgimux {

// Both ends of the client connection.
struct ConnInfo {
  std::string remote_addr;   // "127.0.0.1" / "::1"
  uint16_t remote_port = 0;
  std::string server_addr;   // the local address the client connected to
  uint16_t server_port = 0;
};

using CgiParams = std::vector<std::pair<std::string, std::string>>;

struct CgiInput {
  const RequestHead* head = nullptr;
  const RouteConfig* route = nullptr;
  const ConnInfo* conn = nullptr;
  std::string_view server_software;      // "fcgimux/0.1.0"
  std::string_view default_server_name;  // when the request has no Host
  uint64_t content_length = 0;           // exact body length (chunked bodies are buffered first)
  // The path already percent-decoded and normalized (the caller routed on
  // it); nullptr: decoded and normalized here from head->path.
  const std::string* normalized_path = nullptr;
};

// Builds the params. Errors: BadRequest when the decoded path contains NUL,
// is not absolute, or climbs above the root with "..". Never emits a NUL.
//
// SCRIPT_NAME is the route's mount and PATH_INFO the percent-decoded,
// dot-segment-normalized rest of the path. With document_root set, the path
// is split after its first segment ending in ".php" (/index.php/foo →
// SCRIPT_NAME /index.php, PATH_INFO /foo); a path naming no .php script goes
// to the route's index (front controller) with the whole path as PATH_INFO.
// DOCUMENT_ROOT, SCRIPT_FILENAME and REDIRECT_STATUS=200 are then set.
// Every header becomes HTTP_*, repeated ones joined with ", " (Cookie with
// "; "); names containing '_' and Proxy are dropped; Content-Type and
// Content-Length become CONTENT_TYPE and CONTENT_LENGTH. Route params come last
// and override same-named ones.
Result<CgiParams> build_cgi_params(const CgiInput& in);
// The same params, the same order, encoded as FastCGI name-value pairs
// (fcgi::encode_pair) into |out| (cleared first, its capacity kept: a
// recycled buffer makes a request like the last one allocate nothing). What
// the gateway sends; fcgi::write_encoded_params() frames it.
Result<void> encode_cgi_params(const CgiInput& in, std::string& out);

// Percent-decodes |raw|; false on a malformed escape or a decoded NUL.
bool percent_decode(std::string_view raw, std::string& out);

// Removes "." and ".." segments (RFC 3986 section 5.2.4) from an absolute
// path; false when ".." would climb above "/".
bool normalize_path(std::string_view path, std::string& out);

}  // namespace fcgimux
