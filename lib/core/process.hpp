#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mlops {

/// What a child process did.
struct ProcessResult {
  int exit_code = -1; ///< exit status, or 128+signal when killed
  bool timed_out = false;
  bool not_found = false; ///< the executable could not be started
  std::string output;     ///< stdout and stderr interleaved (tail kept when long)
  double seconds = 0;
};

/// Runs `argv` (no shell) in `cwd` with the current environment plus
/// `extra_env`, capturing stdout and stderr together (at most `max_output`
/// bytes, the end kept). `input`, when not empty, is written to its stdin
/// (then closed; at most a few KiB, e.g. a credential helper's server URL);
/// otherwise stdin is /dev/null. After `timeout` the whole process group is killed.
/// Ctrl-C (cancel_requested) kills it too. Never throws for the child's
/// failures; throws Error(operational) if the child cannot be created.
ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& extra_env, std::chrono::milliseconds timeout,
                          std::size_t max_output = 256 * 1024, std::string_view input = {});

/// A long-running child (a server) in its own process group, with its
/// output going to a log file. Stopped (TERM, then KILL) by its recorded
/// PID when stop() is called or the object is destroyed.
class BackgroundProcess {
public:
  /// Starts `argv` (no shell); throws Error(operational) if it cannot.
  BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                    const std::filesystem::path& log_file);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  /// True while the process has not exited.
  bool running();
  /// Its exit code once it has exited (-1 while running).
  int exit_code() const { return m_exit; }
  /// SIGTERM to its group, up to `grace` to exit, then SIGKILL.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

private:
  int m_pid = -1;
  int m_exit = -1;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice).
int free_local_port();

/// The full path of `name` found in PATH (or `name` itself if it has a
/// slash and is executable); empty when not found.
std::string find_executable(const std::string& name);

} // namespace mlops
