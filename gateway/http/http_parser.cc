// HttpParser: llhttp for the head, our own code for the body framing.
//
// Why not let llhttp frame the body as well: the llhttp C sources Debian ships
// (node-llhttp 8.1) are compiled here without LLHTTP_STRICT_MODE, and even in
// strict mode 8.1 accepts "5\r\nhelloXX0\r\n\r\n" (loose) or a bare LF as the
// final line of a chunked body (both modes), and rejects legal chunk
// extensions with several parameters. Body framing is exactly where request
// smuggling lives, so it is done here, strictly, against RFC 9112 section 7.
// llhttp is paused at headers-complete (which tells us precisely where the
// head ends), its results are copied out, and it is reset for the next head.
//
// Decisions (tested in tests/unit/gateway/http/http_parser_test.cc):
//  - Duplicate Content-Length, even identical: 400. llhttp rejects every
//    duplicate without a lenient flag, and RFC 9110 section 8.6 allows
//    rejecting.
//  - Transfer-Encoding is accepted only as one field line whose value is
//    exactly "chunked" (ASCII case-insensitive; leading OWS is legal and
//    skipped). Anything else that names codings ("gzip", "xchunked",
//    "gzip, chunked", "chunked, chunked", "chunked;x=1", a second
//    Transfer-Encoding line, trailing whitespace) is 501 UnknownCoding.
//    Leading whitespace is OWS that llhttp skips before we see the value.
//    Malformed field lines carrying it (" Transfer-Encoding: chunked" as an
//    obs-fold, "Transfer-Encoding : chunked", control characters) are 400.
//    Transfer-Encoding with Content-Length, or in an HTTP/1.0 request, is 400.
//    When a request has several problems, the first offending field line in
//    arrival order decides.
//  - CONNECT is 400: fcgimux is an origin gateway, not a tunnel.
//  - Upgrade (websocket, h2c) is ignored, as RFC 9110 section 7.8 allows: the
//    request is served as plain HTTP/1.1 and parsing continues after it.
//  - HTTP/1.1 without Host, or any request with two Host lines or a Host
//    that is not a valid authority, is 400 (RFC 9112 section 3.2).
//  - Only HTTP/1.0 and HTTP/1.1 are accepted; other versions are 400.
//  - A '#' in the target is 400 (not part of request-target's grammar).
//  - Head size counts every byte from the first byte of the request (after
//    any empty lines between requests, which count too) through the blank
//    line's LF. Exactly max_header_size is accepted.
//  - Chunk extensions and trailer fields count against max_header_size too
//    (431 when over); their contents are checked and discarded.
#include "gateway/http/http_parser.h"

#include "fcgi/token.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace fcgimux {

namespace {

using fcgi::is_tchar;
using fcgi::is_token;

// reg-name characters of a host (RFC 3986 section 3.2.2: unreserved,
// sub-delims, and '%' of pct-encoded).
constexpr std::array<bool, 256> kHostChar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[size_t(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[size_t(c)] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Field-value bytes we refuse: controls other than HTAB, and DEL. The head
// scanner already rejects them; chunk extensions and trailers use this too.
bool is_bad_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 9110 section 7.2 / RFC 3986 section 3.2: uri-host [ ":" port ]. Checks
// the characters, the brackets of an IP-literal and the port's digits; empty
// is valid (a Host with no authority).
bool is_valid_authority(std::string_view a) {
  std::string_view host = a, port;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : a.substr(1, close - 1))
      if (!(hex_value(static_cast<unsigned char>(c)) >= 0 || c == ':' || c == '.')) return false;
    if (close == 1) return false;
    host = a.substr(0, close + 1);
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = a.find(':');
    if (colon != std::string_view::npos) {
      host = a.substr(0, colon);
      port = a.substr(colon + 1);
      if (host.empty()) return false;
    }
    for (unsigned char c : host)
      if (!kHostChar[c]) return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

HttpParser* self_of(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }

}  // namespace

const llhttp_settings_t& HttpParser::callbacks() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &HttpParser::on_message_begin_cb;
    s.on_url = &HttpParser::on_url_cb;
    s.on_header_field = &HttpParser::on_header_field_cb;
    s.on_header_value = &HttpParser::on_header_value_cb;
    s.on_header_value_complete = &HttpParser::on_header_value_complete_cb;
    s.on_headers_complete = &HttpParser::on_headers_complete_cb;
    return s;
  }();
  return settings;
}

HttpParser::HttpParser(const HttpLimits& limits, HttpRequestSink& sink)
    : limits_(limits), sink_(sink) {
  // No lenient flags: llhttp_init leaves them all off.
  llhttp_init(&parser_, HTTP_REQUEST, &callbacks());
  parser_.data = this;
  start_message();
}

// ---------------------------------------------------------------------------
// llhttp callbacks: copy, never decide.

int HttpParser::on_message_begin_cb(llhttp_t*) { return HPE_OK; }

int HttpParser::on_url_cb(llhttp_t* p, const char* at, size_t n) {
  self_of(p)->url_.append(at, n);
  return HPE_OK;
}

int HttpParser::on_header_field_cb(llhttp_t* p, const char* at, size_t n) {
  self_of(p)->field_.append(at, n);
  return HPE_OK;
}

int HttpParser::on_header_value_cb(llhttp_t* p, const char* at, size_t n) {
  self_of(p)->value_.append(at, n);
  return HPE_OK;
}

int HttpParser::on_header_value_complete_cb(llhttp_t* p) {
  HttpParser* self = self_of(p);
  const std::string_view value = trim_ows(self->value_);
  // llhttp skips leading OWS itself; trailing OWS after "chunked" is where
  // llhttp's own view differs (it keeps "chunked\t" as a different coding),
  // so a padded Transfer-Encoding is refused whatever the padding.
  if (value.size() != self->value_.size() && iequals(self->field_, "Transfer-Encoding"))
    self->te_padded_ = true;
  auto& headers = self->head_.headers;
  if (headers.empty()) headers.reserve(16);  // one allocation for a typical head
  headers.emplace_back(std::move(self->field_), value);
  self->field_.clear();
  self->value_.clear();
  return HPE_OK;
}

int HttpParser::on_headers_complete_cb(llhttp_t* p) {
  HttpParser* self = self_of(p);
  self->method_ = p->method;
  self->flags_ = p->flags;
  self->head_.version_major = p->http_major;
  self->head_.version_minor = p->http_minor;
  self->head_.keep_alive = llhttp_should_keep_alive(p) != 0;
  if (p->flags & F_CONTENT_LENGTH) self->head_.content_length = p->content_length;
  self->head_done_ = true;
  // Stop here: llhttp_get_error_pos() then says exactly where the head ends,
  // and the body is framed by feed_chunked() / the identity counter.
  return HPE_PAUSED;
}

// ---------------------------------------------------------------------------

void HttpParser::start_message() {
  phase_ = Phase::Head;
  head_.clear();
  field_.clear();
  value_.clear();
  url_.clear();
  head_bytes_ = 0;
  body_bytes_ = 0;
  head_done_ = false;
  method_ = 0;
  flags_ = 0;
  te_padded_ = false;
  scan_after_cr_ = false;
  scan_line_start_ = true;
  body_remaining_ = 0;
  chunk_ = Chunk::Size;
  chunk_size_ = 0;
  chunk_has_digit_ = false;
  chunk_remaining_ = 0;
  framing_bytes_ = 0;
}

Result<size_t> HttpParser::fail(Error e) {
  failed_ = true;
  pending_error_ = e;
  return Unexpected{e};
}

void HttpParser::complete_message() {
  paused_ = true;
  in_request_ = false;
  sink_.on_request_complete();
}

void HttpParser::resume() {
  if (!paused_ || failed_) return;
  paused_ = false;
  start_message();
}

Result<size_t> HttpParser::feed(std::span<const std::byte> in) {
  if (failed_) return Unexpected{pending_error_};
  const char* data = reinterpret_cast<const char*>(in.data());
  size_t done = 0;
  while (!paused_ && done < in.size()) {
    const char* p = data + done;
    const size_t avail = in.size() - done;
    switch (phase_) {
      case Phase::Head: {
        Result<size_t> r = feed_head(p, avail);
        if (!r) return Unexpected{r.error()};
        done += *r;
        break;
      }
      case Phase::Identity: {
        const size_t n = size_t(std::min<uint64_t>(avail, body_remaining_));
        body_remaining_ -= n;
        body_bytes_ += n;
        done += n;
        sink_.on_request_body(std::as_bytes(std::span<const char>(p, n)));
        if (body_remaining_ == 0) complete_message();
        break;
      }
      case Phase::Chunked: {
        Result<size_t> r = feed_chunked(p, avail);
        if (!r) return Unexpected{r.error()};
        done += *r;
        break;
      }
    }
  }
  return done;
}

// Feeds llhttp at most the head budget that is left, so that the head can
// never exceed max_header_size by even one byte.
Result<size_t> HttpParser::feed_head(const char* p, size_t n) {
  const size_t budget = limits_.max_header_size - head_bytes_;
  if (budget == 0) return fail(Error::HeadTooLarge);
  n = std::min(n, budget);
  const llhttp_errno_t rc = llhttp_execute(&parser_, p, n);
  const size_t used = rc == HPE_OK ? n : size_t(llhttp_get_error_pos(&parser_) - p);
  // Our own byte checks first: a bare LF that llhttp happened to tolerate
  // must be 400 whatever llhttp says about the bytes after it.
  if (!scan_head(p, used)) return fail(Error::BadRequest);
  head_bytes_ += used;
  if (rc == HPE_OK) return used;
  if (rc != HPE_PAUSED || !head_done_) {
    // HPE_INVALID_TRANSFER_ENCODING is llhttp's verdict on a coding list
    // ("chunked, gzip"): the same 501 as our own check in check_framing().
    return fail(rc == HPE_INVALID_TRANSFER_ENCODING ? Error::UnknownCoding : Error::BadRequest);
  }
  llhttp_reset(&parser_);  // ready for the next head; we frame the body
  if (auto r = finish_head(); !r) return fail(r.error());

  const bool chunked = head_.chunked;
  const uint64_t length = head_.content_length.value_or(0);
  // Whatever the sink leaves in head_ is cleared by start_message() when
  // the next request starts (resume()), and then filled.
  sink_.on_request_head(head_);
  if (chunked) {
    phase_ = Phase::Chunked;
  } else if (length > 0) {
    phase_ = Phase::Identity;
    body_remaining_ = length;
  } else {
    complete_message();
  }
  return used;
}

// Checks head bytes llhttp has consumed. RFC 9112 section 2.2: a bare CR is
// invalid; we also refuse a bare LF as a line terminator (a recipient MAY
// accept it, but a proxy in front of us might not, which is how smuggling
// starts). Section 5.2: obs-fold is rejected with 400. NUL and other
// controls (except HTAB) are never valid in a head.
bool HttpParser::scan_head(const char* p, size_t n) {
  // Bytes that need a decision: CR, LF and the controls we refuse. Any other
  // byte in the middle of a line (not after a CR, not at a line start, where
  // obs-fold is checked) changes nothing, so runs of them are skipped.
  static constexpr std::array<bool, 256> kSpecial = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[size_t(c)] = c != '\t';
    t[0x7f] = true;
    return t;
  }();
  size_t i = 0;
  while (i < n) {
    if (!scan_after_cr_ && !scan_line_start_) {
      // Mid-line (so in_request_ is already set): skip ordinary bytes.
      while (i < n && !kSpecial[static_cast<unsigned char>(p[i])]) ++i;
      if (i == n) break;
    }
    const unsigned char c = static_cast<unsigned char>(p[i++]);
    if (scan_after_cr_) {
      if (c != '\n') return false;
      scan_after_cr_ = false;
      scan_line_start_ = true;
      continue;
    }
    if (c == '\r') {
      scan_after_cr_ = true;
      continue;
    }
    if (c == '\n' || is_bad_ctl(c)) return false;
    if (scan_line_start_ && in_request_ && (c == ' ' || c == '\t')) return false;  // obs-fold
    scan_line_start_ = false;
    in_request_ = true;  // empty lines before a request do not start one
  }
  return true;
}

Result<void> HttpParser::finish_head() {
  if (head_.version_major != 1 || head_.version_minor > 1) return Unexpected{Error::BadRequest};
  if (method_ == HTTP_CONNECT) return Unexpected{Error::BadRequest};
  head_.method = llhttp_method_name(static_cast<llhttp_method_t>(method_));

  // Field names: llhttp (non-strict build) lets "Host : x" through as "Host ".
  for (const auto& [name, value] : head_.headers)
    if (!is_token(name)) return Unexpected{Error::BadRequest};

  if (auto r = parse_target(); !r) return r;

  size_t hosts = 0;
  for (const auto& [name, value] : head_.headers) {
    if (!iequals(name, "Host")) continue;
    if (++hosts > 1 || !is_valid_authority(value)) return Unexpected{Error::BadRequest};
  }
  if (hosts == 0 && head_.version_minor == 1) return Unexpected{Error::BadRequest};

  if (auto r = check_framing(); !r) return r;

  if (head_.version_minor == 1)
    if (const std::string* e = head_.find("Expect"); e && iequals(*e, "100-continue"))
      head_.expect_continue = true;
  return {};
}

// RFC 9112 section 3.2: origin-form ("/p?q"), absolute-form
// ("http://host/p?q"), asterisk-form ("*", OPTIONS only). authority-form is
// CONNECT's, which we refuse before getting here.
Result<void> HttpParser::parse_target() {
  // Swapped, not moved: url_ keeps the capacity of the recycled head's target.
  head_.target.swap(url_);
  url_.clear();
  std::string_view t = head_.target;
  if (t.find('#') != std::string_view::npos) return Unexpected{Error::BadRequest};
  if (t == "*") {
    if (head_.method != "OPTIONS") return Unexpected{Error::BadRequest};
    head_.path = "*";
    return {};
  }
  if (starts_with_icase(t, "http://") || starts_with_icase(t, "https://")) {
    t.remove_prefix(t.find("//") + 2);
    const size_t end = std::min(t.find('/'), t.find('?'));
    const std::string_view authority = t.substr(0, end);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !is_valid_authority(authority))
      return Unexpected{Error::BadRequest};
    head_.authority = authority;
    t = end == std::string_view::npos ? std::string_view{} : t.substr(end);
    if (t.empty() || t.front() == '?') {
      head_.path = "/";
    }
  } else if (t.empty() || t.front() != '/') {
    return Unexpected{Error::BadRequest};
  }
  const size_t q = t.find('?');
  if (head_.path.empty()) head_.path = t.substr(0, q);
  if (q != std::string_view::npos) head_.query = t.substr(q + 1);
  return {};
}

// Content-Length / Transfer-Encoding (RFC 9112 section 6). llhttp already
// refused duplicate or malformed Content-Length and CL+TE; this re-checks
// what it can see, decides chunked strictly, and applies max_body_size.
Result<void> HttpParser::check_framing() {
  size_t te_lines = 0, cl_lines = 0;
  const std::string* te = nullptr;
  for (const auto& [name, value] : head_.headers) {
    if (iequals(name, "Transfer-Encoding")) {
      ++te_lines;
      te = &value;
    } else if (iequals(name, "Content-Length")) {
      ++cl_lines;
    }
  }
  if (cl_lines > 1) return Unexpected{Error::BadRequest};
  if (te_lines > 0) {
    if (cl_lines > 0 || head_.version_minor == 0) return Unexpected{Error::BadRequest};
    // Exactly one line, exactly "chunked", and llhttp agrees: anything else
    // names a coding (or a coding list) we do not implement.
    if (te_lines > 1 || te_padded_ || !iequals(*te, "chunked") || !(flags_ & F_CHUNKED))
      return Unexpected{Error::UnknownCoding};
    head_.chunked = true;
    head_.content_length.reset();
    return {};
  }
  if (head_.content_length && *head_.content_length > limits_.max_body_size)
    return Unexpected{Error::BodyTooLarge};
  return {};
}

// A strict chunked decoder. Returns how many bytes of |p| it consumed: all of
// them, or fewer when the message completed.
Result<size_t> HttpParser::feed_chunked(const char* p, size_t n) {
  size_t i = 0;
  auto charge = [&]() { return ++framing_bytes_ <= limits_.max_header_size; };
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    switch (chunk_) {
      case Chunk::Size: {
        const int v = hex_value(c);
        if (v >= 0) {
          chunk_size_ = chunk_size_ * 16 + unsigned(v);
          chunk_has_digit_ = true;
          // Checked per digit, so chunk_size_ never overflows: it stays
          // below max_body_size * 16 + 15.
          if (chunk_size_ > limits_.max_body_size - body_bytes_) return fail(Error::BodyTooLarge);
          ++i;
          break;
        }
        if (!chunk_has_digit_) return fail(Error::BadRequest);
        if (c == ';') {
          chunk_ = Chunk::Ext;
        } else if (c == ' ' || c == '\t') {
          chunk_ = Chunk::SizeWs;
        } else if (c == '\r') {
          chunk_ = Chunk::SizeLf;
        } else {
          return fail(Error::BadRequest);
        }
        ++i;
        break;
      }
      case Chunk::SizeWs:
        // chunk-ext = *( BWS ";" ...): whitespace must lead to an extension.
        if (c == ';') {
          chunk_ = Chunk::Ext;
        } else if (c != ' ' && c != '\t') {
          return fail(Error::BadRequest);
        }
        if (!charge()) return fail(Error::HeadTooLarge);
        ++i;
        break;
      case Chunk::Ext:
        // Extensions are ignored (RFC 9112 section 7.1.1); only the bytes
        // that could confuse framing are refused.
        if (c == '\r') {
          chunk_ = Chunk::SizeLf;
        } else if (is_bad_ctl(c)) {
          return fail(Error::BadRequest);
        }
        if (!charge()) return fail(Error::HeadTooLarge);
        ++i;
        break;
      case Chunk::SizeLf:
        if (c != '\n') return fail(Error::BadRequest);
        ++i;
        if (chunk_size_ == 0) {
          chunk_ = Chunk::TrailerStart;
        } else {
          chunk_ = Chunk::Data;
          chunk_remaining_ = chunk_size_;
        }
        break;
      case Chunk::Data: {
        const size_t take = size_t(std::min<uint64_t>(n - i, chunk_remaining_));
        chunk_remaining_ -= take;
        body_bytes_ += take;
        sink_.on_request_body(std::as_bytes(std::span<const char>(p + i, take)));
        i += take;
        if (chunk_remaining_ == 0) chunk_ = Chunk::DataCr;
        break;
      }
      case Chunk::DataCr:
        if (c != '\r') return fail(Error::BadRequest);
        chunk_ = Chunk::DataLf;
        ++i;
        break;
      case Chunk::DataLf:
        if (c != '\n') return fail(Error::BadRequest);
        chunk_ = Chunk::Size;
        chunk_size_ = 0;
        chunk_has_digit_ = false;
        ++i;
        break;
      case Chunk::TrailerStart:
        if (c == '\r') {
          chunk_ = Chunk::EndLf;
        } else if (is_tchar(c)) {
          chunk_ = Chunk::TrailerName;
        } else {
          return fail(Error::BadRequest);  // includes obs-fold and bare LF
        }
        if (!charge()) return fail(Error::HeadTooLarge);
        ++i;
        break;
      case Chunk::TrailerName:
        if (c == ':') {
          chunk_ = Chunk::TrailerValue;
        } else if (!is_tchar(c)) {
          return fail(Error::BadRequest);
        }
        if (!charge()) return fail(Error::HeadTooLarge);
        ++i;
        break;
      case Chunk::TrailerValue:
        if (c == '\r') {
          chunk_ = Chunk::TrailerLf;
        } else if (is_bad_ctl(c)) {
          return fail(Error::BadRequest);
        }
        if (!charge()) return fail(Error::HeadTooLarge);
        ++i;
        break;
      case Chunk::TrailerLf:
        if (c != '\n') return fail(Error::BadRequest);
        chunk_ = Chunk::TrailerStart;
        ++i;
        break;
      case Chunk::EndLf:
        if (c != '\n') return fail(Error::BadRequest);
        ++i;
        complete_message();
        return i;
    }
  }
  return i;
}

Result<void> HttpParser::finish() {
  if (failed_) return Unexpected{pending_error_};
  if (in_request_) {
    failed_ = true;
    pending_error_ = Error::BadRequest;
    return Unexpected{Error::BadRequest};
  }
  return {};
}

}  // namespace fcgimux
