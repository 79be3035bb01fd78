#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <unistd.h>

namespace fsys = std::filesystem;
using namespace mlops;
using mlops::test::TempDir;

namespace {

ConfigInputs inputs(const fsys::path& cwd, std::map<std::string, std::string> env, fsys::path user = {}) {
  ConfigInputs in;
  in.cwd = cwd;
  in.user_config = user.empty() ? cwd / "no-user-config.yaml" : user;
  in.getenv = [env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return in;
}

void write(const fsys::path& p, const std::string& text) {
  fsys::create_directories(p.parent_path());
  fs::atomic_write(p, text);
}

std::string message_of(const ConfigInputs& in) {
  try {
    resolve_settings(in);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(no error)";
}

} // namespace

TEST_CASE("config: defaults when nothing is set") {
  TempDir t;
  Settings s = resolve_settings(inputs(t.path, {}));
  CHECK(s.tracking_uri.empty());
  CHECK(s.max_retries == 5);
  CHECK(s.timeout_s == doctest::Approx(120));
  CHECK_FALSE(s.insecure_tls);
  CHECK_FALSE(s.project_file.has_value());
}

TEST_CASE("config: flags > environment > project file > user file") {
  TempDir t;
  write(t.path / "user.yaml",
        "mlflow:\n  tracking_uri: http://user:1\n  max_retries: 1\n  timeout: 7\npull:\n  jobs: 3\n");
  write(t.path / "proj" / "mlops.yaml", "mlflow:\n  tracking_uri: http://project:2\n  max_retries: 2\n");
  fsys::create_directories(t.path / "proj" / "a" / "b");
  auto cwd = t.path / "proj" / "a" / "b";

  // User file alone (no project file above /tmp/x/user-only).
  fsys::create_directories(t.path / "elsewhere");
  Settings u = resolve_settings(inputs(t.path / "elsewhere", {}, t.path / "user.yaml"));
  CHECK(u.tracking_uri == "http://user:1");
  CHECK(u.jobs == 3);

  // The project file (found by walking up) beats the user file; unset keys fall through.
  Settings p = resolve_settings(inputs(cwd, {}, t.path / "user.yaml"));
  CHECK(p.tracking_uri == "http://project:2");
  CHECK(p.max_retries == 2);
  CHECK(p.timeout_s == doctest::Approx(7));
  CHECK(p.jobs == 3);
  REQUIRE(p.project_file.has_value());
  CHECK(p.project_file->filename() == "mlops.yaml");
  CHECK(p.origin["tracking_uri"].find("mlops.yaml:2") != std::string::npos);

  // The environment beats the project file, with MLflow's variable names.
  auto in = inputs(cwd, {{"MLFLOW_TRACKING_URI", "http://env:3"}, {"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "4"}},
                   t.path / "user.yaml");
  Settings e = resolve_settings(in);
  CHECK(e.tracking_uri == "http://env:3");
  CHECK(e.max_retries == 4);
  CHECK(e.origin["tracking_uri"] == "env MLFLOW_TRACKING_URI");

  // A flag beats everything.
  in.flags.tracking_uri = "http://flag:4";
  in.flags.jobs = 9;
  Settings f = resolve_settings(in);
  CHECK(f.tracking_uri == "http://flag:4");
  CHECK(f.jobs == 9);
  CHECK(f.origin["tracking_uri"] == "flag --tracking-uri");
}

TEST_CASE("config: --config replaces the walk up") {
  TempDir t;
  write(t.path / "mlops.yaml", "mlflow:\n  tracking_uri: http://walked:1\n");
  write(t.path / "other.yaml", "mlflow:\n  tracking_uri: http://explicit:1\n");
  auto in = inputs(t.path, {});
  in.config_file = t.path / "other.yaml";
  CHECK(resolve_settings(in).tracking_uri == "http://explicit:1");
  in.config_file = t.path / "missing.yaml";
  CHECK(message_of(in).find("missing.yaml") != std::string::npos);
}

TEST_CASE("config: bad values name the file, line and key") {
  TempDir t;
  write(t.path / "mlops.yaml", "mlflow:\n  tracking_uri: http://x:1\n  max_retries: lots\n");
  std::string m = message_of(inputs(t.path, {}));
  CHECK(m.find("mlops.yaml:3") != std::string::npos);
  CHECK(m.find("'mlflow.max_retries'") != std::string::npos);
  CHECK(m.find("expected an integer") != std::string::npos);

  write(t.path / "mlops.yaml", "mlflow:\n  timeout: -1\n");
  CHECK(message_of(inputs(t.path, {})).find("must be greater than 0") != std::string::npos);

  write(t.path / "mlops.yaml", "pull:\n  jobs: 1000\n");
  CHECK(message_of(inputs(t.path, {})).find("between 1 and 64") != std::string::npos);

  write(t.path / "mlops.yaml", "mlflow:\n  insecure_tls: maybe\n");
  CHECK(message_of(inputs(t.path, {})).find("expected true or false") != std::string::npos);

  write(t.path / "mlops.yaml", "mlflow:\n  tracking_ur: http://x\n");
  try {
    resolve_settings(inputs(t.path, {}));
    FAIL("accepted an unknown key");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("unknown key 'mlflow.tracking_ur'") != std::string::npos);
    CHECK(e.hint() == "did you mean 'tracking_uri'?");
  }

  write(t.path / "mlops.yaml", "mlflow: [unclosed\n");
  CHECK(message_of(inputs(t.path, {})).find("invalid config '" + (t.path / "mlops.yaml").string() + ":2'") !=
        std::string::npos);

  write(t.path / "mlops.yaml", "mlflow:\n  tracking_uri: http://bob:secret@host:5000\n");
  std::string cred = message_of(inputs(t.path, {}));
  CHECK(cred.find("credentials do not belong") != std::string::npos);
  CHECK(cred.find("secret") == std::string::npos);
}

TEST_CASE("config: bad environment values are usage errors") {
  TempDir t;
  CHECK(message_of(inputs(t.path, {{"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "many"}}))
            .find("MLFLOW_HTTP_REQUEST_MAX_RETRIES") != std::string::npos);
  CHECK(message_of(inputs(t.path, {{"MLFLOW_TRACKING_INSECURE_TLS", "perhaps"}})).find("expected true or false") !=
        std::string::npos);
}

TEST_CASE("config: numbers are finite and in range, from the file and the environment") {
  TempDir t;
  // Each of these reached a float-to-integer conversion (undefined for inf, nan and 1e30).
  for (const char* v : {".inf", "1e30", ".nan", "-.inf", "0"}) {
    write(t.path / "mlops.yaml", std::string("mlflow:\n  timeout: ") + v + "\n");
    std::string m = message_of(inputs(t.path, {}));
    CHECK_MESSAGE(m.find("mlops.yaml:2': key 'mlflow.timeout'") != std::string::npos, v, " gave ", m);
  }
  write(t.path / "mlops.yaml", "mlflow:\n  timeout: 86400\n");
  CHECK(resolve_settings(inputs(t.path, {})).timeout_s == doctest::Approx(86400));
  fsys::remove(t.path / "mlops.yaml");
  for (const char* v : {"nan", "NaN", "inf", "1e30", "-nan", "1e999"}) {
    std::string m = message_of(inputs(t.path, {{"MLFLOW_HTTP_REQUEST_TIMEOUT", v}}));
    CHECK_MESSAGE(m.find("invalid environment variable 'MLFLOW_HTTP_REQUEST_TIMEOUT'") != std::string::npos, v,
                  " gave ", m);
  }
  for (const char* name : {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
                           "MLFLOW_HTTP_REQUEST_MAX_RETRIES"}) {
    CHECK(message_of(inputs(t.path, {{name, "nan"}})).find(name) != std::string::npos);
  }
}

TEST_CASE("config: repeated keys, a second document and invalid UTF-8 in mlops.yaml") {
  TempDir t;
  write(t.path / "mlops.yaml", "mlflow: {tracking_uri: http://a, tracking_uri: http://b}\n");
  CHECK(message_of(inputs(t.path, {})).find("mlops.yaml:1': key 'mlflow.tracking_uri' is repeated") !=
        std::string::npos);
  write(t.path / "mlops.yaml", "mlflow: {tracking_uri: http://a}\n---\nmlflow: {tracking_uri: http://b}\n");
  CHECK(message_of(inputs(t.path, {})).find("mlops.yaml:3': a second YAML document") != std::string::npos);
  write(t.path / "mlops.yaml", "mlflow:\n  workspace: \xff\n");
  CHECK(message_of(inputs(t.path, {})).find("mlops.yaml:2': not valid UTF-8") != std::string::npos);
  // The user config gets the same rules.
  fsys::remove(t.path / "mlops.yaml");
  write(t.path / "user.yaml", "pull: {jobs: 2, jobs: 3}\n");
  CHECK(message_of(inputs(t.path / "sub", {}, t.path / "user.yaml")).find("key 'pull.jobs' is repeated") !=
        std::string::npos);
}

TEST_CASE("config: a link loop is named, never a raw filesystem error") {
  TempDir t;
  fsys::create_directories(t.path / "p" / "sub");
  fsys::create_symlink("mlops.yaml", t.path / "p" / "mlops.yaml"); // points at itself
  std::string m = message_of(inputs(t.path / "p" / "sub", {}));
  CHECK(m == "cannot read config '" + (t.path / "p" / "mlops.yaml").string() + "': too many levels of symbolic links");
  ConfigInputs in = inputs(t.path, {});
  in.config_file = t.path / "p" / "mlops.yaml";
  CHECK(message_of(in).find("too many levels of symbolic links") != std::string::npos);
  in.config_file = t.path / "missing.yaml";
  CHECK(message_of(in).find("no such file") != std::string::npos);
}

TEST_CASE("config: credentials in a tracking URI move out of it") {
  TempDir t;
  Settings s = resolve_settings(inputs(t.path, {{"MLFLOW_TRACKING_URI", "https://alice:s3cret@mlflow.example:443/"}}));
  CHECK(s.tracking_uri == "https://mlflow.example:443");
  CHECK(s.username == "alice");
  CHECK(s.password == "s3cret");
  // Explicit variables win over the URI's user info.
  Settings e = resolve_settings(inputs(t.path, {{"MLFLOW_TRACKING_URI", "https://alice:s3cret@h"},
                                                {"MLFLOW_TRACKING_USERNAME", "bob"},
                                                {"MLFLOW_TRACKING_PASSWORD", "pw"}}));
  CHECK(e.username == "bob");
  CHECK(e.password == "pw");
  CHECK(e.tracking_uri == "https://h");
}

TEST_CASE("config: booleans the way MLflow reads them") {
  CHECK(parse_bool("true") == true);
  CHECK(parse_bool("TRUE") == true);
  CHECK(parse_bool("1") == true);
  CHECK(parse_bool("false") == false);
  CHECK(parse_bool("0") == false);
  CHECK_FALSE(parse_bool("maybe").has_value());
}
