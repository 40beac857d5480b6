#include "gateway/config/address.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace fcgimux {

std::optional<HostPort> split_host_port(std::string_view text, std::string& error) {
  HostPort hp;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after the IPv6 address";
      return std::nullopt;
    }
    hp.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.starts_with(':')) {
      error = "missing ':port' after ']'";
      return std::nullopt;
    }
    port = rest.substr(1);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "missing ':port' (write \"host:port\")";
      return std::nullopt;
    }
    if (text.find(':') != colon) {
      error = "IPv6 addresses go in brackets, as in \"[::1]:9000\"";
      return std::nullopt;
    }
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) {
    error = "missing host (write \"0.0.0.0:PORT\" or \"[::]:PORT\" for every interface)";
    return std::nullopt;
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    error = "the port must be a number 0..65535";
    return std::nullopt;
  }
  unsigned p = 0;
  for (char c : port) p = p * 10 + unsigned(c - '0');
  if (p > 65535) {
    error = "the port must be a number 0..65535";
    return std::nullopt;
  }
  hp.port = p;
  return hp;
}

bool resolve_address(const HostPort& hp, bool passive, SocketAddress& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    error = gai_strerror(rc);
    return false;
  }
  // The first result is what the resolver prefers (RFC 6724 order).
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.addr_len = static_cast<socklen_t>(res->ai_addrlen);
  freeaddrinfo(res);  // res is freed here
  return true;
}

}  // namespace fcgimux
