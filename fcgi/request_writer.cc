#include "fcgi/request_writer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "fcgi/params.h"
#include "fcgi/record.h"

namespace fcgi {

namespace {

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

void write_begin_request(uint16_t id, Role role, bool keep_conn, IovecSink& out) {
  // §5.1 FCGI_BeginRequestBody: roleB1, roleB0, flags, reserved[5].
  const auto r = static_cast<uint16_t>(role);
  const std::array<std::byte, 8> body{std::byte(r >> 8), std::byte(r & 0xff),
                                      std::byte(keep_conn ? kKeepConn : 0)};
  write_record(RecordType::BeginRequest, id, body, out);
}

namespace {

std::string_view name_of(const Param& p) { return p.name; }
std::string_view value_of(const Param& p) { return p.value; }
std::string_view name_of(const std::pair<std::string, std::string>& p) { return p.first; }
std::string_view value_of(const std::pair<std::string, std::string>& p) { return p.second; }

// Both write_params() overloads: the pairs are only read through name_of()
// and value_of().
template <typename P>
void write_params_of(uint16_t id, std::span<const P> params, IovecSink& out) {
  size_t total = 0;
  for (const P& p : params) total += encoded_pair_size(name_of(p).size(), value_of(p).size());
  if (total > 0 && total <= kMaxContentLen) {
    // The usual case: every pair fits one record. That record, its padding
    // and the empty record that ends the stream are framed in one buffer
    // and handed to the sink as one piece. The buffer is per thread and
    // keeps its capacity (at most one record), so no allocation per request.
    thread_local std::string frame;
    const uint8_t pad = padding_for(total);
    frame.resize(kHeaderLen + total + pad + kHeaderLen);
    char* w = frame.data();
    const auto header = encode_header({RecordType::Params, id, uint16_t(total), pad});
    w = static_cast<char*>(std::memcpy(w, header.data(), kHeaderLen)) + kHeaderLen;
    for (const P& p : params) w = encode_pair(name_of(p), value_of(p), w);
    std::memset(w, 0, pad);
    w += pad;
    const auto end = encode_header({RecordType::Params, id, 0, 0});
    std::memcpy(w, end.data(), kHeaderLen);
    out.push_copy(std::as_bytes(std::span(frame.data(), frame.size())));
    return;
  }
  // Params are small and copied: encode them all, then cut the encoding into
  // records. §3.4 lets a pair straddle records of the same stream, so cutting
  // at any byte is correct.
  std::string encoded;
  encoded.reserve(total);
  for (const P& p : params) encode_pair(name_of(p), value_of(p), encoded);
  std::span<const std::byte> rest = as_bytes(encoded);
  while (!rest.empty()) {
    const size_t n = std::min(rest.size(), kMaxContentLen);
    write_record(RecordType::Params, id, rest.first(n), out);
    rest = rest.subspan(n);
  }
  write_record(RecordType::Params, id, {}, out);  // the empty record ends the stream
}

}  // namespace

void write_params(uint16_t id, std::span<const Param> params, IovecSink& out) {
  write_params_of(id, params, out);
}

void write_owned_params(uint16_t id, std::span<const std::pair<std::string, std::string>> params,
                        IovecSink& out) {
  write_params_of(id, params, out);
}

void write_encoded_params(uint16_t id, std::span<const std::byte> encoded, IovecSink& out) {
  // §3.4 lets a pair straddle records of the same stream: cut anywhere.
  while (!encoded.empty()) {
    const size_t n = std::min(encoded.size(), kMaxContentLen);
    write_record(RecordType::Params, id, encoded.first(n), out);
    encoded = encoded.subspan(n);
  }
  write_record(RecordType::Params, id, {}, out);  // the empty record ends the stream
}

void write_stdin(uint16_t id, std::span<const std::byte> body, const Pin& pin, IovecSink& out) {
  write_stream(RecordType::Stdin, id, body, pin, out);
}

void write_stdin_end(uint16_t id, IovecSink& out) { write_record(RecordType::Stdin, id, {}, out); }

void write_abort_request(uint16_t id, IovecSink& out) {
  write_record(RecordType::AbortRequest, id, {}, out);
}

void write_get_values(std::span<const std::string_view> names, IovecSink& out) {
  // §4.1: a management record is one record, so names that would push the
  // body past 65535 bytes are left out (the three FCGI_* names use 45).
  std::string encoded;
  for (std::string_view name : names) {
    if (encoded.size() + encoded_pair_size(name.size(), 0) > kMaxContentLen) break;
    encode_pair(name, {}, encoded);
  }
  write_record(RecordType::GetValues, kNullRequestId, as_bytes(encoded), out);
}

void StringSink::push_copy(std::span<const std::byte> bytes) {
  bytes_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void StringSink::push_borrowed(std::span<const std::byte> bytes, Pin) {
  // Copying ends the borrow at once, so the pin is not kept.
  push_copy(bytes);
}

}  // namespace fcgi
