#include "core/error.hpp"
#include "oci/gzip.hpp"

#include "sink_fixtures.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <random>
#include <stdexcept>
#include <string>

using namespace mlops;
using mlops::test::FailingSink;
using mlops::test::gunzip;
using mlops::test::sample_input;
using mlops::test::StringSink;

namespace {

constexpr std::size_t k_block = 64 * 1024; // small blocks: many of them in a small input

std::string gzip(const std::string& input, unsigned threads, std::size_t write_size = 100000) {
  return mlops::test::compress<oci::ParallelGzip>(input, write_size, threads, k_block);
}

} // namespace

TEST_CASE("parallel gzip: a valid gzip stream of the input, for every size around the block size") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, k_block - 1, k_block, k_block + 1,
                           3 * k_block, 3 * k_block + 17, 10 * k_block}) {
    CAPTURE(size);
    std::string input = sample_input(size);
    std::string gz = gzip(input, 2);
    CHECK(gunzip(gz) == input);
  }
}

TEST_CASE("parallel gzip: the same bytes for any thread count, run and write pattern") {
  std::string input = sample_input(7 * k_block + 1234, 7);
  std::string reference = gzip(input, 1);
  CHECK(gunzip(reference) == input);
  CHECK(reference.size() < input.size() * 3 / 4); // the dictionary carries matches across blocks
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    CAPTURE(threads);
    CHECK(gzip(input, threads) == reference);
    CHECK(gzip(input, threads) == reference);
  }
  CHECK(gzip(input, 2, 1) == reference);       // byte by byte
  CHECK(gzip(input, 2, k_block) == reference); // block by block
  CHECK(gzip(input, 0) == reference);          // one thread per CPU
}

TEST_CASE("parallel gzip: blocks that do not compress are stored, mixed with deflated ones") {
  std::mt19937_64 rng(3);
  std::string noise(5 * k_block + 99, '\0');
  for (auto& c : noise)
    c = static_cast<char>(rng());
  std::string text;
  for (int i = 0; text.size() < 3 * k_block; ++i)
    text += "{\"id\": " + std::to_string(i) + ", \"values\": [1.5, 2.5]}\n";
  std::string mixed = noise.substr(0, 2 * k_block) + text + noise;
  for (const std::string* input : {&noise, &mixed}) {
    std::string reference = gzip(*input, 1);
    CHECK(gunzip(reference) == *input);
    CHECK(gzip(*input, 3) == reference);
  }
  // Stored: 5 bytes per 64 KiB stored block, plus sync markers, header and trailer.
  std::string stored = gzip(noise, 2);
  CHECK(stored.size() < noise.size() + noise.size() / 1000);
  CHECK(gzip(mixed, 2).size() < mixed.size() - k_block); // the text part was still deflated
}

TEST_CASE("parallel gzip: header has no name and no time, trailer holds CRC-32 and size") {
  std::string input = sample_input(2 * k_block + 5);
  std::string gz = gzip(input, 2);
  REQUIRE(gz.size() > 18);
  CHECK(static_cast<unsigned char>(gz[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(gz[1]) == 0x8b);
  CHECK(gz[2] == 8);                              // deflate
  CHECK(gz[3] == 0);                              // no FNAME, FCOMMENT, FEXTRA
  CHECK(gz.substr(4, 4) == std::string(4, '\0')); // mtime 0
  CHECK(gz[9] == 3);                              // Unix
  auto le32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(gz[at + static_cast<std::size_t>(i)]);
    return v;
  };
  CHECK(le32(gz.size() - 8) == crc32(0, reinterpret_cast<const Bytef*>(input.data()), static_cast<uInt>(input.size())));
  CHECK(le32(gz.size() - 4) == input.size());
}

TEST_CASE("parallel gzip: small inputs give what zlib's own gzip gives") {
  // One block, no dictionary, ended with Z_FINISH: byte for byte zlib's stream.
  std::string input = sample_input(5000);
  z_stream z{};
  REQUIRE(deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string expected(deflateBound(&z, static_cast<uLong>(input.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  z.next_out = reinterpret_cast<Bytef*>(expected.data());
  z.avail_out = static_cast<uInt>(expected.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  expected.resize(expected.size() - z.avail_out);
  deflateEnd(&z);
  CHECK(gzip(input, 2) == expected);
}

TEST_CASE("parallel gzip: refuses blocks below the deflate window, passes sink errors on") {
  StringSink sink;
  CHECK_THROWS_AS(oci::ParallelGzip(sink, 2, 1024), Error);
  std::string input = sample_input(20 * k_block);
  FailingSink failing(1000);
  oci::ParallelGzip gz(failing, 2, k_block);
  CHECK_THROWS_AS(
      {
        gz.write(input.data(), input.size());
        gz.finish();
      },
      std::runtime_error);
}
