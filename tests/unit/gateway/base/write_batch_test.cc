#include "gateway/base/write_batch.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

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
  auto bufs = b.bufs();
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

TEST_CASE("a write batch past its inline bytes and iovecs keeps every byte in order", "[base][write-batch]") {
  // Copies fill the inline bytes, then owned strings; borrowed pieces in
  // between push the iovec count past the inline array.
  WriteBatch b;
  std::string expected;
  std::vector<std::shared_ptr<std::string>> borrowed;
  for (int i = 0; i < 40; ++i) {
    const std::string copy(size_t(50 + i), char('a' + i % 26));
    b.push_copy(bytes_of(copy));
    expected += copy;
    borrowed.push_back(std::make_shared<std::string>("<" + std::to_string(i) + ">"));
    b.push_borrowed(bytes_of(*borrowed.back()), borrowed.back());
    expected += *borrowed.back();
  }
  CHECK(b.size() == expected.size());
  CHECK(b.bufs().size() == 80);
  CHECK(unwritten_text(b, b.bufs().size()) == expected);
  const size_t left = b.consume(2000);
  CHECK(unwritten_text(b, left) == expected.substr(2000));
}

TEST_CASE("consecutive small copies share one iovec", "[base][write-batch]") {
  WriteBatch b;
  b.push_copy(bytes_of("BEGIN..."));
  b.push_copy(bytes_of("PARAMS.."));
  b.push_copy(bytes_of("STDIN..."));
  CHECK(b.bufs().size() == 1);
  CHECK(unwritten_text(b, 1) == "BEGIN...PARAMS..STDIN...");
}

TEST_CASE("a reset batch lets go of its pins and owned bytes and is as good as new", "[base][write-batch]") {
  WriteBatch b;
  auto borrowed = std::make_shared<std::string>("BODY");
  // Past the inline bytes and iovecs, so that every kind of storage is in use.
  for (int i = 0; i < 12; ++i) {
    b.push_copy(bytes_of(std::string(200, char('a' + i))));
    b.push_borrowed(bytes_of(*borrowed), borrowed);
  }
  b.bufs();
  b.consume(300);
  CHECK(borrowed.use_count() == 13);

  b.reset();
  CHECK(borrowed.use_count() == 1);  // the pins are gone
  CHECK(b.empty());
  CHECK(b.size() == 0);
  CHECK(b.bufs().empty());
  CHECK(b.req.data == nullptr);

  // Used again: the same bytes as a new batch given the same pushes.
  WriteBatch fresh;
  for (WriteBatch* x : {&b, &fresh}) {
    x->push_copy(bytes_of("head:"));
    x->push_borrowed(bytes_of(*borrowed), borrowed);
    x->push_copy(bytes_of(":tail"));
  }
  CHECK(b.size() == fresh.size());
  CHECK(b.bufs().size() == fresh.bufs().size());
  CHECK(unwritten_text(b, b.bufs().size()) == "head:BODY:tail");
  CHECK(b.consume(7) == fresh.consume(7));
  CHECK(unwritten_text(b, 2) == "DY:tail");
}
