// Content-Range answers of ranged downloads (lib/http/ranged).
#include "http/ranged.hpp"

#include <doctest/doctest.h>

using mlops::http::parse_content_range;

TEST_CASE("parse_content_range reads 'bytes FIRST-LAST/TOTAL'") {
  auto cr = parse_content_range("bytes 0-33554431/268435456");
  REQUIRE(cr);
  CHECK(cr->first == 0);
  CHECK(cr->last == 33554431);
  CHECK(cr->total.value() == 268435456);
  auto star = parse_content_range("  bytes 5-9/*  ");
  REQUIRE(star);
  CHECK(star->first == 5);
  CHECK(star->last == 9);
  CHECK(!star->total);
  CHECK(parse_content_range("bytes 18446744073709551614-18446744073709551614/18446744073709551615"));
}

TEST_CASE("parse_content_range refuses what is not one satisfiable range") {
  for (const char* bad :
       {"", "bytes", "bytes */100", "bytes 9-5/100", "bytes 0-100/100", "bytes 0-1/", "items 0-1/2", "bytes -1-5/10",
        "bytes 0-5/10x", "bytes 0x1-5/10", "bytes 0-18446744073709551616/*", "bytes 1/2-3", "bytes 0- 5/10"}) {
    CAPTURE(bad);
    CHECK(!parse_content_range(bad));
  }
}
