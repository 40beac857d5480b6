#include <catch2/catch.hpp>

#include <set>

#include "fcgi/errors.h"

using namespace fcgi;

TEST_CASE("every error has its own name", "[fcgi][errors]") {
  std::set<std::string_view> names;
  for (ParseError e : {ParseError::BadVersion, ParseError::BadLength, ParseError::TruncatedPair,
                       ParseError::PairTooLong, ParseError::UnexpectedRecord}) {
    CHECK(to_string(e) != "unknown");
    names.insert(to_string(e));
  }
  for (CgiError e : {CgiError::HeadTooLarge, CgiError::MalformedHeader, CgiError::BadStatus,
                     CgiError::IncompleteHead}) {
    CHECK(to_string(e) != "unknown");
    names.insert(to_string(e));
  }
  CHECK(names.size() == 9);
}
