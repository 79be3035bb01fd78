#pragma once

#include "core/sink.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

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
  CHECK(rc == Z_STREAM_END);  // the CRC-32 and size in the trailer matched
  CHECK(z.avail_in == 0);     // one stream, nothing after it
  return out;
}

} // namespace mlops::test

