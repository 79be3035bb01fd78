#include "core/process.hpp"

#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/prctl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mlops {

namespace {

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && extra.count(kv.substr(0, eq))) continue;
    out.push_back(std::move(kv));
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

void kill_group(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

} // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                     const std::filesystem::path& log_file) {
  std::string exe = argv.empty() ? std::string() : find_executable(argv[0]);
  if (exe.empty()) throw Error(ErrorKind::operational, "cannot start " + quote(argv.empty() ? "" : argv[0]) + ": not found");
  int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) throw Error(ErrorKind::io, "cannot write " + quote(log_file.string()) + ": " + std::strerror(errno));
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    throw Error(ErrorKind::operational, std::string("cannot start a process: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(127);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execv(exe.c_str(), cargv.data());
    _exit(127);
  }
  ::setpgid(pid, pid);
  ::close(log);
  m_pid = pid;
}

BackgroundProcess::~BackgroundProcess() { stop(std::chrono::seconds(5)); }

bool BackgroundProcess::running() {
  if (m_pid < 0) return false;
  int status = 0;
  pid_t w = ::waitpid(m_pid, &status, WNOHANG);
  if (w == 0) return true;
  if (w == m_pid) {
    m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ::kill(-m_pid, SIGKILL);  // leftovers of its group; the group id is ours until now
    m_pid = -1;
  }
  return false;
}

void BackgroundProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(-m_pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == m_pid) break;
    ::usleep(50000);
  }
  ::kill(-m_pid, SIGKILL);  // the child is a zombie or still running: its group id is still ours
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m_pid = -1;
}

int free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorKind::operational, std::string("cannot create a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(ErrorKind::operational, std::string("cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string find_executable(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : std::string();
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate;
    start = end + 1;
  }
  return {};
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& extra_env, std::chrono::milliseconds timeout,
                          std::size_t max_output, std::string_view input) {
  ProcessResult r;
  if (argv.empty()) throw Error(ErrorKind::usage, "empty command");
  std::string exe = find_executable(argv[0]);
  if (exe.empty()) {
    r.not_found = true;
    r.output = "command not found: " + argv[0];
    return r;
  }
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw Error(ErrorKind::operational, std::string("cannot create a pipe: ") + std::strerror(errno));
  // stdin as a socket pair, so writing to a child that exited early gives
  // EPIPE (MSG_NOSIGNAL) instead of killing us with SIGPIPE.
  int infd[2] = {-1, -1};
  if (!input.empty() && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, infd) != 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    throw Error(ErrorKind::operational, std::string("cannot create a socket pair: ") + std::strerror(errno));
  }

  std::vector<std::string> env = merged_env(extra_env);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    if (infd[0] >= 0) {
      ::close(infd[0]);
      ::close(infd[1]);
    }
    throw Error(ErrorKind::operational, std::string("cannot start a process: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: own process group (so a timeout kills its children too), output
    // to the pipe, and killed with us if mlops dies before it.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::dup2(pipefd[1], STDERR_FILENO);
    int devnull = infd[1] >= 0 ? infd[1] : ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(127);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execve(exe.c_str(), cargv.data(), cenv.data());
    _exit(127);
  }
  ::setpgid(pid, pid);
  ::close(pipefd[1]);
  if (infd[0] >= 0) {
    ::close(infd[1]);
    std::size_t sent = 0;
    while (sent < input.size()) {
      ssize_t n = ::send(infd[0], input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the child does not read its input: it will say so
      sent += static_cast<std::size_t>(n);
    }
    ::close(infd[0]);
  }
  std::string out;
  char buf[8192];
  bool open_pipe = true;
  int status = 0;
  bool reaped = false;
  while (true) {
    auto elapsed = std::chrono::steady_clock::now() - start;
    if (elapsed >= timeout || cancel_requested()) {
      r.timed_out = !cancel_requested();
      kill_group(pid);
      break;
    }
    if (open_pipe) {
      pollfd p{pipefd[0], POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n > 0) {
        ssize_t got = ::read(pipefd[0], buf, sizeof buf);
        if (got > 0) {
          out.append(buf, static_cast<std::size_t>(got));
          if (out.size() > max_output * 2) out.erase(0, out.size() - max_output);
          continue;
        }
        if (got == 0) open_pipe = false;
      }
    } else {
      ::usleep(20000);
    }
    // Look without reaping: while the child is a zombie its group id cannot
    // be reused, so killing the group below is safe. A background child that
    // still holds the pipe does not keep us waiting once the command exited.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
      pollfd p{pipefd[0], POLLIN, 0};
      while (open_pipe && ::poll(&p, 1, 0) > 0) {
        ssize_t got = ::read(pipefd[0], buf, sizeof buf);
        if (got <= 0) break;
        out.append(buf, static_cast<std::size_t>(got));
      }
      reaped = true;
      break;
    }
  }
  // Children left in the group after the main process exited must not linger.
  if (reaped) ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ::close(pipefd[0]);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (out.size() > max_output) out = "[...]\n" + out.substr(out.size() - max_output);
  r.output = valid_utf8(out);  // the cut above may have split a character, and programs print anything
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  throw_if_cancelled();
  return r;
}

} // namespace mlops
