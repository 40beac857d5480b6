// RFC 9110 section 5.6.2 "token" characters (tchar): what a header field name
// may be made of. One table for the CGI response parser here and for the
// gateway's HTTP request parser and response writer.
#pragma once

#include <array>
#include <string_view>

namespace fcgi {

inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[size_t(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[size_t(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

inline bool is_tchar(unsigned char c) { return kTokenChars[c]; }

// A non-empty run of tchar.
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!kTokenChars[static_cast<unsigned char>(c)]) return false;
  return true;
}

}  // namespace fcgi
