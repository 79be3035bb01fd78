#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "model/lock.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

namespace fsys = std::filesystem;
using namespace mlops;
using mlops::test::TempDir;
using model::LockedFile;
using model::LockFile;

namespace {

LockFile sample() {
  LockFile l;
  l.tool = "mlops test";
  l.tracking_uri = "http://127.0.0.1:5000";
  l.name = "iris";
  l.version = "3";
  l.requested_uri = "models:/iris@champion";
  l.alias = "champion";
  l.run_id = "abc";
  l.source = "models:/m-1";
  l.download_uri = "mlflow-artifacts:/1/models/m-1/artifacts";
  l.creation_timestamp = 1700000000123;
  l.pulled_at = "2026-01-01T00:00:00Z";
  l.files = {{"model.pkl", 3, sha256_hex("abc")}, {"MLmodel", 0, sha256_hex("")}};
  return l;
}

} // namespace

TEST_CASE("lock file: round trip keeps every field and sorts files") {
  LockFile l = sample();
  std::string text = l.to_json();
  LockFile back = LockFile::from_json(text, "mem");
  CHECK(back.name == "iris");
  CHECK(back.version == "3");
  CHECK(back.alias == "champion");
  CHECK(back.stage.empty());
  CHECK(back.requested_uri == l.requested_uri);
  CHECK(back.download_uri == l.download_uri);
  CHECK(back.creation_timestamp == l.creation_timestamp);
  REQUIRE(back.files.size() == 2);
  CHECK(back.files[0].path == "MLmodel"); // sorted by path
  CHECK(back.digest == LockFile::compute_digest(l.files));
  CHECK(back.to_json() == text); // stable serialisation
  CHECK(text.find("\"created\": \"2023-11-14T22:13:20Z\"") != std::string::npos);
}

TEST_CASE("lock file: digest depends on content, not on order") {
  std::vector<LockedFile> a = {{"a", 1, sha256_hex("x")}, {"b", 1, sha256_hex("y")}};
  std::vector<LockedFile> b = {a[1], a[0]};
  CHECK(LockFile::compute_digest(a) == LockFile::compute_digest(b));
  b[0].sha256 = sha256_hex("z");
  CHECK(LockFile::compute_digest(a) != LockFile::compute_digest(b));
  CHECK(LockFile::compute_digest(a).rfind("sha256:", 0) == 0);
}

TEST_CASE("lock file: tampering and bad records are rejected") {
  std::string text = sample().to_json();
  auto tampered = text;
  tampered.replace(tampered.find("\"size\": 3"), 9, "\"size\": 4");
  CHECK_THROWS_WITH_AS(LockFile::from_json(tampered, "x.json"), doctest::Contains("digest does not match"), Error);
  CHECK_THROWS_WITH_AS(LockFile::from_json("{", "x.json"), doctest::Contains("invalid lock file 'x.json'"), Error);
  auto escape = text;
  escape.replace(escape.find("\"model.pkl\""), 11, "\"../evil\"");
  CHECK_THROWS_AS(LockFile::from_json(escape, "x.json"), Error);
}

TEST_CASE("lock file: verify_dir names modified, missing and unexpected files") {
  TempDir t;
  LockFile l = sample();
  fs::atomic_write(t.path / "model.pkl", "abc");
  fs::atomic_write(t.path / "MLmodel", "");
  fs::atomic_write(t.path / LockFile::k_file_name, l.to_json());
  CHECK(model::verify_dir(t.path, l).ok());

  fs::atomic_write(t.path / "model.pkl", "abd"); // same size, other bytes
  fsys::remove(t.path / "MLmodel");
  fs::atomic_write(t.path / "extra.txt", "x");
  auto r = model::verify_dir(t.path, l);
  CHECK_FALSE(r.ok());
  CHECK(r.modified == std::vector<std::string>{"model.pkl"});
  CHECK(r.missing == std::vector<std::string>{"MLmodel"});
  CHECK(r.unexpected == std::vector<std::string>{"extra.txt"});

  auto loaded = LockFile::load(t.path);
  REQUIRE(loaded.has_value());
  CHECK(loaded->name == "iris");
  CHECK_FALSE(LockFile::load(t.path / "nowhere").has_value());
}

TEST_CASE("lock file: verify_dir does not follow symbolic links") {
  TempDir t;
  LockFile l = sample();
  l.files = {{"sub/model.pkl", 3, sha256_hex("abc")}};
  fsys::create_directories(t.path / "elsewhere");
  fs::atomic_write(t.path / "elsewhere" / "model.pkl", "abc");
  fsys::create_directories(t.path / "m");
  fsys::create_directory_symlink(t.path / "elsewhere", t.path / "m" / "sub"); // the bytes live outside
  auto r = model::verify_dir(t.path / "m", l);
  CHECK(r.modified == std::vector<std::string>{"sub/model.pkl"});

  fsys::remove(t.path / "m" / "sub");
  fsys::create_directories(t.path / "m" / "sub");
  fs::atomic_write(t.path / "m" / "sub" / "model.pkl", "abc");
  CHECK(model::verify_dir(t.path / "m", l).ok());
  fsys::create_directory_symlink("/etc", t.path / "m" / "evil"); // an extra link is reported, not entered
  auto e = model::verify_dir(t.path / "m", l);
  CHECK(e.unexpected == std::vector<std::string>{"evil"});
  fsys::remove(t.path / "m" / "sub" / "model.pkl");
  fsys::create_symlink(t.path / "elsewhere" / "model.pkl", t.path / "m" / "sub" / "model.pkl");
  CHECK(model::verify_dir(t.path / "m", l).modified == std::vector<std::string>{"sub/model.pkl"});
}
