#pragma once

#include "core/sink.hpp"

#include <doctest/doctest.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>

namespace mlops::test {

/// Collects everything written into a string.
struct StringSink final : ByteSink {
  std::string bytes;
  int finished = 0;
  void write(const void* data, std::size_t size) override { bytes.append(static_cast<const char*>(data), size); }
  void finish() override { ++finished; }
};

/// Accepts `budget` bytes, then fails like a full disk or a dropped upload.
struct FailingSink final : ByteSink {
  std::size_t budget;
  explicit FailingSink(std::size_t b) : budget(b) {}
  void write(const void*, std::size_t size) override {
    if (size > budget) throw std::runtime_error("sink refused");
    budget -= size;
  }
};

/// Feeds `input` to a new Compressor(sink, args...) (ParallelGzip,
/// ZstdCompressor) in writes of `write_size` bytes, finishes it and returns
/// what reached the sink.
template <class Compressor, class... Args>
std::string compress(const std::string& input, std::size_t write_size, Args... args) {
  StringSink sink;
  Compressor c(sink, args...);
  for (std::size_t at = 0; at < input.size(); at += write_size) {
    c.write(input.data() + at, std::min(write_size, input.size() - at));
  }
  c.finish();
  CHECK(sink.finished == 1);
  CHECK(c.bytes_out() == sink.bytes.size());
  return sink.bytes;
}

/// Text-like bytes that compress and refer back across block (or job)
/// boundaries, with random stretches that do not.
inline std::string sample_input(std::size_t size, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(size);
  while (out.size() < size) {
    if (rng() % 4 == 0) {
      for (int i = 0; i < 300 && out.size() < size; ++i)
        out += static_cast<char>(rng());
    } else {
      out += "{\"id\": " + std::to_string(rng() % 1000) + ", \"name\": \"item\", \"values\": [1.5, 2.5]}\n";
    }
  }
  out.resize(size);
  return out;
}

/// Decompresses with zlib's own gzip reader; fails the test unless the
/// data is exactly one complete gzip stream.
inline std::string gunzip(const std::string& gz) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 31) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  CHECK(rc == Z_STREAM_END); // the CRC-32 and size in the trailer matched
  CHECK(z.avail_in == 0);    // one stream, nothing after it
  return out;
}

/// Decompresses with libzstd's streaming decoder; fails the test unless the
/// data is exactly one complete zstd frame (its checksum checked when it has one).
inline std::string unzstd(const std::string& z) {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  REQUIRE(d);
  ZSTD_inBuffer in{z.data(), z.size(), 0};
  std::string out;
  char buf[65536];
  std::size_t rc = 1;
  while (rc != 0 && !ZSTD_isError(rc)) {
    ZSTD_outBuffer o{buf, sizeof buf, 0};
    rc = ZSTD_decompressStream(d, &o, &in);
    out.append(buf, o.pos);
    if (!ZSTD_isError(rc) && rc != 0 && in.pos == in.size && o.pos == 0) break; // truncated
  }
  ZSTD_freeDCtx(d);
  CHECK_MESSAGE(!ZSTD_isError(rc), ZSTD_getErrorName(rc));
  CHECK(rc == 0);           // the frame ended (and its checksum matched)
  CHECK(in.pos == in.size); // one frame, nothing after it
  return out;
}

} // namespace mlops::test
