#include "fcgi/record_reader.h"

#include <algorithm>

namespace fcgi {

Result<void, ParseError> RecordReader::fail(ParseError e) {
  state_ = State::Failed;
  error_ = e;
  return Unexpected{e};
}

Result<void, ParseError> RecordReader::end_content(RecordVisitor& v) {
  if (auto r = v.on_record_content_end(); !r) return fail(r.error());
  state_ = padding_left_ > 0 ? State::Padding : State::Header;
  return {};
}

Result<void, ParseError> RecordReader::feed(std::span<const std::byte> in, RecordVisitor& v) {
  if (state_ == State::Failed) return Unexpected{error_};
  while (!in.empty()) {
    switch (state_) {
      case State::Header: {
        const size_t n = std::min(in.size(), kHeaderLen - header_have_);
        std::copy_n(in.begin(), n, header_buf_ + header_have_);
        header_have_ += n;
        in = in.subspan(n);
        if (header_have_ < kHeaderLen) return {};
        header_have_ = 0;
        auto h = decode_header(std::span<const std::byte, kHeaderLen>(header_buf_));
        if (!h) return fail(h.error());
        if (auto r = v.on_record_begin(*h); !r) return fail(r.error());
        content_left_ = h->content_length;
        padding_left_ = h->padding_length;
        if (content_left_ > 0) {
          state_ = State::Content;
        } else if (auto r = end_content(v); !r) {
          return r;
        }
        break;
      }
      case State::Content: {
        // Entered only with content_left_ > 0 and |in| not empty: every pass
        // consumes at least one byte.
        const auto piece = in.first(std::min(in.size(), content_left_));
        in = in.subspan(piece.size());
        content_left_ -= piece.size();
        if (auto r = v.on_record_content(piece); !r) return fail(r.error());
        if (content_left_ == 0) {
          if (auto r = end_content(v); !r) return r;
        }
        break;
      }
      case State::Padding: {
        // §3.3: padding is any 0..255 bytes the receiver ignores.
        const size_t n = std::min(in.size(), padding_left_);
        in = in.subspan(n);
        padding_left_ -= n;
        if (padding_left_ == 0) state_ = State::Header;
        break;
      }
      case State::Failed: return Unexpected{error_};
    }
  }
  return {};
}

}  // namespace fcgi
