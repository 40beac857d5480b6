#include "gateway/config/units.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <vector>

namespace fcgimux {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A decimal number as written: integer digits and fraction digits.
struct Decimal {
  std::string_view whole;
  std::string_view fraction;  // without the '.'
};

// Reads "123" or "1.25" from the front of |s|, advancing it. Both sides of a
// '.' need digits ("1." and ".5" are rejected: they read as typos).
std::optional<Decimal> take_decimal(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == 0) return std::nullopt;
  Decimal d{s.substr(0, i), {}};
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j == i + 1) return std::nullopt;
    d.fraction = s.substr(i + 1, j - i - 1);
    i = j;
  }
  s.remove_prefix(i);
  return d;
}

// |d| × |unit| as an exact integer; nullopt when the fraction does not come
// out whole or the result overflows uint64.
std::optional<uint64_t> scale(const Decimal& d, uint64_t unit) {
  uint64_t whole = 0;
  for (char c : d.whole) {
    if (__builtin_mul_overflow(whole, 10u, &whole) ||
        __builtin_add_overflow(whole, uint64_t(c - '0'), &whole))
      return std::nullopt;
  }
  uint64_t out = 0;
  if (__builtin_mul_overflow(whole, unit, &out)) return std::nullopt;
  if (d.fraction.empty()) return out;
  // fraction × unit / 10^digits must be an integer. More than 18 digits
  // cannot be whole for any unit we have (units are < 10^18) unless they are
  // trailing zeros, so strip those first.
  std::string_view f = d.fraction;
  while (!f.empty() && f.back() == '0') f.remove_suffix(1);
  if (f.empty()) return out;
  if (f.size() > 18) return std::nullopt;
  uint64_t num = 0, den = 1;
  for (char c : f) {
    num = num * 10 + uint64_t(c - '0');
    den *= 10;
  }
  unsigned __int128 prod = static_cast<unsigned __int128>(num) * unit;
  if (prod % den != 0) return std::nullopt;
  const uint64_t add = static_cast<uint64_t>(prod / den);
  if (__builtin_add_overflow(out, add, &out)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t total = 0;
  while (!text.empty()) {
    auto d = take_decimal(text);
    if (!d) return std::nullopt;  // sign, space, garbage, or a unit without a number
    uint64_t unit = 0;
    // "ms" must be tried before "m".
    if (text.starts_with("ms")) {
      unit = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      unit = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      unit = 60 * 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      unit = 60 * 60 * 1000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;  // missing or unknown unit
    }
    auto v = scale(*d, unit);
    if (!v || __builtin_add_overflow(total, *v, &total)) return std::nullopt;
  }
  if (total > uint64_t(std::numeric_limits<std::chrono::milliseconds::rep>::max()))
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(total));
}

namespace {
struct SizeUnit {
  std::string_view name;
  uint64_t bytes;
};
constexpr SizeUnit kSizeUnits[] = {
    {"", 1},
    {"B", 1},
    {"KiB", uint64_t(1) << 10},
    {"MiB", uint64_t(1) << 20},
    {"GiB", uint64_t(1) << 30},
    {"TiB", uint64_t(1) << 40},
};
}  // namespace

std::optional<size_t> parse_size(std::string_view text) {
  auto d = take_decimal(text);
  if (!d) return std::nullopt;
  for (const auto& u : kSizeUnits) {
    if (text != u.name) continue;
    auto v = scale(*d, u.bytes);
    if (!v || *v > std::numeric_limits<size_t>::max()) return std::nullopt;
    return static_cast<size_t>(*v);
  }
  return std::nullopt;
}

std::string size_unit_hint(std::string_view text) {
  // Skip the number, then compare the unit case-insensitively.
  size_t i = 0;
  while (i < text.size() && (is_digit(text[i]) || text[i] == '.')) ++i;
  if (i == 0) return {};
  // A correct unit needs no hint; the number was what was wrong.
  for (const auto& u : kSizeUnits)
    if (text.substr(i) == u.name) return {};
  std::string unit;
  for (char c : text.substr(i)) unit.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (unit == "k" || unit == "kb" || unit == "kib") return "KiB";
  if (unit == "m" || unit == "mb" || unit == "mib") return "MiB";
  if (unit == "g" || unit == "gb" || unit == "gib") return "GiB";
  if (unit == "t" || unit == "tb" || unit == "tib") return "TiB";
  if (unit == "b" || unit == "bytes") return "B";
  return {};
}

std::string format_duration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(size_t n) {
  static constexpr SizeUnit kDescending[] = {
      {"TiB", uint64_t(1) << 40}, {"GiB", uint64_t(1) << 30}, {"MiB", uint64_t(1) << 20},
      {"KiB", uint64_t(1) << 10}};
  for (const auto& u : kDescending)
    if (n != 0 && n % u.bytes == 0) return std::to_string(n / u.bytes) + std::string(u.name);
  return std::to_string(n) + "B";
}

namespace {
// Optimal string alignment distance: Levenshtein plus adjacent transpositions.
size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}
}  // namespace

std::optional<std::string> suggest_key(std::string_view unknown,
                                       std::span<const std::string_view> known) {
  // Short names get one edit, or anything would look like anything ("foo"
  // is two edits from "pool").
  const size_t kMaxDistance = unknown.size() <= 4 ? 1 : 2;
  // Rank: an edit within kMaxDistance beats a prefix match; among edits the
  // smaller distance wins; the first in |known| wins a tie.
  std::optional<std::string> best;
  size_t best_rank = std::numeric_limits<size_t>::max();
  for (std::string_view k : known) {
    size_t rank = std::numeric_limits<size_t>::max();
    const size_t dist = edit_distance(unknown, k);
    if (dist <= kMaxDistance) {
      rank = dist;
    } else if ((unknown.size() >= 3 && k.starts_with(unknown)) ||
               (k.size() >= 3 && unknown.starts_with(k))) {
      rank = kMaxDistance + 1;
    }
    if (rank < best_rank) {
      best_rank = rank;
      best = std::string(k);
    }
  }
  return best;
}

}  // namespace fcgimux
