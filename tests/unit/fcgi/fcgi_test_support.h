// Helpers shared by the fcgi/ unit tests: byte/string conversions, a
// hand-rolled record builder (independent of encode_header, so the two check
// each other), and recording handlers that turn parser callbacks into
// comparable event lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/request_parser.h"
#include "fcgi/stream_parser.h"

namespace fcgi::test {

inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::string str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

template <size_t N>
std::span<const std::byte, N> fixed_bytes(std::string_view s) {
  return std::span<const std::byte, N>(bytes(s).data(), N);
}

// One record, byte by byte as §3.3 lays it out, with |padding| bytes of 'P'
// (not zeros, so a parser that reads padding as content is caught).
inline std::string record(uint8_t type, uint16_t id, std::string_view content, uint8_t padding = 0,
                          uint8_t version = 1) {
  std::string r;
  r += char(version);
  r += char(type);
  r += char(id >> 8);
  r += char(id & 0xff);
  r += char(content.size() >> 8);
  r += char(content.size() & 0xff);
  r += char(padding);
  r += '\0';
  r += content;
  r += std::string(padding, 'P');
  return r;
}

inline std::string record(RecordType type, uint16_t id, std::string_view content,
                          uint8_t padding = 0) {
  return record(static_cast<uint8_t>(type), id, content, padding);
}

inline std::string end_request_body(uint32_t app_status, uint8_t protocol_status) {
  std::string b;
  for (int shift = 24; shift >= 0; shift -= 8) b += char((app_status >> shift) & 0xff);
  b += char(protocol_status);
  b += std::string(3, '\0');
  return b;
}

// Events as strings, e.g. "out 1 hello", "out 1 <end>", "end 1 0 REQUEST_COMPLETE".
// Consecutive non-empty content pieces of one stream are merged, so any split
// of the input gives the same list; the empty end-of-stream record stays a
// separate "<end>" event.
struct Events {
  std::vector<std::string> list;
  std::optional<ParseError> error;
  bool operator==(const Events&) const = default;

  void content(std::string_view kind, uint16_t id, std::span<const std::byte> b) {
    const std::string prefix = std::string(kind) + " " + std::to_string(id) + " ";
    if (b.empty()) {
      list.push_back(prefix + "<end>");
      return;
    }
    if (!list.empty() && list.back().starts_with(prefix) && !list.back().ends_with("<end>") &&
        list.back() != prefix) {
      list.back() += str(b);
      return;
    }
    list.push_back(prefix + str(b));
  }
};

inline std::ostream& operator<<(std::ostream& os, const Events& e) {
  for (const auto& s : e.list) os << "[" << s.substr(0, 80) << (s.size() > 80 ? "..." : "") << "] ";
  if (e.error) os << "error=" << to_string(*e.error);
  return os;
}

struct RecordingStreamHandler : StreamHandler {
  Events events;
  std::vector<size_t> stdout_piece_sizes;  // to check incremental delivery
  void on_stdout(uint16_t id, std::span<const std::byte> b) override {
    stdout_piece_sizes.push_back(b.size());
    events.content("out", id, b);
  }
  void on_stderr(uint16_t id, std::span<const std::byte> b) override {
    events.content("err", id, b);
  }
  void on_end_request(uint16_t id, uint32_t app, ProtocolStatus s) override {
    events.list.push_back("end " + std::to_string(id) + " " + std::to_string(app) + " " +
                          std::string(to_string(s)));
  }
  void on_get_values_result(std::vector<std::pair<std::string, std::string>> values) override {
    std::string e = "values";
    for (const auto& [n, v] : values) e += " " + n + "=" + v;
    events.list.push_back(e);
  }
  void on_unknown_type(uint8_t type) override {
    events.list.push_back("unknown_type " + std::to_string(type));
  }
  void on_skipped_record(uint8_t type, uint16_t id) override {
    events.list.push_back("skipped " + std::to_string(type) + " " + std::to_string(id));
  }
};

struct RecordingRequestHandler : RequestHandler {
  Events events;
  void on_begin_request(uint16_t id, Role role, uint8_t flags) override {
    events.list.push_back("begin " + std::to_string(id) + " role=" +
                          std::to_string(static_cast<unsigned>(role)) +
                          " flags=" + std::to_string(flags));
  }
  void on_param(uint16_t id, std::string name, std::string value) override {
    events.list.push_back("param " + std::to_string(id) + " " + name + "=" + value);
  }
  void on_params_end(uint16_t id) override {
    events.list.push_back("params_end " + std::to_string(id));
  }
  void on_stdin(uint16_t id, std::span<const std::byte> b) override {
    events.content("in", id, b);
  }
  void on_data(uint16_t id, std::span<const std::byte> b) override {
    events.content("data", id, b);
  }
  void on_abort_request(uint16_t id) override {
    events.list.push_back("abort " + std::to_string(id));
  }
  void on_get_values(std::vector<std::string> names) override {
    std::string e = "get_values";
    for (const auto& n : names) e += " " + n;
    events.list.push_back(e);
  }
  void on_unknown_management(uint8_t type) override {
    events.list.push_back("unknown_management " + std::to_string(type));
  }
};

// Feeds |wire| cut at |cuts| (ascending offsets) and returns the events; the
// first error stops feeding, as a connection would.
template <class Parser, class Handler>
Events parse_pieces(std::string_view wire, const std::vector<size_t>& cuts, Parser parser) {
  Handler h;
  size_t at = 0;
  auto feed = [&](size_t end) {
    auto r = parser.feed(bytes(wire.substr(at, end - at)), h);
    at = end;
    if (!r) h.events.error = r.error();
    return bool(r);
  };
  for (size_t c : cuts) {
    if (!feed(c)) return h.events;
  }
  feed(wire.size());
  return h.events;
}

template <class Parser = StreamParser, class Handler = RecordingStreamHandler>
Events parse_whole(std::string_view wire, Parser p = Parser()) {
  return parse_pieces<Parser, Handler>(wire, {}, std::move(p));
}

template <class Parser = StreamParser, class Handler = RecordingStreamHandler>
Events parse_bytewise(std::string_view wire, Parser p = Parser()) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return parse_pieces<Parser, Handler>(wire, cuts, std::move(p));
}

template <class Parser = StreamParser, class Handler = RecordingStreamHandler>
Events parse_split_at(std::string_view wire, size_t i, Parser p = Parser()) {
  return parse_pieces<Parser, Handler>(wire, {i}, std::move(p));
}

}  // namespace fcgi::test
