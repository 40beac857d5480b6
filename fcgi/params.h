// FastCGI name-value pairs (specification section 3.4): the body of PARAMS,
// GET_VALUES and GET_VALUES_RESULT records. Each length is one byte when under
// 128, else four bytes big-endian with the top bit set (31 usable bits).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi/errors.h"
#include "fcgi/result.h"

namespace fcgi {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Largest name or value length a decoder accepts unless told otherwise. A
// 4-byte length can claim up to 2 GiB; the cap refuses that before any byte of
// it is stored. 1 MiB is far above any real CGI variable (the gateway's own
// header limit is 64 KiB by default).
inline constexpr size_t kDefaultMaxPairLen = size_t{1} << 20;

// Largest length the wire form can express.
inline constexpr size_t kMaxEncodableLen = 0x7fffffff;

// Bytes encode_pair() adds for a pair of these lengths.
size_t encoded_pair_size(size_t name_len, size_t value_len);

// Appends the encoded pair to |out|. Precondition: both lengths are at most
// kMaxEncodableLen (a string_view that long cannot come from a real request).
void encode_pair(std::string_view name, std::string_view value, std::string& out);

// Writes the encoded pair at |out|, which must have room for
// encoded_pair_size() bytes; returns the end of what it wrote. Same
// precondition as above.
char* encode_pair(std::string_view name, std::string_view value, char* out);

// Incremental decoder: feed the content of consecutive records of one stream
// in any pieces; a pair may straddle pieces (and so records). Lengths are
// checked against the cap as soon as they are read, and names and values grow
// only as their bytes arrive, so a lying length never causes an allocation.
class ParamsDecoder {
 public:
  explicit ParamsDecoder(size_t max_pair_len = kDefaultMaxPairLen);

  // Decodes |in|, appending every pair it completes to |out|. Errors:
  // PairTooLong (a name or value length over the cap). After an error the
  // decoder keeps returning it.
  Result<void, ParseError> feed(std::span<const std::byte> in, Pairs& out);

  // The stream ended: TruncatedPair if a pair was begun and not finished.
  Result<void, ParseError> finish() const;

  // True when no pair is partially decoded.
  bool at_pair_boundary() const { return state_ == State::NameLen && len_have_ == 0; }

 private:
  enum class State { NameLen, ValueLen, Name, Value, Failed };
  // Reads one length field from |in|; true once it is complete in |len|.
  bool read_length(std::span<const std::byte>& in, size_t& len);

  size_t max_pair_len_;
  State state_ = State::NameLen;
  ParseError error_ = ParseError::PairTooLong;
  std::array<std::byte, 4> len_buf_{};
  size_t len_have_ = 0;  // bytes of the current length field read so far
  size_t name_len_ = 0;
  size_t value_len_ = 0;
  std::string name_;
  std::string value_;
};

// Decodes one complete buffer of pairs. Errors: PairTooLong (checked first,
// when a length is read), TruncatedPair (the buffer ends inside a pair).
Result<Pairs, ParseError> decode_pairs(std::span<const std::byte> in,
                                       size_t max_pair_len = kDefaultMaxPairLen);

}  // namespace fcgi
