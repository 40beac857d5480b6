// CGI/1.1 meta-variables for one request (RFC 3875 section 4.1).
//
// Decisions:
//  - The path is percent-decoded before dot segments are removed, so "%2F"
//    becomes '/' and "%2e%2e" becomes ".." (and is then removed or refused).
//    Applications see one consistent decoded path in PATH_INFO, which is the
//    same path the router matched; the raw form stays in REQUEST_URI.
//  - Empty segments ("//") are kept, as RFC 3986 section 5.2.4 keeps them.
//  - PATH_INFO is the normalized path minus the route prefix (without its
//    trailing '/'); SCRIPT_NAME is route.mount(). A request for the mount
//    itself ("/app" under prefix "/app/") has PATH_INFO "".
//  - With document_root set (PHP), the part of the path below the mount is
//    split after its first segment ending in ".php" (case-sensitive, as
//    PHP-FPM's usual location rules are): SCRIPT_NAME = mount + that part,
//    SCRIPT_FILENAME = document_root + that part, PATH_INFO = the rest. A path
//    with no such segment goes to the front controller: SCRIPT_NAME = mount
//    + "/" + index, SCRIPT_FILENAME = document_root + "/" + index,
//    PATH_INFO = the whole part below the mount. document_root is thus the
//    directory the mount maps to.
//  - HTTP_* names: only headers whose names are letters, digits and '-'
//    become HTTP_*; a '_' (or any other character) would make two different
//    headers map to one variable ("X-User" vs "X_User"), so they are dropped,
//    as nginx and Apache do. Proxy is dropped (httpoxy, CVE-2016-5385).
//    Upgrade is dropped because fcgimux ignores it: the application must not
//    answer 101. Content-Type and Content-Length become CONTENT_TYPE and
//    CONTENT_LENGTH only. Transfer-Encoding is dropped: the worker gets the
//    de-chunked body and its exact CONTENT_LENGTH, and WSGI libraries
//    (Werkzeug) ignore CONTENT_LENGTH when HTTP_TRANSFER_ENCODING is
//    "chunked" and would read an empty body.
//  - For an absolute-form target, its authority replaces Host (RFC 9112
//    section 3.2.2) in SERVER_NAME and HTTP_HOST, and REQUEST_URI is the
//    path and query without scheme and authority.
#include "gateway/cgi/cgi_params.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "fcgi/params.h"

namespace fcgimux {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Writes "HTTP_" + |name| upper-cased with '-' → '_' at |w| (room for
// 5 + name.size() bytes); returns the end, or null when the name is empty or
// has a character other than a letter, a digit or '-'.
char* write_http_var_name(std::string_view name, char* w) {
  std::memcpy(w, "HTTP_", 5);
  w += 5;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      *w++ = char(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      *w++ = c;
    } else if (c == '-') {
      *w++ = '_';
    } else {
      return nullptr;
    }
  }
  return name.empty() ? nullptr : w;
}

// The same into |out|; false when the name cannot be a variable name.
bool http_var_name(std::string_view name, std::string& out) {
  out.resize(5 + name.size());
  return write_http_var_name(name, out.data()) != nullptr;
}

// SERVER_NAME from a Host value: the host without the port; an IPv6 literal
// keeps its brackets ("[::1]:8080" → "[::1]").
std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

// The first segment of |rel| ending in ".php": returns the length of |rel|'s
// prefix through that segment, or npos.
size_t php_script_end(std::string_view rel) {
  size_t start = 0;
  while (start < rel.size()) {
    size_t end = rel.find('/', start + 1);
    if (end == std::string_view::npos) end = rel.size();
    const std::string_view seg = rel.substr(start, end - start);  // "/name"
    if (seg.size() > 4 && seg.substr(seg.size() - 4) == ".php") return end;
    start = end;
  }
  return std::string_view::npos;
}

// Decimal digits of |v| (no allocation).
struct Decimal {
  char buf[24];
  size_t len;
  explicit Decimal(uint64_t v) {
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;  // a uint64_t always fits
    len = size_t(end - buf);
  }
  std::string_view view() const { return {buf, len}; }
};

// Header names that never become HTTP_* variables (see the file comment).
bool is_excluded_header(std::string_view name) {
  switch (name.size()) {
    case 5: return iequals(name, "Proxy");
    case 7: return iequals(name, "Upgrade");
    case 12: return iequals(name, "Content-Type");
    case 14: return iequals(name, "Content-Length");
    case 17: return iequals(name, "Transfer-Encoding");
    default: return false;
  }
}

bool is_host(std::string_view name) { return name.size() == 4 && iequals(name, "Host"); }

}  // namespace

bool percent_decode(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    // The run up to the next '%' (or NUL) is copied as is.
    size_t j = i;
    while (j < raw.size() && raw[j] != '%' && raw[j] != '\0') ++j;
    out.append(raw.data() + i, j - i);
    i = j;
    if (i == raw.size()) break;
    if (raw[i] == '\0') return false;
    if (i + 2 >= raw.size()) return false;  // "%" or "%4" at the end
    const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char d = char(hi * 16 + lo);
    if (d == '\0') return false;
    out += d;
    i += 3;
  }
  return true;
}

bool normalize_path(std::string_view path, std::string& out) {
  out.clear();
  if (path.empty() || path.front() != '/') return false;
  // The usual path has no "." or ".." segment (no segment starts with '.'):
  // it is its own normal form.
  if (path.find("/.") == std::string_view::npos) {
    out.assign(path);
    return true;
  }
  std::vector<std::string_view> segs;
  std::string_view rest = path.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    if (seg == ".") {
      if (last) segs.emplace_back();  // "/a/." → "/a/"
    } else if (seg == "..") {
      if (segs.empty()) return false;  // would climb above "/"
      segs.pop_back();
      if (last) segs.emplace_back();  // "/a/b/.." → "/a/"
    } else {
      segs.push_back(seg);
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  out = "/";
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) out += '/';
    out += segs[i];
  }
  return true;
}

namespace {

// The params as pairs (tests, and anything that wants to look at them).
struct PairSink {
  CgiParams& out;
  void add(std::string_view name, std::string_view value) { out.emplace_back(name, value); }
};

// The params encoded as FastCGI name-value pairs, ready to be framed. The
// pairs of a usual request go into a buffer on the stack and then into
// |out| in one append, not one resize per pair.
class EncodingSink {
 public:
  explicit EncodingSink(std::string& out) : out_(out) {}
  void add(std::string_view name, std::string_view value) {
    const size_t n = fcgi::encoded_pair_size(name.size(), value.size());
    if (n > sizeof buf_ - used_) {
      flush();
      if (n > sizeof buf_) {
        fcgi::encode_pair(name, value, out_);
        return;
      }
    }
    used_ = size_t(fcgi::encode_pair(name, value, buf_ + used_) - buf_);
  }
  void flush() {
    out_.append(buf_, used_);
    used_ = 0;
  }

 private:
  std::string& out_;
  size_t used_ = 0;
  char buf_[1024];
};

// "HTTP_" + the header name, for emit(): on the stack for the usual name.
class VarName {
 public:
  // False when |name| cannot be a variable name (see http_var_name()).
  bool set(std::string_view name) {
    if (5 + name.size() <= sizeof small_) {
      char* end = write_http_var_name(name, small_);
      if (!end) return false;
      view_ = {small_, size_t(end - small_)};
      return true;
    }
    if (!http_var_name(name, big_)) return false;
    view_ = big_;
    return true;
  }
  std::string_view view() const { return view_; }

 private:
  char small_[64];
  std::string big_;
  std::string_view view_;
};

// Both builds go through this one function, so that the pairs the tests look
// at are the pairs that get encoded. Each variable is emitted once, in its
// final form, in order: what the first version of this code did afterwards
// (join repeated headers, let route params replace variables, drop NULs) is
// decided before a variable is emitted.
template <class Sink>
Result<void> emit(const CgiInput& in, Sink& sink) {
  const RequestHead& head = *in.head;
  const RouteConfig& route = *in.route;
  const ConnInfo& conn = *in.conn;

  std::string decoded, own_path;
  if (in.normalized_path == nullptr &&
      (!percent_decode(head.path, decoded) || !normalize_path(decoded, own_path)))
    return Unexpected{Error::BadRequest};
  const std::string& path = in.normalized_path ? *in.normalized_path : own_path;

  // The part below the mount. The router matched |path| against the prefix
  // on whole segments; check again rather than trust it blindly.
  std::string_view stem = route.prefix;
  while (!stem.empty() && stem.back() == '/') stem.remove_suffix(1);
  if (path.compare(0, stem.size(), stem) != 0 ||
      (path.size() > stem.size() && path[stem.size()] != '/'))
    return Unexpected{Error::BadRequest};
  const std::string_view rel = std::string_view(path).substr(stem.size());

  // route.mount() without building a string.
  const std::string_view mount = route.script_name ? std::string_view(*route.script_name) : stem;
  // Views: only a PHP route builds strings (no copy of the path otherwise).
  std::string_view script_name = mount, path_info = rel, script_filename;
  std::string php_script_name, php_script_filename;
  if (!route.document_root.empty()) {
    std::string_view root = route.document_root;
    while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
    const size_t end = php_script_end(rel);
    std::string script;
    if (end != std::string_view::npos) {
      script = rel.substr(0, end);
      path_info = rel.substr(end);
    } else {
      std::string_view index = route.index;
      while (!index.empty() && index.front() == '/') index.remove_prefix(1);
      script = "/" + std::string(index);
      path_info = rel;
    }
    php_script_name.reserve(mount.size() + script.size());
    php_script_name = mount;
    php_script_name += script;
    php_script_filename = std::string(root == "/" ? "" : root) + script;
    script_name = php_script_name;
    script_filename = php_script_filename;
  }

  // One pass for the headers looked up below (the first of each, as
  // RequestHead::find would give).
  const std::string* host_header = nullptr;
  const std::string* content_type = nullptr;
  bool has_content_length_header = false;
  for (const auto& [name, value] : head.headers) {
    switch (name.size()) {
      case 4:
        if (!host_header && iequals(name, "Host")) host_header = &value;
        break;
      case 12:
        if (!content_type && iequals(name, "Content-Type")) content_type = &value;
        break;
      case 14:
        if (iequals(name, "Content-Length")) has_content_length_header = true;
        break;
      default:
        break;
    }
  }

  // Host: the absolute-form authority wins over the Host header.
  const std::string_view host = !head.authority.empty() ? std::string_view(head.authority)
                                : host_header             ? std::string_view(*host_header)
                                                          : std::string_view{};
  std::string_view server_name = host_without_port(host);
  if (server_name.empty()) server_name = in.default_server_name;

  std::string absolute_form_uri;
  std::string_view request_uri = head.target;
  if (!head.authority.empty()) {
    absolute_form_uri = head.path;
    if (head.target.find('?') != std::string::npos) {
      absolute_form_uri += '?';
      absolute_form_uri += head.query;
    }
    request_uri = absolute_form_uri;
  }

  // Route params come last and replace variables of the same name (the
  // last of several same-named route params wins, in its place).
  const auto& rp = route.params;
  auto replaced_by_route = [&](std::string_view name, size_t after) {
    for (size_t i = after; i < rp.size(); ++i)
      if (rp[i].first == name) return true;
    return false;
  };
  // Never a NUL: FastCGI would pass it on and C applications would truncate.
  // The names here are literals or VarName's (letters, digits, '_'): only
  // values are checked, and only those that may hold one; set_clean() is
  // for values that cannot (literals, numbers, addresses fcgimux formats).
  auto set_clean = [&](std::string_view name, std::string_view value) {
    if (!rp.empty() && replaced_by_route(name, 0)) return;
    sink.add(name, value);
  };
  auto set = [&](std::string_view name, std::string_view value) {
    if (has_nul(value)) return;
    set_clean(name, value);
  };

  set_clean("GATEWAY_INTERFACE", "CGI/1.1");
  set("SERVER_SOFTWARE", in.server_software);
  set("SERVER_NAME", server_name);
  set_clean("SERVER_PORT", Decimal(conn.server_port).view());
  set_clean("SERVER_ADDR", conn.server_addr);
  set_clean("SERVER_PROTOCOL", head.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  set("REQUEST_METHOD", head.method);
  set("REQUEST_URI", request_uri);
  set("SCRIPT_NAME", script_name);
  set("PATH_INFO", path_info);
  set("QUERY_STRING", head.query);
  if (!route.document_root.empty()) {
    set("DOCUMENT_ROOT", route.document_root);
    set("SCRIPT_FILENAME", script_filename);
    set_clean("REDIRECT_STATUS", "200");  // PHP's cgi.force_redirect wants it
  }
  if (content_type) set("CONTENT_TYPE", *content_type);
  if (head.has_body() || has_content_length_header)
    set_clean("CONTENT_LENGTH", Decimal(in.content_length).view());
  set_clean("REMOTE_ADDR", conn.remote_addr);
  set_clean("REMOTE_PORT", Decimal(conn.remote_port).view());

  // HTTP_*: one variable per header name, in order of first appearance;
  // repeated fields joined (RFC 9110 section 5.3), Cookie with "; "
  // (RFC 6265 section 5.4). Two names make the same variable exactly when
  // they are equal but for case (only letters, digits and '-' are allowed).
  const auto& hs = head.headers;
  auto same_name = [](std::string_view a, std::string_view b) { return a.size() == b.size() && iequals(a, b); };
  VarName var;
  std::string joined;  // only for a repeated header
  for (size_t i = 0; i < hs.size(); ++i) {
    const std::string& name = hs[i].first;
    if (is_excluded_header(name) || !var.set(name)) continue;
    bool repeat = false;
    for (size_t j = 0; j < i && !repeat; ++j) repeat = same_name(hs[j].first, name);
    if (repeat) continue;  // joined into the first one
    // RFC 9112 section 3.2.2: the authority of an absolute-form target
    // replaces every Host field.
    if (!head.authority.empty() && is_host(name)) {
      set(var.view(), head.authority);
      continue;
    }
    std::string_view value = hs[i].second;
    for (size_t k = i + 1; k < hs.size(); ++k) {
      if (!same_name(hs[k].first, name)) continue;
      if (value.data() != joined.data()) joined.assign(value);
      joined += (name.size() == 6 && iequals(name, "Cookie")) ? "; " : ", ";
      joined += hs[k].second;
      value = joined;
    }
    set(var.view(), value);
  }

  for (size_t i = 0; i < rp.size(); ++i) {
    if (replaced_by_route(rp[i].first, i + 1)) continue;
    if (has_nul(rp[i].first) || has_nul(rp[i].second)) continue;
    sink.add(rp[i].first, rp[i].second);
  }
  return {};
}

}  // namespace

Result<CgiParams> build_cgi_params(const CgiInput& in) {
  CgiParams p;
  p.reserve(24 + in.head->headers.size() + in.route->params.size());
  PairSink sink{p};
  if (auto r = emit(in, sink); !r) return Unexpected{r.error()};
  return p;
}

Result<void> encode_cgi_params(const CgiInput& in, std::string& out) {
  out.clear();
  EncodingSink sink(out);
  if (auto r = emit(in, sink); !r) return r;
  sink.flush();
  return {};
}

}  // namespace fcgimux
