#include "fcgi/stream_parser.h"

#include "fcgi/params.h"

namespace fcgi {

namespace {

// §5.5 FCGI_EndRequestBody and §4.2 FCGI_UnknownTypeBody are both 8 bytes.
constexpr size_t kFixedBodyLen = 8;

uint32_t be32(std::string_view b) {
  auto u8 = [&](size_t i) { return uint32_t(static_cast<unsigned char>(b[i])); };
  return u8(0) << 24 | u8(1) << 16 | u8(2) << 8 | u8(3);
}

}  // namespace

struct StreamParser::Visitor final : RecordVisitor {
  StreamParser& p;
  StreamHandler& h;
  Visitor(StreamParser& parser, StreamHandler& handler) : p(parser), h(handler) {}

  Result<void, ParseError> on_record_begin(const RecordHeader& r) override {
    p.record_ = r;
    p.small_body_.clear();
    const bool management = r.request_id == kNullRequestId;
    switch (r.type) {
      case RecordType::Stdout:
      case RecordType::Stderr:
        // §3.3: id 0 is reserved for management records; a stream on it has
        // no request to belong to.
        if (management) return Unexpected{ParseError::UnexpectedRecord};
        p.body_ = r.type == RecordType::Stdout ? Body::Stdout : Body::Stderr;
        return {};
      case RecordType::EndRequest:
        if (management) return Unexpected{ParseError::UnexpectedRecord};
        if (r.content_length != kFixedBodyLen) return Unexpected{ParseError::BadLength};
        p.body_ = Body::Collect;
        return {};
      case RecordType::UnknownType:
        if (!management) return Unexpected{ParseError::UnexpectedRecord};
        if (r.content_length != kFixedBodyLen) return Unexpected{ParseError::BadLength};
        p.body_ = Body::Collect;
        return {};
      case RecordType::GetValuesResult:
        if (!management) return Unexpected{ParseError::UnexpectedRecord};
        // Refused before a byte is stored: the cap bounds what we buffer.
        if (r.content_length > p.max_values_len_) return Unexpected{ParseError::BadLength};
        p.body_ = Body::Collect;
        return {};
      case RecordType::BeginRequest:
      case RecordType::AbortRequest:
      case RecordType::Params:
      case RecordType::Stdin:
      case RecordType::Data:
      case RecordType::GetValues:
        // Only a client sends these. From the application they mean the peer
        // is not a FastCGI responder, or the stream is out of step.
        return Unexpected{ParseError::UnexpectedRecord};
    }
    // Not a type FastCGI 1.0 defines: skip it (see on_skipped_record).
    p.body_ = Body::Skip;
    h.on_skipped_record(static_cast<uint8_t>(r.type), r.request_id);
    return {};
  }

  Result<void, ParseError> on_record_content(std::span<const std::byte> piece) override {
    // STDOUT and STDERR go on as they arrive: a 64 KiB record is not held
    // back until its last byte.
    switch (p.body_) {
      case Body::Stdout: h.on_stdout(p.record_.request_id, piece); break;
      case Body::Stderr: h.on_stderr(p.record_.request_id, piece); break;
      case Body::Collect:
        p.small_body_.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        break;
      case Body::Skip: break;
    }
    return {};
  }

  Result<void, ParseError> on_record_content_end() override {
    const RecordHeader& r = p.record_;
    switch (p.body_) {
      case Body::Stdout:
        // §3.3: the empty record ends the stream; report it as an empty span.
        if (r.content_length == 0) h.on_stdout(r.request_id, {});
        return {};
      case Body::Stderr:
        if (r.content_length == 0) h.on_stderr(r.request_id, {});
        return {};
      case Body::Skip: return {};
      case Body::Collect: break;
    }
    const std::string_view body = p.small_body_;
    if (r.type == RecordType::EndRequest) {
      h.on_end_request(r.request_id, be32(body), ProtocolStatus(uint8_t(body[4])));
    } else if (r.type == RecordType::UnknownType) {
      h.on_unknown_type(uint8_t(body[0]));
    } else {  // GetValuesResult
      auto pairs =
          decode_pairs(std::as_bytes(std::span(body.data(), body.size())), p.max_values_len_);
      if (!pairs) return Unexpected{pairs.error()};
      h.on_get_values_result(std::move(*pairs));
    }
    return {};
  }
};

StreamParser::StreamParser(size_t max_values_len) : max_values_len_(max_values_len) {}

Result<void, ParseError> StreamParser::feed(std::span<const std::byte> in, StreamHandler& h) {
  Visitor v(*this, h);
  return reader_.feed(in, v);
}

bool StreamParser::at_record_boundary() const { return reader_.at_record_boundary(); }

}  // namespace fcgi
