#include "fuzz.hpp"

#include <cstdlib>
#include <fstream>
#include <system_error>
#include <unistd.h>

namespace mlops::fuzz {

namespace {
struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mlops-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    dir = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};
} // namespace

const std::filesystem::path& scratch_dir() {
  static Scratch s;
  return s.dir;
}

std::filesystem::path scratch_file(const std::string& name, std::string_view text) {
  auto path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) std::abort();
  return path;
}

} // namespace mlops::fuzz
