// fcgi::StreamParser (what the gateway reads from a worker) over any bytes.
//
// Input: byte 0 picks the split plans (fuzz_support.h), the rest is the
// stream. Oracle: feeding the stream whole and feeding it in pieces give the
// same events and the same final result (FastCGI 1.0 §3.3: content may be
// split anywhere; the parser promises identical events for any split).
// STDOUT/STDERR content is delivered as it arrives, so consecutive non-empty
// pieces of one stream are joined before comparing; an empty piece is the
// end-of-stream record and must appear only for an empty record.
#include <optional>

#include "fcgi/stream_parser.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

struct Recorder final : fcgi::StreamHandler {
  std::vector<std::string> events;
  // Index of the last event when it is a non-empty stream piece, to join the next one.
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
  void on_stdout(uint16_t id, std::span<const std::byte> b) override { piece("stdout", id, b); }
  void on_stderr(uint16_t id, std::span<const std::byte> b) override { piece("stderr", id, b); }
  void on_end_request(uint16_t id, uint32_t app, fcgi::ProtocolStatus s) override {
    other("end " + std::to_string(id) + " " + std::to_string(app) + " " +
          std::to_string(int(s)));
  }
  void on_get_values_result(std::vector<std::pair<std::string, std::string>> v) override {
    std::string e = "values";
    for (auto& [n, val] : v) e += " [" + n + "]=[" + val + "]";
    other(std::move(e));
  }
  void on_unknown_type(uint8_t t) override { other("unknown_type " + std::to_string(t)); }
  void on_skipped_record(uint8_t t, uint16_t id) override {
    other("skipped " + std::to_string(t) + " " + std::to_string(id));
  }
};

struct Outcome {
  std::vector<std::string> events;
  std::string result;  // "ok" or the error's name
  bool at_boundary = false;
};

Outcome run(std::span<const std::byte> stream, const std::vector<size_t>& cuts,
            size_t max_values_len) {
  fcgi::StreamParser parser(max_values_len);
  Recorder rec;
  Outcome out;
  out.result = "ok";
  for (auto piece : pieces(stream, cuts)) {
    auto r = parser.feed(piece, rec);
    if (!r) {
      out.result = std::string(fcgi::to_string(r.error()));
      // Errors are sticky: feeding again returns the same error, reads nothing.
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

int fuzz_fcgi_stream_parser(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const auto stream = as_bytes(data + 1, size - 1);
  // A small GET_VALUES_RESULT cap too, so BadLength on it is reachable.
  for (size_t cap : {size_t{4096}, size_t{16}}) {
    const Outcome whole = run(stream, {}, cap);
    for (const auto& cuts : split_plans(control, stream.size())) {
      const Outcome split = run(stream, cuts, cap);
      FUZZ_CHECK(split.result == whole.result && split.events == whole.events &&
                     split.at_boundary == whole.at_boundary,
                 "split into " + std::to_string(cuts.size() + 1) + " pieces\n  whole: " +
                     describe(whole) + "\n  split: " + describe(split));
    }
  }
  return 0;
}

}  // namespace fcgimux::fuzz
