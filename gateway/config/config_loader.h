// Loads and validates a TOML configuration. Every problem is collected, each
// with FILE:LINE:COL, so `fcgimux --check` can print them all at once.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.h"

namespace fcgimux {

struct ConfigProblem {
  std::string where;    // "conf/fcgimux.toml:12:1"
  std::string message;  // "pools.django.response_timout: unknown key; did you mean 'response_timeout'?"
  unsigned line = 0;    // 1-based; 0 when the problem has no position (unreadable file)
  unsigned column = 0;  // 1-based; 0 likewise
  std::string to_string() const { return where + ": " + message; }
};

struct LoadResult {
  Config config;                        // meaningful only when problems is empty
  std::vector<ConfigProblem> problems;  // in file order
  bool ok() const { return problems.empty(); }
};

// Reads and validates |path|.
LoadResult load_config_file(const std::string& path);
// Parses |text| as if it were the file |path| (tests use this).
LoadResult load_config_text(const std::string& text, const std::string& path);

// The keys the loader accepts in |section|: "" (top level), "server",
// "route" (each [[route]]), "pool" (each [pools.NAME]) or "worker" (an inline
// worker table). Empty for any other section. Tests use this to check that
// conf/fcgimux.toml and the docs mention every key.
std::span<const std::string_view> known_keys(std::string_view section);

}  // namespace fcgimux
