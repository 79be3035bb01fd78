#pragma once
// Hostile YAML shared by the parser tests.

#include <string>

namespace mlops::test {

/// A "billion laughs" document: ten anchors, each a list of ten aliases of the one before,
/// so walking or expanding the last one visits 10^10 nodes. `head` goes first (a valid
/// document's required keys).
inline std::string billion_laughs(const std::string& head = "") {
  std::string text = head + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 1; k < 10; ++k)
      text += ", " + prev;
    text += "]\n";
  }
  return text;
}

} // namespace mlops::test
