#include "core/pipeline.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

using namespace mlops;

namespace {

/// Pushes `text` through `pipe` in pieces of `piece` bytes.
void feed(ChunkPipeline& pipe, const std::string& text, std::size_t piece) {
  Chunk c = pipe.first();
  for (std::size_t at = 0; at < text.size();) {
    std::size_t n = std::min({piece, text.size() - at, pipe.capacity() - c.size});
    std::memcpy(c.data.get() + c.size, text.data() + at, n);
    c.size += n;
    at += n;
    if (c.size == pipe.capacity()) c = pipe.exchange(std::move(c));
  }
  pipe.finish(std::move(c));
}

} // namespace

TEST_CASE("pipeline: every stage sees every byte, in order") {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += std::to_string(i) + ",";
  for (std::size_t capacity : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, text.size(), text.size() + 1}) {
    CAPTURE(capacity);
    std::string first, second;
    ChunkPipeline pipe({[&](const char* p, std::size_t n) { first.append(p, n); },
                        [&](const char* p, std::size_t n) { second.append(p, n); }},
                       3, capacity);
    feed(pipe, text, 1000);
    CHECK(first == text);
    CHECK(second == text);
  }
}

TEST_CASE("pipeline: an empty stream passes nothing; a failing stage stops it") {
  int calls = 0;
  {
    ChunkPipeline pipe({[&](const char*, std::size_t) { ++calls; }}, 2, 16);
    pipe.finish(pipe.first());
  }
  CHECK(calls == 0);
  ChunkPipeline failing(
      {[](const char*, std::size_t) {}, [](const char*, std::size_t) { throw std::runtime_error("disk full"); }}, 2,
      16);
  CHECK_THROWS_WITH_AS(feed(failing, std::string(1000, 'x'), 100), "disk full", std::runtime_error);
  CHECK_THROWS_AS(ChunkPipeline({}, 2, 16), std::invalid_argument);
}
