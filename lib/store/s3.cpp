#include "store/s3.hpp"

#include "core/config.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "store/xml.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mlops::store {

namespace {

/// SHA-256 of an empty body: the x-amz-content-sha256 of every GET (versitygw and AWS
/// want the header; libcurl signs it with the other x-amz-* headers).
constexpr const char* k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Error codes that mean the credentials were refused, whatever the status (versitygw answers
/// an unknown access key with 404 XAdminUserNotFound, AWS with 403 InvalidAccessKeyId).
bool is_credential_code(const std::string& code) {
  static constexpr const char* k_codes[] = {"AccessDenied",      "InvalidAccessKeyId", "SignatureDoesNotMatch",
                                            "ExpiredToken",      "InvalidToken",       "TokenRefreshRequired",
                                            "XAdminUserNotFound"};
  return std::any_of(std::begin(k_codes), std::end(k_codes), [&](const char* c) { return code == c; });
}

std::optional<std::string> env(const Getenv& getenv, const char* name) {
  auto v = getenv(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

/// The text of an AWS INI file, or nullopt when it does not exist.
std::optional<std::string> read_ini(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::usage, "cannot read " + quote(path.string()) + ": " + ec.message());
  if (size > limits::k_max_config_bytes)
    throw Error(ErrorKind::usage, "cannot read " + quote(path.string()) + ": too large");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in && !in.eof()) throw Error(ErrorKind::usage, "cannot read " + quote(path.string()));
  return s.str();
}

using Ini = std::map<std::string, std::map<std::string, std::string>>;

const std::map<std::string, std::string>* section(const Ini& ini, const std::string& name) {
  auto it = ini.find(name);
  return it == ini.end() ? nullptr : &it->second;
}

std::string value(const std::map<std::string, std::string>* s, const char* key) {
  if (!s) return {};
  auto it = s->find(key);
  return it == s->end() ? std::string() : it->second;
}

class S3Store final : public Store {
public:
  S3Store(std::string uri, S3Location loc, S3Settings settings, const http::Options& base, LogSink& log)
      : m_uri(std::move(uri)), m_loc(std::move(loc)), m_settings(std::move(settings)),
        m_http(client_options(base, m_settings), log) {
    m_bucket_url = m_settings.endpoint.empty()
                       ? "https://" + m_loc.bucket + ".s3." + m_settings.region + ".amazonaws.com"
                       : m_settings.endpoint + "/" + url_encode(m_loc.bucket);
    m_shown = m_settings.endpoint.empty() ? m_bucket_url : redact_url(m_settings.endpoint);
  }

  const std::string& uri() const override { return m_uri; }
  http::Client& http() override { return m_http; }

  std::vector<Object> list() override {
    std::vector<Object> out;
    std::string prefix = m_loc.prefix.empty() ? "" : m_loc.prefix + "/";
    std::string token;
    const std::string what = "cannot list " + quote(m_uri);
    for (std::size_t page = 0;; ++page) {
      if (page >= limits::k_max_listing_pages) {
        throw Error(ErrorKind::operational, what + ": malformed answer from " + quote(m_shown) + ": more than " +
                                                std::to_string(limits::k_max_listing_pages) + " pages");
      }
      // Query parameters in canonical (sorted) order, encoded once: SigV4 signs them as sent.
      std::string q;
      if (!token.empty()) q += "continuation-token=" + url_encode(token) + "&";
      q += "list-type=2&prefix=" + url_encode(prefix);
      http::Request req = base_request(m_bucket_url + "/?" + q);
      http::Response resp = m_http.send(req);
      if (resp.status != 200) throw error_from(resp, what);
      ListPage p = parse_list_objects(resp.body, what + ": malformed answer from " + quote(m_shown));
      for (auto& o : p.objects) {
        if (o.key.compare(0, prefix.size(), prefix) != 0) {
          throw Error(ErrorKind::operational, what + ": malformed answer from " + quote(m_shown) + ": key " +
                                                  quote(printable(o.key, 200)) + " is not below " + quote(prefix));
        }
        std::string rel = o.key.substr(prefix.size());
        if (rel.empty() || rel.back() == '/') continue; // a "directory" marker
        if (out.size() >= limits::k_max_listing_entries) {
          throw Error(ErrorKind::operational, what + ": the location has more than " +
                                                  std::to_string(limits::k_max_listing_entries) + " objects");
        }
        out.push_back(Object{std::move(rel), o.size});
      }
      if (!p.truncated) break;
      if (p.continuation_token == token) {
        throw Error(ErrorKind::operational,
                    what + ": malformed answer from " + quote(m_shown) + ": the same continuation token twice");
      }
      token = p.continuation_token;
    }
    std::sort(out.begin(), out.end(), [](const Object& a, const Object& b) { return a.path < b.path; });
    return out;
  }

  http::Request request(const std::string& rel) const override {
    std::string key = m_loc.prefix.empty() ? rel : m_loc.prefix + "/" + rel;
    return base_request(m_bucket_url + "/" + url_encode(key, true));
  }

  Error error_from(const http::Response& resp, const std::string& what) const override {
    XmlError x = parse_xml_error(resp.body);
    std::string code = printable(x.code, 60);
    std::string detail = code.empty() ? "HTTP " + std::to_string(resp.status) : code;
    if (resp.status == 401 || resp.status == 403 || is_credential_code(x.code)) {
      return Error(
          ErrorKind::auth,
          what + ": access denied by S3 endpoint " + quote(m_shown) + " (" + detail + ") with the credentials of " +
              m_settings.credential_source,
          "check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the bucket policy");
    }
    if (resp.status == 404) {
      std::string why = code == "NoSuchBucket" ? "bucket " + quote(m_loc.bucket) + " not found" : "not found";
      return Error(ErrorKind::not_found, what + ": " + why + " on S3 endpoint " + quote(m_shown));
    }
    std::string message = redact_secrets(printable(x.message, 200), {m_settings.secret, m_settings.session_token});
    std::string why = "S3 endpoint " + quote(m_shown) + " answered " + detail +
                      (code.empty() ? "" : " (HTTP " + std::to_string(resp.status) + ")") +
                      (message.empty() ? "" : ": " + message);
    return Error(http::is_retryable_status(resp.status) ? ErrorKind::unavailable : ErrorKind::operational,
                 what + ": " + why);
  }

private:
  static http::Options client_options(const http::Options& base, const S3Settings& s) {
    http::Options o = base;
    // MLflow's credentials, headers and certificates are for the tracking server only.
    o.bearer_token.clear();
    o.extra_headers.clear();
    o.ca_bundle.clear();
    o.client_cert.clear();
    o.verify_tls = s.verify_tls;
    o.aws_sigv4 = "aws:amz:" + s.region + ":s3";
    o.username = s.key_id;
    o.password = s.secret;
    o.unreachable_hint =
        s.endpoint.empty() ? "is the network up?" : "is the S3 endpoint running? check MLFLOW_S3_ENDPOINT_URL";
    return o;
  }

  http::Request base_request(std::string url) const {
    http::Request req;
    req.url = std::move(url);
    req.headers.push_back(std::string("x-amz-content-sha256: ") + k_empty_sha256);
    if (!m_settings.session_token.empty()) req.headers.push_back("x-amz-security-token: " + m_settings.session_token);
    return req;
  }

  std::string m_uri;
  S3Location m_loc;
  S3Settings m_settings;
  http::Client m_http;
  std::string m_bucket_url, m_shown;
};

} // namespace

Ini parse_aws_ini(std::string_view text, const std::string& origin) {
  if (text.size() > limits::k_max_config_bytes)
    throw Error(ErrorKind::usage, "cannot read " + quote(origin) + ": too large");
  Ini ini;
  std::string current;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3) {
        throw Error(ErrorKind::usage, quote(origin) + ":" + std::to_string(line_no) + ": a section header is '[name]'");
      }
      current = std::string(trim(line.substr(1, line.size() - 2)));
      ini[current];
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos || current.empty()) {
      // Indented sub-settings (s3 =\n  addressing_style = path) belong to the key above.
      if (eq != std::string_view::npos || current.empty()) {
        throw Error(ErrorKind::usage, quote(origin) + ":" + std::to_string(line_no) + ": expected 'key = value'");
      }
      continue;
    }
    ini[current][lower_ascii(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 1)));
  }
  return ini;
}

S3Settings s3_settings(const Getenv& getenv) {
  S3Settings s;
  if (auto ep = env(getenv, "MLFLOW_S3_ENDPOINT_URL")) {
    std::string e = *ep;
    while (!e.empty() && e.back() == '/')
      e.pop_back();
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      throw Error(ErrorKind::usage, "invalid MLFLOW_S3_ENDPOINT_URL " + quote(redact_url(e)) + ": not an http(s) URL");
    }
    s.endpoint = e;
  }
  if (auto ignore = env(getenv, "MLFLOW_S3_IGNORE_TLS")) s.verify_tls = !parse_bool(*ignore).value_or(false);

  std::string profile = env(getenv, "AWS_PROFILE").value_or(env(getenv, "AWS_DEFAULT_PROFILE").value_or("default"));
  bool profile_asked = env(getenv, "AWS_PROFILE") || env(getenv, "AWS_DEFAULT_PROFILE");
  std::filesystem::path home = env(getenv, "HOME").value_or("/");
  std::filesystem::path cred_path =
      env(getenv, "AWS_SHARED_CREDENTIALS_FILE").value_or((home / ".aws/credentials").string());
  std::filesystem::path conf_path = env(getenv, "AWS_CONFIG_FILE").value_or((home / ".aws/config").string());
  Ini creds, conf;
  if (auto t = read_ini(cred_path)) creds = parse_aws_ini(*t, cred_path.string());
  if (auto t = read_ini(conf_path)) conf = parse_aws_ini(*t, conf_path.string());
  const auto* cred_section = section(creds, profile);
  const auto* conf_section = section(conf, profile == "default" ? profile : "profile " + profile);

  s.region =
      env(getenv, "AWS_REGION").value_or(env(getenv, "AWS_DEFAULT_REGION").value_or(value(conf_section, "region")));
  if (s.region.empty()) s.region = "us-east-1";

  auto key = env(getenv, "AWS_ACCESS_KEY_ID");
  auto secret = env(getenv, "AWS_SECRET_ACCESS_KEY");
  if (key || secret) {
    if (!key || !secret) {
      throw Error(ErrorKind::usage, std::string(key ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                                                    : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
    }
    s.key_id = *key;
    s.secret = *secret;
    s.session_token = env(getenv, "AWS_SESSION_TOKEN").value_or("");
    s.credential_source = "AWS_ACCESS_KEY_ID";
    return s;
  }
  for (auto [sec, path] : {std::pair{cred_section, &cred_path}, std::pair{conf_section, &conf_path}}) {
    if (value(sec, "aws_access_key_id").empty()) continue;
    s.key_id = value(sec, "aws_access_key_id");
    s.secret = value(sec, "aws_secret_access_key");
    s.session_token = value(sec, "aws_session_token");
    s.credential_source = "AWS_PROFILE " + quote(profile) + " in " + quote(path->string());
    if (s.secret.empty()) {
      throw Error(ErrorKind::usage, s.credential_source + " has no 'aws_secret_access_key'");
    }
    return s;
  }
  if (profile_asked) {
    throw Error(ErrorKind::auth, "AWS_PROFILE " + quote(profile) + " has no credentials in " +
                                     quote(cred_path.string()) + " or " + quote(conf_path.string()));
  }
  throw Error(ErrorKind::auth, "no AWS credentials for the S3 artifact store",
              "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials");
}

S3Location parse_s3_uri(const std::string& uri) {
  if (uri.rfind("s3://", 0) != 0) throw Error(ErrorKind::usage, "not an S3 URI: " + quote(uri));
  std::string rest = uri.substr(5);
  auto slash = rest.find('/');
  S3Location loc;
  loc.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) loc.prefix = rest.substr(slash + 1);
  while (!loc.prefix.empty() && loc.prefix.back() == '/')
    loc.prefix.pop_back();
  bool ok = !loc.bucket.empty() && loc.bucket.size() <= 255 &&
            std::all_of(loc.bucket.begin(), loc.bucket.end(),
                        [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_'; });
  if (!ok) throw Error(ErrorKind::usage, "invalid S3 URI " + quote(printable(uri, 200)) + ": bad bucket name");
  return loc;
}

std::shared_ptr<Store> open_s3(const std::string& uri, const S3Settings& settings, const http::Options& base,
                               LogSink& log) {
  return std::make_shared<S3Store>(uri, parse_s3_uri(uri), settings, base, log);
}

bool is_store_uri(const std::string& uri) { return uri.rfind("s3://", 0) == 0; }

std::shared_ptr<Store> open_store(const std::string& uri, const http::Options& base, const Getenv& getenv,
                                  LogSink& log) {
  if (uri.rfind("s3://", 0) == 0) {
    S3Settings s = s3_settings(getenv);
    log.debug(1, "S3 store " + uri + " (credentials: " + s.credential_source + ", region " + s.region +
                     (s.endpoint.empty() ? "" : ", endpoint " + redact_url(s.endpoint)) + ")");
    return open_s3(uri, s, base, log);
  }
  throw Error(ErrorKind::usage, "no reader for artifact store " + quote(printable(uri, 200)));
}

} // namespace mlops::store
