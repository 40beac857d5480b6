// fcgi::decode_pairs, fcgi::ParamsDecoder and fcgi::encode_pair (FastCGI 1.0
// §3.4 name-value pairs) over any bytes.
//
// Input: the whole input is a PARAMS body. Oracles, for a 1 MiB cap and a
// 64-byte cap (so PairTooLong is reachable):
//  - decode_pairs (whole) and ParamsDecoder fed byte by byte, then finish(),
//    give the same pairs or the same error;
//  - ParamsDecoder fed in the pieces the first byte picks agrees too;
//  - re-encoding the decoded pairs with encode_pair (sizes as
//    encoded_pair_size says) decodes back to the same pairs, and encoding is
//    canonical: re-encoding that gives the same bytes.
#include "fcgi/params.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

struct Outcome {
  fcgi::Pairs pairs;
  std::string result = "ok";
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Outcome& o) {
  std::string s = "result=" + o.result + " pairs:";
  for (const auto& [n, v] : o.pairs) s += " [" + escape(n) + "]=[" + escape(v) + "]";
  return s;
}

Outcome whole(std::span<const std::byte> in, size_t cap) {
  Outcome o;
  auto r = fcgi::decode_pairs(in, cap);
  if (r) {
    o.pairs = std::move(*r);
  } else {
    o.result = std::string(fcgi::to_string(r.error()));
  }
  return o;
}

// decode_pairs returns no pairs on error; the incremental decoder has
// delivered the ones before it. Only the pairs of a successful decode, and
// the error, are compared.
Outcome incremental(std::span<const std::byte> in, const std::vector<size_t>& cuts, size_t cap) {
  fcgi::ParamsDecoder d(cap);
  Outcome o;
  for (auto piece : pieces(in, cuts)) {
    auto r = d.feed(piece, o.pairs);
    if (!r) {
      o.result = std::string(fcgi::to_string(r.error()));
      auto again = d.feed(in, o.pairs);
      FUZZ_CHECK(!again && again.error() == r.error(), "decoder error not sticky");
      o.pairs.clear();
      return o;
    }
  }
  FUZZ_CHECK(d.at_pair_boundary() == bool(d.finish()), "at_pair_boundary disagrees with finish()");
  auto f = d.finish();
  if (!f) {
    o.result = std::string(fcgi::to_string(f.error()));
    o.pairs.clear();
  }
  return o;
}

}  // namespace

int fuzz_fcgi_params(const uint8_t* data, size_t size) {
  const auto in = as_bytes(data, size);
  const uint8_t control = size > 0 ? data[0] : 0;
  for (size_t cap : {fcgi::kDefaultMaxPairLen, size_t{64}}) {
    const Outcome w = whole(in, cap);
    for (const auto& cuts : split_plans(control, in.size())) {
      const Outcome inc = incremental(in, cuts, cap);
      FUZZ_CHECK(inc == w, "cap " + std::to_string(cap) + ", " + std::to_string(cuts.size() + 1) +
                               " pieces\n  decode_pairs: " + describe(w) +
                               "\n  ParamsDecoder: " + describe(inc));
    }
    if (w.result != "ok") continue;

    std::string encoded;
    size_t expected_size = 0;
    for (const auto& [n, v] : w.pairs) {
      fcgi::encode_pair(n, v, encoded);
      expected_size += fcgi::encoded_pair_size(n.size(), v.size());
    }
    FUZZ_CHECK(encoded.size() == expected_size, "encoded_pair_size disagrees with encode_pair");
    FUZZ_CHECK(encoded.size() <= in.size(), "canonical encoding longer than the input");
    const Outcome back = whole(as_bytes(encoded), cap);
    FUZZ_CHECK(back == w, "round trip\n  decoded: " + describe(w) + "\n  re-decoded: " + describe(back));
    std::string again;
    for (const auto& [n, v] : back.pairs) fcgi::encode_pair(n, v, again);
    FUZZ_CHECK(again == encoded, "encoding is not canonical");
  }
  return 0;
}

}  // namespace fcgimux::fuzz
