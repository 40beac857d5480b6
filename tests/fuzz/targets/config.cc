// fcgimux::load_config_text (TOML → Config, every problem with FILE:LINE:COL)
// over any text.
//
// Input: the whole input is the file's text. Oracles: never crashes, hangs or
// throws; every problem's where is "fuzz.toml:LINE:COL" (LINE, COL >= 1, the
// same numbers as its line/column fields) or "fuzz.toml" with line = column
// = 0 (printed as "fuzz.toml: message"); every message is non-empty and one
// line; a config without problems has at least one listen address, every
// route names an existing pool, and every pool has a worker.
//
// Host names are resolved with getaddrinfo. The fuzzer binary
// (config_fuzz.cc) makes every lookup numeric-only, so fuzzing sends no DNS
// queries; the replay test uses the real resolver and its corpus holds only
// numeric addresses and "localhost".
#include <exception>

#include "gateway/config/config_loader.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

constexpr std::string_view kFile = "fuzz.toml";

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

int fuzz_config(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  LoadResult r;
  try {
    r = load_config_text(text, std::string(kFile));
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("load_config_text threw: ") + e.what());
  }
  for (const auto& p : r.problems) {
    const std::string shown = escape(p.to_string());
    FUZZ_CHECK(!p.message.empty(), "empty message: " + shown);
    FUZZ_CHECK(p.message.find_first_of("\r\n") == std::string::npos,
               "message spans lines: " + shown);
    if (p.where == kFile) {
      FUZZ_CHECK(p.line == 0 && p.column == 0, "position without FILE:LINE:COL: " + shown);
      continue;
    }
    const std::string_view w = p.where;
    FUZZ_CHECK(w.starts_with(std::string(kFile) + ":"), "where lacks the file: " + shown);
    const std::string_view pos = w.substr(kFile.size() + 1);
    const size_t colon = pos.find(':');
    FUZZ_CHECK(colon != std::string_view::npos && all_digits(pos.substr(0, colon)) &&
                   all_digits(pos.substr(colon + 1)),
               "where is not FILE:LINE:COL: " + shown);
    FUZZ_CHECK(p.line >= 1 && p.column >= 1, "line/column 0 in FILE:LINE:COL: " + shown);
    FUZZ_CHECK(std::string(pos) == std::to_string(p.line) + ":" + std::to_string(p.column),
               "where disagrees with line/column: " + shown);
  }
  if (r.ok()) {
    const Config& c = r.config;
    FUZZ_CHECK(!c.server.listen.empty(), "no listen address");
    for (const auto& route : c.routes)
      FUZZ_CHECK(c.find_pool(route.pool) != nullptr, "route " + escape(route.prefix) +
                                                         " names a missing pool");
    for (const auto& pool : c.pools)
      FUZZ_CHECK(!pool.workers.empty(), "pool " + escape(pool.name) + " has no workers");
  }
  return 0;
}

}  // namespace fcgimux::fuzz
