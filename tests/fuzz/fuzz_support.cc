#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace fcgimux::fuzz {

namespace {
bool throw_on_failure = false;
}  // namespace

void set_throw_on_failure(bool on) { throw_on_failure = on; }

void check_failed(const char* file, int line, const char* expr, const std::string& detail) {
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": oracle failed: " + expr +
                    (detail.empty() ? "" : "\n  " + detail);
  if (throw_on_failure) throw std::runtime_error(msg);
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

std::vector<std::vector<size_t>> split_plans(uint8_t control, size_t size) {
  std::vector<std::vector<size_t>> plans;
  if (size < 2) return plans;
  std::vector<size_t> every;
  for (size_t i = 1; i < size; ++i) every.push_back(i);
  plans.push_back(std::move(every));

  // xorshift32: deterministic for a given control byte.
  uint32_t x = 0x9e3779b9u ^ (uint32_t(control) * 0x01000193u);
  if (x == 0) x = 1;
  const size_t max_chunk = control % 61 + 1;
  std::vector<size_t> random;
  for (size_t at = 0;;) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    at += 1 + x % max_chunk;
    if (at >= size) break;
    random.push_back(at);
  }
  plans.push_back(std::move(random));

  const size_t cut = size * control / 256;
  plans.push_back(cut > 0 ? std::vector<size_t>{cut} : std::vector<size_t>{});
  return plans;
}

std::vector<std::span<const std::byte>> pieces(std::span<const std::byte> in,
                                               const std::vector<size_t>& cuts) {
  std::vector<std::span<const std::byte>> out;
  size_t from = 0;
  for (size_t c : cuts) {
    out.push_back(in.subspan(from, c - from));
    from = c;
  }
  out.push_back(in.subspan(from));
  return out;
}

std::string escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace fcgimux::fuzz
