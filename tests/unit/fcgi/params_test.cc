#include <catch2/catch.hpp>

#include "fcgi/params.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using fcgi::test::bytes;

namespace {

std::string encoded(std::string_view name, std::string_view value) {
  std::string out;
  encode_pair(name, value, out);
  return out;
}

std::string four_byte_len(uint32_t len) {
  return std::string{char(0x80 | (len >> 24)), char((len >> 16) & 0xff), char((len >> 8) & 0xff),
                     char(len & 0xff)};
}

}  // namespace

TEST_CASE("pair lengths use one byte below 128 and four bytes from 128", "[fcgi][params]") {
  const std::string n127(127, 'n'), n128(128, 'n'), v127(127, 'v'), v128(128, 'v');
  auto [name, value, wire] = GENERATE_REF(table<std::string, std::string, std::string>({
      {"A", "b", std::string("\x01\x01" "Ab", 4)},
      {"EMPTY", "", std::string("\x05\x00" "EMPTY", 7)},
      {"", "", std::string("\x00\x00", 2)},
      {n127, "x", std::string("\x7f\x01", 2) + n127 + "x"},
      {n128, "x", std::string("\x80\x00\x00\x80\x01", 5) + n128 + "x"},
      {"N", v127, std::string("\x01\x7f", 2) + "N" + v127},
      {"N", v128, std::string("\x01\x80\x00\x00\x80", 5) + "N" + v128},
      {n128, v128, std::string("\x80\x00\x00\x80\x80\x00\x00\x80", 8) + n128 + v128},
  }));
  CAPTURE(name.size(), value.size());
  CHECK(encoded(name, value) == wire);
  CHECK(encoded_pair_size(name.size(), value.size()) == wire.size());
  auto back = decode_pairs(bytes(wire));
  REQUIRE(back);
  REQUIRE(back->size() == 1);
  CHECK((*back)[0].first == name);
  CHECK((*back)[0].second == value);
}

TEST_CASE("a 4-byte length carries the bits above 16", "[fcgi][params]") {
  const std::string value(0x012345, 'v');
  const std::string wire = std::string("\x01", 1) + four_byte_len(0x012345) + "N" + value;
  CHECK(encoded("N", value) == wire);
}

TEST_CASE("several pairs decode in order", "[fcgi][params]") {
  const std::string wire =
      encoded("A", "1") + encoded("B", std::string(200, 'b')) + encoded("", "");
  auto r = decode_pairs(bytes(wire));
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0] == std::pair<std::string, std::string>{"A", "1"});
  CHECK((*r)[1].second.size() == 200);
  CHECK((*r)[2] == std::pair<std::string, std::string>{"", ""});
  CHECK(decode_pairs({})->empty());
}

TEST_CASE("every strict prefix of a pair is TruncatedPair", "[fcgi][params]") {
  const std::string wire = encoded(std::string(130, 'n'), "value");
  for (size_t i = 1; i < wire.size(); ++i) {
    CAPTURE(i);
    auto r = decode_pairs(bytes(wire.substr(0, i)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == ParseError::TruncatedPair);
  }
}

TEST_CASE("a huge 4-byte length is refused before anything is allocated", "[fcgi][params]") {
  SECTION("name length 2^31-1") {
    const std::string wire = four_byte_len(0x7fffffff) + "\x01" + "abc";
    auto r = decode_pairs(bytes(wire));
    REQUIRE_FALSE(r);
    CHECK(r.error() == ParseError::PairTooLong);
  }
  SECTION("value length 2^31-1, even split byte by byte") {
    const std::string wire = std::string("\x01", 1) + four_byte_len(0x7fffffff) + "N";
    ParamsDecoder d;
    Pairs out;
    Result<void, ParseError> r;
    for (char c : wire) {
      r = d.feed(bytes(std::string_view(&c, 1)), out);
      if (!r) break;
    }
    REQUIRE_FALSE(r);
    CHECK(r.error() == ParseError::PairTooLong);
    // The error sticks.
    auto again = d.feed(bytes("x"), out);
    REQUIRE_FALSE(again);
    CHECK(again.error() == ParseError::PairTooLong);
    REQUIRE_FALSE(d.finish());
  }
  SECTION("the cap is inclusive and configurable") {
    const std::string wire = encoded("N", std::string(300, 'v'));
    CHECK(decode_pairs(bytes(wire), 300));
    auto r = decode_pairs(bytes(wire), 299);
    REQUIRE_FALSE(r);
    CHECK(r.error() == ParseError::PairTooLong);
  }
}

TEST_CASE("the incremental decoder gives the same pairs for any split", "[fcgi][params]") {
  const std::string wire = encoded("SCRIPT_NAME", "/index.php") +
                           encoded(std::string(128, 'k'), "") +
                           encoded("", std::string(300, 'v')) + encoded("Q", "1");
  const Pairs expected = *decode_pairs(bytes(wire));
  REQUIRE(expected.size() == 4);

  auto decode_with_cuts = [&](const std::vector<size_t>& cuts) {
    ParamsDecoder d;
    Pairs out;
    size_t at = 0;
    std::vector<size_t> all = cuts;
    all.push_back(wire.size());
    for (size_t c : all) {
      REQUIRE(d.feed(bytes(std::string_view(wire).substr(at, c - at)), out));
      at = c;
    }
    REQUIRE(d.finish());
    CHECK(d.at_pair_boundary());
    return out;
  };
  SECTION("whole") { CHECK(decode_with_cuts({}) == expected); }
  SECTION("byte by byte") {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
    CHECK(decode_with_cuts(cuts) == expected);
  }
  SECTION("every two-way split") {
    for (size_t i = 0; i <= wire.size(); ++i) {
      CAPTURE(i);
      CHECK(decode_with_cuts({i}) == expected);
    }
  }
}

TEST_CASE("finish() in the middle of a pair is TruncatedPair", "[fcgi][params]") {
  ParamsDecoder d;
  Pairs out;
  REQUIRE(d.feed(bytes(encoded("AB", "cd").substr(0, 3)), out));
  CHECK(out.empty());
  CHECK_FALSE(d.at_pair_boundary());
  auto r = d.finish();
  REQUIRE_FALSE(r);
  CHECK(r.error() == ParseError::TruncatedPair);
}

TEST_CASE("encode_pair into a buffer writes the same bytes as into a string", "[fcgi][params]") {
  const std::string n127(127, 'n'), v128(128, 'v'), big(70000, 'b');
  auto [name, value] = GENERATE_REF(table<std::string, std::string>({
      {"A", "b"}, {"", ""}, {n127, v128}, {v128, n127}, {"BIG", big}}));
  std::string via_string = "prefix";
  encode_pair(name, value, via_string);
  std::string buf(encoded_pair_size(name.size(), value.size()) + 1, '#');
  char* end = encode_pair(name, value, buf.data());
  CHECK(size_t(end - buf.data()) == encoded_pair_size(name.size(), value.size()));
  CHECK(buf.back() == '#');  // nothing written past the pair
  buf.pop_back();
  CHECK("prefix" + buf == via_string);
}
