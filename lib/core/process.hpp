#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mlops {

/// What a child process did.
struct ProcessResult {
  int exit_code = -1;        ///< exit status, or 128+signal when killed
  bool timed_out = false;
  bool not_found = false;    ///< the executable could not be started
  std::string output;        ///< stdout and stderr interleaved (tail kept when long)
  double seconds = 0;
};

/// Runs `argv` (no shell) in `cwd` with the current environment plus
/// `extra_env`, capturing stdout and stderr together (at most `max_output`
/// bytes, the end kept). After `timeout` the whole process group is killed.
/// Ctrl-C (cancel_requested) kills it too. Never throws for the child's
/// failures; throws Error(operational) if the child cannot be created.
ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& extra_env, std::chrono::milliseconds timeout,
                          std::size_t max_output = 256 * 1024);

/// The full path of `name` found in PATH (or `name` itself if it has a
/// slash and is executable); empty when not found.
std::string find_executable(const std::string& name);

} // namespace mlops
