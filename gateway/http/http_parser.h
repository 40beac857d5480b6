// The client side of HTTP/1.1: llhttp in strict mode, wrapped so that the
// rest of the gateway sees whole request heads and body pieces. The parser
// pauses after each complete request so that pipelined requests are handled
// one at a time and answered in order.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <span>
#include <string>

#include "gateway/base/error.h"
#include "gateway/http/request_head.h"

namespace fcgimux {

class HttpRequestSink {
 public:
  virtual ~HttpRequestSink() = default;
  // The head is complete. Called once per request, before any body.
  virtual void on_request_head(RequestHead head) = 0;
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

 private:
  // llhttp callbacks (static trampolines → members).
  static int on_message_begin_cb(llhttp_t*);
  static int on_url_cb(llhttp_t*, const char*, size_t);
  static int on_header_field_cb(llhttp_t*, const char*, size_t);
  static int on_header_value_cb(llhttp_t*, const char*, size_t);
  static int on_headers_complete_cb(llhttp_t*);
  static int on_body_cb(llhttp_t*, const char*, size_t);
  static int on_message_complete_cb(llhttp_t*);
  static int on_header_value_complete_cb(llhttp_t*);

  HttpLimits limits_;
  HttpRequestSink& sink_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  RequestHead head_;
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  size_t head_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  bool paused_ = false;
  bool in_request_ = false;
  Error pending_error_ = Error::BadRequest;
};

}  // namespace fcgimux
