// conf/fcgimux.toml is the file the quick start uses. These tests keep it
// loadable and complete: every key the loader knows, and every field of
// config.h, must appear in it (set or commented out) in the right section.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "gateway/config/config_loader.h"

using namespace fcgimux;

namespace {

const std::string kConf = FCGIMUX_SOURCE_DIR "/conf/fcgimux.toml";
const std::string kConfigH = FCGIMUX_SOURCE_DIR "/gateway/config/config.h";

std::string read(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Section ("server", "route", "pool") → keys written in it, set or as
// "# key = ...". Worker keys ("address", "weight") count wherever
// "key = " appears inside a pool section.
std::map<std::string, std::set<std::string>> keys_in_conf(const std::string& text) {
  std::map<std::string, std::set<std::string>> out;
  const std::regex header(R"(^\[\[?([A-Za-z_]+)[^\]]*\]\]?\s*$)");
  const std::regex key(R"(^#?\s*([a-z_]+)\s*=)");
  const std::regex worker_key(R"(\b(address|weight)\s*=)");
  std::istringstream in(text);
  std::string section, line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, header)) {
      section = m[1] == "pools" ? "pool" : std::string(m[1]);
      continue;
    }
    if (std::regex_search(line, m, key)) out[section].insert(m[1]);
    if (section == "pool")
      for (std::sregex_iterator it(line.begin(), line.end(), worker_key), end; it != end; ++it)
        out["worker"].insert((*it)[1]);
  }
  return out;
}

// Field names of |type| in config.h ("struct ServerConfig { ... };").
std::set<std::string> fields_of(const std::string& header, const std::string& type) {
  const size_t begin = header.find("struct " + type + " {");
  REQUIRE(begin != std::string::npos);
  const size_t end = header.find("\n};", begin);
  std::istringstream body(header.substr(begin, end - begin));
  // "  type name = ...;", "  type name{...};", "  type name;" (members only, no functions).
  const std::regex member(R"(^  [A-Za-z][A-Za-z_:<>, ]*?[ *&]([a-z_]+)\s*(=[^(]*|\{[^}]*\})?;)");
  const std::regex multi(R"(^  [A-Za-z_:]+ ([a-z_]+)\{[^}]*\}, ([a-z_]+)\{)");
  std::set<std::string> out;
  std::string line;
  std::smatch m;
  while (std::getline(body, line)) {
    if (std::regex_search(line, m, multi)) {
      out.insert(m[1]);
      out.insert(m[2]);
    } else if (std::regex_search(line, m, member)) {
      out.insert(m[1]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("conf/fcgimux.toml loads with no problems", "[config][conf]") {
  LoadResult r = load_config_file(kConf);
  for (const auto& p : r.problems) UNSCOPED_INFO(p.to_string());
  REQUIRE(r.ok());
  const Config& c = r.config;
  REQUIRE(c.server.listen.size() == 1);
  CHECK(c.server.listen[0].text == "127.0.0.1:8080");
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].prefix == "/");
  CHECK(c.routes[0].pool == "django");
  const PoolConfig* pool = c.find_pool("django");
  REQUIRE(pool);
  REQUIRE(pool->workers.size() == 3);
  CHECK(pool->workers[0].address.text == "127.0.0.1:9001");
  CHECK(pool->workers[1].address.text == "127.0.0.1:9002");
  CHECK(pool->workers[2].address.text == "127.0.0.1:9003");
}

TEST_CASE("conf/fcgimux.toml shows its defaults", "[config][conf]") {
  // The example writes every default out; loading it must give exactly the
  // defaults of config.h (apart from the pool and route it defines).
  LoadResult r = load_config_file(kConf);
  REQUIRE(r.ok());
  const ServerConfig d{};
  const ServerConfig& s = r.config.server;
  CHECK(s.threads == d.threads);
  CHECK(s.max_connections == d.max_connections);
  CHECK(s.header_timeout == d.header_timeout);
  CHECK(s.idle_timeout == d.idle_timeout);
  CHECK(s.body_timeout == d.body_timeout);
  CHECK(s.write_timeout == d.write_timeout);
  CHECK(s.shutdown_timeout == d.shutdown_timeout);
  CHECK(s.max_header_size == d.max_header_size);
  CHECK(s.max_body_size == d.max_body_size);
  CHECK(s.max_response_header_size == d.max_response_header_size);
  CHECK(s.response_buffer_size == d.response_buffer_size);
  CHECK(s.access_log == d.access_log);
  CHECK(s.error_log == d.error_log);
  CHECK(s.log_level == d.log_level);
  CHECK(s.server_name == d.server_name);
  const PoolConfig dp{};
  const PoolConfig& p = r.config.pools.at(0);
  CHECK(p.balance == dp.balance);
  CHECK(p.connect_timeout == dp.connect_timeout);
  CHECK(p.response_timeout == dp.response_timeout);
  CHECK(p.disable_time == dp.disable_time);
  CHECK(p.max_disable_time == dp.max_disable_time);
  CHECK(p.probe_timeout == dp.probe_timeout);
  CHECK(p.suspect_after == dp.suspect_after);
  CHECK(p.probe_path == dp.probe_path);
  CHECK(p.max_conns == dp.max_conns);
  CHECK(p.retry == dp.retry);
  CHECK(p.queue_timeout == dp.queue_timeout);
  CHECK(p.multiplex == dp.multiplex);
  CHECK(p.keepalive_timeout == dp.keepalive_timeout);
  CHECK(p.max_idle_conns == dp.max_idle_conns);
}

TEST_CASE("conf/fcgimux.toml mentions every key of config.h", "[config][conf]") {
  const auto conf = keys_in_conf(read(kConf));
  const std::string header = read(kConfigH);
  // Fields that are not TOML keys: the pool's name is its table name.
  const std::map<std::string, std::set<std::string>> not_keys = {{"pool", {"name"}}};
  const std::pair<std::string, std::string> sections[] = {
      {"server", "ServerConfig"}, {"route", "RouteConfig"}, {"pool", "PoolConfig"},
      {"worker", "WorkerConfig"}};
  for (const auto& [section, type] : sections) {
    CAPTURE(section);
    std::set<std::string> fields = fields_of(header, type);
    if (not_keys.count(section))
      for (const auto& f : not_keys.at(section)) fields.erase(f);
    std::set<std::string> known;
    for (auto k : known_keys(section)) known.insert(std::string(k));
    // The loader reads exactly the fields of config.h...
    CHECK(fields == known);
    // ...and the example shows every one of them.
    REQUIRE(conf.count(section) == 1);
    for (const auto& f : fields) {
      CAPTURE(f);
      CHECK(conf.at(section).count(f) == 1);
    }
  }
}

TEST_CASE("docs/configuration.md documents every key", "[config][conf]") {
  const std::string docs = read(FCGIMUX_SOURCE_DIR "/docs/configuration.md");
  for (std::string_view section : {"server", "route", "pool", "worker"}) {
    for (std::string_view k : known_keys(section)) {
      CAPTURE(section, k);
      // A row of the section's key table starts with "| `key` |"; worker keys
      // are described inside the workers row.
      const std::string row = "| `" + std::string(k) + "` |";
      if (section == "worker")
        CHECK(docs.find(std::string(k) + " = ") != std::string::npos);
      else
        CHECK(docs.find(row) != std::string::npos);
    }
  }
}
