#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/process.hpp"
#include "http/client.hpp"
#include "mlflow/client.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace mlops;

namespace {

/// Descriptors open in this process now.
std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

} // namespace

TEST_CASE("UniqueFd: closes on destruction, moves ownership, releases on request") {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(raw >= 0);
  {
    UniqueFd a(raw);
    CHECK(a);
    UniqueFd b(std::move(a));
    CHECK_FALSE(a); // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
    CHECK(b.get() == raw);
    UniqueFd c;
    c = std::move(b);
    CHECK(c.get() == raw);
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));

  UniqueFd d(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int kept = d.release();
  CHECK_FALSE(d);
  CHECK(is_open(kept));
  ::close(kept);

  UniqueFd e(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int was = e.get();
  CHECK(e.close());
  CHECK_FALSE(e);
  CHECK_FALSE(is_open(was));
  CHECK(e.close()); // nothing left to close
}

TEST_CASE("run_process: output, exit code, stdin, timeout, a missing program, and no descriptor left open") {
  test::TempDir dir;
  std::size_t before = open_fds();
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"}, dir.path, {}, std::chrono::seconds(30));
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("out") != std::string::npos);
  CHECK(r.output.find("err") != std::string::npos);
  CHECK_FALSE(r.timed_out);

  auto fed = run_process({"cat"}, dir.path, {}, std::chrono::seconds(30), 1024, "protocol=https\nhost=r.example\n");
  CHECK(fed.exit_code == 0);
  CHECK(fed.output == "protocol=https\nhost=r.example\n");

  auto env = run_process({"sh", "-c", "pwd; echo $MLOPS_UNIT_X"}, dir.path, {{"MLOPS_UNIT_X", "42"}},
                         std::chrono::seconds(30));
  CHECK(env.output == std::filesystem::canonical(dir.path).string() + "\n42\n");

  // Input the child never reads: no SIGPIPE for us, the child's own result.
  auto ignored = run_process({"true"}, dir.path, {}, std::chrono::seconds(30), 1024, std::string(1 << 20, 'x'));
  CHECK(ignored.exit_code == 0);

  auto slow = run_process({"sleep", "30"}, dir.path, {}, std::chrono::milliseconds(200));
  CHECK(slow.timed_out);
  CHECK(slow.exit_code == 128 + 9);

  auto missing = run_process({"mlops-no-such-program"}, dir.path, {}, std::chrono::seconds(30));
  CHECK(missing.not_found);

  auto tail = run_process({"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' a; echo END"}, dir.path, {},
                          std::chrono::seconds(30), 100);
  CHECK(tail.output.rfind("[...]\n", 0) == 0);
  CHECK(tail.output.find("END") != std::string::npos);

  CHECK(open_fds() == before);
}

TEST_CASE("BackgroundProcess: starts with its output in a log file and stops by its own pid") {
  test::TempDir dir;
  std::size_t before = open_fds();
  auto first_line = [&] {
    std::ifstream log(dir.path / "log");
    std::string line;
    std::getline(log, line);
    return line;
  };
  {
    // Stopped at once: the TERM must reach the program, not the handlers it
    // inherited from us before exec (doctest's would end this test run).
    BackgroundProcess early({"sleep", "30"}, dir.path, dir.path / "early.log");
    early.stop(std::chrono::seconds(5));
    CHECK_FALSE(early.running());

    BackgroundProcess p({"sh", "-c", "echo started; exec sleep 30"}, dir.path, dir.path / "log");
    CHECK(p.running());
    for (int i = 0; i < 600 && first_line().empty(); ++i)
      ::usleep(10000); // waits for it; asserts no time
    CHECK(first_line() == "started");
    p.stop(std::chrono::seconds(5));
    CHECK_FALSE(p.running());
    CHECK(p.exit_code() == 128 + 15);
  }
  CHECK(open_fds() == before);
  CHECK_THROWS_AS(BackgroundProcess({"mlops-no-such-program"}, dir.path, dir.path / "log2"), Error);
}

TEST_CASE("errors: the new kinds' exit codes, and context keeps cause and status") {
  CHECK(exit_code(ErrorKind::timed_out) == 8);
  CHECK(exit_code(ErrorKind::inconclusive) == 9);
  CHECK(exit_code(ErrorKind::partial) == 10);
  CHECK(kind_name(ErrorKind::partial) == "partial");
  Error e = Error(ErrorKind::auth, "denied", "ask").because(Cause::permission_denied).with_status(403);
  Error c = e.with_context("cannot promote 'iris'");
  CHECK(std::string(c.what()) == "cannot promote 'iris': denied");
  CHECK(c.cause() == Cause::permission_denied);
  CHECK(c.http_status() == 403);
  CHECK(c.hint() == "ask");
  CHECK(Error(ErrorKind::io, "x").cause() == Cause::unspecified);
}

TEST_CASE("errors: MLflow answers carry their status and cause as data") {
  auto answer = [](long status, std::string body) {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    return mlflow::error_from_response(r, "w");
  };
  auto denied = answer(403, R"({"error_code":"PERMISSION_DENIED","message":"m"})");
  CHECK(denied.cause() == Cause::permission_denied);
  CHECK(denied.http_status() == 403);
  CHECK(answer(401, "You are not authenticated").cause() == Cause::unauthenticated);
  auto alias = answer(400, R"({"error_code":"INVALID_PARAMETER_VALUE","message":"alias 'x' not found"})");
  CHECK(alias.cause() == Cause::invalid_parameter);
  CHECK(alias.kind() == ErrorKind::operational);
  CHECK(answer(404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST"})").cause() == Cause::unspecified);
}
