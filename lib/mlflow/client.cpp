#include "mlflow/client.hpp"

#include "core/error.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <limits>

namespace mlops::mlflow {

using nlohmann::json;

namespace {

constexpr const char* k_api = "/api/2.0/mlflow";

std::int64_t as_int64(const json& j) {
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number()) return static_cast<std::int64_t>(j.get<double>());
  if (j.is_string()) {
    try {
      return std::stoll(j.get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

double as_double(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    try {
      return std::stod(s);
    } catch (...) {
    }
  }
  return 0;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::map<std::string, std::string> key_values(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& kv : *it) out[str(kv, "key")] = str(kv, "value");
  return out;
}

ModelVersion parse_version(const json& j) {
  ModelVersion v;
  v.name = str(j, "name");
  v.version = str(j, "version");
  v.creation_timestamp = as_int64(j.value("creation_timestamp", json(0)));
  v.last_updated_timestamp = as_int64(j.value("last_updated_timestamp", json(0)));
  v.user_id = str(j, "user_id");
  v.current_stage = str(j, "current_stage");
  v.description = str(j, "description");
  v.source = str(j, "source");
  v.run_id = str(j, "run_id");
  v.status = str(j, "status");
  v.status_message = str(j, "status_message");
  v.run_link = str(j, "run_link");
  if (auto it = j.find("aliases"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) v.aliases.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  }
  v.tags = key_values(j, "tags");
  return v;
}

RegisteredModel parse_model(const json& j) {
  RegisteredModel m;
  m.name = str(j, "name");
  m.creation_timestamp = as_int64(j.value("creation_timestamp", json(0)));
  m.last_updated_timestamp = as_int64(j.value("last_updated_timestamp", json(0)));
  m.description = str(j, "description");
  if (auto it = j.find("latest_versions"); it != j.end() && it->is_array()) {
    for (const auto& v : *it) m.latest_versions.push_back(parse_version(v));
  }
  m.tags = key_values(j, "tags");
  if (auto it = j.find("aliases"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) m.aliases[str(a, "alias")] = str(a, "version");
  }
  return m;
}

std::vector<FileInfo> parse_files(const json& j) {
  std::vector<FileInfo> out;
  auto it = j.find("files");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    FileInfo fi;
    fi.path = str(f, "path");
    fi.is_dir = f.value("is_dir", false);
    if (auto s = f.find("file_size"); s != f.end() && !s->is_null()) {
      fi.file_size = static_cast<std::uint64_t>(as_int64(*s));
    }
    out.push_back(std::move(fi));
  }
  return out;
}

ErrorKind kind_for_code(const std::string& code, long status) {
  static const std::map<std::string, ErrorKind> k_codes = {
      {"RESOURCE_DOES_NOT_EXIST", ErrorKind::not_found}, {"NOT_FOUND", ErrorKind::not_found},
      {"ENDPOINT_NOT_FOUND", ErrorKind::not_found},      {"UNAUTHENTICATED", ErrorKind::auth},
      {"CUSTOMER_UNAUTHORIZED", ErrorKind::auth},        {"PERMISSION_DENIED", ErrorKind::auth},
      {"RESOURCE_ALREADY_EXISTS", ErrorKind::conflict},  {"ALREADY_EXISTS", ErrorKind::conflict},
      {"ABORTED", ErrorKind::conflict},                  {"RESOURCE_CONFLICT", ErrorKind::conflict},
      {"REQUEST_LIMIT_EXCEEDED", ErrorKind::unavailable}, {"RESOURCE_EXHAUSTED", ErrorKind::unavailable},
      {"TEMPORARILY_UNAVAILABLE", ErrorKind::unavailable}, {"DEADLINE_EXCEEDED", ErrorKind::unavailable},
  };
  if (auto it = k_codes.find(code); it != k_codes.end()) return it->second;
  if (status == 401 || status == 403) return ErrorKind::auth;
  if (status == 404) return ErrorKind::not_found;
  if (status == 409) return ErrorKind::conflict;
  if (http::is_retryable_status(status)) return ErrorKind::unavailable;
  return ErrorKind::operational;
}

std::string first_line(std::string_view text, std::size_t max = 200) {
  text = trim(text);
  auto nl = text.find('\n');
  std::string line(trim(text.substr(0, nl)));
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

/// Strips the scheme and an optional //authority from an mlflow-artifacts URI.
std::string proxied_root(const std::string& uri) {
  std::string rest = uri.substr(std::string("mlflow-artifacts:").size());
  if (rest.rfind("//", 0) == 0) {
    auto slash = rest.find('/', 2);
    rest = slash == std::string::npos ? std::string() : rest.substr(slash);
  }
  while (!rest.empty() && rest.front() == '/') rest.erase(0, 1);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  return rest;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

} // namespace

Error error_from_response(const http::Response& resp, const std::string& what) {
  std::string code, message;
  try {
    json j = json::parse(resp.body);
    if (j.is_object()) {
      code = str(j, "error_code");
      message = str(j, "message");
      if (message.empty() && j.contains("detail")) {
        const auto& d = j["detail"];
        message = d.is_string() ? d.get<std::string>() : first_line(d.dump());
      }
    }
  } catch (const json::exception&) {
    // Not JSON: the basic-auth app and proxies answer with text or HTML.
  }
  ErrorKind kind = kind_for_code(code, resp.status);
  bool html = resp.header("content-type").find("html") != std::string::npos;
  if (message.empty() && !html) message = first_line(resp.body);
  std::string hint;
  if (resp.status == 401 || code == "UNAUTHENTICATED") {
    message = "authentication failed (HTTP 401)" + (message.empty() ? "" : ": " + message);
    hint = "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN";
  } else if (resp.status == 403 || code == "PERMISSION_DENIED") {
    message = "permission denied (HTTP 403)" + (message.empty() ? "" : ": " + message);
  } else if (message.empty()) {
    message = "HTTP " + std::to_string(resp.status);
  } else if (kind == ErrorKind::unavailable) {
    message = "server unavailable (HTTP " + std::to_string(resp.status) + "): " + message;
  }
  Error e(kind, what + ": " + message, hint);
  e.with_status(static_cast<int>(resp.status));
  if (resp.status == 401 || code == "UNAUTHENTICATED") e.because(Cause::unauthenticated);
  else if (resp.status == 403 || code == "PERMISSION_DENIED") e.because(Cause::permission_denied);
  else if (code == "INVALID_PARAMETER_VALUE") e.because(Cause::invalid_parameter);
  return e;
}

Client::Client(http::Client& http, std::string tracking_uri)
    : m_base(std::move(tracking_uri)), m_http(http) {
  while (!m_base.empty() && m_base.back() == '/') m_base.pop_back();
  if (m_base.empty()) {
    throw Error(ErrorKind::usage, "no MLflow tracking server configured",
                "set MLFLOW_TRACKING_URI or pass --tracking-uri http://HOST:PORT");
  }
  if (m_base.find_first_of("?#") != std::string::npos) {
    throw Error(ErrorKind::usage, "invalid tracking URI " + quote(redact_url(m_base.substr(0, m_base.find_first_of("?#")))) +
                                      ": it must not have a query or fragment");
  }
  if (m_base.rfind("http://", 0) != 0 && m_base.rfind("https://", 0) != 0) {
    throw Error(ErrorKind::usage, "unsupported tracking URI " + quote(redact_url(m_base)) + ": only http:// and https:// servers are supported",
                "file stores and databricks:// URIs are not supported; run an MLflow tracking server");
  }
}

json Client::get_json(const std::string& path, const std::string& query, const std::string& what) {
  http::Request req;
  req.url = m_base + path + (query.empty() ? "" : "?" + query);
  req.headers.push_back("Accept: application/json");
  http::Response resp = m_http.send(req);
  if (resp.status < 200 || resp.status >= 300) throw error_from_response(resp, what);
  try {
    return resp.body.empty() ? json::object() : json::parse(resp.body);
  } catch (const json::exception&) {
    throw Error(ErrorKind::operational, what + ": the server answered with invalid JSON",
                "is " + quote(m_base) + " an MLflow tracking server?");
  }
}

void Client::for_each_page(const std::string& path, const std::string& query, const std::string& what,
                           const std::function<bool(const json&)>& page) {
  std::string token;
  do {
    std::string q = query;
    if (!token.empty()) q += "&page_token=" + url_encode(token);
    json j = get_json(path, q, what);
    if (!page(j)) return;
    token = str(j, "next_page_token");
  } while (!token.empty());
}

json Client::post_json(const std::string& path, const json& body, const std::string& what, bool idempotent) {
  http::Request req;
  req.method = "POST";
  req.url = m_base + path;
  req.headers = {"Content-Type: application/json", "Accept: application/json"};
  req.body = body.dump();
  req.idempotent = idempotent;
  http::Response resp = m_http.send(req);
  if (resp.status < 200 || resp.status >= 300) throw error_from_response(resp, what);
  try {
    return resp.body.empty() ? json::object() : json::parse(resp.body);
  } catch (const json::exception&) {
    throw Error(ErrorKind::operational, what + ": the server answered with invalid JSON");
  }
}

std::map<std::string, Metric> Client::get_logged_model_metrics(const std::string& model_id) {
  json j = get_json(std::string(k_api) + "/logged-models/" + url_encode(model_id), "",
                    "cannot get logged model " + quote(model_id));
  std::map<std::string, Metric> out;
  const json& data = j.value("model", json::object()).value("data", json::object());
  for (const auto& m : data.value("metrics", json::array())) {
    out[str(m, "key")] = Metric{as_double(m.value("value", json(0))), as_int64(m.value("timestamp", json(0))),
                                as_int64(m.value("step", json(0)))};
  }
  return out;
}

void Client::set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                                   const std::string& value) {
  post_json(std::string(k_api) + "/model-versions/set-tag",
            {{"name", name}, {"version", version}, {"key", key}, {"value", value}},
            "cannot tag version " + quote(version) + " of model " + quote(name), true);
}

void Client::set_alias(const std::string& name, const std::string& alias, const std::string& version) {
  post_json(std::string(k_api) + "/registered-models/alias", {{"name", name}, {"alias", alias}, {"version", version}},
            "cannot point alias " + quote("@" + alias) + " of model " + quote(name) + " at version " + quote(version), true);
}

RegisteredModel Client::get_registered_model(const std::string& name) {
  json j = get_json(std::string(k_api) + "/registered-models/get", "name=" + url_encode(name),
                    "cannot get model " + quote(name));
  return parse_model(j.value("registered_model", json::object()));
}

std::vector<RegisteredModel> Client::search_registered_models(const std::string& filter, std::size_t limit) {
  std::vector<RegisteredModel> out;
  std::string q = "max_results=1000&order_by=" + url_encode("name ASC");
  if (!filter.empty()) q += "&filter=" + url_encode(filter);
  for_each_page(std::string(k_api) + "/registered-models/search", q, "cannot search models", [&](const json& j) {
    for (const auto& m : j.value("registered_models", json::array())) {
      if (limit && out.size() >= limit) return false;
      out.push_back(parse_model(m));
    }
    return !limit || out.size() < limit;
  });
  return out;
}

ModelVersion Client::get_model_version(const std::string& name, const std::string& version) {
  json j = get_json(std::string(k_api) + "/model-versions/get",
                    "name=" + url_encode(name) + "&version=" + url_encode(version),
                    "cannot get version " + quote(version) + " of model " + quote(name));
  return parse_version(j.value("model_version", json::object()));
}

std::vector<ModelVersion> Client::search_model_versions(const std::string& filter) {
  std::vector<ModelVersion> out;
  std::string q = "max_results=10000";
  if (!filter.empty()) q += "&filter=" + url_encode(filter);
  for_each_page(std::string(k_api) + "/model-versions/search", q, "cannot search model versions", [&](const json& j) {
    for (const auto& v : j.value("model_versions", json::array())) out.push_back(parse_version(v));
    return true;
  });
  return out;
}

ModelVersion Client::get_version_by_alias(const std::string& name, const std::string& alias) {
  json j = get_json(std::string(k_api) + "/registered-models/alias",
                    "name=" + url_encode(name) + "&alias=" + url_encode(alias),
                    "cannot resolve alias " + quote(alias) + " of model " + quote(name));
  return parse_version(j.value("model_version", json::object()));
}

std::vector<ModelVersion> Client::get_latest_versions(const std::string& name,
                                                      const std::vector<std::string>& stages) {
  std::string q = "name=" + url_encode(name);
  for (const auto& s : stages) q += "&stages=" + url_encode(s);
  json j = get_json(std::string(k_api) + "/registered-models/get-latest-versions", q,
                    "cannot get latest versions of model " + quote(name));
  std::vector<ModelVersion> out;
  for (const auto& v : j.value("model_versions", json::array())) out.push_back(parse_version(v));
  return out;
}

std::string Client::get_download_uri(const std::string& name, const std::string& version) {
  json j = get_json(std::string(k_api) + "/model-versions/get-download-uri",
                    "name=" + url_encode(name) + "&version=" + url_encode(version),
                    "cannot get the download URI of " + quote(name) + " version " + quote(version));
  return str(j, "artifact_uri");
}

Run Client::get_run(const std::string& run_id) {
  json j = get_json(std::string(k_api) + "/runs/get", "run_id=" + url_encode(run_id),
                    "cannot get run " + quote(run_id));
  const json& r = j.value("run", json::object());
  const json& info = r.value("info", json::object());
  const json& data = r.value("data", json::object());
  Run run;
  run.run_id = str(info, "run_id");
  run.run_name = str(info, "run_name");
  run.experiment_id = str(info, "experiment_id");
  run.user_id = str(info, "user_id");
  run.status = str(info, "status");
  run.artifact_uri = str(info, "artifact_uri");
  run.start_time = as_int64(info.value("start_time", json(0)));
  run.end_time = as_int64(info.value("end_time", json(0)));
  for (const auto& m : data.value("metrics", json::array())) {
    run.metrics[str(m, "key")] = Metric{as_double(m.value("value", json(0))),
                                        as_int64(m.value("timestamp", json(0))),
                                        as_int64(m.value("step", json(0)))};
  }
  run.params = key_values(data, "params");
  run.tags = key_values(data, "tags");
  return run;
}

ArtifactLocation Client::resolve_location(const std::string& download_uri) {
  ArtifactLocation loc;
  loc.uri = download_uri;
  if (download_uri.rfind("mlflow-artifacts:", 0) == 0) {
    loc.kind = ArtifactLocation::Kind::proxied;
    loc.root = proxied_root(download_uri);
    return loc;
  }
  if (download_uri.rfind("runs:/", 0) == 0) {
    std::string rest = download_uri.substr(6);
    while (!rest.empty() && rest.front() == '/') rest.erase(0, 1);
    auto slash = rest.find('/');
    loc.kind = ArtifactLocation::Kind::run;
    loc.run_id = rest.substr(0, slash);
    loc.root = slash == std::string::npos ? "" : rest.substr(slash + 1);
    Run run = get_run(loc.run_id);
    if (run.artifact_uri.rfind("mlflow-artifacts:", 0) == 0) {
      // Proxied run: use the streaming artifact service directly.
      loc.kind = ArtifactLocation::Kind::proxied;
      loc.root = join_path(proxied_root(run.artifact_uri), loc.root);
    }
    return loc;
  }
  if (download_uri.rfind("models:/m-", 0) == 0) {
    loc.kind = ArtifactLocation::Kind::logged_model;
    loc.model_id = download_uri.substr(8);
    json j = get_json(std::string(k_api) + "/logged-models/" + url_encode(loc.model_id), "",
                      "cannot get logged model " + quote(loc.model_id));
    std::string art = str(j.value("model", json::object()).value("info", json::object()), "artifact_uri");
    if (art.rfind("mlflow-artifacts:", 0) == 0) {
      loc.kind = ArtifactLocation::Kind::proxied;
      loc.root = proxied_root(art);
    }
    return loc;
  }
  throw Error(ErrorKind::operational,
              "cannot download from " + quote(download_uri) + ": the tracking server does not proxy this storage",
              "start the MLflow server with --serve-artifacts (proxied artifacts)");
}

std::vector<FileInfo> Client::list_directory(const ArtifactLocation& loc, const std::string& dir) {
  std::vector<FileInfo> entries;
  std::string what = "cannot list artifacts of " + quote(loc.uri);
  if (loc.kind == ArtifactLocation::Kind::proxied) {
    json j = get_json("/api/2.0/mlflow-artifacts/artifacts", "path=" + url_encode(join_path(loc.root, dir)), what);
    entries = parse_files(j);
  } else if (loc.kind == ArtifactLocation::Kind::run) {
    std::string q = "run_id=" + url_encode(loc.run_id) + "&path=" + url_encode(join_path(loc.root, dir));
    for_each_page(std::string(k_api) + "/artifacts/list", q, what, [&](const json& j) {
      for (auto& f : parse_files(j)) entries.push_back(std::move(f));
      return true;
    });
  } else {
    std::string q = dir.empty() ? "" : "artifact_directory_path=" + url_encode(dir);
    json j = get_json(std::string(k_api) + "/logged-models/" + url_encode(loc.model_id) + "/artifacts/directories", q, what);
    entries = parse_files(j);
  }
  // Listings name entries either by basename or by a path from some root;
  // make every path relative to the location root.
  std::string prefix_in_run = join_path(loc.root, dir);
  for (auto& e : entries) {
    std::string p = e.path;
    if (loc.kind == ArtifactLocation::Kind::run && !prefix_in_run.empty() &&
        p.rfind(prefix_in_run + "/", 0) == 0) {
      p = p.substr(prefix_in_run.size() + 1);
    } else if (!dir.empty() && p.rfind(dir + "/", 0) == 0) {
      p = p.substr(dir.size() + 1);
    }
    // Never shorten what the server said to a basename: a hostile "../x"
    // must reach the confinement check as it is.
    e.path = join_path(dir, p);
  }
  return entries;
}

std::vector<FileInfo> Client::list_files(const ArtifactLocation& loc) {
  std::vector<FileInfo> files;
  std::deque<std::string> dirs{""};
  std::size_t visited = 0;
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.front());
    dirs.pop_front();
    if (++visited > 100000) throw Error(ErrorKind::operational, "artifact tree of " + quote(loc.uri) + " is too deep");
    for (auto& e : list_directory(loc, dir)) {
      if (e.path == dir) continue;  // some listings include the directory itself
      if (e.is_dir) dirs.push_back(e.path);
      else files.push_back(std::move(e));
    }
  }
  std::sort(files.begin(), files.end(), [](const FileInfo& a, const FileInfo& b) { return a.path < b.path; });
  return files;
}

http::Request Client::file_request(const ArtifactLocation& loc, const std::string& path) const {
  http::Request req;
  switch (loc.kind) {
  case ArtifactLocation::Kind::proxied:
    req.url = m_base + "/api/2.0/mlflow-artifacts/artifacts/" + url_encode(join_path(loc.root, path), true);
    break;
  case ArtifactLocation::Kind::run:
    req.url = m_base + "/get-artifact?run_id=" + url_encode(loc.run_id) + "&path=" + url_encode(join_path(loc.root, path));
    break;
  case ArtifactLocation::Kind::logged_model:
    req.url = m_base + "/ajax-api/2.0/mlflow/logged-models/" + url_encode(loc.model_id) +
              "/artifacts/files?artifact_file_path=" + url_encode(path);
    break;
  }
  return req;
}

} // namespace mlops::mlflow
