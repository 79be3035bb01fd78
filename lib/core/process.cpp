#include "core/process.hpp"

#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/strings.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
  for (const auto& [k, v] : extra)
    out.push_back(k + "=" + v);
  return out;
}

void kill_group(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

std::vector<char*> c_strings(const std::vector<std::string>& items) {
  std::vector<char*> out;
  for (const auto& s : items)
    out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

/// What a child starts with: its program, arguments, environment (null: ours),
/// directory, and where its standard streams go.
struct Spawn {
  const std::string& exe;
  const std::vector<std::string>& argv;
  const std::vector<std::string>* env = nullptr;
  const std::filesystem::path& cwd;
  int stdin_fd = -1;  ///< -1: /dev/null
  int output_fd = -1; ///< stdout and stderr
};

/// Forks and execs `s` in a process group of its own (so that killing the
/// group reaches its children too), killed with us if mlops dies first.
/// Returns its pid; throws Error(operational) when no process can be made.
/// Used by run_process and BackgroundProcess alike.
pid_t spawn(const Spawn& s) {
  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls.
  std::vector<char*> cargv = c_strings(s.argv);
  std::vector<char*> cenv = s.env ? c_strings(*s.env) : std::vector<char*>{};
  // Signals stay blocked until the child has its default handlers back: a
  // SIGTERM (e.g. stop() right after start) must not run our handlers in it.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw Error(ErrorKind::operational, std::string("cannot start a process: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(s.output_fd, STDOUT_FILENO);
    ::dup2(s.output_fd, STDERR_FILENO);
    int in = s.stdin_fd >= 0 ? s.stdin_fd : ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, STDIN_FILENO);
    if (!s.cwd.empty() && ::chdir(s.cwd.c_str()) != 0) _exit(127);
    if (s.env)
      ::execve(s.exe.c_str(), cargv.data(), cenv.data());
    else
      ::execv(s.exe.c_str(), cargv.data());
    _exit(127);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::setpgid(pid, pid);
  return pid;
}

/// A pipe whose ends close on exec. Throws Error(operational).
FdPair make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw Error(ErrorKind::operational, std::string("cannot create a pipe: ") + std::strerror(errno));
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

/// A connected socket pair for the child's stdin: writing to a child that
/// exited early gives EPIPE (MSG_NOSIGNAL) instead of killing us with SIGPIPE.
FdPair make_socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw Error(ErrorKind::operational, std::string("cannot create a socket pair: ") + std::strerror(errno));
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

/// Writes `input` to the child's stdin and closes it. A child that does not
/// read its input (or exits first) is not our error: it will say so.
void feed_stdin(UniqueFd to_child, std::string_view input) {
  std::size_t sent = 0;
  while (sent < input.size()) {
    ssize_t n = ::send(to_child.get(), input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
}

/// What drain_until_exit saw.
struct Drained {
  std::string output;
  int status = 0; ///< waitpid() status
  bool timed_out = false;
  bool cut = false; ///< output was dropped from the front while reading
};

/// Reads the child's output (keeping about the last `max_output` bytes)
/// until it exits, `deadline` passes or Ctrl-C is pressed (then its group is
/// killed), and reaps it.
Drained drain_until_exit(pid_t pid, const UniqueFd& from_child, std::chrono::steady_clock::time_point deadline,
                         std::size_t max_output) {
  Drained d;
  char buf[8192];
  bool open_pipe = true;
  bool exited = false;
  while (true) {
    if (std::chrono::steady_clock::now() >= deadline || cancel_requested()) {
      d.timed_out = !cancel_requested();
      kill_group(pid);
      break;
    }
    if (open_pipe) {
      pollfd p{from_child.get(), POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n > 0) {
        ssize_t got = ::read(from_child.get(), buf, sizeof buf);
        if (got > 0) {
          d.output.append(buf, static_cast<std::size_t>(got));
          if (d.output.size() > max_output * 2) {
            d.output.erase(0, d.output.size() - max_output);
            d.cut = true;
          }
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
      pollfd p{from_child.get(), POLLIN, 0};
      while (open_pipe && ::poll(&p, 1, 0) > 0) {
        ssize_t got = ::read(from_child.get(), buf, sizeof buf);
        if (got <= 0) break;
        d.output.append(buf, static_cast<std::size_t>(got));
      }
      exited = true;
      break;
    }
  }
  // Children left in the group after the main process exited must not linger.
  if (exited) ::kill(-pid, SIGKILL);
  ::waitpid(pid, &d.status, 0);
  return d;
}

} // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                                     const std::filesystem::path& log_file) {
  std::string exe = argv.empty() ? std::string() : find_executable(argv[0]);
  if (exe.empty())
    throw Error(ErrorKind::operational, "cannot start " + quote(argv.empty() ? "" : argv[0]) + ": not found");
  UniqueFd log(::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!log) throw Error(ErrorKind::io, "cannot write " + quote(log_file.string()) + ": " + std::strerror(errno));
  m_pid = spawn({exe, argv, nullptr, cwd, -1, log.get()});
}

BackgroundProcess::~BackgroundProcess() { stop(std::chrono::seconds(5)); }

bool BackgroundProcess::running() {
  if (m_pid < 0) return false;
  int status = 0;
  pid_t w = ::waitpid(m_pid, &status, WNOHANG);
  if (w == 0) return true;
  if (w == m_pid) {
    m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ::kill(-m_pid, SIGKILL); // leftovers of its group; the group id is ours until now
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
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == m_pid)
      break;
    ::usleep(50000);
  }
  ::kill(-m_pid, SIGKILL); // the child is a zombie or still running: its group id is still ours
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m_pid = -1;
}

int free_local_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw Error(ErrorKind::operational, std::string("cannot create a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw Error(ErrorKind::operational, std::string("cannot find a free port: ") + std::strerror(errno));
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
  FdPair output = make_pipe();
  FdPair stdin_pair = input.empty() ? FdPair{} : make_socket_pair();
  std::vector<std::string> env = merged_env(extra_env);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = spawn({exe, argv, &env, cwd, stdin_pair.second.get(), output.second.get()});
  // Our copies of the child's ends: the pipe reads EOF only once the child
  // (and its children) hold the write end alone.
  output.second.reset();
  stdin_pair.second.reset();
  if (stdin_pair.first) feed_stdin(std::move(stdin_pair.first), input);
  Drained d = drain_until_exit(pid, output.first, start + timeout, max_output);

  r.timed_out = d.timed_out;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string& out = d.output;
  // Marked whenever something was dropped: while reading (which may leave exactly
  // max_output bytes, depending on how the child's writes arrived) or here.
  if (d.cut || out.size() > max_output) out = "[...]\n" + out.substr(out.size() - std::min(out.size(), max_output));
  r.output = valid_utf8(out); // the cut above may have split a character, and programs print anything
  if (WIFEXITED(d.status))
    r.exit_code = WEXITSTATUS(d.status);
  else if (WIFSIGNALED(d.status))
    r.exit_code = 128 + WTERMSIG(d.status);
  throw_if_cancelled();
  return r;
}

} // namespace mlops
