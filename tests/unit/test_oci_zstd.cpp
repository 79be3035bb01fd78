#include "oci/zstd.hpp"

#include "sink_fixtures.hpp"

#include <doctest/doctest.h>
#include <zstd.h>

#include <random>
#include <stdexcept>
#include <string>

using namespace mlops;
using mlops::test::FailingSink;
using mlops::test::sample_input;
using mlops::test::unzstd;

namespace {

constexpr std::size_t k_job = oci::ZstdCompressor::k_job_size;

std::string zstd(const std::string& input, unsigned workers, std::size_t write_size = 100000) {
  return mlops::test::compress<oci::ZstdCompressor>(input, write_size, workers);
}

} // namespace

TEST_CASE("zstd: one valid frame of the input, for every size around the job size") {
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{1000}, k_job - 1, k_job, k_job + 1, 3 * k_job + 17}) {
    CAPTURE(size);
    std::string input = sample_input(size);
    std::string z = zstd(input, 2);
    CHECK(unzstd(z) == input);
    CHECK(ZSTD_findFrameCompressedSize(z.data(), z.size()) == z.size());
  }
}

TEST_CASE("zstd: the same bytes for any worker count, run and write pattern") {
  std::string input = sample_input(5 * k_job + 1234, 7);
  std::string reference = zstd(input, 1);
  CHECK(unzstd(reference) == input);
  CHECK(reference.size() < input.size() * 3 / 4); // the random stretches do not compress
  for (unsigned workers : {1u, 2u, 4u}) {
    CAPTURE(workers);
    CHECK(zstd(input, workers) == reference);
    CHECK(zstd(input, workers) == reference);
    CHECK(zstd(input, workers, 4099) == reference);         // odd pieces
    CHECK(zstd(input, workers, 1 << 20) == reference);      // the layer pipeline's chunks
    CHECK(zstd(input, workers, input.size()) == reference); // all at once
  }
  CHECK(zstd(input, 0) == reference); // one worker per CPU
  std::string small = sample_input(3000, 9);
  CHECK(zstd(small, 1, 1) == zstd(small, 4)); // byte by byte
}

TEST_CASE("zstd: the frame has a checksum, no content size and no dictionary ID, even when empty") {
  for (std::size_t size : {std::size_t{0}, std::size_t{5000}, 2 * k_job}) {
    CAPTURE(size);
    std::string z = zstd(sample_input(size), 2);
    REQUIRE(z.size() > 5);
    CHECK(z.substr(0, 4) == "\x28\xb5\x2f\xfd"); // magic, little-endian 0xFD2FB528
    // Frame header descriptor: content size flag 0, single segment 0,
    // checksum 1, dictionary ID flag 0.
    CHECK(static_cast<unsigned char>(z[4]) == 0x04);
    CHECK(ZSTD_getFrameContentSize(z.data(), z.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
    CHECK(ZSTD_getDictID_fromFrame(z.data(), z.size()) == 0);
  }
  CHECK(zstd("", 1) == zstd("", 4));
}

TEST_CASE("zstd: a failing sink fails the compressor") {
  std::mt19937_64 rng(3);
  std::string noise(6 * k_job, '\0');
  for (auto& c : noise)
    c = static_cast<char>(rng());
  FailingSink failing(1000);
  oci::ZstdCompressor z(failing, 2);
  CHECK_THROWS_AS(
      {
        z.write(noise.data(), noise.size());
        z.finish();
      },
      std::runtime_error);
}
