// Replays every fuzz corpus input and every regression (tests/fuzz/corpus/
// <target>/ and tests/fuzz/regressions/<target>/) through the same target
// functions the libFuzzer executables run, so the normal (GCC) test run
// checks every oracle on every input ever kept. See docs/fuzzing.md.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;
using namespace fcgimux::fuzz;

namespace {

using TargetFn = int (*)(const uint8_t*, size_t);

const std::map<std::string, TargetFn>& targets() {
  static const std::map<std::string, TargetFn> t{
      {"fcgi_stream_parser_fuzz", fuzz_fcgi_stream_parser},
      {"fcgi_params_fuzz", fuzz_fcgi_params},
      {"fcgi_request_parser_fuzz", fuzz_fcgi_request_parser},
      {"cgi_response_fuzz", fuzz_cgi_response},
      {"http_request_fuzz", fuzz_http_request},
      {"config_fuzz", fuzz_config},
  };
  return t;
}

const fs::path kFuzzDir = FCGIMUX_FUZZ_DIR;

// Regular files under |dir| (absent dir: none), sorted for stable output.
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string().front() != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs |name|'s target on every file of its corpus and regressions; returns
// how many corpus files there were.
size_t replay(const std::string& name) {
  const TargetFn fn = targets().at(name);
  set_throw_on_failure(true);
  size_t corpus = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    for (const auto& path : files_in(kFuzzDir / kind / name)) {
      const std::string data = read_file(path);
      INFO(path.string());
      CHECK_NOTHROW(fn(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
      if (std::string(kind) == "corpus") ++corpus;
    }
  }
  set_throw_on_failure(false);
  return corpus;
}

}  // namespace

TEST_CASE("fcgi_stream_parser_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("fcgi_stream_parser_fuzz") > 0);
}
TEST_CASE("fcgi_params_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("fcgi_params_fuzz") > 0);
}
TEST_CASE("fcgi_request_parser_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("fcgi_request_parser_fuzz") > 0);
}
TEST_CASE("cgi_response_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("cgi_response_fuzz") > 0);
}
TEST_CASE("http_request_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("http_request_fuzz") > 0);
}
TEST_CASE("config_fuzz: corpus and regressions replay clean", "[fuzz]") {
  CHECK(replay("config_fuzz") > 0);
}

TEST_CASE("every corpus and regressions directory names a fuzz target", "[fuzz]") {
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = kFuzzDir / kind;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      INFO(e.path().string());
      CHECK(targets().count(e.path().filename().string()) == 1);
    }
  }
}

TEST_CASE("an oracle failure is reported, not swallowed", "[fuzz]") {
  // The machinery itself: in replay mode a failed FUZZ_CHECK throws, so the
  // CHECK_NOTHROW above can fail.
  set_throw_on_failure(true);
  CHECK_THROWS_WITH(check_failed("f.cc", 1, "x", "detail"), Catch::Contains("oracle failed: x"));
  set_throw_on_failure(false);
}
