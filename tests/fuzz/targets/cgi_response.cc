// fcgi::CgiResponseParser (the RFC 3875 response head at the start of a
// worker's STDOUT) over any bytes.
//
// Input: byte 0 picks the split plans, the rest is STDOUT content. Oracles,
// with a 64 KiB cap and a 64-byte cap (so HeadTooLarge is reachable):
//  - whole and split feeds agree on the head, the result, the number of head
//    bytes consumed and finish();
//  - a complete head has 100 <= status <= 999, header names that are
//    non-empty and free of CR, LF, NUL and ':', values and reason free of CR,
//    LF and NUL (a CR or LF passed on would split the client's response),
//    content_length matching a Content-Length header, and 302 for Location
//    without Status;
//  - once complete, feed() consumes nothing.
#include "fcgi/cgi_response.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

struct Outcome {
  std::string result = "ok";
  bool complete = false;
  size_t consumed = 0;
  std::string finish;
  fcgi::CgiResponseHead head;
  bool operator==(const Outcome& o) const {
    return result == o.result && complete == o.complete && consumed == o.consumed &&
           finish == o.finish && head.status == o.head.status && head.reason == o.head.reason &&
           head.headers == o.head.headers && head.location == o.head.location &&
           head.content_length == o.head.content_length;
  }
};

std::string describe(const Outcome& o) {
  std::string s = "result=" + o.result + " complete=" + std::to_string(o.complete) +
                  " consumed=" + std::to_string(o.consumed) + " finish=" + o.finish +
                  " status=" + std::to_string(o.head.status) + " reason=[" + escape(o.head.reason) +
                  "]";
  for (const auto& [n, v] : o.head.headers) s += "\n    [" + escape(n) + "]: [" + escape(v) + "]";
  return s;
}

Outcome run(std::span<const std::byte> in, const std::vector<size_t>& cuts, size_t cap) {
  fcgi::CgiResponseParser p(cap);
  Outcome o;
  for (auto piece : pieces(in, cuts)) {
    auto r = p.feed(piece);
    if (!r) {
      o.result = std::string(fcgi::to_string(r.error()));
      o.consumed = 0;  // an error reports no progress; only the error is compared
      auto again = p.feed(piece);
      FUZZ_CHECK(!again && again.error() == r.error(), "error not sticky");
      break;
    }
    FUZZ_CHECK(r->consumed <= piece.size(), "consumed more than fed");
    o.consumed += r->consumed;
    if (r->head_complete) {
      FUZZ_CHECK(p.head_complete(), "head_complete() disagrees with feed()");
      auto again = p.feed(piece);
      FUZZ_CHECK(again && again->head_complete && again->consumed == 0,
                 "feed() after the head consumed bytes");
      o.complete = true;
      break;
    }
    FUZZ_CHECK(r->consumed == piece.size(), "an incomplete head left bytes unread");
  }
  auto f = p.finish();
  o.finish = f ? "ok" : std::string(fcgi::to_string(f.error()));
  o.head = p.head();
  return o;
}

bool has_bad(std::string_view s, std::string_view bad) {
  return s.find_first_of(bad) != std::string_view::npos;
}

void check_head(const Outcome& o) {
  const auto& h = o.head;
  FUZZ_CHECK(h.status >= 100 && h.status <= 999, "status " + std::to_string(h.status));
  using namespace std::string_view_literals;
  FUZZ_CHECK(!has_bad(h.reason, "\r\n\0"sv), "reason [" + escape(h.reason) + "]");
  bool has_status_header = false;
  std::optional<std::string> first_location;
  for (const auto& [n, v] : h.headers) {
    FUZZ_CHECK(!n.empty() && !has_bad(n, "\r\n\0: \t"sv), "header name [" + escape(n) + "]");
    FUZZ_CHECK(!has_bad(v, "\r\n\0"sv), "header value [" + escape(v) + "]");
    FUZZ_CHECK(v.empty() || (v.front() != ' ' && v.back() != ' '), "value not trimmed");
    std::string lower;
    for (char c : n) lower += char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower == "status") has_status_header = true;
    if (lower == "location" && !first_location) first_location = v;
    if (lower == "content-length")
      FUZZ_CHECK(h.content_length && std::to_string(*h.content_length) ==
                                         v.substr(std::min(v.find_first_not_of('0'), v.size() - 1)),
                 "content_length does not match [" + escape(v) + "]");
  }
  FUZZ_CHECK(!has_status_header, "Status: passed on as a header");
  FUZZ_CHECK(h.location == first_location, "location is not the first Location header");
}

}  // namespace

int fuzz_cgi_response(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const auto in = as_bytes(data + 1, size - 1);
  for (size_t cap : {size_t{64 * 1024}, size_t{64}}) {
    const Outcome whole = run(in, {}, cap);
    if (whole.complete) {
      check_head(whole);
      FUZZ_CHECK(whole.consumed <= cap, "head over the cap accepted");
    }
    for (const auto& cuts : split_plans(control, in.size())) {
      const Outcome split = run(in, cuts, cap);
      FUZZ_CHECK(split == whole, "cap " + std::to_string(cap) + ", " +
                                     std::to_string(cuts.size() + 1) + " pieces\n  whole: " +
                                     describe(whole) + "\n  split: " + describe(split));
    }
  }
  return 0;
}

}  // namespace fcgimux::fuzz
