#pragma once

#include "core/fs.hpp"

#include <filesystem>
#include <stdlib.h>

namespace mlops::test {

/// A fresh directory under /tmp for one test, removed when it goes out of scope.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/mlops-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_tree_quietly(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

} // namespace mlops::test
