// Helpers the harness's .cc files share; not for tests.
#pragma once

#include <netinet/in.h>

#include <string>
#include <string_view>

#include "harness.h"

namespace e2e::detail {

[[noreturn]] void fail(const std::string &what);
[[noreturn]] void fail_errno(const std::string &what);
std::string read_file(const fs::path &p);
void write_file(const fs::path &p, std::string_view text);
// The last |n| bytes of a log, for error messages.
std::string tail(const std::string &s, size_t n = 4000);
sockaddr_in loopback(int port);
// A connected, blocking TCP socket to 127.0.0.1:|port| (TCP_NODELAY), or -1
// with errno set.
int connect_loopback(int port);
// Sends all of |data|; throws at |deadline|.
void send_all(int fd, std::string_view data, Clock::time_point deadline);
std::string trim(std::string_view s);

} // namespace e2e::detail
