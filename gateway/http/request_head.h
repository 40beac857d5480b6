// One HTTP request's head, copied out of llhttp's slices (they die when
// llhttp_execute returns) into plain strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fcgimux {

struct RequestHead {
  std::string method;         // "GET"
  std::string target;         // the raw request-target, as sent
  std::string path;           // raw (still percent-encoded) path part of target, before '?'
  std::string query;          // raw query, without '?'; empty when none
  // The authority of an absolute-form target ("http://host:8080/x" →
  // "host:8080"); empty for origin-form. RFC 9112 section 3.2.2: when set, it
  // replaces the Host header as the request's host.
  std::string authority;
  unsigned version_major = 1;
  unsigned version_minor = 1;
  // Header fields in arrival order, names as sent, values with surrounding
  // whitespace trimmed. Repeated fields stay separate entries.
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;     // llhttp_should_keep_alive() at headers-complete
  bool chunked = false;       // Transfer-Encoding: chunked
  std::optional<uint64_t> content_length;  // Content-Length when given (not with chunked)
  bool expect_continue = false;            // Expect: 100-continue (HTTP/1.1 only)

  // Back to a default-constructed head, keeping the capacity of the strings
  // and of the header vector (the parser refills a recycled head: no
  // allocation per request for the usual head).
  void clear();

  // First value of |name| (case-insensitive), or nullptr.
  const std::string* find(std::string_view name) const;
  bool is_head() const { return method == "HEAD"; }
  bool has_body() const { return chunked || (content_length && *content_length > 0); }
};

// ASCII case-insensitive equality, for header names.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i], y = b[i];
    if (x == y) continue;
    const char lx = (x >= 'A' && x <= 'Z') ? char(x - 'A' + 'a') : x;
    const char ly = (y >= 'A' && y <= 'Z') ? char(y - 'A' + 'a') : y;
    if (lx != ly) return false;
  }
  return true;
}

}  // namespace fcgimux
