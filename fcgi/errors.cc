#include "fcgi/errors.h"

namespace fcgi {

std::string_view to_string(ParseError e) {
  switch (e) {
    case ParseError::BadVersion: return "bad_version";
    case ParseError::BadLength: return "bad_length";
    case ParseError::TruncatedPair: return "truncated_pair";
    case ParseError::PairTooLong: return "pair_too_long";
    case ParseError::UnexpectedRecord: return "unexpected_record";
  }
  return "unknown";  // unreachable for valid enumerators; -Werror=switch keeps the list whole
}

std::string_view to_string(CgiError e) {
  switch (e) {
    case CgiError::HeadTooLarge: return "head_too_large";
    case CgiError::MalformedHeader: return "malformed_header";
    case CgiError::BadStatus: return "bad_status";
    case CgiError::IncompleteHead: return "incomplete_head";
  }
  return "unknown";
}

}  // namespace fcgi
