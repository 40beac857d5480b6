#include "fcgi/record.h"

#include <algorithm>

namespace fcgi {

namespace {

// Enough zeros for the largest padding a record can carry (one byte: 255).
constexpr std::array<std::byte, 255> kZeros{};

}  // namespace

std::array<std::byte, kHeaderLen> encode_header(const RecordHeader& h) {
  return {std::byte{kVersion1},
          std::byte(static_cast<uint8_t>(h.type)),
          std::byte(h.request_id >> 8),
          std::byte(h.request_id & 0xff),
          std::byte(h.content_length >> 8),
          std::byte(h.content_length & 0xff),
          std::byte(h.padding_length),
          std::byte{0}};
}

Result<RecordHeader, ParseError> decode_header(std::span<const std::byte, kHeaderLen> b) {
  if (b[0] != std::byte{kVersion1}) return Unexpected{ParseError::BadVersion};
  auto u8 = [&](size_t i) { return std::to_integer<unsigned>(b[i]); };
  return RecordHeader{.type = RecordType(u8(1)),
                      .request_id = uint16_t(u8(2) << 8 | u8(3)),
                      .content_length = uint16_t(u8(4) << 8 | u8(5)),
                      .padding_length = uint8_t(u8(6))};
}  // b[7] is reserved: ignored on input, written as 0

void write_record(RecordType type, uint16_t id, std::span<const std::byte> content, IovecSink& out,
                  std::optional<uint8_t> padding) {
  content = content.first(std::min(content.size(), kMaxContentLen));
  const uint8_t pad = padding.value_or(padding_for(content.size()));
  out.push_copy(encode_header({type, id, uint16_t(content.size()), pad}));
  if (!content.empty()) out.push_copy(content);
  if (pad != 0) out.push_copy(std::span(kZeros).first(pad));
}

void write_stream(RecordType type, uint16_t id, std::span<const std::byte> content, const Pin& pin,
                  IovecSink& out, std::optional<uint8_t> padding) {
  // FastCGI 1.0 §3.3: a stream is any number of records; content longer than
  // one record's 16-bit length simply continues in the next record.
  while (!content.empty()) {
    const size_t n = std::min(content.size(), kMaxContentLen);
    const uint8_t pad = padding.value_or(padding_for(n));
    out.push_copy(encode_header({type, id, uint16_t(n), pad}));
    out.push_borrowed(content.first(n), pin);
    if (pad != 0) out.push_copy(std::span(kZeros).first(pad));
    content = content.subspan(n);
  }
}

}  // namespace fcgi
