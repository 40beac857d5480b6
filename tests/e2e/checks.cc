// Checking what came back: SHA-256, the /big body, a JSON peek.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>

#include "harness.h"

namespace e2e {

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), compact.

std::string sha256_hex(std::string_view data) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 |
             p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  };
  const auto *p = reinterpret_cast<const unsigned char *>(data.data());
  size_t n = data.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    block(p + i);
  unsigned char last[128] = {};
  const size_t rest = n - i;
  std::memcpy(last, p + i, rest);
  last[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t(n) * 8;
  for (int j = 0; j < 8; ++j)
    last[tail_len - 1 - j] = (unsigned char)(bits >> (8 * j));
  block(last);
  if (tail_len == 128)
    block(last + 64);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h)
    for (int s = 28; s >= 0; s -= 4)
      out.push_back(hex[(v >> s) & 15]);
  return out;
}

std::string big_body(int mb) {
  std::string block(1 << 20, '\0');
  for (size_t i = 0; i < block.size(); ++i)
    block[i] = char(i % 251);
  std::string out;
  out.reserve(block.size() * size_t(mb));
  for (int i = 0; i < mb; ++i)
    out += block;
  return out;
}

// ---------------------------------------------------------------------------
// JSON, just enough

namespace {
// Position just after `"key"` and the colon that follows it, or npos.
size_t json_value_at(const std::string &json, const std::string &key) {
  const std::string quoted = "\"" + key + "\"";
  for (size_t at = json.find(quoted); at != std::string::npos; at = json.find(quoted, at + 1)) {
    if (at > 0 && json[at - 1] == '\\')
      continue;
    size_t p = at + quoted.size();
    while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p])))
      ++p;
    if (p < json.size() && json[p] == ':') {
      ++p;
      while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p])))
        ++p;
      return p;
    }
  }
  return std::string::npos;
}

void append_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}
} // namespace

std::optional<std::string> json_string(const std::string &json, const std::string &key) {
  size_t p = json_value_at(json, key);
  if (p == std::string::npos)
    return std::nullopt;
  if (json[p] == '[') { // the first string of an array
    ++p;
    while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p])))
      ++p;
  }
  if (p >= json.size() || json[p] != '"')
    return std::nullopt;
  std::string out;
  for (++p; p < json.size() && json[p] != '"'; ++p) {
    if (json[p] != '\\') {
      out.push_back(json[p]);
      continue;
    }
    if (++p >= json.size())
      break;
    switch (json[p]) {
    case 'n':
      out.push_back('\n');
      break;
    case 't':
      out.push_back('\t');
      break;
    case 'r':
      out.push_back('\r');
      break;
    case 'b':
      out.push_back('\b');
      break;
    case 'f':
      out.push_back('\f');
      break;
    case 'u': {
      uint32_t cp = std::stoul(json.substr(p + 1, 4), nullptr, 16);
      p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && json.compare(p + 1, 2, "\\u") == 0) {
        uint32_t lo = std::stoul(json.substr(p + 3, 4), nullptr, 16);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
      append_utf8(out, cp);
      break;
    }
    default:
      out.push_back(json[p]); // \" \\ \/
    }
  }
  return out;
}

std::optional<long long> json_int(const std::string &json, const std::string &key) {
  size_t p = json_value_at(json, key);
  if (p == std::string::npos)
    return std::nullopt;
  if (json[p] == '"')
    ++p; // CONTENT_LENGTH and friends are strings
  size_t end = p;
  while (end < json.size() &&
         (std::isdigit(static_cast<unsigned char>(json[end])) || json[end] == '-'))
    ++end;
  if (end == p)
    return std::nullopt;
  return std::stoll(json.substr(p, end - p));
}

} // namespace e2e
