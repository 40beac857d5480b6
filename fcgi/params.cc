#include "fcgi/params.h"

#include <algorithm>
#include <cstring>

namespace fcgi {

namespace {

size_t length_size(size_t len) { return len < 128 ? 1 : 4; }

char* encode_length(size_t len, char* out) {
  if (len < 128) {
    *out++ = char(len);
    return out;
  }
  // §3.4: the top bit of the first byte marks the four-byte form.
  *out++ = char(((len >> 24) & 0x7f) | 0x80);
  *out++ = char((len >> 16) & 0xff);
  *out++ = char((len >> 8) & 0xff);
  *out++ = char(len & 0xff);
  return out;
}

}  // namespace

size_t encoded_pair_size(size_t name_len, size_t value_len) {
  return length_size(name_len) + length_size(value_len) + name_len + value_len;
}

char* encode_pair(std::string_view name, std::string_view value, char* out) {
  out = encode_length(name.size(), out);
  out = encode_length(value.size(), out);
  if (!name.empty()) out = static_cast<char*>(std::memcpy(out, name.data(), name.size())) + name.size();
  if (!value.empty()) out = static_cast<char*>(std::memcpy(out, value.data(), value.size())) + value.size();
  return out;
}

void encode_pair(std::string_view name, std::string_view value, std::string& out) {
  const size_t at = out.size();
  out.resize(at + encoded_pair_size(name.size(), value.size()));
  encode_pair(name, value, out.data() + at);
}

ParamsDecoder::ParamsDecoder(size_t max_pair_len) : max_pair_len_(max_pair_len) {}

bool ParamsDecoder::read_length(std::span<const std::byte>& in, size_t& len) {
  if (len_have_ == 0) {
    const auto first = std::to_integer<unsigned>(in[0]);
    if ((first & 0x80) == 0) {  // one-byte form
      in = in.subspan(1);
      len = first;
      return true;
    }
  }
  const size_t n = std::min(in.size(), size_t{4} - len_have_);
  std::copy_n(in.begin(), n, len_buf_.begin() + len_have_);
  len_have_ += n;
  in = in.subspan(n);
  if (len_have_ < 4) return false;
  len_have_ = 0;
  auto u8 = [&](size_t i) { return size_t(std::to_integer<unsigned>(len_buf_[i])); };
  len = (u8(0) & 0x7f) << 24 | u8(1) << 16 | u8(2) << 8 | u8(3);
  return true;
}

Result<void, ParseError> ParamsDecoder::feed(std::span<const std::byte> in, Pairs& out) {
  if (state_ == State::Failed) return Unexpected{error_};
  while (!in.empty() || state_ == State::Name || state_ == State::Value) {
    switch (state_) {
      case State::Failed:  // left only through the returns below
        return Unexpected{error_};
      case State::NameLen:
        if (!read_length(in, name_len_)) return {};
        if (name_len_ > max_pair_len_) {
          state_ = State::Failed;
          return Unexpected{error_ = ParseError::PairTooLong};
        }
        state_ = State::ValueLen;
        break;
      case State::ValueLen:
        if (!read_length(in, value_len_)) return {};
        if (value_len_ > max_pair_len_) {
          state_ = State::Failed;
          return Unexpected{error_ = ParseError::PairTooLong};
        }
        state_ = State::Name;
        break;
      case State::Name: {
        // Empty names and values complete without input, hence the loop
        // condition above.
        const size_t n = std::min(in.size(), name_len_ - name_.size());
        name_.append(reinterpret_cast<const char*>(in.data()), n);
        in = in.subspan(n);
        if (name_.size() < name_len_) return {};
        state_ = State::Value;
        break;
      }
      case State::Value: {
        const size_t n = std::min(in.size(), value_len_ - value_.size());
        value_.append(reinterpret_cast<const char*>(in.data()), n);
        in = in.subspan(n);
        if (value_.size() < value_len_) return {};
        out.emplace_back(std::move(name_), std::move(value_));
        name_.clear();  // moved-from strings are valid but unspecified
        value_.clear();
        state_ = State::NameLen;
        break;
      }
    }
  }
  return {};
}

Result<void, ParseError> ParamsDecoder::finish() const {
  if (state_ == State::Failed) return Unexpected{error_};
  if (!at_pair_boundary()) return Unexpected{ParseError::TruncatedPair};
  return {};
}

Result<Pairs, ParseError> decode_pairs(std::span<const std::byte> in, size_t max_pair_len) {
  ParamsDecoder d(max_pair_len);
  Pairs pairs;
  if (auto r = d.feed(in, pairs); !r) return Unexpected{r.error()};
  if (auto r = d.finish(); !r) return Unexpected{r.error()};
  return pairs;
}

}  // namespace fcgi
