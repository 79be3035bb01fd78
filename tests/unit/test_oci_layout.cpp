// Base layouts are outside input: blobs are verified while they are copied, only regular
// files are read, and sizes are bounded (lib/core/limits.hpp).
#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"
#include "oci/layout.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

namespace fsys = std::filesystem;
using namespace mlops;
using namespace mlops::oci;
using mlops::test::TempDir;

namespace {

/// A layout with one blob; returns its descriptor.
Descriptor one_blob(const fsys::path& dir, const std::string& bytes) {
  Layout l = Layout::open_or_create(dir);
  return l.put_blob(bytes, "application/octet-stream");
}

} // namespace

TEST_CASE("layout: a verified blob is copied; a flipped byte, a wrong size or a link is refused") {
  TempDir t;
  std::string bytes(100000, 'x');
  Descriptor d = one_blob(t.path / "base", bytes);
  Layout base = Layout::open_or_create(t.path / "base");
  Layout out = Layout::open_or_create(t.path / "out");
  out.copy_blob_from(base, d.digest, d.size);
  CHECK(fs::read_file(out.blob_path(d.digest)) == bytes);

  Layout out2 = Layout::open_or_create(t.path / "out2");
  CHECK_THROWS_WITH_AS(out2.copy_blob_from(base, d.digest, d.size + 1), doctest::Contains("its descriptor says"),
                       Error);
  std::string flipped = bytes;
  flipped[5000] = 'y';
  fs::atomic_write(base.blob_path(d.digest), flipped);
  CHECK_THROWS_WITH_AS(out2.copy_blob_from(base, d.digest, d.size), doctest::Contains("does not match its digest"),
                       Error);
  CHECK_FALSE(out2.has_blob(d.digest));
  fsys::remove(base.blob_path(d.digest));
  fsys::create_symlink("/etc/passwd", base.blob_path(d.digest));
  CHECK_THROWS_WITH_AS(out2.copy_blob_from(base, d.digest, d.size), doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_WITH_AS(base.read_blob(d.digest), doctest::Contains("not a regular file"), Error);
  CHECK_FALSE(out2.has_blob(d.digest));
  CHECK_THROWS_WITH_AS(out2.copy_blob_from(base, d.digest, std::uint64_t{1000000000000000}),
                       doctest::Contains("more than the limit"), Error);
}

TEST_CASE("layout: descriptors with absurd sizes or wrong types are refused with a message") {
  std::string digest = "sha256:" + std::string(64, 'a');
  CHECK(Descriptor::from_json({{"mediaType", "x"}, {"digest", digest}, {"size", 5}}).size == 5);
  CHECK_THROWS_WITH_AS(Descriptor::from_json({{"digest", digest}, {"size", 1000000000000000ull}}),
                       doctest::Contains("more than the limit"), Error);
  CHECK_THROWS_WITH_AS(Descriptor::from_json({{"digest", digest}, {"size", -1}}), doctest::Contains("not a byte count"),
                       Error);
  CHECK_THROWS_WITH_AS(Descriptor::from_json({{"digest", digest}, {"size", "5"}}),
                       doctest::Contains("not a byte count"), Error);
  CHECK_THROWS_WITH_AS(Descriptor::from_json({{"digest", "sha256:../../x"}, {"size", 5}}),
                       doctest::Contains("invalid digest"), Error);
  CHECK_THROWS_AS(Descriptor::from_json(nlohmann::json::array()), Error);
}

TEST_CASE("layout: manifests larger than the limit, or not JSON, are refused") {
  TempDir t;
  Descriptor big = one_blob(t.path / "l", std::string(limits::k_max_manifest_bytes + 1, ' '));
  Layout l = Layout::open_or_create(t.path / "l");
  CHECK_THROWS_WITH_AS(l.read_blob(big.digest), doctest::Contains("larger than"), Error);
  Descriptor deep = one_blob(t.path / "l", std::string(100000, '['));
  CHECK_THROWS_WITH_AS(l.read_json_blob(deep), doctest::Contains("nested deeper"), Error);
}
