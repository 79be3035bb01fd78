#include "core/error.hpp"
#include "core/fs.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

namespace fsys = std::filesystem;
using namespace mlops;
using mlops::test::TempDir;

TEST_CASE("path confinement: normal paths are normalised") {
  CHECK(fs::confine_relative("a/b/c.txt") == "a/b/c.txt");
  CHECK(fs::confine_relative("./a//b/./c") == "a/b/c");
  CHECK(fs::confine_relative("weights ünïcødé.bin") == "weights ünïcødé.bin");
  CHECK(fs::confine_relative("a/..b/c..") == "a/..b/c.."); // dots inside names are fine
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
  for ([[maybe_unused]] auto& e : fsys::directory_iterator(t.path))
    ++n;
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

TEST_CASE("walk_tree visits every entry once, parents first, without following links") {
  TempDir t;
  fsys::create_directories(t.path / "a" / "b");
  fs::atomic_write(t.path / "a" / "b" / "f", "x");
  fs::atomic_write(t.path / "top", "y");
  fsys::create_directory_symlink("/usr", t.path / "a" / "usr");
  std::vector<std::string> seen;
  fs::walk_tree(t.path, [&](const fs::WalkEntry& e) { seen.push_back(e.relative); });
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"a", "a/b", "a/b/f", "a/usr", "top"});
  CHECK_THROWS_WITH_AS(fs::walk_tree(t.path / "nope", [](const fs::WalkEntry&) {}), doctest::Contains("cannot read"),
                       Error);
}

TEST_CASE("walk_tree: an error from a directory is an error, not the end of the walk") {
  // A directory removed between being listed and being opened stands for one that cannot
  // be read (chmod 000 does not stop root; the integration suite runs that case as nobody).
  TempDir t;
  fsys::create_directories(t.path / "a" / "gone");
  fs::atomic_write(t.path / "z", "z");
  bool threw = false;
  try {
    fs::walk_tree(t.path, [&](const fs::WalkEntry& e) {
      if (e.relative == "a/gone") fsys::remove(e.path);
    });
  } catch (const Error& e) {
    threw = true;
    CHECK(std::string(e.what()).find("gone") != std::string::npos);
    CHECK(e.kind() == ErrorKind::io);
  }
  CHECK(threw);
}

TEST_CASE("tree rule: non-UTF-8 names and links out of the tree are refused, named and escaped") {
  TempDir t;
  fsys::create_directories(t.path / "m");
  fs::atomic_write(t.path / "m" / "MLmodel", "flavors: {}\n");
  fs::check_tree(t.path / "m");
  fs::atomic_write(t.path / "m" / "caf\xe9.bin", "latin-1 name");
  CHECK_THROWS_WITH_AS(fs::check_tree(t.path / "m"), doctest::Contains("'caf\\xe9.bin' is not valid UTF-8"), Error);
  fsys::remove(t.path / "m" / "caf\xe9.bin");
  fsys::create_symlink("/etc/passwd", t.path / "m" / "leak");
  CHECK_THROWS_WITH_AS(fs::check_tree(t.path / "m"), doctest::Contains("points outside the model directory"), Error);
  fsys::remove(t.path / "m" / "leak");
  fsys::create_symlink("MLmodel", t.path / "m" / "inside");
  fs::check_tree(t.path / "m"); // a link within the tree is fine
  CHECK(fs::escaped_name("ok ünï") == "ok ünï");
  CHECK(fs::escaped_name("a\x01z\xff") == "a\\x01z\\xff");
}

TEST_CASE("open_regular reads only regular files, never through a link") {
  TempDir t;
  fs::atomic_write(t.path / "f", "data");
  auto f = fs::open_regular(t.path / "f");
  CHECK(f.size == 4);
  CHECK(fs::read_all(f.fd, 10, t.path / "f") == "data");
  fsys::create_symlink(t.path / "f", t.path / "link");
  CHECK_THROWS_WITH_AS(fs::open_regular(t.path / "link"), doctest::Contains("not a regular file"), Error);
  REQUIRE(::mkfifo((t.path / "fifo").c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(fs::open_regular(t.path / "fifo"), doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_AS(fs::open_regular(t.path / "missing"), Error);
  auto again = fs::open_regular(t.path / "f");
  CHECK_THROWS_WITH_AS(fs::read_all(again.fd, 3, t.path / "f"), doctest::Contains("larger than"), Error);
}
