#include "gateway/base/write_batch.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>

using namespace fcgimux;

namespace {
std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
std::string unwritten_text(WriteBatch& b, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out.append(b.unwritten()[i].base, b.unwritten()[i].len);
  return out;
}
}  // namespace

TEST_CASE("a write batch keeps copies and pins borrowed bytes, in order", "[base][write-batch]") {
  WriteBatch b;
  auto borrowed = std::make_shared<std::string>("BODY");
  b.push_copy(bytes_of("head:"));
  b.push_borrowed(bytes_of(*borrowed), borrowed);
  b.push_copy(bytes_of(":tail"));
  b.push_owned("!");
  CHECK(b.size() == 15);
  CHECK(borrowed.use_count() == 2);  // the batch holds a pin
  auto& bufs = b.bufs();
  std::string all;
  for (auto& x : bufs) all.append(x.base, x.len);
  CHECK(all == "head:BODY:tail!");
}

TEST_CASE("consume() drops what uv_try_write already wrote, at any offset", "[base][write-batch]") {
  const std::string whole = "head:BODY:tail!";
  for (size_t n = 0; n <= whole.size(); ++n) {
    CAPTURE(n);
    WriteBatch b;
    auto borrowed = std::make_shared<std::string>("BODY");
    b.push_copy(bytes_of("head:"));
    b.push_borrowed(bytes_of(*borrowed), borrowed);
    b.push_copy(bytes_of(":tail"));
    b.push_owned("!");
    b.bufs();
    const size_t left = b.consume(n);
    CHECK(unwritten_text(b, left) == whole.substr(n));
  }
}
