#include "gateway/base/log.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include "gateway/base/error.h"

using namespace fcgimux;

TEST_CASE("q() quotes and escapes client-controlled values: no log injection", "[base][log]") {
  CHECK(q("plain") == "\"plain\"");
  CHECK(q("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(q("line\nfake=1") == "\"line\\x0afake=1\"");
  CHECK(q(std::string("nul\0x", 5)) == "\"nul\\x00x\"");
}

TEST_CASE("log lines are one key=value line each, filtered by level", "[base][log]") {
  auto sink = std::make_shared<MemorySink>();
  Logger log(sink, Level::Info);
  log.debug("hidden", "x={}", 1);
  log.warn("worker_evicted", "worker={} for={}ms", "10.0.0.3:8000", 2000);
  auto lines = sink->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("level=warn event=worker_evicted worker=10.0.0.3:8000 for=2000ms\n") != std::string::npos);
  CHECK(lines[0].rfind("ts=", 0) == 0);
  CHECK(std::count(lines[0].begin(), lines[0].end(), '\n') == 1);
}

TEST_CASE("every error has one status, by cause", "[base][status]") {
  CHECK(status_for(Error::BadRequest) == 400);
  CHECK(status_for(Error::HeadTimeout) == 408);
  CHECK(status_for(Error::BodyTimeout) == 408);
  CHECK(status_for(Error::BodyTooLarge) == 413);
  CHECK(status_for(Error::HeadTooLarge) == 431);
  CHECK(status_for(Error::UnknownCoding) == 501);
  CHECK(status_for(Error::WorkerProtocol) == 502);
  CHECK(status_for(Error::WorkerVanished) == 502);
  CHECK(status_for(Error::NoWorker) == 503);
  CHECK(status_for(Error::ResponseTimeout) == 504);
  CHECK(status_for(Error::ClientClosed) == 0);
}
