// FastCGI 1.0 constants, as the specification names them (section 8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fcgi {

inline constexpr uint8_t kVersion1 = 1;
inline constexpr size_t kHeaderLen = 8;
inline constexpr size_t kMaxContentLen = 65535;
inline constexpr uint16_t kNullRequestId = 0;  // management records use id 0

enum class RecordType : uint8_t {
  BeginRequest = 1,
  AbortRequest = 2,
  EndRequest = 3,
  Params = 4,
  Stdin = 5,
  Stdout = 6,
  Stderr = 7,
  Data = 8,
  GetValues = 9,
  GetValuesResult = 10,
  UnknownType = 11,
};

enum class Role : uint16_t { Responder = 1, Authorizer = 2, Filter = 3 };

// FCGI_BEGIN_REQUEST flags.
inline constexpr uint8_t kKeepConn = 1;

enum class ProtocolStatus : uint8_t {
  RequestComplete = 0,
  CantMpxConn = 1,
  Overloaded = 2,
  UnknownRole = 3,
};

// Variable names for FCGI_GET_VALUES (section 4.1).
inline constexpr std::string_view kMaxConns = "FCGI_MAX_CONNS";
inline constexpr std::string_view kMaxReqs = "FCGI_MAX_REQS";
inline constexpr std::string_view kMpxsConns = "FCGI_MPXS_CONNS";

std::string_view to_string(RecordType t);
std::string_view to_string(ProtocolStatus s);

}  // namespace fcgi
