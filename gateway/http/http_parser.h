// The client side of HTTP/1.1: llhttp in strict mode, wrapped so that the
// rest of the gateway sees whole request heads and body pieces. The parser
// pauses after each complete request so that pipelined requests are handled
// one at a time and answered in order.
//
// Division of labour (see http_parser.cc for the reasons):
//  - llhttp parses the request line and the header fields, with no lenient
//    flags, and is paused at headers-complete so that the exact end of the
//    head is known;
//  - this class re-checks every head byte (bare CR or LF, obs-fold, NUL and
//    other controls, header-name syntax) because the llhttp C sources Debian
//    ships are compiled without LLHTTP_STRICT_MODE and let some through;
//  - this class frames the body itself (Content-Length or a strict RFC 9112
//    section 7.1 chunked decoder), because llhttp 8.1 accepts chunk data not
//    followed by CRLF and rejects legal multi-parameter chunk extensions.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/error.h"
#include "gateway/http/request_head.h"

namespace fcgimux {

class HttpRequestSink {
 public:
  virtual ~HttpRequestSink() = default;
  // The head is complete. Called once per request, before any body. The
  // sink takes |head| (moves or swaps it out) and may leave another one in
  // its place: the parser clears whatever is left and parses the next head
  // into it, so a recycled head's capacity is used again.
  virtual void on_request_head(RequestHead& head) = 0;
  // A piece of the (de-chunked) body; valid only during the call.
  virtual void on_request_body(std::span<const std::byte> bytes) = 0;
  // The request (head and body) is complete. The parser pauses after this
  // until resume() is called.
  virtual void on_request_complete() = 0;
};

struct HttpLimits {
  size_t max_header_size = 64 * 1024;       // request line + all header fields
  size_t max_body_size = 32 * 1024 * 1024;  // Content-Length or the de-chunked total
};

class HttpParser {
 public:
  HttpParser(const HttpLimits& limits, HttpRequestSink& sink);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // Parses the start of |in|. Returns how many bytes were consumed: fewer
  // than |in|.size() when a request completed (the parser is then paused; the
  // rest belongs to the next, pipelined request and must be fed again after
  // resume()). Errors: BadRequest (malformed, CL+TE, duplicate differing
  // Content-Length, bad chunk size, NUL, bare CR/LF, obs-fold), HeadTooLarge,
  // BodyTooLarge (Content-Length over the limit is reported at the head,
  // before any body), UnknownCoding (a transfer coding other than chunked).
  // After an error the parser must not be fed again.
  Result<size_t> feed(std::span<const std::byte> in);

  // Lets the parser continue with the next request after on_request_complete.
  void resume();
  bool paused() const { return paused_; }

  // The client closed its side. Returns BadRequest when it did so in the
  // middle of a request (an incomplete head or body), else success.
  Result<void> finish();

  // A request has started (at least one byte of it) and not completed.
  bool in_request() const { return in_request_; }

  // The header vector of the head the parser fills (its one sizeable
  // buffer), for a connection to park between requests
  // (LoopThread::spare_headers) so that an idle connection holds none of
  // it. Only between requests: after resume() and before the next request's
  // first byte. take_header_storage() leaves none; has_header_storage() says
  // whether the parser holds one with capacity.
  using Headers = std::vector<std::pair<std::string, std::string>>;
  Headers take_header_storage() { return std::exchange(head_.headers, Headers{}); }
  void give_header_storage(Headers&& h) { head_.headers = std::move(h); }
  bool has_header_storage() const { return head_.headers.capacity() != 0; }

 private:
  // llhttp callbacks. They only copy the slices (C4: they die when
  // llhttp_execute returns); every decision is taken after the pause.
  static int on_message_begin_cb(llhttp_t*);
  static int on_url_cb(llhttp_t*, const char*, size_t);
  static int on_header_field_cb(llhttp_t*, const char*, size_t);
  static int on_header_value_cb(llhttp_t*, const char*, size_t);
  static int on_headers_complete_cb(llhttp_t*);
  static int on_header_value_complete_cb(llhttp_t*);

  // Where the current message is.
  enum class Phase {
    Head,      // request line and header fields, through llhttp
    Identity,  // a Content-Length body: body_remaining_ more bytes
    Chunked,   // a chunked body: chunk_ says where in the framing
  };
  // Where the chunked decoder is (RFC 9112 section 7.1).
  enum class Chunk {
    Size,          // 1*HEXDIG
    SizeWs,        // BWS after the size: only ';' may follow
    Ext,           // chunk-ext, up to CR
    SizeLf,        // the LF after the size line's CR
    Data,          // chunk_remaining_ data bytes
    DataCr,        // the CRLF after the data
    DataLf,
    TrailerStart,  // start of a trailer line, or the final CRLF
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,         // the LF of the final CRLF
  };

  Result<size_t> feed_head(const char* p, size_t n);
  Result<size_t> feed_chunked(const char* p, size_t n);
  bool scan_head(const char* p, size_t n);
  Result<void> finish_head();
  Result<void> parse_target();
  Result<void> check_framing();
  void complete_message();
  void start_message();
  Result<size_t> fail(Error e);

  // The callbacks, the same for every parser: one table for all (a copy in
  // each parser was a few hundred bytes of every idle client connection).
  static const llhttp_settings_t& callbacks();

  HttpLimits limits_;
  HttpRequestSink& sink_;
  llhttp_t parser_;
  RequestHead head_;
  std::string field_;
  std::string value_;
  std::string url_;
  size_t head_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  bool paused_ = false;
  bool in_request_ = false;
  Error pending_error_ = Error::BadRequest;

  Phase phase_ = Phase::Head;
  bool head_done_ = false;       // llhttp paused at headers-complete
  bool failed_ = false;          // pending_error_ is final
  // llhttp state captured at headers-complete (llhttp is reset right after).
  uint8_t method_ = 0;
  uint16_t flags_ = 0;
  bool te_padded_ = false;       // a Transfer-Encoding value had trailing OWS
  // Head byte scanner.
  bool scan_after_cr_ = false;
  bool scan_line_start_ = true;
  // Body framing.
  uint64_t body_remaining_ = 0;
  Chunk chunk_ = Chunk::Size;
  uint64_t chunk_size_ = 0;
  bool chunk_has_digit_ = false;
  uint64_t chunk_remaining_ = 0;
  size_t framing_bytes_ = 0;     // chunk extensions + trailers, capped by max_header_size
};

}  // namespace fcgimux
