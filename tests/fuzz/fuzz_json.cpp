// lib/core/json: parse_json() on any text; what parses must serialize and parse back equal.
#include "core/json.hpp"
#include "core/limits.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  (void)mlops::json_depth(text, mlops::limits::k_max_json_depth);
  mlops::fuzz::refusing_is_fine([&] {
    nlohmann::json j = mlops::parse_json(text, "'fuzz.json'");
    std::string again = j.dump();
    if (mlops::parse_json(again, "its dump") != j) __builtin_trap();
  });
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::parse_ordered_json(text, "'fuzz.json'"); });
  return 0;
}
