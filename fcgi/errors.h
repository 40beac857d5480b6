// Errors the FastCGI codec reports as values. Malformed input never crashes.
#pragma once

#include <string_view>

namespace fcgi {

enum class ParseError {
  BadVersion,          // record header version byte is not 1
  BadLength,           // a length that the record type cannot have (e.g. END_REQUEST != 8)
  TruncatedPair,       // a name-value pair ends before its declared lengths
  PairTooLong,         // a name or value length over the decoder's cap
  UnexpectedRecord,    // a record type a responder must not send to a client (e.g. BEGIN_REQUEST)
};

enum class CgiError {
  HeadTooLarge,        // the header block exceeded its cap
  MalformedHeader,     // a line without ':' or with an invalid name
  BadStatus,           // Status: that is not three digits in 100..999
  IncompleteHead,      // the stream ended before the blank line
};

std::string_view to_string(ParseError e);
std::string_view to_string(CgiError e);

}  // namespace fcgi
