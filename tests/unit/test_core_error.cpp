#include "core/error.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

using namespace mlops;

TEST_CASE("every error kind has one row in the exit-code table, ordered by code") {
  std::set<ErrorKind> kinds;
  int last = 0;
  for (const auto& row : error_kinds()) {
    CHECK(kinds.insert(row.kind).second);
    CHECK(row.code >= last);
    last = row.code;
    CHECK(exit_code(row.kind) == row.code);
    CHECK(kind_name(row.kind) == row.name);
  }
  CHECK(kinds.size() == static_cast<std::size_t>(ErrorKind::partial) + 1);
  CHECK(exit_statuses().front().code == 0);
}

TEST_CASE("README's exit-code section lists exactly the table's codes") {
  std::ifstream in(MLOPS_SOURCE_DIR "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string readme = ss.str();
  auto start = readme.find("\n## Exit codes\n");
  REQUIRE(start != std::string::npos);
  auto end = readme.find("\nErrors are one line", start);
  REQUIRE(end != std::string::npos);
  std::string section = readme.substr(start, end - start);
  // Each code opens an item: at a line start or after a " · " separator.
  std::set<int> listed;
  std::regex item(R"((?:^|\n|· )(\d+) )");
  for (auto it = std::sregex_iterator(section.begin(), section.end(), item); it != std::sregex_iterator(); ++it)
    listed.insert(std::stoi((*it)[1].str()));
  std::set<int> table;
  for (const auto& e : exit_statuses())
    table.insert(e.code);
  CHECK(listed == table);
}
