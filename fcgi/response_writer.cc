#include "fcgi/response_writer.h"

#include <algorithm>
#include <array>
#include <string>

#include "fcgi/record.h"

namespace fcgi {

namespace {

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Copies rather than borrows: test workers build responses from temporaries.
void write_copied_stream(RecordType type, uint16_t id, std::span<const std::byte> bytes,
                         IovecSink& out, std::optional<uint8_t> padding) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kMaxContentLen);
    write_record(type, id, bytes.first(n), out, padding);
    bytes = bytes.subspan(n);
  }
}

}  // namespace

void write_stdout(uint16_t id, std::span<const std::byte> bytes, IovecSink& out,
                  std::optional<uint8_t> padding) {
  write_copied_stream(RecordType::Stdout, id, bytes, out, padding);
}

void write_stdout(uint16_t id, std::string_view text, IovecSink& out,
                  std::optional<uint8_t> padding) {
  write_stdout(id, as_bytes(text), out, padding);
}

void write_stdout_end(uint16_t id, IovecSink& out) {
  write_record(RecordType::Stdout, id, {}, out);
}

void write_stderr(uint16_t id, std::span<const std::byte> bytes, IovecSink& out,
                  std::optional<uint8_t> padding) {
  write_copied_stream(RecordType::Stderr, id, bytes, out, padding);
}

void write_stderr(uint16_t id, std::string_view text, IovecSink& out,
                  std::optional<uint8_t> padding) {
  write_stderr(id, as_bytes(text), out, padding);
}

void write_stderr_end(uint16_t id, IovecSink& out) {
  write_record(RecordType::Stderr, id, {}, out);
}

void write_end_request(uint16_t id, uint32_t app_status, ProtocolStatus status, IovecSink& out) {
  // §5.5 FCGI_EndRequestBody: appStatusB3..B0, protocolStatus, reserved[3].
  const std::array<std::byte, 8> body{
      std::byte(app_status >> 24), std::byte((app_status >> 16) & 0xff),
      std::byte((app_status >> 8) & 0xff), std::byte(app_status & 0xff),
      std::byte(static_cast<uint8_t>(status))};
  write_record(RecordType::EndRequest, id, body, out);
}

void write_get_values_result(std::span<const std::pair<std::string_view, std::string_view>> values,
                             IovecSink& out) {
  std::string encoded;
  for (const auto& [name, value] : values) {
    if (encoded.size() + encoded_pair_size(name.size(), value.size()) > kMaxContentLen) break;
    encode_pair(name, value, encoded);
  }
  write_record(RecordType::GetValuesResult, kNullRequestId, as_bytes(encoded), out);
}

void write_unknown_type(uint8_t type, IovecSink& out) {
  // §4.2 FCGI_UnknownTypeBody: type, reserved[7].
  const std::array<std::byte, 8> body{std::byte(type)};
  write_record(RecordType::UnknownType, kNullRequestId, body, out);
}

}  // namespace fcgi
