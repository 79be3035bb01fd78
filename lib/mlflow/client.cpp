#include "mlflow/client.hpp"

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <deque>
#include <limits>

namespace mlops::mlflow {

using nlohmann::json;

namespace {

constexpr const char* k_api = "/api/2.0/mlflow";

const char* type_name(const json& j) {
  switch (j.type()) {
  case json::value_t::null:
    return "null";
  case json::value_t::boolean:
    return "a boolean";
  case json::value_t::string:
    return "a string";
  case json::value_t::array:
    return "an array";
  case json::value_t::object:
    return "an object";
  case json::value_t::number_float:
    return "a fraction";
  default:
    return "a number";
  }
}

} // namespace

/// Typed, checked access to one JSON object of a server answer. MLflow leaves empty
/// fields out, so a missing field reads as empty; a field of the wrong type is a protocol
/// error naming the endpoint and the field ("'model_version.version' is a number, expected
/// a string"), never nlohmann's text.
class Fields {
public:
  /// `context` is "<what failed>: malformed answer from '<endpoint>'"; `prefix` the
  /// object's path in the answer ("" at the top).
  Fields(const json& j, const std::string& context, std::string prefix = {})
      : m_j(j), m_context(context), m_prefix(std::move(prefix)) {
    if (!m_j.is_object()) fail("", std::string(type_name(m_j)) + ", expected an object");
  }

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    std::string field = key.empty() ? m_prefix : m_prefix.empty() ? key : m_prefix + "." + key;
    throw Error(ErrorKind::operational,
                m_context + ": " + (field.empty() ? std::string("the answer") : quote(field)) + " is " + why);
  }

  const json* find(const char* key) const {
    auto it = m_j.find(key);
    return it == m_j.end() || it->is_null() ? nullptr : &*it;
  }

  std::string str(const char* key) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_string()) fail(key, std::string(type_name(*v)) + ", expected a string");
    return v->get<std::string>();
  }

  /// int64 fields: a JSON integer, or a decimal string (proto3 JSON writes int64 so).
  std::int64_t int64(const char* key) const {
    const json* v = find(key);
    if (!v) return 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        fail(key, "out of range");
      }
      return v->get<std::int64_t>();
    }
    if (v->is_string()) return from_text<std::int64_t>(v->get_ref<const std::string&>(), key, "an integer");
    fail(key, std::string(type_name(*v)) + ", expected an integer");
  }

  double number(const char* key) const {
    const json* v = find(key);
    if (!v) return 0;
    if (v->is_number()) return v->get<double>();
    if (v->is_string()) {
      const auto& t = v->get_ref<const std::string&>();
      if (t == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (t == "Infinity") return std::numeric_limits<double>::infinity();
      if (t == "-Infinity") return -std::numeric_limits<double>::infinity();
      return from_text<double>(t, key, "a number");
    }
    fail(key, std::string(type_name(*v)) + ", expected a number");
  }

  bool boolean(const char* key) const {
    const json* v = find(key);
    if (!v) return false;
    if (!v->is_boolean()) fail(key, std::string(type_name(*v)) + ", expected true or false");
    return v->get<bool>();
  }

  /// A nested object; missing reads as empty unless `required`.
  Fields object(const char* key, bool required = false) const {
    static const json k_empty = json::object();
    const json* v = find(key);
    if (!v && required) fail(key, "missing");
    return Fields(v ? *v : k_empty, m_context, path(key));
  }

  /// An array of objects; missing reads as empty.
  std::vector<Fields> objects(const char* key) const {
    std::vector<Fields> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) fail(key, std::string(type_name(*v)) + ", expected an array");
    out.reserve(v->size());
    for (std::size_t i = 0; i < v->size(); ++i)
      out.emplace_back((*v)[i], m_context, path(key) + "[" + std::to_string(i) + "]");
    return out;
  }

  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) fail(key, std::string(type_name(*v)) + ", expected an array");
    for (const auto& e : *v) {
      if (!e.is_string()) fail(key, "an array holding " + std::string(type_name(e)) + ", expected strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

private:
  std::string path(const char* key) const { return m_prefix.empty() ? key : m_prefix + "." + key; }
  /// A number written as a JSON string ("12"), all of it.
  template <class T> T from_text(const std::string& text, const char* key, const char* expected) const {
    T out{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return out;
    fail(key, quote(printable(text, 40)) + ", expected " + expected);
  }
  const json& m_j;
  const std::string& m_context;
  std::string m_prefix;
};

namespace {

std::map<std::string, std::string> key_values(const Fields& f, const char* key) {
  std::map<std::string, std::string> out;
  for (const auto& kv : f.objects(key))
    out[kv.str("key")] = kv.str("value");
  return out;
}

/// A version number as MLflow gives them: decimal digits. Anything else would reach
/// directory names (NAME-vVERSION), tags and the lock file unchecked.
void check_version_number(const Fields& f, const std::string& version) {
  bool digits = !version.empty() && version.size() <= limits::k_max_version_digits &&
                std::all_of(version.begin(), version.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
  if (!digits) f.fail("version", quote(printable(version, 80)) + ", expected a decimal version number");
}

ModelVersion parse_version(const Fields& j) {
  ModelVersion v;
  v.name = j.str("name");
  v.version = j.str("version");
  check_version_number(j, v.version);
  if (v.name.empty()) j.fail("name", "missing");
  v.creation_timestamp = j.int64("creation_timestamp");
  v.last_updated_timestamp = j.int64("last_updated_timestamp");
  v.user_id = j.str("user_id");
  v.current_stage = j.str("current_stage");
  v.description = j.str("description");
  v.source = j.str("source");
  v.run_id = j.str("run_id");
  v.status = j.str("status");
  v.status_message = j.str("status_message");
  v.run_link = j.str("run_link");
  v.aliases = j.strings("aliases");
  v.tags = key_values(j, "tags");
  return v;
}

RegisteredModel parse_model(const Fields& j) {
  RegisteredModel m;
  m.name = j.str("name");
  m.creation_timestamp = j.int64("creation_timestamp");
  m.last_updated_timestamp = j.int64("last_updated_timestamp");
  m.description = j.str("description");
  for (const auto& v : j.objects("latest_versions"))
    m.latest_versions.push_back(parse_version(v));
  m.tags = key_values(j, "tags");
  for (const auto& a : j.objects("aliases"))
    m.aliases[a.str("alias")] = a.str("version");
  return m;
}

std::vector<FileInfo> parse_files(const Fields& j) {
  std::vector<FileInfo> out;
  for (const auto& f : j.objects("files")) {
    FileInfo fi;
    fi.path = f.str("path");
    if (fi.path.empty()) f.fail("path", "missing");
    fi.is_dir = f.boolean("is_dir");
    if (f.find("file_size")) {
      std::int64_t size = f.int64("file_size");
      if (size < 0 || static_cast<std::uint64_t>(size) > limits::k_max_artifact_file_bytes) {
        f.fail("file_size",
               std::to_string(size) + ", expected 0 to " + std::to_string(limits::k_max_artifact_file_bytes));
      }
      fi.file_size = static_cast<std::uint64_t>(size);
    }
    out.push_back(std::move(fi));
  }
  return out;
}

Run parse_run(const Fields& answer) {
  Fields r = answer.object("run", true);
  Fields info = r.object("info");
  Fields data = r.object("data");
  Run run;
  run.run_id = info.str("run_id");
  run.run_name = info.str("run_name");
  run.experiment_id = info.str("experiment_id");
  run.user_id = info.str("user_id");
  run.status = info.str("status");
  run.artifact_uri = info.str("artifact_uri");
  run.start_time = info.int64("start_time");
  run.end_time = info.int64("end_time");
  for (const auto& m : data.objects("metrics")) {
    run.metrics[m.str("key")] = Metric{m.number("value"), m.int64("timestamp"), m.int64("step")};
  }
  run.params = key_values(data, "params");
  run.tags = key_values(data, "tags");
  return run;
}

std::map<std::string, Metric> parse_logged_model_metrics(const Fields& answer) {
  std::map<std::string, Metric> out;
  for (const auto& m : answer.object("model").object("data").objects("metrics")) {
    out[m.str("key")] = Metric{m.number("value"), m.int64("timestamp"), m.int64("step")};
  }
  return out;
}

ErrorKind kind_for_code(const std::string& code, long status) {
  static const std::map<std::string, ErrorKind> k_codes = {
      {"RESOURCE_DOES_NOT_EXIST", ErrorKind::not_found},
      {"NOT_FOUND", ErrorKind::not_found},
      {"ENDPOINT_NOT_FOUND", ErrorKind::not_found},
      {"UNAUTHENTICATED", ErrorKind::auth},
      {"CUSTOMER_UNAUTHORIZED", ErrorKind::auth},
      {"PERMISSION_DENIED", ErrorKind::auth},
      {"RESOURCE_ALREADY_EXISTS", ErrorKind::conflict},
      {"ALREADY_EXISTS", ErrorKind::conflict},
      {"ABORTED", ErrorKind::conflict},
      {"RESOURCE_CONFLICT", ErrorKind::conflict},
      {"REQUEST_LIMIT_EXCEEDED", ErrorKind::unavailable},
      {"RESOURCE_EXHAUSTED", ErrorKind::unavailable},
      {"TEMPORARILY_UNAVAILABLE", ErrorKind::unavailable},
      {"DEADLINE_EXCEEDED", ErrorKind::unavailable},
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
  while (!rest.empty() && rest.front() == '/')
    rest.erase(0, 1);
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
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
    json j = parse_json(resp.body, "the error body");
    auto text = [&](const char* key) {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return std::string();
      return it->is_string() ? it->get<std::string>() : first_line(it->dump());
    };
    if (j.is_object()) {
      code = text("error_code");
      message = text("message");
      if (message.empty()) message = text("detail");
    }
  } catch (const Error&) {
    // Not JSON: the basic-auth app and proxies answer with text or HTML.
  }
  // Server text goes into our message: no control characters, no escape sequences.
  code = printable(code, 80);
  message = printable(message, 300);
  ErrorKind kind = kind_for_code(code, resp.status);
  bool html = resp.header("content-type").find("html") != std::string::npos;
  if (message.empty() && !html) message = printable(first_line(resp.body), 300);
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
  if (resp.status == 401 || code == "UNAUTHENTICATED")
    e.because(Cause::unauthenticated);
  else if (resp.status == 403 || code == "PERMISSION_DENIED")
    e.because(Cause::permission_denied);
  else if (code == "INVALID_PARAMETER_VALUE")
    e.because(Cause::invalid_parameter);
  return e;
}

Client::Client(http::Client& http, std::string tracking_uri) : m_base(std::move(tracking_uri)), m_http(http) {
  while (!m_base.empty() && m_base.back() == '/')
    m_base.pop_back();
  if (m_base.empty()) {
    throw Error(ErrorKind::usage, "no MLflow tracking server configured",
                "set MLFLOW_TRACKING_URI or pass --tracking-uri http://HOST:PORT");
  }
  if (m_base.find_first_of("?#") != std::string::npos) {
    throw Error(ErrorKind::usage, "invalid tracking URI " +
                                      quote(redact_url(m_base.substr(0, m_base.find_first_of("?#")))) +
                                      ": it must not have a query or fragment");
  }
  if (m_base.rfind("http://", 0) != 0 && m_base.rfind("https://", 0) != 0) {
    throw Error(ErrorKind::usage,
                "unsupported tracking URI " + quote(redact_url(m_base)) +
                    ": only http:// and https:// servers are supported",
                "file stores and databricks:// URIs are not supported; run an MLflow tracking server");
  }
}

/// A parsed answer and what its errors say: "<what failed>: malformed answer from '<endpoint>'".
// nlohmann::json's destructor may allocate (it flattens deep values onto a stack), which
// bugprone-exception-escape reports; a bad_alloc there ends the program, as anywhere else.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Client::Answer {
  json body;
  std::string context;
  Fields fields() const { return Fields(body, context); }
};

Client::Answer Client::parse_answer(const http::Response& resp, const std::string& path,
                                    const std::string& what) const {
  if (resp.status < 200 || resp.status >= 300) throw error_from_response(resp, what);
  std::string endpoint = quote(redact_url(m_base + path));
  Answer a;
  a.context = what + ": malformed answer from " + endpoint;
  if (resp.body.empty()) {
    a.body = json::object();
    return a;
  }
  try {
    a.body = parse_json(resp.body, "the answer of " + endpoint);
  } catch (const Error& e) {
    throw Error(ErrorKind::operational, what + ": " + e.what(),
                "is " + quote(redact_url(m_base)) + " an MLflow tracking server?");
  }
  return a;
}

http::Response Client::get(const std::string& path, const std::string& query) {
  http::Request req;
  req.url = m_base + path + (query.empty() ? "" : "?" + query);
  req.headers.push_back("Accept: application/json");
  return m_http.send(req);
}

Client::Answer Client::get_json(const std::string& path, const std::string& query, const std::string& what) {
  return parse_answer(get(path, query), path, what);
}

void Client::for_each_page(const std::string& path, const std::string& query, const std::string& what,
                           const std::function<bool(const Fields&)>& page) {
  std::string token;
  std::size_t pages = 0;
  do {
    std::string q = query;
    if (!token.empty()) q += "&page_token=" + url_encode(token);
    Answer a = get_json(path, q, what);
    Fields f = a.fields();
    if (!page(f)) return;
    std::string next = f.str("next_page_token");
    if (!next.empty() && (next == token || ++pages > limits::k_max_listing_entries)) {
      f.fail("next_page_token", "repeating: the pages do not end");
    }
    token = std::move(next);
  } while (!token.empty());
}

void Client::post_json(const std::string& path, const json& body, const std::string& what, bool idempotent) {
  http::Request req;
  req.method = "POST";
  req.url = m_base + path;
  req.headers = {"Content-Type: application/json", "Accept: application/json"};
  req.body = body.dump();
  req.idempotent = idempotent;
  parse_answer(m_http.send(req), path, what);
}

std::map<std::string, Metric> Client::get_logged_model_metrics(const std::string& model_id) {
  Answer a = get_json(std::string(k_api) + "/logged-models/" + url_encode(model_id), "",
                      "cannot get logged model " + quote(model_id));
  return parse_logged_model_metrics(a.fields());
}

void Client::set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                                   const std::string& value) {
  post_json(std::string(k_api) + "/model-versions/set-tag",
            {{"name", name}, {"version", version}, {"key", key}, {"value", value}},
            "cannot tag version " + quote(version) + " of model " + quote(name), true);
}

void Client::set_alias(const std::string& name, const std::string& alias, const std::string& version) {
  post_json(std::string(k_api) + "/registered-models/alias", {{"name", name}, {"alias", alias}, {"version", version}},
            "cannot point alias " + quote("@" + alias) + " of model " + quote(name) + " at version " + quote(version),
            true);
}

RegisteredModel Client::get_registered_model(const std::string& name) {
  Answer a = get_json(std::string(k_api) + "/registered-models/get", "name=" + url_encode(name),
                      "cannot get model " + quote(name));
  return parse_model(a.fields().object("registered_model", true));
}

std::vector<RegisteredModel> Client::search_registered_models(const std::string& filter, std::size_t limit) {
  std::vector<RegisteredModel> out;
  std::string q = "max_results=1000&order_by=" + url_encode("name ASC");
  if (!filter.empty()) q += "&filter=" + url_encode(filter);
  for_each_page(std::string(k_api) + "/registered-models/search", q, "cannot search models", [&](const Fields& j) {
    for (const auto& m : j.objects("registered_models")) {
      if (limit && out.size() >= limit) return false;
      out.push_back(parse_model(m));
    }
    return !limit || out.size() < limit;
  });
  return out;
}

ModelVersion Client::get_model_version(const std::string& name, const std::string& version) {
  Answer a = get_json(std::string(k_api) + "/model-versions/get",
                      "name=" + url_encode(name) + "&version=" + url_encode(version),
                      "cannot get version " + quote(version) + " of model " + quote(name));
  return parse_version(a.fields().object("model_version", true));
}

std::vector<ModelVersion> Client::search_model_versions(const std::string& filter) {
  std::vector<ModelVersion> out;
  std::string q = "max_results=10000";
  if (!filter.empty()) q += "&filter=" + url_encode(filter);
  for_each_page(std::string(k_api) + "/model-versions/search", q, "cannot search model versions", [&](const Fields& j) {
    for (const auto& v : j.objects("model_versions"))
      out.push_back(parse_version(v));
    return true;
  });
  return out;
}

ModelVersion Client::get_version_by_alias(const std::string& name, const std::string& alias) {
  std::string path = std::string(k_api) + "/registered-models/alias";
  std::string what = "cannot resolve alias " + quote(alias) + " of model " + quote(name);
  http::Response resp = get(path, "name=" + url_encode(name) + "&alias=" + url_encode(alias));
  if (resp.status == 400) {
    // MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE, not 404.
    Error e = error_from_response(resp, what);
    if (e.kind() == ErrorKind::operational) throw Error(ErrorKind::not_found, e.what(), e.hint());
    throw e;
  }
  Answer a = parse_answer(resp, path, what);
  return parse_version(a.fields().object("model_version", true));
}

std::vector<ModelVersion> Client::get_latest_versions(const std::string& name, const std::vector<std::string>& stages) {
  std::string q = "name=" + url_encode(name);
  for (const auto& s : stages)
    q += "&stages=" + url_encode(s);
  Answer a = get_json(std::string(k_api) + "/registered-models/get-latest-versions", q,
                      "cannot get latest versions of model " + quote(name));
  std::vector<ModelVersion> out;
  for (const auto& v : a.fields().objects("model_versions"))
    out.push_back(parse_version(v));
  return out;
}

std::string Client::get_download_uri(const std::string& name, const std::string& version) {
  Answer a = get_json(std::string(k_api) + "/model-versions/get-download-uri",
                      "name=" + url_encode(name) + "&version=" + url_encode(version),
                      "cannot get the download URI of " + quote(name) + " version " + quote(version));
  Fields f = a.fields();
  std::string uri = f.str("artifact_uri");
  if (uri.empty()) f.fail("artifact_uri", "missing");
  return uri;
}

Run Client::get_run(const std::string& run_id) {
  Answer a =
      get_json(std::string(k_api) + "/runs/get", "run_id=" + url_encode(run_id), "cannot get run " + quote(run_id));
  return parse_run(a.fields());
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
    while (!rest.empty() && rest.front() == '/')
      rest.erase(0, 1);
    auto slash = rest.find('/');
    loc.kind = ArtifactLocation::Kind::run;
    loc.run_id = rest.substr(0, slash);
    loc.root = slash == std::string::npos ? "" : rest.substr(slash + 1);
    Run run = get_run(loc.run_id);
    if (run.artifact_uri.rfind("mlflow-artifacts:", 0) == 0) {
      // Proxied run: use the streaming artifact service directly.
      loc.kind = ArtifactLocation::Kind::proxied;
      loc.root = join_path(proxied_root(run.artifact_uri), loc.root);
    } else {
      std::string rel = loc.root;
      std::string base = run.artifact_uri;
      while (!base.empty() && base.back() == '/')
        base.pop_back();
      open_store_at(loc, rel.empty() ? base : base + "/" + rel);
    }
    return loc;
  }
  if (download_uri.rfind("models:/m-", 0) == 0) {
    loc.kind = ArtifactLocation::Kind::logged_model;
    loc.model_id = download_uri.substr(8);
    Answer a = get_json(std::string(k_api) + "/logged-models/" + url_encode(loc.model_id), "",
                        "cannot get logged model " + quote(loc.model_id));
    std::string art = a.fields().object("model").object("info").str("artifact_uri");
    if (art.rfind("mlflow-artifacts:", 0) == 0) {
      loc.kind = ArtifactLocation::Kind::proxied;
      loc.root = proxied_root(art);
    } else {
      open_store_at(loc, art);
    }
    return loc;
  }
  if (open_store_at(loc, download_uri)) return loc;
  throw Error(ErrorKind::operational,
              "cannot download from " + quote(download_uri) + ": the tracking server does not proxy this storage",
              "start the MLflow server with --serve-artifacts (proxied artifacts)");
}

std::vector<FileInfo> Client::list_directory(const ArtifactLocation& loc, const std::string& dir) {
  std::vector<FileInfo> entries;
  std::string what = "cannot list artifacts of " + quote(loc.uri);
  if (loc.kind == ArtifactLocation::Kind::proxied) {
    Answer a = get_json("/api/2.0/mlflow-artifacts/artifacts", "path=" + url_encode(join_path(loc.root, dir)), what);
    entries = parse_files(a.fields());
  } else if (loc.kind == ArtifactLocation::Kind::run) {
    std::string q = "run_id=" + url_encode(loc.run_id) + "&path=" + url_encode(join_path(loc.root, dir));
    for_each_page(std::string(k_api) + "/artifacts/list", q, what, [&](const Fields& j) {
      for (auto& f : parse_files(j))
        entries.push_back(std::move(f));
      return entries.size() <= limits::k_max_listing_entries; // list_files() reports it
    });
  } else {
    std::string q = dir.empty() ? "" : "artifact_directory_path=" + url_encode(dir);
    Answer a =
        get_json(std::string(k_api) + "/logged-models/" + url_encode(loc.model_id) + "/artifacts/directories", q, what);
    entries = parse_files(a.fields());
  }
  // Listings name entries either by basename or by a path from some root;
  // make every path relative to the location root.
  std::string prefix_in_run = join_path(loc.root, dir);
  for (auto& e : entries) {
    std::string p = e.path;
    if (loc.kind == ArtifactLocation::Kind::run && !prefix_in_run.empty() && p.rfind(prefix_in_run + "/", 0) == 0) {
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

bool Client::open_store_at(ArtifactLocation& loc, const std::string& uri) {
  if (!m_store_opener || !store::is_store_uri(uri)) return false;
  loc.kind = ArtifactLocation::Kind::store;
  loc.store = m_store_opener(uri);
  loc.root.clear();
  return true;
}

http::Client& Client::transport(const ArtifactLocation& loc) {
  return loc.kind == ArtifactLocation::Kind::store ? loc.store->http() : m_http;
}

Error Client::download_error(const ArtifactLocation& loc, const http::Response& resp, const std::string& what) const {
  return loc.kind == ArtifactLocation::Kind::store ? loc.store->error_from(resp, what)
                                                   : error_from_response(resp, what);
}

std::vector<FileInfo> Client::list_files(const ArtifactLocation& loc) {
  if (loc.kind == ArtifactLocation::Kind::store) {
    std::vector<FileInfo> files;
    for (auto& o : loc.store->list())
      files.push_back(FileInfo{std::move(o.path), false, o.size});
    return files;
  }
  std::vector<FileInfo> files;
  std::deque<std::pair<std::string, std::size_t>> dirs{{"", 0}}; // (dir, its depth)
  std::size_t entries = 0;
  auto refuse = [&](const std::string& why) {
    return Error(ErrorKind::operational, "cannot list artifacts of " + quote(loc.uri) + ": the artifact tree on " +
                                             quote(redact_url(m_base)) + " " + why);
  };
  while (!dirs.empty()) {
    auto [dir, depth] = std::move(dirs.front());
    dirs.pop_front();
    for (auto& e : list_directory(loc, dir)) {
      if (e.path == dir) continue; // some listings include the directory itself
      if (++entries > limits::k_max_listing_entries) {
        throw refuse("has more than " + std::to_string(limits::k_max_listing_entries) + " entries");
      }
      if (!e.is_dir) {
        files.push_back(std::move(e));
      } else if (depth + 1 > limits::k_max_listing_depth) {
        throw refuse("is nested deeper than " + std::to_string(limits::k_max_listing_depth) + " directories");
      } else {
        dirs.emplace_back(std::move(e.path), depth + 1);
      }
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
    req.url =
        m_base + "/get-artifact?run_id=" + url_encode(loc.run_id) + "&path=" + url_encode(join_path(loc.root, path));
    break;
  case ArtifactLocation::Kind::logged_model:
    req.url = m_base + "/ajax-api/2.0/mlflow/logged-models/" + url_encode(loc.model_id) +
              "/artifacts/files?artifact_file_path=" + url_encode(path);
    break;
  case ArtifactLocation::Kind::store:
    req = loc.store->request(path);
    break;
  }
  return req;
}

namespace answer {

namespace {
const std::string k_context = "malformed answer";

/// The body as the client parses it: bounded JSON, then checked field by field.
struct Body {
  json j;
  explicit Body(std::string_view text) : j(parse_json(text, "the MLflow answer")) {}
  Fields fields() const { return Fields(j, k_context); }
};

template <typename Parse> auto each_of(std::string_view text, const char* key, Parse parse) {
  Body b(text);
  std::vector<decltype(parse(b.fields()))> out;
  for (const auto& item : b.fields().objects(key))
    out.push_back(parse(item));
  return out;
}
} // namespace

ModelVersion model_version(std::string_view body) {
  return parse_version(Body(body).fields().object("model_version", true));
}

std::vector<ModelVersion> model_versions(std::string_view body) {
  return each_of(body, "model_versions", parse_version);
}

RegisteredModel registered_model(std::string_view body) {
  return parse_model(Body(body).fields().object("registered_model", true));
}

std::vector<RegisteredModel> registered_models(std::string_view body) {
  return each_of(body, "registered_models", parse_model);
}

Run run(std::string_view body) { return parse_run(Body(body).fields()); }

std::map<std::string, Metric> logged_model_metrics(std::string_view body) {
  return parse_logged_model_metrics(Body(body).fields());
}

std::vector<FileInfo> files(std::string_view body) { return parse_files(Body(body).fields()); }

} // namespace answer

} // namespace mlops::mlflow
