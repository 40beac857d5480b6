// FastCGI 1.0 record headers (specification section 3.3) and the padding rule
// fcgimux applies to what it writes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "fcgi/errors.h"
#include "fcgi/iovec_sink.h"
#include "fcgi/protocol.h"
#include "fcgi/result.h"

namespace fcgi {

// The eight header bytes, decoded. |type| may hold any byte value, including
// ones the specification does not define (RecordType(12)), so a parser can
// report or skip them.
struct RecordHeader {
  RecordType type = RecordType::BeginRequest;
  uint16_t request_id = 0;
  uint16_t content_length = 0;
  uint8_t padding_length = 0;
};

// The wire form of |h|: version 1, big-endian id and length, reserved byte 0.
std::array<std::byte, kHeaderLen> encode_header(const RecordHeader& h);

// Decodes a header. Any type, id, content and padding length is accepted here
// (the stream parsers judge them in context); only a version byte other than 1
// is an error (BadVersion). The reserved byte is ignored.
Result<RecordHeader, ParseError> decode_header(std::span<const std::byte, kHeaderLen> b);

// Padding fcgimux writes after |content_length| bytes of content: enough to
// end the record on a multiple of 8 bytes, as section 3.3 recommends. On
// input any padding 0..255 is accepted.
constexpr uint8_t padding_for(size_t content_length) {
  return uint8_t((8 - content_length % 8) % 8);
}

// Writes one record: header, a copy of |content| (at most kMaxContentLen
// bytes; longer content is cut there) and |padding| zero bytes, or the
// padding_for() amount when |padding| is empty. Used by both writers, and by
// test workers that forge records of any type.
void write_record(RecordType type, uint16_t id, std::span<const std::byte> content, IovecSink& out,
                  std::optional<uint8_t> padding = std::nullopt);

// Writes |content| as a stream of |type| records for |id|, split at
// kMaxContentLen. The content is borrowed (kept alive by |pin|); headers and
// padding are copied. Empty |content| writes nothing: the empty record that
// ends a stream is a separate call (write_record with empty content).
void write_stream(RecordType type, uint16_t id, std::span<const std::byte> content, const Pin& pin,
                  IovecSink& out, std::optional<uint8_t> padding = std::nullopt);

}  // namespace fcgi
