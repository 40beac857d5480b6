#include "gateway/config/address.h"

#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <string>

using namespace fcgimux;

TEST_CASE("host:port splits, with IPv6 in brackets", "[config][address]") {
  auto [text, host, port] = GENERATE(table<std::string, std::string, unsigned>({
      {"127.0.0.1:8080", "127.0.0.1", 8080},
      {"[::1]:9000", "::1", 9000},
      {"[::]:0", "::", 0},
      {"worker-3.internal:65535", "worker-3.internal", 65535},
      {"localhost:00080", "localhost", 80},
  }));
  CAPTURE(text);
  std::string error;
  auto hp = split_host_port(text, error);
  REQUIRE(hp);
  CHECK(hp->host == host);
  CHECK(hp->port == port);
}

TEST_CASE("bad host:port text says what is wrong", "[config][address]") {
  auto [text, message] = GENERATE(table<std::string, std::string>({
      {"127.0.0.1", "missing ':port' (write \"host:port\")"},
      {"::1:9000", "IPv6 addresses go in brackets, as in \"[::1]:9000\""},
      {"[::1:9000", "missing ']' after the IPv6 address"},
      {"[::1]", "missing ':port' after ']'"},
      {"[::1]9000", "missing ':port' after ']'"},
      {":8080", "missing host (write \"0.0.0.0:PORT\" or \"[::]:PORT\" for every interface)"},
      {"[]:8080", "missing host (write \"0.0.0.0:PORT\" or \"[::]:PORT\" for every interface)"},
      {"host:", "the port must be a number 0..65535"},
      {"host:65536", "the port must be a number 0..65535"},
      {"host:123456", "the port must be a number 0..65535"},
      {"host:-1", "the port must be a number 0..65535"},
      {"host:http", "the port must be a number 0..65535"},
  }));
  CAPTURE(text);
  std::string error;
  CHECK_FALSE(split_host_port(text, error));
  CHECK(error == message);
}

TEST_CASE("addresses resolve to a sockaddr", "[config][address]") {
  std::string error;
  SocketAddress a;
  REQUIRE(resolve_address({"127.0.0.1", 9001}, false, a, error));
  CHECK(a.addr.ss_family == AF_INET);
  CHECK(a.addr_len == sizeof(sockaddr_in));
  CHECK(ntohs(reinterpret_cast<const sockaddr_in&>(a.addr).sin_port) == 9001);
  SocketAddress b;
  REQUIRE(resolve_address({"::1", 9002}, false, b, error));
  CHECK(b.addr.ss_family == AF_INET6);
  CHECK(b.addr_len == sizeof(sockaddr_in6));
  SocketAddress c;
  CHECK_FALSE(resolve_address({"no-such-host.invalid", 1}, false, c, error));
  CHECK_FALSE(error.empty());
  CHECK(c.addr_len == 0);
}
