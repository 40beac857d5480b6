// fcgimux::HttpParser (the client side: strict HTTP/1.1 with our own body
// framing) and fcgimux::build_cgi_params over any bytes.
//
// Input: byte 0 picks the split plans, the rest is what a client sends on
// one connection (pipelined requests included). Limits are small (head 1 KiB,
// body 4 KiB) so 431 and 413 are reachable.
//
// Oracles:
//  - whole and split feeds (fed as a connection feeds: unconsumed bytes are
//    kept and fed again after resume()) give the same heads, bodies,
//    completions, error and finish() result; the sink's calls come in order
//    (head, body pieces, complete), and body pieces are never empty;
//  - for each completed request, as gateway/server/exchange.cc does it
//    (decode, normalize, route, build_cgi_params) with fixed routes:
//      * build_cgi_params fails exactly when decoding/normalizing fails;
//      * no name or value holds a NUL; HTTP_* values hold no CR or LF;
//      * SCRIPT_NAME and PATH_INFO are there once each; PATH_INFO is empty
//        or starts with '/'; SCRIPT_NAME + PATH_INFO is the normalized path
//        (for the front controller: mount + PATH_INFO is, and SCRIPT_NAME is
//        mount + "/index.php"); SCRIPT_FILENAME is document_root + the script;
//      * every HTTP_* variable comes from a header whose name is letters,
//        digits and '-' only (a name with '_' produced none), and none is
//        HTTP_PROXY, HTTP_CONTENT_TYPE, HTTP_CONTENT_LENGTH or
//        HTTP_TRANSFER_ENCODING;
//      * CONTENT_LENGTH, when set, is the body's exact length.
#include <algorithm>
#include <optional>

#include "gateway/cgi/cgi_params.h"
#include "gateway/http/http_parser.h"
#include "gateway/routing/router.h"
#include "tests/fuzz/fuzz_support.h"

namespace fcgimux::fuzz {

namespace {

struct Parsed {
  RequestHead head;
  std::string body;
  bool complete = false;
};

bool same_head(const RequestHead& a, const RequestHead& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.authority == b.authority && a.version_major == b.version_major &&
         a.version_minor == b.version_minor && a.headers == b.headers &&
         a.keep_alive == b.keep_alive && a.chunked == b.chunked &&
         a.content_length == b.content_length && a.expect_continue == b.expect_continue;
}

struct Outcome {
  std::vector<Parsed> requests;
  std::string result = "ok";
  std::string finish = "-";
  bool operator==(const Outcome& o) const {
    if (result != o.result || finish != o.finish || requests.size() != o.requests.size())
      return false;
    for (size_t i = 0; i < requests.size(); ++i)
      if (!same_head(requests[i].head, o.requests[i].head) ||
          requests[i].body != o.requests[i].body || requests[i].complete != o.requests[i].complete)
        return false;
    return true;
  }
};

std::string describe(const Outcome& o) {
  std::string s = "result=" + o.result + " finish=" + o.finish;
  for (const auto& r : o.requests) {
    s += "\n    " + escape(r.head.method) + " [" + escape(r.head.target) + "] path=[" +
         escape(r.head.path) + "] headers=" + std::to_string(r.head.headers.size()) +
         " chunked=" + std::to_string(r.head.chunked) +
         " cl=" + (r.head.content_length ? std::to_string(*r.head.content_length) : "-") +
         " keep_alive=" + std::to_string(r.head.keep_alive) + " body=[" + escape(r.body) +
         "] complete=" + std::to_string(r.complete);
  }
  return s;
}

class Recorder final : public HttpRequestSink {
 public:
  std::vector<Parsed> requests;
  void on_request_head(RequestHead& head) override {
    FUZZ_CHECK(requests.empty() || requests.back().complete, "head before the last request ended");
    requests.push_back({std::move(head), {}, false});
  }
  void on_request_body(std::span<const std::byte> b) override {
    FUZZ_CHECK(!requests.empty() && !requests.back().complete, "body outside a request");
    FUZZ_CHECK(!b.empty(), "empty body piece");
    requests.back().body += as_string(b);
  }
  void on_request_complete() override {
    FUZZ_CHECK(!requests.empty() && !requests.back().complete, "complete outside a request");
    requests.back().complete = true;
  }
};

std::string error_name(Error e) { return std::string(to_string(e)); }

Outcome run(std::span<const std::byte> wire, const std::vector<size_t>& cuts) {
  const HttpLimits limits{.max_header_size = 1024, .max_body_size = 4096};
  Recorder rec;
  HttpParser parser(limits, rec);
  Outcome out;
  std::string pending;
  for (auto piece : pieces(wire, cuts)) {
    pending += as_string(piece);
    while (!pending.empty()) {
      auto r = parser.feed(as_bytes(pending));
      if (!r) {
        out.result = error_name(r.error());
        out.requests = std::move(rec.requests);
        return out;
      }
      FUZZ_CHECK(*r <= pending.size(), "consumed more than fed");
      pending.erase(0, *r);
      if (!parser.paused()) {
        FUZZ_CHECK(pending.empty(), "not paused, yet bytes left unconsumed");
        break;
      }
      parser.resume();
    }
    if (parser.paused()) parser.resume();
  }
  auto f = parser.finish();
  out.finish = f ? "ok" : error_name(f.error());
  out.requests = std::move(rec.requests);
  return out;
}

// The routes every request is checked against.
std::vector<RouteConfig> make_routes() {
  std::vector<RouteConfig> routes(4);
  routes[0].prefix = "/";
  routes[0].pool = "p";
  routes[1].prefix = "/app/";
  routes[1].pool = "p";
  routes[2].prefix = "/php";
  routes[2].pool = "p";
  routes[2].document_root = "/srv/www";
  routes[3].prefix = "/scripted/";
  routes[3].pool = "p";
  routes[3].script_name = "/s";
  routes[3].params = {{"HTTPS", "on"}, {"HTTP_X_FROM_ROUTE", "1"}};
  return routes;
}

bool header_name_maps(std::string_view name, std::string_view var) {
  std::string v = "HTTP_";
  for (char c : name) {
    if (c >= 'a' && c <= 'z') v += char(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) v += c;
    else if (c == '-') v += '_';
    else return false;
  }
  return !name.empty() && v == var;
}

void check_cgi(const Parsed& req) {
  static const std::vector<RouteConfig> routes = make_routes();
  static const Router router(routes);
  static const ConnInfo conn{.remote_addr = "192.0.2.7", .remote_port = 40000,
                             .server_addr = "127.0.0.1", .server_port = 8080};
  const RequestHead& head = req.head;
  if (head.path == "*") return;  // "OPTIONS *": answered by the gateway itself

  const uint64_t content_length = head.chunked ? req.body.size() : head.content_length.value_or(0);
  auto build = [&](const RouteConfig& route) {
    CgiInput in{.head = &head, .route = &route, .conn = &conn,
                .server_software = "fcgimux/0.1.0", .default_server_name = "gw.example",
                .content_length = content_length};
    return build_cgi_params(in);
  };
  std::string decoded, normalized;
  const bool path_ok = percent_decode(head.path, decoded) && normalize_path(decoded, normalized);
  auto at_root = build(routes[0]);
  FUZZ_CHECK(bool(at_root) == path_ok,
             "build_cgi_params and decode/normalize disagree on [" + escape(head.path) + "]");
  if (!path_ok) return;

  const RouteConfig* route = router.match(normalized);
  FUZZ_CHECK(route != nullptr, "the '/' route did not match [" + escape(normalized) + "]");
  auto params = build(*route);
  FUZZ_CHECK(bool(params), "build_cgi_params failed on the routed path [" + escape(normalized) + "]");

  const std::string where = " (path [" + escape(normalized) + "], route " + route->prefix + ")";
  std::optional<std::string> script_name, path_info, script_filename, content_length_var;
  for (const auto& param : *params) {
    const std::string& name = param.first;
    const std::string& value = param.second;
    FUZZ_CHECK(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos,
               "NUL in [" + escape(name) + "]=[" + escape(value) + "]");
    auto once = [&](std::optional<std::string>& slot) {
      FUZZ_CHECK(!slot, name + " twice" + where);
      slot = value;
    };
    if (name == "SCRIPT_NAME") once(script_name);
    if (name == "PATH_INFO") once(path_info);
    if (name == "SCRIPT_FILENAME") once(script_filename);
    if (name == "CONTENT_LENGTH") once(content_length_var);
    if (name.starts_with("HTTP_")) {
      const bool from_route = std::any_of(route->params.begin(), route->params.end(),
                                          [&](const auto& kv) { return kv.first == name; });
      if (from_route) continue;
      FUZZ_CHECK(name != "HTTP_PROXY" && name != "HTTP_CONTENT_TYPE" &&
                     name != "HTTP_CONTENT_LENGTH" && name != "HTTP_TRANSFER_ENCODING",
                 name + " produced");
      const bool from_clean_header =
          std::any_of(head.headers.begin(), head.headers.end(),
                      [&](const auto& kv) { return header_name_maps(kv.first, name); });
      FUZZ_CHECK(from_clean_header, name + " does not come from a header named with letters, "
                                           "digits and '-' only");
      FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos,
                 "CR/LF in " + name + "=[" + escape(value) + "]");
    }
  }
  FUZZ_CHECK(script_name && path_info, "SCRIPT_NAME or PATH_INFO missing" + where);
  FUZZ_CHECK(path_info->empty() || path_info->front() == '/',
             "PATH_INFO [" + escape(*path_info) + "]" + where);
  const std::string mount = route->mount();
  if (route->document_root.empty()) {
    FUZZ_CHECK(*script_name == mount, "SCRIPT_NAME [" + *script_name + "]" + where);
    FUZZ_CHECK(!script_filename, "SCRIPT_FILENAME without document_root");
    if (!route->script_name)
      FUZZ_CHECK(*script_name + *path_info == normalized,
                 "SCRIPT_NAME [" + escape(*script_name) + "] + PATH_INFO [" + escape(*path_info) +
                     "] is not the path" + where);
  } else {
    FUZZ_CHECK(script_name->starts_with(mount), "SCRIPT_NAME outside the mount" + where);
    const bool front = *script_name == mount + "/" + route->index;
    FUZZ_CHECK(*script_name + *path_info == normalized || (front && mount + *path_info == normalized),
               "SCRIPT_NAME [" + escape(*script_name) + "] + PATH_INFO [" + escape(*path_info) +
                   "] is not the path" + where);
    FUZZ_CHECK(script_filename && *script_filename ==
                                      route->document_root + script_name->substr(mount.size()),
               "SCRIPT_FILENAME" + where);
  }
  if (content_length_var)
    FUZZ_CHECK(*content_length_var == std::to_string(req.body.size()),
               "CONTENT_LENGTH " + *content_length_var + " for a body of " +
                   std::to_string(req.body.size()));
}

}  // namespace

int fuzz_http_request(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const auto wire = as_bytes(data + 1, size - 1);
  const Outcome whole = run(wire, {});
  for (const auto& cuts : split_plans(control, wire.size())) {
    const Outcome split = run(wire, cuts);
    FUZZ_CHECK(split == whole, std::to_string(cuts.size() + 1) + " pieces\n  whole: " +
                                   describe(whole) + "\n  split: " + describe(split));
  }
  for (const auto& req : whole.requests)
    if (req.complete) check_cgi(req);
  return 0;
}

}  // namespace fcgimux::fuzz
