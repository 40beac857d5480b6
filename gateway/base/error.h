// Why an exchange or a connection ended. One enum for the whole gateway;
// status_for() in status_map.cc is the only place one becomes an HTTP status.
#pragma once

#include <string_view>

#include "fcgi/result.h"

namespace fcgimux {

enum class Error {
  // Client side: each has a status the client is told.
  BadRequest,        // 400: malformed request, conflicting Content-Length/Transfer-Encoding
  HeadTimeout,       // 408: the request head did not arrive within header_timeout
  BodyTimeout,       // 408: the request body paused longer than body_timeout
  BodyTooLarge,      // 413: body over max_body_size
  HeadTooLarge,      // 431: head over max_header_size
  UnknownCoding,     // 501: a transfer coding other than chunked
  NotFound,          // 404: no route matches the path
  // Worker side.
  WorkerProtocol,    // 502: the worker broke the FastCGI or CGI protocol
  WorkerVanished,    // 502: the worker closed or reset mid-request
  NoWorker,          // 503: no worker available (Retry-After added)
  ResponseTimeout,   // 504: response_timeout passed
  ShuttingDown,      // 503: the gateway is stopping
  // Endings that send nothing.
  ClientClosed,      // the client went away
  IdleTimeout,       // keep-alive idle timeout
  WriteFailed,       // writing to the client failed
};

// The HTTP status the client gets for |e|; 0 for endings that send nothing.
int status_for(Error e);
std::string_view to_string(Error e);

template <class T>
using Result = fcgi::Result<T, Error>;
using fcgi::Unexpected;

}  // namespace fcgimux
