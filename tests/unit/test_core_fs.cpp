#include "core/error.hpp"
#include "core/fs.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

namespace fsys = std::filesystem;
using namespace mlops;
using mlops::test::TempDir;


TEST_CASE("path confinement: normal paths are normalised") {
  CHECK(fs::confine_relative("a/b/c.txt") == "a/b/c.txt");
  CHECK(fs::confine_relative("./a//b/./c") == "a/b/c");
  CHECK(fs::confine_relative("weights ünïcødé.bin") == "weights ünïcødé.bin");
  CHECK(fs::confine_relative("a/..b/c..") == "a/..b/c..");  // dots inside names are fine
}

TEST_CASE("path confinement: escapes are refused") {
  for (const char* bad : {"../x", "a/../../x", "a/..", "/etc/passwd", "", ".", "./", "a\\..\\b"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(fs::confine_relative(bad), Error);
  }
  CHECK_THROWS_AS(fs::confine_relative(std::string_view("a\0b", 3)), Error);
  try {
    fs::confine_relative("../../etc/passwd");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'../../etc/passwd'") != std::string::npos);
  }
}

TEST_CASE("safe_join refuses to follow symbolic links") {
  TempDir t;
  fsys::create_directories(t.path / "root" / "real");
  fsys::create_directory_symlink("/tmp", t.path / "root" / "link");
  CHECK(fs::safe_join(t.path / "root", "real/file") == t.path / "root" / "real" / "file");
  CHECK_THROWS_WITH_AS(fs::safe_join(t.path / "root", "link/file"), doctest::Contains("symbolic link"), Error);
}

TEST_CASE("atomic_write replaces whole files and leaves no temporaries") {
  TempDir t;
  fs::atomic_write(t.path / "f", "one");
  fs::atomic_write(t.path / "f", "two");
  CHECK(fs::read_file(t.path / "f") == "two");
  int n = 0;
  for ([[maybe_unused]] auto& e : fsys::directory_iterator(t.path)) ++n;
  CHECK(n == 1);
  CHECK_THROWS_AS(fs::atomic_write(t.path / "no" / "such" / "dir", "x"), Error);
  CHECK_THROWS_WITH_AS(fs::read_file(t.path / "missing"), doctest::Contains("cannot read"), Error);
}

TEST_CASE("exchange_paths swaps two directories") {
  TempDir t;
  fsys::create_directory(t.path / "a");
  fsys::create_directory(t.path / "b");
  fs::atomic_write(t.path / "a" / "x", "from a");
  REQUIRE(fs::exchange_paths(t.path / "a", t.path / "b"));
  CHECK(fs::read_file(t.path / "b" / "x") == "from a");
  CHECK(fs::is_missing_or_empty(t.path / "a"));
}
