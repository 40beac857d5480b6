// CGI variables as real applications read them: Django (WSGI, through
// uWSGI's FastCGI socket) at the root and at a sub-path mount, and PHP-FPM
// with a document root (SCRIPT_FILENAME, the PATH_INFO split, the front
// controller).
#include <catch2/catch.hpp>

#include "harness.h"

using namespace e2e;

namespace {

// "<absent>" for a JSON null or a missing key, so CHECKs read plainly.
std::string js(const Response &r, const std::string &key) {
  return json_string(r.body, key).value_or("<absent>");
}

} // namespace

TEST_CASE("cgi: Django at the root mount gets SCRIPT_NAME PATH_INFO QUERY_STRING and REQUEST_URI",
          "[e2e][cgi][django]") {
  TempDir dir;
  Worker dj = spawn_uwsgi_django(dir, "django-1");
  Gateway gw =
      spawn_fcgimux(dir, server_toml() + route_toml("/", "django") + pool_toml("django", {&dj}));
  const std::string host = "127.0.0.1:" + std::to_string(gw.port);

  Response r = http_get(gw.port, "/env?a=1&b=%20x&c=%C3%A9");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(js(r, "SCRIPT_NAME") == "");
  CHECK(js(r, "PATH_INFO") == "/env");
  CHECK(js(r, "QUERY_STRING") == "a=1&b=%20x&c=%C3%A9");
  CHECK(js(r, "REQUEST_URI") == "/env?a=1&b=%20x&c=%C3%A9");
  CHECK(js(r, "REQUEST_METHOD") == "GET");
  CHECK(js(r, "SERVER_PROTOCOL") == "HTTP/1.1");
  CHECK(js(r, "SERVER_PORT") == std::to_string(gw.port));
  CHECK(js(r, "SERVER_NAME") == "127.0.0.1");
  CHECK(js(r, "REMOTE_ADDR") == "127.0.0.1");
  CHECK(js(r, "HTTP_HOST") == host);
  CHECK(js(r, "full_path") == "/env?a=1&b=%20x&c=%C3%A9");
  CHECK(js(r, "absolute_uri") == "http://" + host + "/env?a=1&b=%20x&c=%C3%A9");
  CHECK(js(r, "reverse_env") == "/env");
  CHECK(js(r, "b") == " x"); // request.GET decoded it
  CHECK(js(r, "c") == "\xc3\xa9");
  CHECK(js(r, "worker") == "django-1");
  CHECK(r.header("x-worker") == "django-1");

  // Blocks, not SECTIONs: Catch2 would restart the workers for each one.
  { // a percent-encoded path is decoded into PATH_INFO, REQUEST_URI stays raw
    Response e = http_get(gw.port, "/e%6Ev?x=%2F%26");
    INFO(e.body);
    REQUIRE(e.status == 200);
    CHECK(js(e, "PATH_INFO") == "/env");
    CHECK(js(e, "REQUEST_URI") == "/e%6Ev?x=%2F%26");
    CHECK(js(e, "QUERY_STRING") == "x=%2F%26");
    CHECK(js(e, "x") == "/&");
    // The app routes on the decoded path: /status/4%30%34 is /status/404.
    Response s = http_get(gw.port, "/status/4%30%34");
    CHECK(s.status == 404);
    CHECK(s.body == "status 404 from the application\n");
  }

  { // headers become HTTP_*; names with '_' and Proxy are dropped
    Response h = http_get(gw.port, "/env",
                          {{"X-Custom-Thing", "hello world"},
                           {"X_Underscored", "evil"},
                           {"Proxy", "http://evil.invalid/"},
                           {"Accept-Language", "fr"}});
    INFO(h.body);
    REQUIRE(h.status == 200);
    CHECK(js(h, "HTTP_X_CUSTOM_THING") == "hello world");
    CHECK(js(h, "HTTP_ACCEPT_LANGUAGE") == "fr");
    CHECK(js(h, "HTTP_X_UNDERSCORED") == "<absent>");
    CHECK(js(h, "HTTP_PROXY") == "<absent>");
  }

  { // a POST has CONTENT_TYPE and CONTENT_LENGTH
    Response p = http_request(gw.port, "POST", "/env?q=1",
                              {{"Content-Type", "application/x-www-form-urlencoded"}}, "a=b&c=d");
    INFO(p.body);
    REQUIRE(p.status == 200);
    CHECK(js(p, "REQUEST_METHOD") == "POST");
    CHECK(js(p, "CONTENT_TYPE") == "application/x-www-form-urlencoded");
    CHECK(js(p, "CONTENT_LENGTH") == "7");
    CHECK(json_int(p.body, "body_length") == 7);
  }
}

TEST_CASE("cgi: Django mounted at /app/ gets SCRIPT_NAME=/app and reverse() includes it",
          "[e2e][cgi][django]") {
  TempDir dir;
  Worker dj = spawn_uwsgi_django(dir, "django-1");
  Gateway gw = spawn_fcgimux(dir, server_toml() + route_toml("/app/", "django") +
                                      route_toml("/", "django") + pool_toml("django", {&dj}));
  const std::string host = "127.0.0.1:" + std::to_string(gw.port);

  Response r = http_get(gw.port, "/app/env?q=%2Fx&r=1");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(js(r, "SCRIPT_NAME") == "/app");
  CHECK(js(r, "PATH_INFO") == "/env");
  CHECK(js(r, "REQUEST_URI") == "/app/env?q=%2Fx&r=1");
  CHECK(js(r, "QUERY_STRING") == "q=%2Fx&r=1");
  CHECK(js(r, "path") == "/app/env");
  CHECK(js(r, "full_path") == "/app/env?q=%2Fx&r=1");
  CHECK(js(r, "absolute_uri") == "http://" + host + "/app/env?q=%2Fx&r=1");
  CHECK(js(r, "reverse_env") == "/app/env");
  CHECK(js(r, "reverse_status") == "/app/status/404");

  // Encoded bytes in the part after the mount.
  Response e = http_get(gw.port, "/app/%65nv");
  INFO(e.body);
  CHECK(e.status == 200);
  CHECK(js(e, "SCRIPT_NAME") == "/app");
  CHECK(js(e, "PATH_INFO") == "/env");
  CHECK(js(e, "REQUEST_URI") == "/app/%65nv");

  // The index page's links point under the mount.
  Response index = http_get(gw.port, "/app/");
  CHECK(index.status == 200);
  CHECK(index.body.find("href=\"/app/env\"") != std::string::npos);

  // A redirect from the app is relative to the mount.
  Response redirect = http_get(gw.port, "/app/redirect");
  CHECK(redirect.status == 302);
  CHECK(redirect.header("location") == "/app/env");

  // "/application" is not under "/app/": it goes to the root route, where
  // Django has no such page.
  Response other = http_get(gw.port, "/application/env");
  CHECK(other.status == 404);
  CHECK(other.header("x-worker") == "django-1"); // the app's 404, not fcgimux's

  // And the root route still works beside the mount.
  Response root = http_get(gw.port, "/env");
  INFO(root.body);
  CHECK(root.status == 200);
  CHECK(js(root, "SCRIPT_NAME") == "");
  CHECK(js(root, "reverse_env") == "/env");
}

TEST_CASE("cgi: PHP-FPM gets SCRIPT_FILENAME and the PATH_INFO split and the front controller",
          "[e2e][cgi][php]") {
  TempDir dir;
  Worker php = spawn_php_fpm(dir);
  const std::string root = fs::weakly_canonical(source_dir() / "examples/php").string();
  Gateway gw = spawn_fcgimux(
      dir, server_toml() +
               route_toml("/", "php", "document_root = \"" + root + "\"\nindex = \"index.php\"") +
               pool_toml("php", {&php}));

  SECTION("a script with extra path") {
    Response r = http_get(gw.port, "/sub/page.php/extra/path?a=1");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(js(r, "script") == "sub/page.php");
    CHECK(js(r, "SCRIPT_NAME") == "/sub/page.php");
    CHECK(js(r, "SCRIPT_FILENAME") == root + "/sub/page.php");
    CHECK(js(r, "PATH_INFO") == "/extra/path");
    CHECK(js(r, "DOCUMENT_ROOT") == root);
    CHECK(js(r, "REQUEST_URI") == "/sub/page.php/extra/path?a=1");
    CHECK(js(r, "QUERY_STRING") == "a=1");
    CHECK(js(r, "REDIRECT_STATUS") == "200");
    CHECK(js(r, "PHP_SELF") == "/sub/page.php/extra/path");
  }

  SECTION("a script by name") {
    Response r = http_get(gw.port, "/index.php");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(js(r, "script") == "index.php");
    CHECK(js(r, "SCRIPT_NAME") == "/index.php");
    CHECK(js(r, "SCRIPT_FILENAME") == root + "/index.php");
    CHECK(json_string(r.body, "PATH_INFO").value_or("") == "");
  }

  SECTION("a path that names no script goes to the front controller") {
    Response r = http_get(gw.port, "/some/pretty/url?x=2");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(js(r, "script") == "index.php");
    CHECK(js(r, "SCRIPT_FILENAME") == root + "/index.php");
    CHECK(js(r, "PATH_INFO") == "/some/pretty/url");
    CHECK(js(r, "REQUEST_URI") == "/some/pretty/url?x=2");
    CHECK(js(r, "x") == "2");

    Response slash = http_get(gw.port, "/");
    INFO(slash.body);
    CHECK(slash.status == 200);
    CHECK(js(slash, "script") == "index.php");
  }

  SECTION("a POST body reaches php://input") {
    const std::string body(100000, 'p');
    Response r =
        http_request(gw.port, "POST", "/index.php", {{"Content-Type", "text/plain"}}, body);
    INFO(r.body.substr(0, 2000));
    REQUIRE(r.status == 200);
    CHECK(json_int(r.body, "body_length") == 100000);
    CHECK(js(r, "body_sha256") == sha256_hex(body));
    CHECK(js(r, "CONTENT_LENGTH") == "100000");
    CHECK(js(r, "CONTENT_TYPE") == "text/plain");
  }

  SECTION("a missing script is PHP-FPM's 404") {
    Response r = http_get(gw.port, "/missing.php");
    CHECK(r.status == 404);
  }
}
