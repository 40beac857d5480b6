// Loads and validates a TOML configuration. Every problem is collected, each
// with FILE:LINE:COL, so `fcgimux --check` can print them all at once.
#pragma once

#include <string>
#include <vector>

#include "gateway/config/config.h"

namespace fcgimux {

struct ConfigProblem {
  std::string where;    // "conf/fcgimux.toml:12:1"
  std::string message;  // "response_timout: unknown key; did you mean 'response_timeout'?"
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

}  // namespace fcgimux
