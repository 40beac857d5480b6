#include "gateway/http/response_head.h"

#include <time.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <ctime>

#include "fcgi/token.h"
#include "gateway/http/request_head.h"

namespace fcgimux {

namespace {

using fcgi::is_token;

// A value that could split the head or smuggle a header: CR, LF, NUL. The CGI
// response parser already rejects them; this is the last line of defence.
bool is_safe_value(std::string_view v) {
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 section 7.6.1: Connection and the fields only meaningful for one
// hop. Content-Length is dropped too: it is re-emitted according to framing.
// Status is CGI's own field (RFC 3875 section 6.3.3) and never goes out.
bool is_dropped_always(std::string_view name) {
  // Dispatch on the length first: most application headers match none.
  switch (name.size()) {
    case 2: return iequals(name, "TE");
    case 6: return iequals(name, "Status");
    case 7: return iequals(name, "Trailer") || iequals(name, "Upgrade");
    case 10: return iequals(name, "Connection") || iequals(name, "Keep-Alive");
    case 14: return iequals(name, "Content-Length");
    case 16: return iequals(name, "Proxy-Connection");
    case 17: return iequals(name, "Transfer-Encoding");
    default: return false;
  }
}

void append_status_line(std::string& out, int status, std::string_view reason) {
  if (reason.empty() || !is_safe_value(reason)) reason = reason_phrase(status);
  char code[16];
  const auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  (void)ec;  // an int always fits
  out += "HTTP/1.1 ";
  out.append(code, size_t(end - code));
  out += ' ';
  out += reason;
  out += "\r\n";
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.reserve(out.size() + name.size() + value.size() + 4);
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

void append_header(std::string& out, std::string_view name, uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;  // a uint64_t always fits
  append_header(out, name, std::string_view(digits, size_t(end - digits)));
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
  }
  return "Unknown";
}

std::string_view http_date_now() {
  // One cache per thread (each loop thread formats its own), refreshed when
  // the second changes. Formatted by hand: strftime's names follow the locale.
  struct Cache {
    time_t second = -1;
    char text[32] = {};
    size_t len = 0;
  };
  thread_local Cache cache;
  const time_t now = ::time(nullptr);
  if (now != cache.second) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm {};
    ::gmtime_r(&now, &tm);
    const int n = std::snprintf(cache.text, sizeof cache.text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                                kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cache.len = n > 0 ? size_t(n) : 0;
    cache.second = now;
  }
  return {cache.text, cache.len};
}

std::string chunk_header(size_t size) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%zx\r\n", size);
  return std::string(buf, size_t(n));
}

std::string_view continue_response() { return "HTTP/1.1 100 Continue\r\n\r\n"; }

ResponseHead build_response_head(const ResponseHeadInput& in) {
  ResponseHead head;
  const ResponseFraming f = append_response_head(in, head.bytes);
  head.framing = f.framing;
  head.keep_alive = f.keep_alive;
  return head;
}

ResponseFraming append_response_head(const ResponseHeadInput& in, std::string& b) {
  ResponseFraming out;
  out.keep_alive = in.keep_alive;

  // RFC 9110 section 6.4.1: 1xx, 204 and 304 never have content; nor does
  // any response to HEAD.
  const bool no_content_status = (in.status >= 100 && in.status < 200) || in.status == 204;
  if (no_content_status || in.status == 304 || in.request_is_head) {
    out.framing = BodyFraming::None;
  } else if (in.content_length) {
    out.framing = BodyFraming::ContentLength;
  } else if (in.http_minor >= 1) {
    out.framing = BodyFraming::Chunked;
  } else {
    out.framing = BodyFraming::Close;  // HTTP/1.0: only the close ends the body
    out.keep_alive = false;
  }

  // Tokens the application's Connection header names are hop-by-hop too.
  // Few responses have any: a small fixed array holds the usual ones, the
  // vector only the overflow.
  std::array<std::string_view, 8> token_buf;
  size_t token_count = 0;
  std::vector<std::string_view> more_tokens;
  bool app_sent_date = false;
  size_t head_size = 64;
  if (in.headers) {
    for (const auto& [name, value] : *in.headers) {
      head_size += name.size() + value.size() + 4;
      if (name.size() == 4 && iequals(name, "Date") && is_safe_value(value)) app_sent_date = true;
      if (name.size() != 10 || !iequals(name, "Connection")) continue;
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view token = trim_ows(rest.substr(0, comma));
        if (!token.empty()) {
          if (token_count < token_buf.size()) token_buf[token_count++] = token;
          else more_tokens.push_back(token);
        }
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
    }
  }
  auto named_by_connection = [&](std::string_view name) {
    for (size_t i = 0; i < token_count; ++i)
      if (iequals(token_buf[i], name)) return true;
    for (std::string_view t : more_tokens)
      if (iequals(t, name)) return true;
    return false;
  };

  b.reserve(b.size() + std::max<size_t>(head_size + 64, 256));
  append_status_line(b, in.status, in.reason);
  if (!app_sent_date) append_header(b, "Date", http_date_now());
  if (in.headers) {
    for (const auto& [name, value] : *in.headers) {
      if (is_dropped_always(name)) continue;
      if ((token_count != 0 && named_by_connection(name)) || !is_token(name) || !is_safe_value(value))
        continue;
      append_header(b, name, value);
    }
  }
  switch (out.framing) {
    case BodyFraming::None:
      // A HEAD response (and a 304) may say how long the body would be.
      if (!no_content_status && in.content_length)
        append_header(b, "Content-Length", *in.content_length);
      break;
    case BodyFraming::ContentLength:
      append_header(b, "Content-Length", *in.content_length);
      break;
    case BodyFraming::Chunked:
      append_header(b, "Transfer-Encoding", "chunked");
      break;
    case BodyFraming::Close:
      break;
  }
  if (!out.keep_alive) {
    append_header(b, "Connection", "close");
  } else if (in.http_minor == 0) {
    append_header(b, "Connection", "keep-alive");
  }
  b += "\r\n";
  return out;
}

std::string build_error_response(int status, std::string_view detail, bool keep_alive,
                                 bool request_is_head, std::optional<unsigned> retry_after_s) {
  std::string body = std::to_string(status);
  body += ' ';
  body += reason_phrase(status);
  if (!detail.empty()) {
    body += ": ";
    for (char c : detail) body += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  body += '\n';

  std::string out;
  out.reserve(192 + body.size());
  append_status_line(out, status, {});
  append_header(out, "Date", http_date_now());
  append_header(out, "Server", "fcgimux");
  append_header(out, "Content-Type", "text/plain; charset=utf-8");
  append_header(out, "Content-Length", std::to_string(body.size()));
  // "keep-alive" is redundant for HTTP/1.1 and needed by HTTP/1.0 clients.
  append_header(out, "Connection", keep_alive ? "keep-alive" : "close");
  if (retry_after_s) append_header(out, "Retry-After", std::to_string(*retry_after_s));
  out += "\r\n";
  if (!request_is_head) out += body;
  return out;
}

}  // namespace fcgimux
