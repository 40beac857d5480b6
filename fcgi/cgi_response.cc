#include "fcgi/cgi_response.h"

#include "fcgi/token.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace fcgi {

namespace {

// Control characters other than HTAB. A CR or NUL passed on in a value could
// let the application split or truncate the response fcgimux writes.
bool has_ctl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const uint64_t d = uint64_t(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;  // overflow
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

CgiResponseParser::CgiResponseParser(size_t max_head_bytes) : max_head_bytes_(max_head_bytes) {}

void CgiResponseParser::reset(size_t max_head_bytes) {
  // Field by field: on the hot path. A new field must be reset here too
  // (cgi_response_test: "a reset parser parses the next response as a new
  // one would").
  max_head_bytes_ = max_head_bytes;
  seen_ = 0;
  complete_ = false;
  status_seen_ = false;
  error_.reset();
  line_.clear();
  head_.status = 200;
  head_.reason.clear();
  head_.headers.clear();
  head_.location.reset();
  head_.content_length.reset();
}

auto CgiResponseParser::fail(CgiError e) -> Result<Progress, CgiError> {
  error_ = e;
  return Unexpected{e};
}

auto CgiResponseParser::feed(std::span<const std::byte> in) -> Result<Progress, CgiError> {
  if (error_) return Unexpected{*error_};
  if (complete_) return Progress{true, 0};
  const char* const data = reinterpret_cast<const char*>(in.data());
  const char* const end = data + in.size();
  size_t pos = 0;
  while (pos < in.size()) {
    const char* const begin = data + pos;
    const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', size_t(end - begin)));
    const bool have_line = nl != nullptr;
    const size_t take = size_t((have_line ? nl + 1 : end) - begin);
    // Checked before copying, so a head without line breaks cannot grow
    // line_ past the cap. seen_ <= max_head_bytes_ always holds here.
    if (take > max_head_bytes_ - seen_) return fail(CgiError::HeadTooLarge);
    seen_ += take;
    pos += take;
    if (!have_line) {
      line_.append(begin, take);
      break;
    }
    // A line that arrived whole is parsed where it lies; only a line split
    // across feeds is gathered in line_.
    std::string_view line(begin, take - 1);
    if (!line_.empty()) {
      line_.append(line);
      line = line_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF or bare LF
    if (line.empty()) {
      // RFC 3875 §6.2: the blank line ends the head; what follows is body.
      on_head_end();
      complete_ = true;
      std::string().swap(line_);
      return Progress{true, pos};
    }
    if (auto r = on_line(line); !r) return fail(r.error());
    line_.clear();
  }
  return Progress{false, pos};
}

Result<void, CgiError> CgiResponseParser::finish() const {
  if (error_) return Unexpected{*error_};
  if (!complete_) return Unexpected{CgiError::IncompleteHead};
  return {};
}

Result<void, CgiError> CgiResponseParser::on_line(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Unexpected{CgiError::MalformedHeader};
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  if (!is_token(name) || has_ctl(value)) return Unexpected{CgiError::MalformedHeader};

  // RFC 3875 §6.3.3: Status is for the server, not a header to pass on.
  if (iequals(name, "Status")) return on_status(value);
  if (iequals(name, "Content-Length")) {
    const auto n = parse_decimal(value);
    if (!n || (head_.content_length && *head_.content_length != *n)) {
      return Unexpected{CgiError::MalformedHeader};
    }
    head_.content_length = n;
  } else if (iequals(name, "Location") && !head_.location) {
    head_.location = std::string(value);
  }
  if (head_.headers.capacity() == 0) head_.headers.reserve(8);  // one allocation for a typical head
  head_.headers.emplace_back(name, value);
  return {};
}

Result<void, CgiError> CgiResponseParser::on_status(std::string_view value) {
  // RFC 3875 §6.3.3: Status = "Status:" status-code SP reason-phrase, with a
  // three-digit code. Two Status lines leave the status ambiguous.
  if (status_seen_) return Unexpected{CgiError::BadStatus};
  if (value.size() < 3 || value[0] < '1' || value[0] > '9' || !is_digit(value[1]) ||
      !is_digit(value[2])) {
    return Unexpected{CgiError::BadStatus};
  }
  if (value.size() > 3 && !is_ows(value[3])) return Unexpected{CgiError::BadStatus};
  status_seen_ = true;
  head_.status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
  head_.reason = std::string(trim(value.substr(3)));
  return {};
}

void CgiResponseParser::on_head_end() {
  // RFC 3875 §6.2.3-4: Location without Status is a redirect. A local
  // redirect (a path starting with '/') is not re-dispatched by fcgimux; the
  // client gets the 302 and follows it.
  if (!status_seen_) head_.status = head_.location ? 302 : 200;
}

}  // namespace fcgi
