#include "gateway/base/unpolled_io.h"

#include <poll.h>

namespace fcgimux {

bool has_unpolled_io(const uv_tcp_t& tcp, AwaitedIo what) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp), &fd) != 0) return false;
  pollfd p{.fd = fd, .events = short(what == AwaitedIo::Connect ? POLLOUT : POLLIN), .revents = 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  // An error or hang-up is news too: the loop reports it as such.
  return (p.revents & (p.events | POLLERR | POLLHUP)) != 0;
}

}  // namespace fcgimux
