#include <catch2/catch.hpp>

#include "fcgi/record.h"
#include "fcgi/request_writer.h"
#include "fcgi_test_support.h"

using namespace fcgi;
using fcgi::test::bytes;
using fcgi::test::fixed_bytes;
using fcgi::test::str;

TEST_CASE("record headers encode to the spec's bytes and decode back", "[fcgi][record]") {
  auto [type, id, len, pad, wire] =
      GENERATE(table<RecordType, uint16_t, uint16_t, uint8_t, std::string>({
      {RecordType::BeginRequest, 1, 8, 0, std::string("\x01\x01\x00\x01\x00\x08\x00\x00", 8)},
      {RecordType::Stdout, 0x1234, 65535, 7, std::string("\x01\x06\x12\x34\xff\xff\x07\x00", 8)},
      {RecordType::EndRequest, 0xffff, 8, 0, std::string("\x01\x03\xff\xff\x00\x08\x00\x00", 8)},
      {RecordType::GetValues, 0, 0, 255, std::string("\x01\x09\x00\x00\x00\x00\xff\x00", 8)},
      {RecordType::Stderr, 0x0100, 0x0100, 1, std::string("\x01\x07\x01\x00\x01\x00\x01\x00", 8)},
      {RecordType(200), 7, 3, 5, std::string("\x01\xc8\x00\x07\x00\x03\x05\x00", 8)},
  }));
  CAPTURE(int(type), id, len, int(pad));
  CHECK(str(encode_header({type, id, len, pad})) == wire);
  auto back = decode_header(fixed_bytes<8>(wire));
  REQUIRE(back);
  CHECK(back->type == type);
  CHECK(back->request_id == id);
  CHECK(back->content_length == len);
  CHECK(back->padding_length == pad);
}

TEST_CASE("a header with a version other than 1 is BadVersion", "[fcgi][record]") {
  const uint8_t version = GENERATE(0, 2, 3, 0x81, 255);
  std::string wire("\x01\x06\x00\x01\x00\x00\x00\x00", 8);
  wire[0] = char(version);
  auto r = decode_header(fixed_bytes<8>(wire));
  REQUIRE_FALSE(r);
  CHECK(r.error() == ParseError::BadVersion);
}

TEST_CASE("the reserved header byte is ignored on input", "[fcgi][record]") {
  const std::string wire("\x01\x06\x00\x01\x00\x05\x03\xee", 8);
  auto r = decode_header(fixed_bytes<8>(wire));
  REQUIRE(r);
  CHECK(r->content_length == 5);
  CHECK(r->padding_length == 3);
}

TEST_CASE("output padding rounds content up to a multiple of 8", "[fcgi][record]") {
  auto [len, pad] = GENERATE(table<size_t, uint8_t>({
      {0, 0}, {1, 7}, {7, 1}, {8, 0}, {9, 7}, {15, 1}, {16, 0}, {65535, 1}, {65528, 0}}));
  CAPTURE(len);
  CHECK(padding_for(len) == pad);
  CHECK((len + pad) % 8 == 0);
}

TEST_CASE("write_record frames, pads with zeros, and honours explicit padding", "[fcgi][record]") {
  StringSink out;
  SECTION("default padding") {
    write_record(RecordType::Stdout, 3, bytes("abc"), out);
    CHECK(out.bytes() == std::string("\x01\x06\x00\x03\x00\x03\x05\x00"
                                     "abc\0\0\0\0\0", 16));
  }
  SECTION("explicit padding, even 255 or 0") {
    const uint8_t pad = GENERATE(0, 1, 9, 255);
    write_record(RecordType::Stdout, 3, bytes("abc"), out, pad);
    REQUIRE(out.bytes().size() == size_t{8 + 3} + pad);
    CHECK(uint8_t(out.bytes()[6]) == pad);
    CHECK(out.bytes().substr(11) == std::string(pad, '\0'));
  }
  SECTION("an empty record is a bare header") {
    write_record(RecordType::Stdin, 0xffff, {}, out);
    CHECK(out.bytes() == std::string("\x01\x05\xff\xff\x00\x00\x00\x00", 8));
  }
}

namespace {

// Records what the writer borrowed versus copied.
struct SpySink : IovecSink {
  std::vector<std::pair<bool, std::string>> pushes;  // (borrowed, bytes)
  std::vector<const std::byte*> borrowed_ptrs;
  std::vector<Pin> pins;
  void push_copy(std::span<const std::byte> b) override { pushes.emplace_back(false, str(b)); }
  void push_borrowed(std::span<const std::byte> b, Pin pin) override {
    pushes.emplace_back(true, str(b));
    borrowed_ptrs.push_back(b.data());
    pins.push_back(std::move(pin));
  }
};

}  // namespace

TEST_CASE("write_stream borrows content, splits at 65535 and pads each record", "[fcgi][record]") {
  const std::string body(65535 + 10, 'x');
  auto pin = std::make_shared<int>(1);
  SpySink out;
  write_stream(RecordType::Stdin, 0xffff, bytes(body), pin, out);
  REQUIRE(out.pushes.size() == 6);  // header, content, padding; twice
  CHECK(out.pushes[0].second == std::string("\x01\x05\xff\xff\xff\xff\x01\x00", 8));
  CHECK(out.pushes[1].first);
  CHECK(out.pushes[1].second.size() == 65535);
  CHECK(out.pushes[2].second == std::string(1, '\0'));
  CHECK(out.pushes[3].second == std::string("\x01\x05\xff\xff\x00\x0a\x06\x00", 8));
  CHECK(out.pushes[4].second.size() == 10);
  CHECK(out.pushes[5].second == std::string(6, '\0'));
  // Zero copies of the body: the borrowed spans point into it.
  REQUIRE(out.borrowed_ptrs.size() == 2);
  CHECK(out.borrowed_ptrs[0] == bytes(body).data());
  CHECK(out.borrowed_ptrs[1] == bytes(body).data() + 65535);
  CHECK(pin.use_count() == 3);  // the sink holds the pin for each borrow
}
