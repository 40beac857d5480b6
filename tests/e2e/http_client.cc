// The blocking HTTP/1.1 client and the minimal FastCGI client of the harness.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "harness.h"
#include "harness_internal.h"

namespace e2e {

using namespace detail;

// ---------------------------------------------------------------------------
// Response

std::string Response::lower(std::string s) {
  for (char &c : s)
    c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Response::header(const std::string &name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> Response::all(const std::string &name) const {
  std::vector<std::string> out;
  auto [b, e] = headers.equal_range(lower(name));
  for (auto it = b; it != e; ++it)
    out.push_back(it->second);
  return out;
}

std::optional<Clock::time_point> Response::time_body_reached(size_t length) const {
  for (const auto &[t, n] : arrivals)
    if (n >= length)
      return t;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// HttpClient

HttpClient::HttpClient(int port, Duration timeout) : port_(port), timeout_(timeout) {
  fd_ = connect_loopback(port);
  if (fd_ < 0)
    fail_errno("connect 127.0.0.1:" + std::to_string(port));
}

HttpClient::~HttpClient() {
  if (fd_ >= 0)
    ::close(fd_);
}

void HttpClient::send(std::string_view raw) { send_all(fd_, raw, Clock::now() + timeout_); }

bool HttpClient::fill(Clock::time_point deadline) {
  if (eof_)
    return false;
  char tmp[65536];
  while (true) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
    if (left <= 0)
      fail("timed out after " + std::to_string(timeout_.count()) +
           " ms waiting for the response from 127.0.0.1:" + std::to_string(port_) +
           "; received so far: " + tail(buf_, 600));
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      fail_errno("poll");
    if (r == 0)
      continue;
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0 && errno == ECONNRESET) {
      eof_ = true;
      return false;
    }
    if (n < 0)
      fail_errno("recv");
    if (n == 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, size_t(n));
    return true;
  }
}

bool HttpClient::fill_until(size_t n, Clock::time_point deadline) {
  while (buf_.size() < n)
    if (!fill(deadline))
      return false;
  return true;
}

Response HttpClient::read_response(bool head_request) {
  Response r;
  while (true) {
    // The head. Each read gets the full timeout: a slow but live response
    // is not a failure.
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(Clock::now() + timeout_))
        fail("connection closed before a complete response head; received: " + tail(buf_, 600));
    }
    r.head_at = Clock::now();
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::istringstream lines(head);
    std::string status_line;
    std::getline(lines, status_line);
    status_line = trim(status_line);
    std::smatch m;
    static const std::regex status_re(R"(^(HTTP/\d\.\d) (\d{3})(?: (.*))?$)");
    if (!std::regex_match(status_line, m, status_re))
      fail("bad status line: " + status_line);
    r.version = m[1];
    r.status = std::stoi(m[2]);
    r.reason = m[3];
    r.headers.clear();
    for (std::string line; std::getline(lines, line);) {
      auto colon = line.find(':');
      if (colon == std::string::npos)
        fail("bad header line: " + line);
      r.headers.emplace(Response::lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    if (r.status >= 100 && r.status < 200 && r.status != 101) {
      r.interim.push_back(r.status);
      continue; // 100 Continue and friends: the real response follows
    }
    break;
  }

  auto note = [&] { r.arrivals.emplace_back(Clock::now(), r.body.size()); };
  if (head_request || r.status == 204 || r.status == 304)
    return r;

  const std::string te = Response::lower(r.header("transfer-encoding"));
  if (!te.empty() && te.find("chunked") != std::string::npos) {
    r.chunked = true;
    while (true) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill(Clock::now() + timeout_))
          fail("connection closed inside a chunk size line");
      std::string size_line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      size_t size = 0;
      try {
        size = std::stoul(size_line.substr(0, size_line.find(';')), nullptr, 16);
      } catch (...) {
        fail("bad chunk size line: " + size_line);
      }
      if (size == 0) {
        // Trailers, then the empty line.
        while (true) {
          while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (!fill(Clock::now() + timeout_))
              fail("connection closed inside chunked trailers");
          std::string line = buf_.substr(0, eol);
          buf_.erase(0, eol + 2);
          if (line.empty())
            break;
        }
        break;
      }
      while (buf_.size() < size + 2) {
        // Deliver what arrived so far, for arrival times.
        size_t have = std::min(buf_.size(), size);
        r.body.append(buf_, 0, have);
        buf_.erase(0, have);
        size -= have;
        if (have)
          note();
        if (!fill(Clock::now() + timeout_))
          fail("connection closed inside a chunk");
      }
      r.body.append(buf_, 0, size);
      if (buf_.compare(size, 2, "\r\n") != 0)
        fail("chunk not followed by CRLF");
      buf_.erase(0, size + 2);
      note();
    }
    return r;
  }

  if (r.has("content-length")) {
    size_t len = 0;
    try {
      len = std::stoull(r.header("content-length"));
    } catch (...) {
      fail("bad Content-Length: " + r.header("content-length"));
    }
    while (r.body.size() < len) {
      if (buf_.empty() && !fill(Clock::now() + timeout_))
        fail("connection closed after " + std::to_string(r.body.size()) + " of " +
             std::to_string(len) + " body bytes");
      size_t take = std::min(buf_.size(), len - r.body.size());
      r.body.append(buf_, 0, take);
      buf_.erase(0, take);
      note();
    }
    return r;
  }

  // Neither: the body runs until the connection closes.
  r.until_close = true;
  while (true) {
    if (!buf_.empty()) {
      r.body += buf_;
      buf_.clear();
      note();
    }
    if (!fill(Clock::now() + timeout_))
      break;
  }
  return r;
}

Response HttpClient::request(const std::string &method, const std::string &target,
                             const std::vector<std::pair<std::string, std::string>> &headers,
                             const std::string &body) {
  std::string req = method + " " + target + " HTTP/1.1\r\n";
  bool has_host = false, has_length = false;
  for (const auto &[k, v] : headers) {
    const std::string lk = Response::lower(k);
    has_host |= lk == "host";
    has_length |= lk == "content-length" || lk == "transfer-encoding";
    req += k + ": " + v + "\r\n";
  }
  if (!has_host)
    req += "Host: 127.0.0.1:" + std::to_string(port_) + "\r\n";
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT"))
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  send(req);
  if (!body.empty())
    send(body);
  return read_response(method == "HEAD");
}

bool HttpClient::closed_within(Duration wait) {
  const auto deadline = Clock::now() + wait;
  while (!eof_) {
    auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left));
    if (r <= 0)
      continue;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0)
      buf_.append(tmp, size_t(n));
    else if (n == 0 || errno == ECONNRESET)
      eof_ = true;
  }
  return true;
}

Response http_request(int port, const std::string &method, const std::string &target,
                      const std::vector<std::pair<std::string, std::string>> &headers,
                      const std::string &body, Duration timeout) {
  HttpClient c(port, timeout);
  auto h = headers;
  h.emplace_back("Connection", "close");
  return c.request(method, target, h, body);
}

Response http_get(int port, const std::string &target,
                  const std::vector<std::pair<std::string, std::string>> &headers) {
  return http_request(port, "GET", target, headers);
}

// ---------------------------------------------------------------------------
// A minimal FastCGI client. The records are written here, not with fcgi/,
// on purpose: it checks the workers independently of the code under test.

namespace {
void fcgi_record(std::string &out, int type, int id, std::string_view content) {
  do {
    const size_t n = std::min<size_t>(content.size(), 65535);
    const size_t pad = (8 - n % 8) % 8;
    const unsigned char h[8] = {1,
                                (unsigned char)type,
                                (unsigned char)(id >> 8),
                                (unsigned char)id,
                                (unsigned char)(n >> 8),
                                (unsigned char)n,
                                (unsigned char)pad,
                                0};
    out.append(reinterpret_cast<const char *>(h), 8);
    out.append(content.substr(0, n));
    out.append(pad, '\0');
    content.remove_prefix(n);
  } while (!content.empty());
}

void fcgi_length(std::string &out, size_t n) {
  if (n < 128) {
    out.push_back(char(n));
  } else {
    out.push_back(char(0x80 | (n >> 24)));
    out.push_back(char(n >> 16));
    out.push_back(char(n >> 8));
    out.push_back(char(n));
  }
}
} // namespace

FcgiResult fcgi_request(int port, const std::vector<std::pair<std::string, std::string>> &params,
                        const std::string &body, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string out;
  fcgi_record(out, 1, 1, std::string("\0\1\0\0\0\0\0\0", 8)); // BEGIN_REQUEST, responder
  std::string p;
  for (const auto &[k, v] : params) {
    fcgi_length(p, k.size());
    fcgi_length(p, v.size());
    p += k + v;
  }
  if (!p.empty())
    fcgi_record(out, 4, 1, p);
  fcgi_record(out, 4, 1, "");
  if (!body.empty())
    fcgi_record(out, 5, 1, body);
  fcgi_record(out, 5, 1, "");

  int fd = connect_loopback(port);
  if (fd < 0)
    fail_errno("connect 127.0.0.1:" + std::to_string(port));
  FcgiResult res;
  std::string in;
  try {
    send_all(fd, out, deadline);
    char tmp[65536];
    while (!res.ended) {
      while (in.size() >= 8) {
        const auto *h = reinterpret_cast<const unsigned char *>(in.data());
        const size_t len = size_t(h[4]) << 8 | h[5], total = 8 + len + h[6];
        if (in.size() < total)
          break;
        const std::string content = in.substr(8, len);
        if (h[1] == 6)
          res.stdout_data += content;
        if (h[1] == 7)
          res.stderr_data += content;
        if (h[1] == 3) {
          res.ended = true;
          const auto *c = reinterpret_cast<const unsigned char *>(content.data());
          if (len >= 4)
            res.app_status = int(c[0]) << 24 | int(c[1]) << 16 | int(c[2]) << 8 | c[3];
        }
        in.erase(0, total);
      }
      if (res.ended)
        break;
      auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now()).count();
      if (left <= 0)
        fail("FastCGI request to 127.0.0.1:" + std::to_string(port) + " timed out");
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, int(left)) <= 0)
        continue;
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0)
        break; // closed without END_REQUEST: res.ended stays false
      in.append(tmp, size_t(n));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return res;
}

} // namespace e2e
