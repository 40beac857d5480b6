#include "fcgi/protocol.h"

namespace fcgi {

std::string_view to_string(RecordType t) {
  switch (t) {
    case RecordType::BeginRequest: return "BEGIN_REQUEST";
    case RecordType::AbortRequest: return "ABORT_REQUEST";
    case RecordType::EndRequest: return "END_REQUEST";
    case RecordType::Params: return "PARAMS";
    case RecordType::Stdin: return "STDIN";
    case RecordType::Stdout: return "STDOUT";
    case RecordType::Stderr: return "STDERR";
    case RecordType::Data: return "DATA";
    case RecordType::GetValues: return "GET_VALUES";
    case RecordType::GetValuesResult: return "GET_VALUES_RESULT";
    case RecordType::UnknownType: return "UNKNOWN_TYPE";
  }
  return "UNKNOWN";
}

std::string_view to_string(ProtocolStatus s) {
  switch (s) {
    case ProtocolStatus::RequestComplete: return "REQUEST_COMPLETE";
    case ProtocolStatus::CantMpxConn: return "CANT_MPX_CONN";
    case ProtocolStatus::Overloaded: return "OVERLOADED";
    case ProtocolStatus::UnknownRole: return "UNKNOWN_ROLE";
  }
  return "UNKNOWN";
}

}  // namespace fcgi
