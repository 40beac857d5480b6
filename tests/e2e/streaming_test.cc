// A streamed response (Django's StreamingHttpResponse, no Content-Length)
// reaches the client as it is produced, not when it ends.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace e2e;

TEST_CASE("streaming: chunks of a streamed response arrive as the view yields them",
          "[e2e][streaming][django]") {
  TempDir dir;
  Worker dj = spawn_uwsgi_django(dir, "django-1");
  Gateway gw =
      spawn_fcgimux(dir, server_toml() + route_toml("/", "django") + pool_toml("django", {&dj}));

  // The view yields "chunk 0\n" at once, then one chunk per |delay| seconds.
  constexpr int n = 4;
  constexpr double delay = 0.5;
  HttpClient c(gw.port, 30s);
  Response r = c.request("GET", "/stream?n=4&delay=0.5");
  REQUIRE(r.status == 200);
  CHECK(r.body == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
  CHECK_FALSE(r.has("content-length"));
  CHECK((r.chunked || r.until_close));

  // The view cannot produce its last chunk less than (n-1)*delay after its
  // first. A gateway that buffers the whole response delivers both at once.
  // Only the timing relative to the view's own sleeps is checked: the first
  // chunk must have arrived at least (n-2) sleeps before the last one, i.e.
  // before the view's final sleep could have ended.
  auto first = r.time_body_reached(8);   // "chunk 0\n"
  auto second = r.time_body_reached(16); // "chunk 1\n"
  auto last = r.time_body_reached(r.body.size());
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(last);
  const double spread = std::chrono::duration<double>(*last - *first).count();
  const double first_gap = std::chrono::duration<double>(*second - *first).count();
  INFO("first to last chunk: " << spread << " s; the view slept " << (n - 1) * delay << " s");
  CHECK(spread >= (n - 2) * delay);
  CHECK(first_gap >= delay / 2);

  // The connection stays usable after a chunked response.
  if (r.chunked) {
    Response again = c.request("GET", "/healthz");
    CHECK(again.status == 200);
  }
}
