// Shared by every fuzz target body (tests/fuzz/targets/*.cc), the libFuzzer
// entry points (*_fuzz.cc) and the replay test (replay_test.cc).
//
// A target body is `int fuzz_<name>(const uint8_t* data, size_t size)`: it
// never crashes on any input, and it checks an oracle with FUZZ_CHECK. A
// failed check prints what differed and aborts (libFuzzer then saves the
// input as a crash); the replay test switches it to throwing so that Catch2
// names the failing file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fcgimux::fuzz {

// Every target, by the name of its corpus directory (tests/fuzz/corpus/<name>).
int fuzz_fcgi_stream_parser(const uint8_t* data, size_t size);
int fuzz_fcgi_params(const uint8_t* data, size_t size);
int fuzz_fcgi_request_parser(const uint8_t* data, size_t size);
int fuzz_cgi_response(const uint8_t* data, size_t size);
int fuzz_http_request(const uint8_t* data, size_t size);
int fuzz_config(const uint8_t* data, size_t size);

// Reports a failed oracle check: prints |file|:|line|, |expr| and |detail| to
// stderr, then aborts, or throws std::runtime_error after
// set_throw_on_failure(true).
[[noreturn]] void check_failed(const char* file, int line, const char* expr,
                               const std::string& detail);
void set_throw_on_failure(bool on);

// The split plans a target runs besides feeding its input whole: lists of
// ascending cut offsets in [1, size). |control| is the input's first byte;
// it picks the chunk sizes, so the fuzzer explores splits as it mutates.
//   plan 0: every offset (byte by byte)
//   plan 1: pseudo-random chunks of 1..(control % 61 + 1) bytes, seeded by |control|
//   plan 2: one two-way cut at size * control / 256
std::vector<std::vector<size_t>> split_plans(uint8_t control, size_t size);

// The pieces of |in| that |cuts| delimit (empty cuts: |in| whole).
std::vector<std::span<const std::byte>> pieces(std::span<const std::byte> in,
                                               const std::vector<size_t>& cuts);

inline std::span<const std::byte> as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}
inline std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
// |s| with non-printable bytes as \xNN, for failure messages.
std::string escape(std::string_view s);

}  // namespace fcgimux::fuzz

#define FUZZ_CHECK(cond, detail)                                                   \
  do {                                                                             \
    if (!(cond)) ::fcgimux::fuzz::check_failed(__FILE__, __LINE__, #cond, detail); \
  } while (0)
