// "host:port" text → SocketAddress, for listen addresses and workers.
// Splitting is pure; resolving calls getaddrinfo (numeric addresses and names).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gateway/config/config.h"

namespace fcgimux {

struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "worker-3.internal"
  unsigned port = 0;
};

// Splits "host:port" or "[ipv6]:port". On failure returns nullopt and sets
// |error| to a sentence for the user ("missing ':port'", "IPv6 addresses go in
// brackets: [::1]:9000", ...). The port must be a decimal 0..65535; callers
// decide whether 0 is allowed.
std::optional<HostPort> split_host_port(std::string_view text, std::string& error);

// Resolves |hp| with getaddrinfo (TCP, IPv4 or IPv6, first result) into
// |out.addr| / |out.addr_len|; |passive| is for addresses we listen on. On
// failure returns false and sets |error| (gai_strerror's words).
bool resolve_address(const HostPort& hp, bool passive, SocketAddress& out, std::string& error);

}  // namespace fcgimux
