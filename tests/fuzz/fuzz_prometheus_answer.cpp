// lib/prometheus: an answer of /api/v1/query or /api/v1/query_range (a server's JSON).
#include "fuzz.hpp"
#include "prometheus/client.hpp"
#include "prometheus/condition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    auto a = mlops::prometheus::parse_answer(text, "'fuzz'");
    for (const auto& s : a.series)
      if (s.samples.empty() && a.result_type != "matrix") __builtin_trap();
  });
  // The same bytes as a --fail-if condition (user input).
  mlops::fuzz::refusing_is_fine([&] { mlops::prometheus::parse_condition(text); });
  return 0;
}
