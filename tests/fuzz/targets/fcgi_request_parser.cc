// fcgi::RequestParser (the worker side: what a FastCGI application reads)
// over any bytes.
//
// Input: byte 0 picks the split plans, the rest is the stream. Oracle: whole
// and split feeds give the same events and the same result, with the default
// caps and with 64-byte caps (so PairTooLong and BadLength are reachable).
// STDIN/DATA pieces of one stream are joined before comparing; an empty piece
// is the end-of-stream record.
#include <optional>

#include "fcgi/request_parser.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

struct Recorder final : fcgi::RequestHandler {
  std::vector<std::string> events;
  std::optional<size_t> open_piece;
  std::string open_key;

  void piece(const char* kind, uint16_t id, std::span<const std::byte> b) {
    const std::string key = std::string(kind) + " " + std::to_string(id) + " ";
    if (b.empty()) {
      events.push_back(key + "<end>");
      open_piece.reset();
      return;
    }
    if (open_piece && open_key == key) {
      events[*open_piece] += as_string(b);
      return;
    }
    events.push_back(key + as_string(b));
    open_piece = events.size() - 1;
    open_key = key;
  }
  void other(std::string e) {
    events.push_back(std::move(e));
    open_piece.reset();
  }
  void on_begin_request(uint16_t id, fcgi::Role role, uint8_t flags) override {
    other("begin " + std::to_string(id) + " " + std::to_string(int(role)) + " " +
          std::to_string(flags));
  }
  void on_param(uint16_t id, std::string name, std::string value) override {
    other("param " + std::to_string(id) + " [" + name + "]=[" + value + "]");
  }
  void on_params_end(uint16_t id) override { other("params_end " + std::to_string(id)); }
  void on_stdin(uint16_t id, std::span<const std::byte> b) override { piece("stdin", id, b); }
  void on_data(uint16_t id, std::span<const std::byte> b) override { piece("data", id, b); }
  void on_abort_request(uint16_t id) override { other("abort " + std::to_string(id)); }
  void on_get_values(std::vector<std::string> names) override {
    std::string e = "get_values";
    for (auto& n : names) e += " [" + n + "]";
    other(std::move(e));
  }
  void on_unknown_management(uint8_t t) override { other("unknown_mgmt " + std::to_string(t)); }
};

struct Outcome {
  std::vector<std::string> events;
  std::string result = "ok";
  bool at_boundary = false;
};

Outcome run(std::span<const std::byte> stream, const std::vector<size_t>& cuts, size_t cap) {
  fcgi::RequestParser parser(cap, cap);
  Recorder rec;
  Outcome out;
  for (auto piece : pieces(stream, cuts)) {
    auto r = parser.feed(piece, rec);
    if (!r) {
      out.result = std::string(fcgi::to_string(r.error()));
      const size_t before = rec.events.size();
      auto again = parser.feed(stream, rec);
      FUZZ_CHECK(!again && again.error() == r.error(), "error not sticky");
      FUZZ_CHECK(rec.events.size() == before, "events after an error");
      break;
    }
  }
  out.events = std::move(rec.events);
  out.at_boundary = parser.at_record_boundary();
  return out;
}

std::string describe(const Outcome& o) {
  std::string s = "result=" + o.result + " boundary=" + std::to_string(o.at_boundary) + " events:";
  for (const auto& e : o.events) s += "\n    " + escape(e);
  return s;
}

}  // namespace

int fuzz_fcgi_request_parser(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const auto stream = as_bytes(data + 1, size - 1);
  for (size_t cap : {fcgi::kDefaultMaxPairLen, size_t{64}}) {
    const Outcome whole = run(stream, {}, cap);
    for (const auto& cuts : split_plans(control, stream.size())) {
      const Outcome split = run(stream, cuts, cap);
      FUZZ_CHECK(split.result == whole.result && split.events == whole.events &&
                     split.at_boundary == whole.at_boundary,
                 "cap " + std::to_string(cap) + ", split into " + std::to_string(cuts.size() + 1) +
                     " pieces\n  whole: " + describe(whole) + "\n  split: " + describe(split));
    }
  }
  return 0;
}

}  // namespace fcgimux::fuzz
