// Serializes what fcgimux sends to a client: response heads built from a
// worker's CGI head, and fcgimux's own error responses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fcgimux {

// How a response body is delimited on the client connection.
enum class BodyFraming {
  None,           // HEAD, 1xx, 204, 304: no body bytes are sent at all
  ContentLength,  // the application gave a valid Content-Length
  Chunked,        // HTTP/1.1 client, length unknown
  Close,          // HTTP/1.0 client, length unknown: the connection close ends the body
};

struct ResponseHeadInput {
  int status = 200;
  std::string_view reason;       // empty: the standard reason phrase for status
  // Headers from the application, in order. Hop-by-hop headers (Connection,
  // Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-Connection and
  // any named in Connection) are dropped here; Content-Length is dropped and
  // re-emitted according to framing.
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
  std::optional<uint64_t> content_length;  // the application's, if valid
  bool request_is_head = false;
  unsigned http_minor = 1;       // client's HTTP/1.x version
  bool keep_alive = true;        // the connection stays open after this response
};

struct ResponseHead {
  std::string bytes;             // status line, headers, blank line
  BodyFraming framing = BodyFraming::Close;
  bool keep_alive = true;        // may be false even if asked: Close framing forces it
};

// How the body of a response whose head was appended is sent.
struct ResponseFraming {
  BodyFraming framing = BodyFraming::Close;
  bool keep_alive = true;        // may be false even if asked: Close framing forces it
};

// Appends the head to |out| (the client connection's output buffer: no
// string of its own per response); decides framing and Connection.
ResponseFraming append_response_head(const ResponseHeadInput& in, std::string& out);

// The same, into a string of its own.
ResponseHead build_response_head(const ResponseHeadInput& in);

// A complete error response fcgimux sends itself: status line, Date, Server,
// Content-Type text/plain, Content-Length, Connection, Retry-After when given,
// and a short body (e.g. "503 Service Unavailable: no worker available\n").
// HEAD requests get the head only.
std::string build_error_response(int status, std::string_view detail, bool keep_alive,
                                 bool request_is_head, std::optional<unsigned> retry_after_s);

// "HTTP/1.1 100 Continue\r\n\r\n"
std::string_view continue_response();

// The standard reason phrase ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

// RFC 9110 IMF-fixdate for now ("Sun, 06 Nov 1994 08:49:37 GMT"), cached per second.
std::string_view http_date_now();

// Chunked-encoding framing helpers.
std::string chunk_header(size_t size);      // "1a2b\r\n"
inline constexpr std::string_view kChunkTrailer = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace fcgimux
