#include "core/config.hpp"

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"
#include "core/yaml_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

namespace mlops {

namespace {

using Getenv = std::function<std::optional<std::string>(const std::string&)>;

// Sections a project file may hold. Those owned by later commands are
// accepted here and validated by the command that reads them.
const std::vector<std::string> k_top_keys = {"version", "mlflow",   "pull",    "gates",  "deploy",  "environments",
                                             "gitops",  "registry", "package", "render", "feedback"};
const std::vector<std::string> k_mlflow_keys = {"tracking_uri", "insecure_tls", "ca_bundle", "client_cert",
                                                "max_retries",  "timeout",      "workspace"};
const std::vector<std::string> k_pull_keys = {"jobs"};

/// Reads one YAML config file, remembering its path for messages.
class ConfigFile {
public:
  explicit ConfigFile(std::filesystem::path path) : m_path(std::move(path)) {
    check(YamlReader{"config", m_path.string()}.load_file(m_path));
  }
  /// The file's text given (so a fuzz target needs no file); `path` names it and anchors
  /// relative paths in it.
  ConfigFile(std::filesystem::path path, const std::string& text) : m_path(std::move(path)) {
    check(YamlReader{"config", m_path.string()}.load(text));
  }

  void check(YAML::Node root) {
    m_root = std::move(root);
    if (!m_root.IsNull() && !m_root.IsMap()) {
      throw Error(ErrorKind::usage, "invalid config " + quote(where(m_root)) + ": the top level must be a mapping");
    }
  }

  const YAML::Node& root() const { return m_root; }
  const std::filesystem::path& path() const { return m_path; }

  std::string where(const YAML::Node& node) const {
    return m_path.string() + ":" + std::to_string(node.Mark().line + 1);
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& why) const {
    throw Error(ErrorKind::usage, "invalid config " + quote(where(node)) + ": key " + quote(key) + ": " + why);
  }

  void check_keys(const YAML::Node& map, const std::string& prefix, const std::vector<std::string>& allowed) const {
    if (!map.IsMap()) fail(map, prefix.empty() ? "(top level)" : prefix, "expected a mapping");
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, prefix.empty() ? "(top level)" : prefix, "keys must be plain words");
      std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string full = prefix.empty() ? key : prefix + "." + key;
      auto near = suggest(key, allowed);
      throw Error(ErrorKind::usage, "invalid config " + quote(where(kv.first)) + ": unknown key " + quote(full),
                  near.empty() ? std::string() : "did you mean " + quote(near.front()) + "?");
    }
  }

  std::string get_string(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(node, key, "expected a string");
    return node.as<std::string>();
  }

  bool get_bool(const YAML::Node& node, const std::string& key) const {
    if (node.IsScalar()) {
      if (auto b = parse_bool(node.Scalar())) return *b;
    }
    fail(node, key, "expected true or false");
  }

  long get_int(const YAML::Node& node, const std::string& key, long lo, long hi) const {
    long v = 0;
    try {
      if (!node.IsScalar()) throw YAML::Exception(node.Mark(), "");
      v = node.as<long>();
    } catch (const YAML::Exception&) {
      fail(node, key, "expected an integer");
    }
    if (v < lo || v > hi) fail(node, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  }

  /// A finite number in (0, hi]: .inf, .nan and 1e30 are refused before any conversion.
  double get_positive(const YAML::Node& node, const std::string& key, double hi) const {
    double v = YamlReader{"config", m_path.string()}.number(node, key);
    if (!(v > 0) || v > hi)
      fail(node, key, "must be greater than 0 and at most " + std::to_string(static_cast<long>(hi)));
    return v;
  }

  /// Resolves a path written in the file relative to the file's folder.
  std::string relative_path(const std::string& value) const {
    std::filesystem::path p(value);
    if (p.is_absolute() || value.empty()) return value;
    return (m_path.parent_path() / p).lexically_normal().string();
  }

private:
  std::filesystem::path m_path;
  YAML::Node m_root;
};

bool has_userinfo(const std::string& uri) {
  auto scheme = uri.find("://");
  if (scheme == std::string::npos) return false;
  auto end = uri.find_first_of("/?#", scheme + 3);
  return uri.substr(scheme + 3, end == std::string::npos ? std::string::npos : end - scheme - 3).find('@') !=
         std::string::npos;
}

void apply_file(Settings& s, const ConfigFile& file) {
  const YAML::Node& root = file.root();
  if (root.IsNull()) return;
  file.check_keys(root, "", k_top_keys);
  if (auto v = root["version"]) {
    if (file.get_int(v, "version", 1, 1) != 1) file.fail(v, "version", "unsupported");
  }
  if (auto m = root["mlflow"]) {
    file.check_keys(m, "mlflow", k_mlflow_keys);
    if (auto v = m["tracking_uri"]) {
      s.tracking_uri = file.get_string(v, "mlflow.tracking_uri");
      if (has_userinfo(s.tracking_uri)) {
        file.fail(v, "mlflow.tracking_uri", "credentials do not belong in a config file");
      }
      s.origin["tracking_uri"] = file.where(v);
    }
    if (auto v = m["insecure_tls"]) {
      s.insecure_tls = file.get_bool(v, "mlflow.insecure_tls");
      s.origin["insecure_tls"] = file.where(v);
    }
    if (auto v = m["ca_bundle"]) {
      s.ca_bundle = file.relative_path(file.get_string(v, "mlflow.ca_bundle"));
      s.origin["ca_bundle"] = file.where(v);
    }
    if (auto v = m["client_cert"]) {
      s.client_cert = file.relative_path(file.get_string(v, "mlflow.client_cert"));
      s.origin["client_cert"] = file.where(v);
    }
    if (auto v = m["max_retries"]) {
      s.max_retries = static_cast<int>(file.get_int(v, "mlflow.max_retries", 0, limits::k_max_request_retries));
      s.origin["max_retries"] = file.where(v);
    }
    if (auto v = m["timeout"]) {
      s.timeout_s = file.get_positive(v, "mlflow.timeout", limits::k_max_request_timeout_s);
      s.origin["timeout"] = file.where(v);
    }
    if (auto v = m["workspace"]) {
      s.workspace = file.get_string(v, "mlflow.workspace");
      s.origin["workspace"] = file.where(v);
    }
  }
  if (auto p = root["pull"]) {
    file.check_keys(p, "pull", k_pull_keys);
    if (auto v = p["jobs"]) {
      s.jobs = static_cast<int>(file.get_int(v, "pull.jobs", 1, limits::k_max_jobs));
      s.origin["jobs"] = file.where(v);
    }
  }
}

[[noreturn]] void bad_env(const std::string& name, const std::string& why) {
  throw Error(ErrorKind::usage, "invalid environment variable " + quote(name) + ": " + why);
}

/// A finite number in [lo, hi]: "nan", "inf" and "1e30" are refused before any conversion.
double env_number(const std::string& name, const std::string& value, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || !end || *end != '\0' || errno == ERANGE || !std::isfinite(v) || v < lo || v > hi) {
    bad_env(name, "expected a number between " + std::to_string(static_cast<long>(lo)) + " and " +
                      std::to_string(static_cast<long>(hi)) + ", not " + quote(value.substr(0, 40)));
  }
  return v;
}

void apply_env(Settings& s, const Getenv& getenv) {
  auto take = [&](const char* name, auto&& apply) {
    if (auto v = getenv(name); v && !v->empty()) {
      apply(*v);
      return true;
    }
    return false;
  };
  take("MLFLOW_TRACKING_URI", [&](const std::string& v) {
    s.tracking_uri = v;
    s.origin["tracking_uri"] = "env MLFLOW_TRACKING_URI";
  });
  take("MLFLOW_TRACKING_USERNAME", [&](const std::string& v) { s.username = v; });
  take("MLFLOW_TRACKING_PASSWORD", [&](const std::string& v) { s.password = v; });
  take("MLFLOW_TRACKING_TOKEN", [&](const std::string& v) { s.token = v; });
  take("MLFLOW_TRACKING_INSECURE_TLS", [&](const std::string& v) {
    auto b = parse_bool(v);
    if (!b) bad_env("MLFLOW_TRACKING_INSECURE_TLS", "expected true or false");
    s.insecure_tls = *b;
    s.origin["insecure_tls"] = "env MLFLOW_TRACKING_INSECURE_TLS";
  });
  take("MLFLOW_TRACKING_SERVER_CERT_PATH", [&](const std::string& v) {
    s.ca_bundle = v;
    s.origin["ca_bundle"] = "env MLFLOW_TRACKING_SERVER_CERT_PATH";
  });
  take("MLFLOW_TRACKING_CLIENT_CERT_PATH", [&](const std::string& v) { s.client_cert = v; });
  take("MLFLOW_HTTP_REQUEST_MAX_RETRIES", [&](const std::string& v) {
    s.max_retries =
        static_cast<int>(env_number("MLFLOW_HTTP_REQUEST_MAX_RETRIES", v, 0, limits::k_max_request_retries));
    s.origin["max_retries"] = "env MLFLOW_HTTP_REQUEST_MAX_RETRIES";
  });
  take("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", [&](const std::string& v) {
    s.backoff_factor = env_number("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", v, 0, limits::k_max_backoff_s);
  });
  take("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", [&](const std::string& v) {
    s.backoff_jitter = env_number("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", v, 0, limits::k_max_backoff_s);
  });
  take("MLFLOW_HTTP_REQUEST_TIMEOUT", [&](const std::string& v) {
    s.timeout_s = env_number("MLFLOW_HTTP_REQUEST_TIMEOUT", v, 1, limits::k_max_request_timeout_s);
    s.origin["timeout"] = "env MLFLOW_HTTP_REQUEST_TIMEOUT";
  });
  take("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", [&](const std::string& v) {
    auto b = parse_bool(v);
    if (!b) bad_env("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", "expected true or false");
    s.respect_retry_after = *b;
  });
  take("MLFLOW_WORKSPACE", [&](const std::string& v) { s.workspace = v; });
}

/// Moves "user:pass@" out of the tracking URI into the credential fields so
/// the URI itself can be printed and stored.
void split_userinfo(Settings& s) {
  auto scheme = s.tracking_uri.find("://");
  if (scheme == std::string::npos) return;
  auto host = scheme + 3;
  auto end = s.tracking_uri.find_first_of("/?#", host);
  if (end == std::string::npos) end = s.tracking_uri.size();
  auto at = s.tracking_uri.rfind('@', end);
  if (at == std::string::npos || at < host) return;
  std::string info = s.tracking_uri.substr(host, at - host);
  auto colon = info.find(':');
  if (s.username.empty()) s.username = info.substr(0, colon);
  if (s.password.empty() && colon != std::string::npos) s.password = info.substr(colon + 1);
  s.tracking_uri.erase(host, at - host + 1);
}

} // namespace

std::optional<bool> parse_bool(const std::string& text) {
  std::string t(trim(text));
  for (const char* w : {"true", "1", "yes", "on"})
    if (iequals(t, w)) return true;
  for (const char* w : {"false", "0", "no", "off"})
    if (iequals(t, w)) return false;
  return std::nullopt;
}

std::optional<std::string> process_getenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

std::optional<std::filesystem::path> find_project_file(const std::filesystem::path& start) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(start, ec);
  if (ec) return std::nullopt;
  for (;;) {
    for (const char* name : {"mlops.yaml", "mlops.yml"}) {
      auto candidate = dir / name;
      // A candidate whose status cannot be read (a link loop) is an error, not a reason to
      // walk on and silently use a parent's file.
      if (regular_file_exists(candidate, "config", ErrorKind::usage)) return candidate;
    }
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

Settings parse_config_text(const std::string& text, const std::string& origin) {
  Settings s;
  apply_file(s, ConfigFile(origin, text));
  return s;
}

std::optional<std::filesystem::path> default_user_config(const Getenv& getenv) {
  if (auto xdg = getenv("XDG_CONFIG_HOME"); xdg && !xdg->empty()) {
    return std::filesystem::path(*xdg) / "mlops" / "config.yaml";
  }
  if (auto home = getenv("HOME"); home && !home->empty()) {
    return std::filesystem::path(*home) / ".config" / "mlops" / "config.yaml";
  }
  return std::nullopt;
}

Settings resolve_settings(const ConfigInputs& in) {
  Settings s;
  Getenv getenv = in.getenv ? in.getenv : Getenv(process_getenv);
  auto user = in.user_config ? in.user_config : default_user_config(getenv);
  if (user && !in.no_files && regular_file_exists(*user, "user config", ErrorKind::usage))
    apply_file(s, ConfigFile(*user));

  std::optional<std::filesystem::path> project;
  if (in.no_files) {
    // flags, environment and defaults only
  } else if (in.config_file) {
    std::error_code ec;
    if (!regular_file_exists(*in.config_file, "config file", ErrorKind::usage)) {
      throw Error(ErrorKind::usage, "cannot read config file " + quote(in.config_file->string()) + ": " +
                                        (std::filesystem::exists(*in.config_file, ec) ? "not a file" : "no such file"));
    }
    project = in.config_file;
  } else {
    project = find_project_file(in.cwd.empty() ? std::filesystem::current_path() : in.cwd);
  }
  if (project) {
    apply_file(s, ConfigFile(*project));
    s.project_file = project;
  }

  apply_env(s, getenv);

  const FlagOverrides& f = in.flags;
  if (f.tracking_uri) {
    s.tracking_uri = *f.tracking_uri;
    s.origin["tracking_uri"] = "flag --tracking-uri";
  }
  if (f.ca_bundle) {
    s.ca_bundle = *f.ca_bundle;
    s.origin["ca_bundle"] = "flag --ca-bundle";
  }
  if (f.insecure_tls) {
    s.insecure_tls = *f.insecure_tls;
    s.origin["insecure_tls"] = "flag --insecure";
  }
  if (f.jobs) {
    s.jobs = *f.jobs;
    s.origin["jobs"] = "flag --jobs";
  }
  split_userinfo(s);
  while (!s.tracking_uri.empty() && s.tracking_uri.back() == '/')
    s.tracking_uri.pop_back();
  return s;
}

} // namespace mlops
