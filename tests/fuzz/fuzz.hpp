#pragma once
// Shared by the libFuzzer targets in this folder. Each target feeds its input to one
// parser of outside input. An mlops::Error is the expected way to refuse input; any other
// exception escaping (raw library text reaching the user), a crash, a sanitizer finding,
// a leak, or a stack overflow is a finding: libFuzzer stops and saves the input.

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace mlops::fuzz {

/// The fuzz input as text.
inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Runs `body`, swallowing mlops::Error (a refusal with a message is a correct answer).
template <typename F> void refusing_is_fine(F&& body) {
  try {
    body();
  } catch (const mlops::Error& e) {
    // A refusal must say something: an empty message would print "mlops: error: ".
    if (std::string_view(e.what()).empty()) __builtin_trap();
  }
}

/// A directory private to this fuzzer process, made once, removed at exit.
const std::filesystem::path& scratch_dir();

/// Writes `text` to scratch_dir()/name (replacing it) and returns the path.
std::filesystem::path scratch_file(const std::string& name, std::string_view text);

} // namespace mlops::fuzz
