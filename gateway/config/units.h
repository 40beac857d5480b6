// Pure text → value helpers for the configuration: durations, sizes, and the
// "did you mean" suggestion for an unknown key. No TOML, no I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fcgimux {

// Parses a duration: one or more <number><unit> terms with no spaces, where
// unit is "ms", "s", "m" or "h" and number is a decimal such as "250" or
// "1.5". Terms add up: "1m30s" is 90 s. The total must be a whole number of
// milliseconds ("1.5s" yes, "0.5ms" no). Returns nullopt for a missing unit
// ("250"), a negative or signed number, an unknown unit, empty text, spaces,
// or a value that overflows.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Parses a byte size: a decimal number with an optional binary unit "B",
// "KiB", "MiB", "GiB" or "TiB" (powers of 1024): "512", "512B", "64KiB",
// "1.5MiB". The result must be a whole number of bytes. Decimal-looking
// units ("10KB", "10k", "1MB") are rejected on purpose: whether they mean
// 1000 or 1024 differs between tools, so the config asks for the unambiguous
// spelling (see size_unit_hint()). Returns nullopt for anything else.
std::optional<size_t> parse_size(std::string_view text);

// For text that parse_size() rejected: when its unit is a common ambiguous
// one ("KB", "k", "M", "mb"...), the binary unit to write instead ("KiB");
// otherwise empty.
std::string size_unit_hint(std::string_view text);

// Formats |d| in the largest unit that divides it exactly ("1500ms", "2s",
// "5m"), for messages and logs.
std::string format_duration(std::chrono::milliseconds d);

// Formats |n| bytes in the largest binary unit that divides it exactly
// ("64KiB", "1000B").
std::string format_size(size_t n);

// The known name closest to |unknown| to suggest ("did you mean ...?"): one
// within edit distance 2 (1 for names of up to 4 characters; an adjacent
// swap counts as one edit), or one that
// |unknown| is a prefix of (at least 3 characters), or one that is a prefix
// of |unknown|. Closest wins; ties go to the earlier name in |known|.
// nullopt when nothing is close.
std::optional<std::string> suggest_key(std::string_view unknown,
                                       std::span<const std::string_view> known);

}  // namespace fcgimux
