#include "fcgi/request_parser.h"

namespace fcgi {

namespace {

// §5.1 FCGI_BeginRequestBody is 8 bytes.
constexpr size_t kBeginBodyLen = 8;

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace

struct RequestParser::Visitor final : RecordVisitor {
  RequestParser& p;
  RequestHandler& h;
  Visitor(RequestParser& parser, RequestHandler& handler) : p(parser), h(handler) {}

  Result<void, ParseError> on_record_begin(const RecordHeader& r) override {
    p.record_ = r;
    p.small_body_.clear();
    const bool management = r.request_id == kNullRequestId;
    switch (r.type) {
      case RecordType::BeginRequest:
        if (management) return Unexpected{ParseError::UnexpectedRecord};
        if (r.content_length != kBeginBodyLen) return Unexpected{ParseError::BadLength};
        // A second BEGIN while the first request's params are still coming
        // means the client lost track of its ids.
        if (p.open_params_.contains(r.request_id)) return Unexpected{ParseError::UnexpectedRecord};
        p.body_ = Body::Collect;
        return {};
      case RecordType::Params:
        if (!p.open_params_.contains(r.request_id)) return Unexpected{ParseError::UnexpectedRecord};
        p.body_ = Body::Params;
        return {};
      case RecordType::Stdin:
      case RecordType::Data:
        if (management) return Unexpected{ParseError::UnexpectedRecord};
        p.body_ = r.type == RecordType::Stdin ? Body::Stdin : Body::Data;
        return {};
      case RecordType::AbortRequest:
        if (management) return Unexpected{ParseError::UnexpectedRecord};
        p.body_ = Body::Skip;  // reported at content end
        return {};
      case RecordType::GetValues:
        if (!management) return Unexpected{ParseError::UnexpectedRecord};
        if (r.content_length > p.max_values_len_) return Unexpected{ParseError::BadLength};
        p.body_ = Body::Collect;
        return {};
      case RecordType::EndRequest:
      case RecordType::Stdout:
      case RecordType::Stderr:
      case RecordType::GetValuesResult:
      case RecordType::UnknownType:
        return Unexpected{ParseError::UnexpectedRecord};  // only an application sends these
    }
    // An undefined type. On id 0 it is a management record the application
    // answers with UNKNOWN_TYPE (at content end); otherwise it is skipped.
    p.body_ = Body::Skip;
    return {};
  }

  Result<void, ParseError> on_record_content(std::span<const std::byte> piece) override {
    const uint16_t id = p.record_.request_id;
    switch (p.body_) {
      case Body::Params: {
        // §3.4: a pair may straddle PARAMS records; the decoder keeps the
        // partial pair of each id between records.
        // Pairs completed before an error in this piece are reported before
        // it: fed one byte at a time they would have been, and the events
        // must not depend on how the stream was split.
        Pairs pairs;
        auto r = p.open_params_.at(id).feed(piece, pairs);
        for (auto& [name, value] : pairs) h.on_param(id, std::move(name), std::move(value));
        return r;
      }
      case Body::Stdin: h.on_stdin(id, piece); return {};
      case Body::Data: h.on_data(id, piece); return {};
      case Body::Collect:
        p.small_body_.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        return {};
      case Body::Skip: return {};
    }
    return {};
  }

  Result<void, ParseError> on_record_content_end() override {
    const RecordHeader& r = p.record_;
    const uint16_t id = r.request_id;
    switch (r.type) {
      case RecordType::BeginRequest: {
        auto u8 = [&](size_t i) { return unsigned(static_cast<unsigned char>(p.small_body_[i])); };
        p.open_params_.emplace(id, ParamsDecoder(p.max_pair_len_));
        h.on_begin_request(id, Role(uint16_t(u8(0) << 8 | u8(1))), uint8_t(u8(2)));
        return {};
      }
      case RecordType::Params: {
        if (r.content_length > 0) return {};
        // The empty record ends the stream; a pair begun must be finished.
        auto node = p.open_params_.extract(id);
        if (auto f = node.mapped().finish(); !f) return f;
        h.on_params_end(id);
        return {};
      }
      case RecordType::Stdin:
        if (r.content_length == 0) h.on_stdin(id, {});
        return {};
      case RecordType::Data:
        if (r.content_length == 0) h.on_data(id, {});
        return {};
      case RecordType::AbortRequest: h.on_abort_request(id); return {};
      case RecordType::GetValues: {
        auto pairs = decode_pairs(as_bytes(p.small_body_), p.max_values_len_);
        if (!pairs) return Unexpected{pairs.error()};
        std::vector<std::string> names;
        names.reserve(pairs->size());
        for (auto& [name, value] : *pairs) names.push_back(std::move(name));
        h.on_get_values(std::move(names));
        return {};
      }
      default:
        if (id == kNullRequestId) h.on_unknown_management(static_cast<uint8_t>(r.type));
        return {};
    }
  }
};

RequestParser::RequestParser(size_t max_pair_len, size_t max_values_len)
    : max_pair_len_(max_pair_len), max_values_len_(max_values_len) {}

Result<void, ParseError> RequestParser::feed(std::span<const std::byte> in, RequestHandler& h) {
  Visitor v(*this, h);
  return reader_.feed(in, v);
}

}  // namespace fcgi
