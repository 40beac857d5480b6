#include "gateway/routing/router.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace fcgimux;

namespace {

std::vector<RouteConfig> routes_of(std::vector<std::string> prefixes) {
  std::vector<RouteConfig> routes;
  for (auto& p : prefixes) {
    RouteConfig r;
    r.prefix = p;
    r.pool = "pool" + p;
    routes.push_back(std::move(r));
  }
  return routes;
}

}  // namespace

TEST_CASE("the longest whole-segment prefix wins", "[routing]") {
  const std::vector<RouteConfig> routes =
      routes_of({"/", "/app/", "/app/admin", "/static", "/api/v1/"});
  const Router router(routes);
  auto [path, prefix] = GENERATE(table<std::string, std::string>({
      {"/", "/"},
      {"/index.html", "/"},
      {"/app", "/app/"},
      {"/app/", "/app/"},
      {"/app/x/y", "/app/"},
      {"/apple", "/"},
      {"/app/admin", "/app/admin"},
      {"/app/admin/", "/app/admin"},
      {"/app/admin/users", "/app/admin"},
      {"/app/administrator", "/app/"},
      {"/static", "/static"},
      {"/static/css/a.css", "/static"},
      {"/statics", "/"},
      {"/api/v1", "/api/v1/"},
      {"/api/v1/x", "/api/v1/"},
      {"/api/v2", "/"},
      {"/api", "/"},
      {"//app", "/"},
  }));
  CAPTURE(path);
  const RouteConfig* r = router.match(path);
  REQUIRE(r != nullptr);
  CHECK(r->prefix == prefix);
}

TEST_CASE("no route, no match", "[routing]") {
  const std::vector<RouteConfig> routes = routes_of({"/app", "/static/"});
  const Router router(routes);
  CHECK(router.match("/") == nullptr);
  CHECK(router.match("/apple") == nullptr);
  CHECK(router.match("/staticx") == nullptr);
  CHECK(router.match("") == nullptr);
  CHECK(router.match("*") == nullptr);
  REQUIRE(router.match("/app") != nullptr);
  REQUIRE(router.match("/static") != nullptr);
  CHECK(router.match("/static")->prefix == "/static/");
}

TEST_CASE("a root route matches absolute paths only", "[routing]") {
  const std::vector<RouteConfig> routes = routes_of({"/"});
  const Router router(routes);
  CHECK(router.match("/") == &routes[0]);
  CHECK(router.match("/anything/at/all") == &routes[0]);
  CHECK(router.match("") == nullptr);
  CHECK(router.match("*") == nullptr);
}

TEST_CASE("equal prefixes: the first in the file wins", "[routing]") {
  const std::vector<RouteConfig> routes = routes_of({"/a", "/a/", "/"});
  const Router router(routes);
  CHECK(router.match("/a/b") == &routes[0]);
}

TEST_CASE("no routes at all", "[routing]") {
  const std::vector<RouteConfig> routes;
  const Router router(routes);
  CHECK(router.match("/") == nullptr);
}
