#include "gateway/config/units.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace fcgimux;
using std::chrono::milliseconds;

TEST_CASE("durations parse with units", "[config][units]") {
  auto [text, ms] = GENERATE(table<std::string, long long>({
      {"0ms", 0},
      {"0s", 0},
      {"1ms", 1},
      {"250ms", 250},
      {"1s", 1000},
      {"10s", 10000},
      {"1.5s", 1500},
      {"0.25s", 250},
      {"1.500s", 1500},
      {"2m", 120000},
      {"1.5m", 90000},
      {"1h", 3600000},
      {"1m30s", 90000},
      {"1h2m3s4ms", 3723004},
      {"007s", 7000},
  }));
  CAPTURE(text);
  auto d = parse_duration(text);
  REQUIRE(d);
  CHECK(d->count() == ms);
}

TEST_CASE("durations reject what is not a duration", "[config][units]") {
  auto text = GENERATE(as<std::string>{},
                       "",            // empty
                       "250",         // missing unit
                       "0",           // missing unit, even for zero
                       "-1s",         // negative
                       "+1s",         // signed
                       "1 s",         // space
                       " 1s",         // leading space
                       "1s ",         // trailing space
                       "1sec",        // unknown unit
                       "1S",          // units are lower case
                       "1d",          // no days
                       "1us",         // no microseconds
                       "s",           // unit without number
                       "1.s",         // bare dot
                       ".5s",         // bare dot
                       "0.5ms",       // not a whole millisecond
                       "1.0001s",     // not a whole millisecond
                       "1e3ms",       // no exponents
                       "ten seconds", // garbage
                       "99999999999999999999ms",  // overflows
                       "9223372036854775808ms");  // one past int64
  CAPTURE(text);
  CHECK_FALSE(parse_duration(text));
}

TEST_CASE("sizes parse as bytes or with binary units", "[config][units]") {
  auto [text, bytes] = GENERATE(table<std::string, unsigned long long>({
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"1KiB", 1024},
      {"64KiB", 65536},
      {"1.5KiB", 1536},
      {"32MiB", 32ull << 20},
      {"1GiB", 1ull << 30},
      {"2TiB", 2ull << 40},
      {"0.5MiB", 512ull << 10},
  }));
  CAPTURE(text);
  auto s = parse_size(text);
  REQUIRE(s);
  CHECK(*s == bytes);
}

TEST_CASE("sizes reject ambiguous units and garbage", "[config][units]") {
  auto [text, hint] = GENERATE(table<std::string, std::string>({
      {"10KB", "KiB"},
      {"10kb", "KiB"},
      {"64k", "KiB"},
      {"64K", "KiB"},
      {"32MB", "MiB"},
      {"32M", "MiB"},
      {"1GB", "GiB"},
      {"1g", "GiB"},
      {"1kib", "KiB"},  // binary, but units are case-sensitive
      {"", ""},
      {"-1", ""},
      {"KiB", ""},
      {"1 KiB", ""},
      {"0.3B", ""},     // not a whole byte
      {"1.1KiB", ""},   // 1126.4 bytes
      {"1PiB", ""},     // no PiB
      {"lots", ""},
      {"99999999999999999999", ""},
  }));
  CAPTURE(text);
  CHECK_FALSE(parse_size(text));
  CHECK(size_unit_hint(text) == hint);
}

TEST_CASE("durations and sizes format in their largest exact unit", "[config][units]") {
  CHECK(format_duration(milliseconds(0)) == "0ms");
  CHECK(format_duration(milliseconds(1500)) == "1500ms");
  CHECK(format_duration(milliseconds(2000)) == "2s");
  CHECK(format_duration(milliseconds(300000)) == "5m");
  CHECK(format_duration(milliseconds(7200000)) == "2h");
  CHECK(format_size(0) == "0B");
  CHECK(format_size(1000) == "1000B");
  CHECK(format_size(65536) == "64KiB");
  CHECK(format_size(32u << 20) == "32MiB");
  CHECK(format_size(size_t(1) << 30) == "1GiB");
}

TEST_CASE("unknown keys get the closest known key as a suggestion", "[config][units]") {
  const std::vector<std::string_view> known = {"connect_timeout", "response_timeout",
                                               "disable_time", "max_disable_time", "workers",
                                               "pool", "threads"};
  auto [unknown, expected] = GENERATE(table<std::string, std::string>({
      {"response_timout", "response_timeout"},    // one deletion
      {"resposne_timeout", "response_timeout"},   // one swap
      {"respnse_timeot", "response_timeout"},     // two deletions
      {"worker", "workers"},                      // one insertion
      {"Workers", "workers"},                     // case is one substitution
      {"max_disable", "max_disable_time"},        // a prefix of a known key
      {"threads_per_core", "threads"},            // a known key is its prefix
      {"disable_tim", "disable_time"},            // distance 1 beats the prefix of max_...
      {"pools", "pool"},
      {"zzz", ""},                                // nothing close
      {"foo", ""},                                // short keys: only one edit
      {"timeout", ""},                            // too far from everything
  }));
  CAPTURE(unknown);
  auto s = suggest_key(unknown, known);
  CHECK(s.value_or("") == expected);
}
