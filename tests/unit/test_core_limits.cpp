// The limits table in README.md ("## Limits") and lib/core/limits.hpp must agree: every
// limit declared in the header is documented, and the table names no limit that is gone.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> names(const std::string& text, const std::regex& re) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

} // namespace

TEST_CASE("every limit in lib/core/limits.hpp is in README's Limits table, and only those") {
  std::string header = slurp(MLOPS_SOURCE_DIR "/lib/core/limits.hpp");
  std::string readme = slurp(MLOPS_SOURCE_DIR "/README.md");
  auto start = readme.find("\n## Limits");
  REQUIRE_MESSAGE(start != std::string::npos, "README.md has no '## Limits' section");
  auto end = readme.find("\n## ", start + 1);
  std::string table = readme.substr(start, end == std::string::npos ? std::string::npos : end - start);

  auto declared = names(header, std::regex(R"(constexpr[^=;]*\b(k_[a-z0-9_]+)\s*=)"));
  auto documented = names(table, std::regex(R"(`[^`]*?\b(k_[a-z0-9_]+)\b)"));
  // A table cell may name several limits: `k_a` / `k_b`.
  for (const auto& extra : names(table, std::regex(R"(\b(k_[a-z0-9_]+)\b)")))
    documented.insert(extra);
  CHECK(declared.size() > 10);
  for (const auto& n : declared)
    CHECK_MESSAGE(documented.count(n), n << " is not in README's Limits table");
  for (const auto& n : documented)
    CHECK_MESSAGE(declared.count(n), n << " is in README's Limits table but not in limits.hpp");
}
