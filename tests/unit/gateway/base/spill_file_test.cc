#include "gateway/base/spill_file.h"

#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

using namespace fcgimux;

namespace {
// A directory of the test's own, so that leftover files would be seen.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fcgimux-spill-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { rmdir(path.c_str()); }
  size_t entries() const {
    size_t n = 0;
    DIR* d = opendir(path.c_str());
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    closedir(d);
    return n;
  }
};
}  // namespace

TEST_CASE("spill file: bytes come out in the order they went in", "[spill]") {
  TempDir dir;
  SpillFile f(dir.path, 1 << 20);
  CHECK(f.empty());
  REQUIRE(f.append(std::string_view("hello, ")));
  REQUIRE(f.append(std::string_view("slow client")));
  CHECK(f.size() == 18);
  CHECK(f.take(5) == "hello");
  REQUIRE(f.append(std::string_view("!")));
  CHECK(f.take(100) == ", slow client!");
  CHECK(f.empty());
  CHECK(f.take(10).empty());
  // Caught up: it starts over and keeps working.
  REQUIRE(f.append(std::string_view("again")));
  CHECK(f.take(100) == "again");
  // Nothing is ever visible in the directory: the file is unlinked.
  CHECK(dir.entries() == 0);
}

TEST_CASE("spill file: a large body round-trips intact in chunks", "[spill]") {
  TempDir dir;
  SpillFile f(dir.path, 64 << 20);
  std::string in;
  for (int i = 0; i < 3 << 20; ++i) in.push_back(char('a' + (i * 7) % 26));
  for (size_t off = 0; off < in.size(); off += 100'000)
    REQUIRE(f.append(std::string_view(in).substr(off, 100'000)));
  std::string out;
  while (!f.empty()) out += f.take(65536);
  CHECK(out == in);
}

TEST_CASE("spill file: refuses past max_bytes and says why", "[spill]") {
  TempDir dir;
  SpillFile f(dir.path, 10);
  CHECK(f.append(std::string_view("0123456789")));
  CHECK_FALSE(f.append(std::string_view("x")));
  CHECK_THAT(f.error(), Catch::Contains("max_temp_file_size"));
  CHECK(f.take(4) == "0123");
  CHECK(f.append(std::string_view("abcd")));  // room again once the client took some
  CHECK(f.take(100) == "456789abcd");
}

TEST_CASE("spill file: an unusable directory is an error, not a crash", "[spill]") {
  SpillFile f("/nonexistent/fcgimux", 1 << 20);
  CHECK_FALSE(f.append(std::string_view("data")));
  CHECK_THAT(f.error(), Catch::Contains("/nonexistent/fcgimux"));
}
