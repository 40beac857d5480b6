#include "gateway/base/error.h"

namespace fcgimux {

// DESIGN.md's table of statuses fcgimux itself produces. -Werror=switch makes a
// new enumerator a compile error here until it has a status.
int status_for(Error e) {
  switch (e) {
    case Error::BadRequest: return 400;
    case Error::NotFound: return 404;
    case Error::HeadTimeout:
    case Error::BodyTimeout: return 408;
    case Error::BodyTooLarge: return 413;
    case Error::HeadTooLarge: return 431;
    case Error::UnknownCoding: return 501;
    case Error::WorkerProtocol:
    case Error::WorkerVanished: return 502;
    case Error::NoWorker:
    case Error::ShuttingDown: return 503;
    case Error::ResponseTimeout: return 504;
    case Error::ClientClosed:
    case Error::IdleTimeout:
    case Error::WriteFailed: return 0;
  }
  return 500;
}

std::string_view to_string(Error e) {
  switch (e) {
    case Error::BadRequest: return "bad_request";
    case Error::NotFound: return "not_found";
    case Error::HeadTimeout: return "head_timeout";
    case Error::BodyTimeout: return "body_timeout";
    case Error::BodyTooLarge: return "body_too_large";
    case Error::HeadTooLarge: return "head_too_large";
    case Error::UnknownCoding: return "unknown_coding";
    case Error::WorkerProtocol: return "worker_protocol";
    case Error::WorkerVanished: return "worker_vanished";
    case Error::NoWorker: return "no_worker";
    case Error::ResponseTimeout: return "response_timeout";
    case Error::ShuttingDown: return "shutting_down";
    case Error::ClientClosed: return "client_closed";
    case Error::IdleTimeout: return "idle_timeout";
    case Error::WriteFailed: return "write_failed";
  }
  return "unknown";
}

}  // namespace fcgimux
