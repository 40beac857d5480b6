#include "gateway/cgi/cgi_params.h"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/params.h"
#include "gateway/http/http_parser.h"

using namespace fcgimux;

namespace {

// Parses |wire| with the real HttpParser: the heads under test are the heads
// the server will pass.
RequestHead head_of(std::string_view wire) {
  struct Sink : HttpRequestSink {
    std::optional<RequestHead> head;
    void on_request_head(RequestHead& h) override { head = std::move(h); }
    void on_request_body(std::span<const std::byte>) override {}
    void on_request_complete() override {}
  } sink;
  HttpParser parser({}, sink);
  Result<size_t> r = parser.feed(std::as_bytes(std::span<const char>(wire.data(), wire.size())));
  REQUIRE(r);
  REQUIRE(sink.head);
  return *sink.head;
}

RouteConfig route_of(std::string prefix, std::string document_root = "",
                     std::optional<std::string> script_name = std::nullopt) {
  RouteConfig r;
  r.prefix = std::move(prefix);
  r.pool = "p";
  r.document_root = std::move(document_root);
  r.script_name = std::move(script_name);
  return r;
}

const ConnInfo kConn{"192.0.2.7", 54321, "10.0.0.1", 8080};

Result<CgiParams> build(const RequestHead& head, const RouteConfig& route, uint64_t content_length = 0) {
  CgiInput in;
  in.head = &head;
  in.route = &route;
  in.conn = &kConn;
  in.server_software = "fcgimux/0.1.0";
  in.default_server_name = "gw.local";
  in.content_length = content_length;
  return build_cgi_params(in);
}

std::map<std::string, std::string> as_map(const CgiParams& p) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : p) {
    CHECK(m.count(k) == 0);  // every name once
    m[k] = v;
  }
  return m;
}

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n" + extra + "\r\n";
}

}  // namespace

TEST_CASE("the fixed variables", "[cgi]") {
  const RequestHead head = head_of(get("/x?a=1"));
  const RouteConfig route = route_of("/");
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("GATEWAY_INTERFACE") == "CGI/1.1");
  CHECK(m.at("SERVER_SOFTWARE") == "fcgimux/0.1.0");
  CHECK(m.at("SERVER_NAME") == "example.com");
  CHECK(m.at("SERVER_PORT") == "8080");
  CHECK(m.at("SERVER_ADDR") == "10.0.0.1");
  CHECK(m.at("SERVER_PROTOCOL") == "HTTP/1.1");
  CHECK(m.at("REQUEST_METHOD") == "GET");
  CHECK(m.at("REQUEST_URI") == "/x?a=1");
  CHECK(m.at("QUERY_STRING") == "a=1");
  CHECK(m.at("REMOTE_ADDR") == "192.0.2.7");
  CHECK(m.at("REMOTE_PORT") == "54321");
  CHECK(m.at("HTTP_HOST") == "example.com");
  CHECK(m.count("HTTPS") == 0);
  CHECK(m.count("CONTENT_LENGTH") == 0);
  CHECK(m.count("CONTENT_TYPE") == 0);
  CHECK(m.count("DOCUMENT_ROOT") == 0);
  CHECK(m.count("SCRIPT_FILENAME") == 0);
  CHECK(m.count("REDIRECT_STATUS") == 0);
}

TEST_CASE("SCRIPT_NAME and PATH_INFO by mount", "[cgi]") {
  auto [prefix, script_name, target, sn, pi, qs, uri] =
      GENERATE(table<std::string, std::optional<std::string>, std::string, std::string, std::string, std::string, std::string>({
          // Root mount: SCRIPT_NAME empty, PATH_INFO the whole path.
          {"/", std::nullopt, "/", "", "/", "", "/"},
          {"/", std::nullopt, "/a/b", "", "/a/b", "", "/a/b"},
          // The Django case.
          {"/app/", std::nullopt, "/app/hello%20world/?x=%41", "/app", "/hello world/", "x=%41", "/app/hello%20world/?x=%41"},
          {"/app/", std::nullopt, "/app", "/app", "", "", "/app"},
          {"/app/", std::nullopt, "/app/", "/app", "/", "", "/app/"},
          {"/app", std::nullopt, "/app/x", "/app", "/x", "", "/app/x"},
          {"/a/b/", std::nullopt, "/a/b/c/d?", "/a/b", "/c/d", "", "/a/b/c/d?"},
          // An explicit script_name replaces the mount, not the matching.
          {"/app/", std::string("/mounted"), "/app/x", "/mounted", "/x", "", "/app/x"},
          {"/", std::string(""), "/x", "", "/x", "", "/x"},
          // Encoded paths: decoded, then normalized; %2F is a '/'.
          {"/", std::nullopt, "/a%2Fb", "", "/a/b", "", "/a%2Fb"},
          {"/", std::nullopt, "/caf%C3%A9", "", "/caf\xC3\xA9", "", "/caf%C3%A9"},
          {"/", std::nullopt, "/a+b", "", "/a+b", "", "/a+b"},
          {"/", std::nullopt, "/a/./b/../c", "", "/a/c", "", "/a/./b/../c"},
          {"/", std::nullopt, "/a/%2e%2e/c", "", "/c", "", "/a/%2e%2e/c"},
          {"/", std::nullopt, "/a/b/..", "", "/a/", "", "/a/b/.."},
          {"/", std::nullopt, "/a//b", "", "/a//b", "", "/a//b"},
          {"/app/", std::nullopt, "/app/x/../y", "/app", "/y", "", "/app/x/../y"},
          // Absolute-form: REQUEST_URI without scheme and authority.
          {"/", std::nullopt, "http://example.com/p?q=1", "", "/p", "q=1", "/p?q=1"},
          {"/", std::nullopt, "http://example.com", "", "/", "", "/"},
      }));
  CAPTURE(prefix, target);
  const RequestHead head = head_of(get(target));
  const RouteConfig route = route_of(prefix, "", script_name);
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("SCRIPT_NAME") == sn);
  CHECK(m.at("PATH_INFO") == pi);
  CHECK(m.at("QUERY_STRING") == qs);
  CHECK(m.at("REQUEST_URI") == uri);
}

TEST_CASE("paths that cannot be mapped are 400", "[cgi]") {
  auto [prefix, target] = GENERATE(table<std::string, std::string>({
      {"/", "/a/../../etc"},
      {"/", "/.."},
      {"/", "/%2e%2e/etc/passwd"},
      {"/", "/a/%2E%2E/%2e%2E/x"},
      {"/", "/a%00b"},
      {"/", "/a%"},
      {"/", "/a%4"},
      {"/", "/a%zz"},
      {"/", "*"},
      // The route must match the normalized path (the caller's contract,
      // checked anyway).
      {"/app/", "/apple"},
      {"/app/", "/app/../etc"},
  }));
  CAPTURE(prefix, target);
  const std::string wire = target == "*" ? "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n" : get(target);
  const RequestHead head = head_of(wire);
  const RouteConfig route = route_of(prefix);
  Result<CgiParams> r = build(head, route);
  REQUIRE_FALSE(r);
  CHECK(r.error() == Error::BadRequest);
}

TEST_CASE("PHP routes split after the first .php segment", "[cgi][php]") {
  auto [prefix, root, target, sn, pi, sf] =
      GENERATE(table<std::string, std::string, std::string, std::string, std::string, std::string>({
          {"/", "/srv/www", "/index.php/foo", "/index.php", "/foo", "/srv/www/index.php"},
          {"/", "/srv/www", "/blog/post", "/index.php", "/blog/post", "/srv/www/index.php"},
          {"/", "/srv/www", "/", "/index.php", "/", "/srv/www/index.php"},
          {"/", "/srv/www/", "/info.php", "/info.php", "", "/srv/www/info.php"},
          {"/", "/srv/www", "/a/b.php/c/d.php/e", "/a/b.php", "/c/d.php/e", "/srv/www/a/b.php"},
          {"/", "/srv/www", "/a.php.txt/x", "/index.php", "/a.php.txt/x", "/srv/www/index.php"},
          {"/", "/srv/www", "/a.phpx", "/index.php", "/a.phpx", "/srv/www/index.php"},
          {"/", "/srv/www", "/dir%2Fx.php/y", "/dir/x.php", "/y", "/srv/www/dir/x.php"},
          {"/", "/srv/www", "/a/../admin.php", "/admin.php", "", "/srv/www/admin.php"},
          {"/wp/", "/srv/wordpress", "/wp/wp-admin/edit.php?post=1", "/wp/wp-admin/edit.php", "", "/srv/wordpress/wp-admin/edit.php"},
          {"/wp/", "/srv/wordpress", "/wp/2024/01/hello", "/wp/index.php", "/2024/01/hello", "/srv/wordpress/index.php"},
          {"/wp/", "/srv/wordpress", "/wp", "/wp/index.php", "", "/srv/wordpress/index.php"},
      }));
  CAPTURE(prefix, root, target);
  const RequestHead head = head_of(get(target));
  const RouteConfig route = route_of(prefix, root);
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("SCRIPT_NAME") == sn);
  CHECK(m.at("PATH_INFO") == pi);
  CHECK(m.at("SCRIPT_FILENAME") == sf);
  CHECK(m.at("DOCUMENT_ROOT") == root);
  CHECK(m.at("REDIRECT_STATUS") == "200");
}

TEST_CASE("the front controller is the route's index", "[cgi][php]") {
  const RequestHead head = head_of(get("/shop/cart"));
  RouteConfig route = route_of("/", "/srv/www");
  route.index = "/app.php";
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("SCRIPT_NAME") == "/app.php");
  CHECK(m.at("SCRIPT_FILENAME") == "/srv/www/app.php");
  CHECK(m.at("PATH_INFO") == "/shop/cart");
}

TEST_CASE("headers become HTTP_* variables", "[cgi][headers]") {
  const RequestHead head = head_of(get(
      "/", "Accept: text/html\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: application/json\r\n"
           "Cookie: a=1\r\nCookie: b=2\r\nX_Real_IP: 6.6.6.6\r\nProxy: http://evil:8080\r\n"
           "Authorization: Basic dXNlcjpwdw==\r\nx-lower-case: v\r\nX.Dotted: d\r\n"
           "Upgrade: websocket\r\nConnection: keep-alive\r\n"));
  const RouteConfig route = route_of("/");
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("HTTP_ACCEPT") == "text/html, application/json");
  CHECK(m.at("HTTP_X_FORWARDED_FOR") == "1.1.1.1");
  CHECK(m.at("HTTP_COOKIE") == "a=1; b=2");
  CHECK(m.at("HTTP_AUTHORIZATION") == "Basic dXNlcjpwdw==");
  CHECK(m.at("HTTP_X_LOWER_CASE") == "v");
  CHECK(m.at("HTTP_CONNECTION") == "keep-alive");
  CHECK(m.count("HTTP_X_REAL_IP") == 0);  // underscore: dropped
  CHECK(m.count("HTTP_PROXY") == 0);      // httpoxy
  CHECK(m.count("HTTP_UPGRADE") == 0);    // fcgimux ignores Upgrade
  CHECK(m.count("HTTP_X.DOTTED") == 0);
  for (const auto& [k, v] : *r) CHECK(k.find('.') == std::string::npos);

  SECTION("in order of first appearance") {
    std::vector<std::string> http;
    for (const auto& [k, v] : *r)
      if (k.rfind("HTTP_", 0) == 0) http.push_back(k);
    CHECK(http == std::vector<std::string>{"HTTP_HOST", "HTTP_ACCEPT", "HTTP_X_FORWARDED_FOR",
                                           "HTTP_COOKIE", "HTTP_AUTHORIZATION",
                                           "HTTP_X_LOWER_CASE", "HTTP_CONNECTION"});
  }
}

TEST_CASE("header names as long as the excluded ones still become HTTP_*", "[cgi][headers]") {
  const RequestHead head = head_of(get(
      "/", "Content-Typo: a\r\nContent-Lengths: b\r\nProxx: c\r\nUpgrad3: d\r\n"
           "Transfer-Encodinx: e\r\nCookies: f\r\nCookies: g\r\nHosts: h\r\n"));
  const RouteConfig route = route_of("/");
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("HTTP_CONTENT_TYPO") == "a");
  CHECK(m.at("HTTP_CONTENT_LENGTHS") == "b");
  CHECK(m.at("HTTP_PROXX") == "c");
  CHECK(m.at("HTTP_UPGRAD3") == "d");
  CHECK(m.at("HTTP_TRANSFER_ENCODINX") == "e");
  CHECK(m.at("HTTP_COOKIES") == "f, g");  // only Cookie itself is joined with "; "
  CHECK(m.at("HTTP_HOSTS") == "h");
  CHECK(m.at("HTTP_HOST") == "example.com");
  CHECK(m.count("CONTENT_TYPE") == 0);
  CHECK(m.count("CONTENT_LENGTH") == 0);
}

TEST_CASE("percent-decoded paths with dot segments are normalized in PATH_INFO", "[cgi]") {
  const RouteConfig route = route_of("/app/");
  auto [target, path_info] = GENERATE(table<std::string, std::string>({
      {"/app/a%2E%2E/b", "/a../b"},
      {"/app/x/%2e%2e/y", "/y"},
      {"/app/%2ewell-known/z", "/.well-known/z"},
      {"/app/plain%20space?q=1", "/plain space"},
  }));
  CAPTURE(target);
  Result<CgiParams> r = build(head_of(get(target)), route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("PATH_INFO") == path_info);
  CHECK(m.at("SCRIPT_NAME") == "/app");
  CHECK(m.at("REQUEST_URI") == target);
}

TEST_CASE("CONTENT_TYPE and CONTENT_LENGTH", "[cgi][body]") {
  const RouteConfig route = route_of("/");
  SECTION("a Content-Length body") {
    const RequestHead head = head_of(
        "POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 7\r\n\r\n");
    const auto m = as_map(*build(head, route, 7));
    CHECK(m.at("CONTENT_TYPE") == "application/x-www-form-urlencoded");
    CHECK(m.at("CONTENT_LENGTH") == "7");
    CHECK(m.count("HTTP_CONTENT_TYPE") == 0);
    CHECK(m.count("HTTP_CONTENT_LENGTH") == 0);
  }
  SECTION("a chunked body: the buffered length") {
    const RequestHead head =
        head_of("POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    const auto m = as_map(*build(head, route, 12345));
    CHECK(m.at("CONTENT_LENGTH") == "12345");
    CHECK(m.count("CONTENT_TYPE") == 0);
    CHECK(m.count("HTTP_TRANSFER_ENCODING") == 0);  // the worker sees a plain body
  }
  SECTION("Content-Length: 0 sent by the client") {
    const RequestHead head = head_of("POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    const auto m = as_map(*build(head, route, 0));
    CHECK(m.at("CONTENT_LENGTH") == "0");
  }
  SECTION("no body, a Content-Type anyway") {
    const RequestHead head = head_of(get("/", "Content-Type: text/plain\r\n"));
    const auto m = as_map(*build(head, route));
    CHECK(m.at("CONTENT_TYPE") == "text/plain");
    CHECK(m.count("CONTENT_LENGTH") == 0);
  }
}

TEST_CASE("SERVER_NAME", "[cgi]") {
  const RouteConfig route = route_of("/");
  auto [wire, name, http_host] = GENERATE(table<std::string, std::string, std::string>({
      {"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "example.com", "example.com:8080"},
      {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "[::1]", "[::1]:8080"},
      {"GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", "[2001:db8::1]", "[2001:db8::1]"},
      {"GET / HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n", "10.1.2.3", "10.1.2.3"},
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "gw.local", ""},
      {"GET / HTTP/1.0\r\n\r\n", "gw.local", "-"},
      {"GET http://target.example:81/x HTTP/1.1\r\nHost: other\r\n\r\n", "target.example", "target.example:81"},
  }));
  CAPTURE(wire);
  const auto m = as_map(*build(head_of(wire), route));
  CHECK(m.at("SERVER_NAME") == name);
  if (http_host == "-") {
    CHECK(m.count("HTTP_HOST") == 0);
  } else {
    CHECK(m.at("HTTP_HOST") == http_host);
  }
}

TEST_CASE("SERVER_PROTOCOL follows the request", "[cgi]") {
  const RouteConfig route = route_of("/");
  CHECK(as_map(*build(head_of("GET / HTTP/1.0\r\n\r\n"), route)).at("SERVER_PROTOCOL") == "HTTP/1.0");
  CHECK(as_map(*build(head_of(get("/")), route)).at("SERVER_PROTOCOL") == "HTTP/1.1");
}

TEST_CASE("route params come last and override", "[cgi]") {
  RouteConfig route = route_of("/app/");
  route.params = {{"HTTPS", "on"}, {"SCRIPT_NAME", "/override"}, {"HTTP_HOST", "pinned"}, {"APP_ENV", "prod"}};
  Result<CgiParams> r = build(head_of(get("/app/x")), route);
  REQUIRE(r);
  const auto m = as_map(*r);
  CHECK(m.at("HTTPS") == "on");
  CHECK(m.at("SCRIPT_NAME") == "/override");
  CHECK(m.at("HTTP_HOST") == "pinned");
  CHECK(m.at("PATH_INFO") == "/x");
  const size_t n = r->size();
  REQUIRE(n >= 4);
  CHECK((*r)[n - 4].first == "HTTPS");
  CHECK((*r)[n - 1].first == "APP_ENV");
}

TEST_CASE("percent_decode", "[cgi]") {
  std::string out;
  CHECK(percent_decode("/a%20b%2fc%2F", out));
  CHECK(out == "/a b/c/");
  CHECK(percent_decode("", out));
  CHECK(out.empty());
  CHECK(percent_decode("%41%7e+", out));
  CHECK(out == "A~+");
  CHECK_FALSE(percent_decode("%", out));
  CHECK_FALSE(percent_decode("%4", out));
  CHECK_FALSE(percent_decode("%g1", out));
  CHECK_FALSE(percent_decode("a%00", out));
  CHECK_FALSE(percent_decode(std::string_view("a\0b", 3), out));
}

TEST_CASE("normalize_path", "[cgi]") {
  auto [in, expected] = GENERATE(table<std::string, std::string>({
      {"/", "/"},
      {"/a/b/c", "/a/b/c"},
      {"/a/./b", "/a/b"},
      {"/a/b/../c", "/a/c"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/./", "/"},
      {"/.", "/"},
      {"/a/..", "/"},
      {"/a//b", "/a//b"},
      {"/a/b/", "/a/b/"},
      {"/..a/b..", "/..a/b.."},
      {"/.../x", "/.../x"},
      {"/.well-known/x", "/.well-known/x"},
      {"/a/.hidden/./b", "/a/.hidden/b"},
      {"/a.b/c.", "/a.b/c."},
      {"//", "//"},
  }));
  CAPTURE(in);
  std::string out;
  REQUIRE(normalize_path(in, out));
  CHECK(out == expected);
}

TEST_CASE("normalize_path refuses to climb above the root", "[cgi]") {
  auto in = GENERATE(as<std::string>{}, "/..", "/../", "/a/../..", "/a/../../etc", "/./..", "", "a/b");
  CAPTURE(in);
  std::string out;
  CHECK_FALSE(normalize_path(in, out));
}

TEST_CASE("a path the caller already decoded and normalized gives the same params", "[cgi]") {
  const auto target = GENERATE(std::string("/app/hello%20world/?x=%41"), std::string("/app/a/./b/../c"),
                               std::string("/app"), std::string("/app/%2e%2e/app/x"));
  CAPTURE(target);
  const RequestHead head = head_of(get(target));
  const RouteConfig route = route_of("/app/");
  std::string decoded, normalized;
  REQUIRE(percent_decode(head.path, decoded));
  REQUIRE(normalize_path(decoded, normalized));
  CgiInput in;
  in.head = &head;
  in.route = &route;
  in.conn = &kConn;
  in.server_software = "fcgimux/0.1.0";
  in.default_server_name = "gw.local";
  in.normalized_path = &normalized;
  auto given = build_cgi_params(in);
  auto computed = build(head, route);
  REQUIRE(given);
  REQUIRE(computed);
  CHECK(as_map(*given) == as_map(*computed));
}

TEST_CASE("encoded params are the encoding of the pairs, in a reused buffer", "[cgi][recycle]") {
  // The gateway sends encode_cgi_params(), into one buffer request after
  // request (a recycled Exchange); the tests above look at the pairs.
  const RouteConfig plain = route_of("/app/");
  RouteConfig php = route_of("/", "/srv/www");
  php.params = {{"APP_ENV", "prod"}, {"HTTP_X_A", "from-route"}, {"APP_ENV", "last-wins"}};
  const std::vector<std::pair<std::string, const RouteConfig*>> requests = {
      {get("/app/x?q=1", "X-A: 1\r\nX-A: 2\r\nCookie: a=1\r\ncookie: b=2\r\nUser-Agent: a-long-user-agent/1.0\r\n"),
       &plain},
      {get("/app/y"), &plain},  // fewer headers than the one before
      {get("/index.php/p", "X-A: 3\r\nX_Dropped: 1\r\nAccept-Language: en\r\n"), &php},
      {"GET http://other.example:81/app/z HTTP/1.1\r\nHost: example.com\r\n\r\n", &plain},
      {get("/app/y", "Content-Type: text/plain\r\nX-" + std::string(80, 'l') + ": long name\r\n"), &plain},
      // Pairs past the encoder's 1 KiB staging buffer: one bigger than it
      // (written straight into the output), then two that fill it.
      {get("/app/big", "Cookie: " + std::string(3000, 'c') + "\r\nX-B: " + std::string(700, 'b') +
                           "\r\nX-C: " + std::string(700, 'd') + "\r\n"),
       &plain},
  };
  std::string reused;
  for (int round = 0; round < 2; ++round) {
    for (const auto& [wire, route] : requests) {
      CAPTURE(round, wire);
      const RequestHead head = head_of(wire);
      Result<CgiParams> pairs = build(head, *route);
      REQUIRE(pairs);
      std::string expected;
      for (const auto& [k, v] : *pairs) fcgi::encode_pair(k, v, expected);
      CgiInput in;
      in.head = &head;
      in.route = route;
      in.conn = &kConn;
      in.server_software = "fcgimux/0.1.0";
      in.default_server_name = "gw.local";
      REQUIRE(encode_cgi_params(in, reused));
      CHECK(reused == expected);
    }
  }
}

TEST_CASE("repeated headers, route params and the absolute-form Host, one variable each", "[cgi]") {
  RouteConfig route = route_of("/");
  route.params = {{"APP", "1"}, {"HTTP_X_B", "route"}, {"APP", "2"}};
  const RequestHead head = head_of(
      "GET http://auth.example/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-B: b\r\nCookie: c=1\r\n"
      "X-A: 3\r\nCOOKIE: d=2\r\n\r\n");
  Result<CgiParams> r = build(head, route);
  REQUIRE(r);
  const auto m = as_map(*r);  // checks every name appears once
  CHECK(m.at("HTTP_HOST") == "auth.example");
  CHECK(m.at("HTTP_X_A") == "1, 2, 3");
  CHECK(m.at("HTTP_COOKIE") == "c=1; d=2");
  CHECK(m.at("HTTP_X_B") == "route");
  CHECK(m.at("APP") == "2");
  // Route params last, the last of a repeated one in its own place.
  REQUIRE(r->size() >= 2);
  CHECK(r->at(r->size() - 2) == std::pair<std::string, std::string>("HTTP_X_B", "route"));
  CHECK(r->back() == std::pair<std::string, std::string>("APP", "2"));
}
