// fcgimux: a FastCGI gateway.
//   fcgimux -c conf/fcgimux.toml      run
//   fcgimux --check -c FILE           validate; print problems as FILE:LINE:COL; exit 1 if any
//   fcgimux --version
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "gateway/base/log.h"
#include "gateway/config/config_loader.h"
#include "gateway/server/server.h"

namespace {

constexpr const char* kVersion = "fcgimux 0.1.0";

void usage(FILE* to) {
  std::fprintf(to,
               "usage: fcgimux -c FILE          run with the configuration in FILE\n"
               "       fcgimux --check -c FILE  validate FILE and print every problem\n"
               "       fcgimux --version\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--check" || a == "-t") {
      check = true;
    } else if (a == "--version" || a == "-v") {
      std::printf("%s\n", kVersion);
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "fcgimux: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(stderr);
    return 2;
  }

  fcgimux::LoadResult loaded = fcgimux::load_config_file(config_path);
  if (!loaded.ok()) {
    for (const auto& p : loaded.problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
    std::fprintf(stderr, "fcgimux: %zu problem%s in %s\n", loaded.problems.size(),
                 loaded.problems.size() == 1 ? "" : "s", config_path.c_str());
    return 1;
  }
  if (check) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  const fcgimux::Config& config = loaded.config;

  // Writes to a client or worker that went away must fail with EPIPE, not kill us.
  ::signal(SIGPIPE, SIG_IGN);

  fcgimux::Level level = fcgimux::Level::Info;
  fcgimux::parse_level(config.server.log_level, level);
  std::shared_ptr<fcgimux::LogSink> error_sink;
  if (config.server.error_log == "-" || config.server.error_log.empty()) {
    error_sink = std::make_shared<fcgimux::FdSink>(2);
  } else {
    error_sink = fcgimux::FdSink::open(config.server.error_log);
    if (!error_sink) {
      std::fprintf(stderr, "fcgimux: cannot open error_log %s: %s\n", config.server.error_log.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  fcgimux::Logger log(error_sink, level);

  std::unique_ptr<fcgimux::AccessLog> access;
  if (!config.server.access_log.empty()) {
    std::shared_ptr<fcgimux::LogSink> sink = fcgimux::FdSink::open(config.server.access_log);
    if (!sink) {
      std::fprintf(stderr, "fcgimux: cannot open access_log %s: %s\n", config.server.access_log.c_str(),
                   std::strerror(errno));
      return 1;
    }
    access = std::make_unique<fcgimux::AccessLog>(std::move(sink));
  }

  fcgimux::Server server(config, log, std::move(access));
  return server.run();
}
