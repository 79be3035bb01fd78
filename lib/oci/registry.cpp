#include "oci/registry.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace mlops::oci {

using nlohmann::json;

namespace {

/// Collects a body in memory, refusing more than `max` bytes as they come.
class BoundedBody final : public http::BodySink {
public:
  BoundedBody(std::uint64_t max, std::string what) : m_max(max), m_what(std::move(what)) {}
  void reset() override { m_body.clear(); }
  void write(const char* data, std::size_t size) override {
    if (m_body.size() + size > m_max)
      throw Error(ErrorKind::operational, m_what + " is larger than " + human_bytes(m_max));
    m_body.append(data, size);
  }
  std::string take() { return std::move(m_body); }

private:
  std::uint64_t m_max;
  std::string m_what;
  std::string m_body;
};

/// Writes a downloaded blob to a file while hashing it; reset() starts over.
/// More than `limit` bytes is an error the moment it arrives.
class FileSink final : public http::BodySink {
public:
  FileSink(std::filesystem::path path, std::uint64_t limit, std::string what)
      : m_path(std::move(path)), m_limit(limit), m_what(std::move(what)) {}
  ~FileSink() override {
    if (m_file) std::fclose(m_file);
  }
  void reset() override {
    if (m_file) std::fclose(m_file);
    m_file = std::fopen(m_path.c_str(), "wb");
    if (!m_file) throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    m_hash = Sha256();
    m_bytes = 0;
  }
  void write(const char* data, std::size_t size) override {
    if (m_bytes + size > m_limit) {
      throw Error(ErrorKind::operational,
                  m_what + " sends more than the " + std::to_string(m_limit) + " bytes of its descriptor");
    }
    m_hash.update(data, size);
    m_bytes += size;
    if (std::fwrite(data, 1, size, m_file) != size) {
      throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    }
  }
  /// Closes the file; returns "sha256:..." of what was written.
  std::string finish() {
    if (m_file && std::fclose(m_file) != 0) {
      m_file = nullptr;
      throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    }
    m_file = nullptr;
    return "sha256:" + m_hash.hex_digest();
  }
  std::uint64_t bytes() const { return m_bytes; }

private:
  std::filesystem::path m_path;
  std::uint64_t m_limit;
  std::string m_what;
  std::FILE* m_file = nullptr;
  Sha256 m_hash;
  std::uint64_t m_bytes = 0;
};

} // namespace

Registry::Registry(http::Client& http, ImageRef ref, std::optional<RegistryCredentials> creds, bool plain_http_allowed,
                   LogSink& log, std::string actions)
    : m_http(http), m_ref(std::move(ref)), m_creds(std::move(creds)), m_plain_allowed(plain_http_allowed), m_log(log),
      m_actions(std::move(actions)) {}

std::string Registry::url(const std::string& path) const {
  return std::string(m_plain ? "http://" : "https://") + m_ref.registry + path;
}

std::string Registry::absolute(const std::string& location) const {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  return url(location.empty() || location[0] == '/' ? location : "/" + location);
}

Error Registry::failure(const http::Response& r, const std::string& what) const {
  std::string msg;
  json j;
  try {
    j = parse_json(r.body, "an error answer", ErrorKind::operational, limits::k_max_manifest_bytes);
  } catch (const Error&) {
    // Not JSON: the status says it.
  }
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() &&
      j["errors"][0].is_object()) {
    msg = j["errors"][0].value("code", "") + ": " + j["errors"][0].value("message", "");
  }
  if (msg.empty()) msg = "HTTP " + std::to_string(r.status);
  ErrorKind kind = r.status == 401 || r.status == 403    ? ErrorKind::auth
                   : r.status == 404                     ? ErrorKind::not_found
                   : http::is_retryable_status(r.status) ? ErrorKind::unavailable
                                                         : ErrorKind::operational;
  std::string hint;
  if (kind == ErrorKind::auth) {
    hint = m_creds ? "tried the credentials for " + quote(m_ref.registry) + " from " + m_creds->source
                   : "no credentials for " + quote(m_ref.registry) +
                         " in REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json";
  }
  return Error(kind, what + " on " + quote(m_ref.registry) + ": " + msg, hint);
}

std::string Registry::authorization(const std::vector<std::string>& scopes) {
  std::unique_lock lock(m_mutex);
  if (m_scheme == "basic" && m_creds)
    return "Authorization: Basic " + base64(m_creds->username + ":" + m_creds->password);
  if (m_scheme != "bearer") return {};
  std::string key = join(scopes, " ");
  auto it = m_tokens.find(key);
  if (it != m_tokens.end() && std::chrono::steady_clock::now() < it->second.expires) {
    return "Authorization: Bearer " + it->second.value;
  }
  lock.unlock(); // token servers can be slow; other requests go on meanwhile
  Token t = fetch_token(scopes);
  lock.lock();
  m_tokens[key] = t;
  return "Authorization: Bearer " + t.value;
}

Registry::Token Registry::fetch_token(const std::vector<std::string>& scopes) {
  std::string realm, service;
  {
    std::lock_guard lock(m_mutex);
    realm = m_realm;
    service = m_service;
  }
  if (realm.rfind("https://", 0) != 0 && !m_plain_allowed) {
    // The password (or identity token) would travel in the clear.
    throw Error(ErrorKind::auth,
                "the registry " + quote(m_ref.registry) + " sends clients to a token server without TLS (" +
                    quote(realm) + ")",
                "mlops sends credentials over plain HTTP only to local registries or with --insecure");
  }
  std::string query = "service=" + url_encode(service);
  for (const auto& s : scopes)
    query += "&scope=" + url_encode(s);
  query += "&client_id=mlops";
  http::Request req;
  req.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
  http::Response r;
  if (m_creds && !m_creds->identity_token.empty()) {
    // OAuth2 refresh-token grant (what an identity token is for); token
    // servers without the POST form answer 404 or 405, then GET is tried.
    http::Request post;
    post.method = "POST";
    post.url = realm;
    post.headers = {"Content-Type: application/x-www-form-urlencoded"};
    post.body = "grant_type=refresh_token&refresh_token=" + url_encode(m_creds->identity_token) + "&" + query;
    r = m_http.send(post);
  }
  if (r.status == 0 || r.status == 404 || r.status == 405) {
    if (m_creds && !m_creds->username.empty()) {
      req.headers.push_back("Authorization: Basic " + base64(m_creds->username + ":" + m_creds->password));
    }
    r = m_http.send(req);
  }
  if (r.status != 200) {
    Error e = failure(r, "cannot get a token for " + quote(join(scopes, " ")) + " from " + quote(realm));
    throw Error(e.kind() == ErrorKind::not_found ? ErrorKind::operational : e.kind(), e.what(), e.hint());
  }
  json j;
  try {
    j = parse_json(r.body, "the token answer", ErrorKind::operational, limits::k_max_manifest_bytes);
  } catch (const Error&) {
    // Said below: no token.
  }
  auto text = [&](const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
  };
  std::string token = text("token").empty() ? text("access_token") : text("token");
  if (token.empty())
    throw Error(ErrorKind::operational,
                "the token server " + quote(realm) + " of " + quote(m_ref.registry) + " gave no token");
  // Spec default: 60 s without expires_in. Renew a little early so a token
  // does not die between being taken and being checked.
  double life =
      j.is_object() && j.contains("expires_in") && j["expires_in"].is_number() ? j["expires_in"].get<double>() : 60.0;
  double margin = std::min(5.0, life / 10);
  m_log.debug(1, "got a token for " + join(scopes, " ") + " from " + realm + " (valid " +
                     std::to_string(static_cast<int>(life)) + " s)");
  return {token, std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                        std::chrono::duration<double>(life - margin))};
}

bool Registry::answer_challenge(const http::Response& r, std::vector<std::string>& scopes) {
  auto challenges = parse_www_authenticate(r.header("www-authenticate"));
  const AuthChallenge* bearer = nullptr;
  const AuthChallenge* basic = nullptr;
  for (const auto& c : challenges) {
    if (c.scheme == "bearer" && !bearer) bearer = &c;
    if (c.scheme == "basic" && !basic) basic = &c;
  }
  std::lock_guard lock(m_mutex);
  if (bearer && bearer->params.count("realm")) {
    m_scheme = "bearer";
    m_realm = bearer->params.at("realm");
    m_service = bearer->params.count("service") ? bearer->params.at("service") : "";
    m_tokens.erase(join(scopes, " ")); // rejected (expired, or too narrow)
    if (bearer->params.count("scope")) {
      // Several scopes may come space-separated in one parameter.
      std::string all = bearer->params.at("scope");
      for (std::size_t p = 0; p < all.size();) {
        auto sp = all.find(' ', p);
        add_scope(scopes, all.substr(p, sp == std::string::npos ? std::string::npos : sp - p));
        p = sp == std::string::npos ? all.size() : sp + 1;
      }
      m_tokens.erase(join(scopes, " ")); // a token for the wider set may be as stale
    }
    return true;
  }
  if (basic && m_creds && !m_creds->username.empty() && m_scheme != "basic") {
    m_scheme = "basic";
    return true;
  }
  return false;
}

http::Response Registry::send(http::Request req, const std::vector<std::string>& extra_scopes, bool resend) {
  std::vector<std::string> scopes = extra_scopes;
  scopes.insert(scopes.begin(), repository_scope(m_ref.repository, m_actions));
  for (int attempt = 0;; ++attempt) {
    http::Request r = req;
    if (std::string a = authorization(scopes); !a.empty()) r.headers.push_back(a);
    http::Response resp = m_http.send(r);
    if (resp.status != 401 || attempt == 1 || !resend) return resp;
    if (!answer_challenge(resp, scopes)) return resp;
    m_log.debug(1, "the registry asked for authentication; answering its challenge");
  }
}

void Registry::ping() {
  http::Request req;
  req.url = url("/v2/");
  http::Response r;
  try {
    r = send(req);
  } catch (const Error& tls_error) {
    // HTTPS first; a local (or --insecure) registry that speaks plain HTTP
    // gets a second try without TLS. A TLS server that refuses our plain
    // request keeps the TLS error, which says what is wrong.
    if (!m_plain_allowed || tls_error.kind() != ErrorKind::operational) throw;
    m_plain = true;
    req.url = url("/v2/");
    try {
      r = send(req);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::auth) throw; // plain HTTP worked; the token server said no
      // Neither protocol got an answer (TLS servers answer plain HTTP with a 400): a server
      // that drops connections is unavailable, not a TLS problem.
      if (e.kind() == ErrorKind::unavailable) throw;
      throw tls_error;
    }
    if (r.status == 400) throw tls_error;
    m_log.debug(1, quote(m_ref.registry) + " speaks plain HTTP");
  }
  if (r.status != 200) throw failure(r, "cannot use the registry");
}

bool Registry::has_blob(const std::string& digest) {
  http::Request req;
  req.method = "HEAD";
  req.url = url("/v2/" + m_ref.repository + "/blobs/" + digest);
  http::Response r = send(req);
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  throw failure(r, "cannot check blob " + digest);
}

http::Response Registry::get_bounded(http::Request req, std::uint64_t max, const std::string& what) {
  std::vector<std::string> scopes = {repository_scope(m_ref.repository, m_actions)};
  for (int attempt = 0;; ++attempt) {
    http::Request r = req;
    if (std::string a = authorization(scopes); !a.empty()) r.headers.push_back(a);
    BoundedBody sink(max, what + " from " + quote(m_ref.registry));
    http::Response resp = m_http.download(r, sink);
    if (resp.status == 401 && attempt == 0 && answer_challenge(resp, scopes)) continue;
    if (resp.status / 100 == 2) resp.body = sink.take();
    return resp;
  }
}

RemoteManifest Registry::get_manifest(const std::string& reference) {
  http::Request req;
  req.url = url("/v2/" + m_ref.repository + "/manifests/" + reference);
  req.headers = {std::string("Accept: ") + k_manifest_accept};
  std::string what = "the manifest " + quote(reference);
  http::Response r = get_bounded(req, limits::k_max_manifest_bytes, what);
  if (r.status == 404) {
    throw Error(ErrorKind::not_found,
                "no manifest " +
                    quote(m_ref.repository + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference) + " on " +
                    quote(m_ref.registry));
  }
  if (r.status != 200) throw failure(r, "cannot get the manifest " + quote(reference));
  RemoteManifest m;
  m.bytes = r.body;
  m.media_type = std::string(trim(r.header("content-type").substr(0, r.header("content-type").find(';'))));
  m.digest = "sha256:" + sha256_hex(m.bytes);
  if (reference.rfind("sha256:", 0) == 0 && reference != m.digest) {
    throw Error(ErrorKind::operational, what + " from " + quote(m_ref.registry) + " has digest " + m.digest);
  }
  m.json = parse_json(m.bytes, what + " from " + quote(m_ref.registry), ErrorKind::operational,
                      limits::k_max_manifest_bytes);
  if (!m.json.is_object())
    throw Error(ErrorKind::operational, what + " from " + quote(m_ref.registry) + " is not a JSON object");
  std::string declared =
      m.json.contains("mediaType") && m.json["mediaType"].is_string() ? m.json["mediaType"].get<std::string>() : "";
  if (m.media_type.empty() || m.media_type == "application/json" || m.media_type == "text/plain")
    m.media_type = declared;
  if (!declared.empty() && declared != m.media_type) {
    throw Error(ErrorKind::operational, what + " from " + quote(m_ref.registry) + " says it is " + quote(declared) +
                                            " but was sent as " + quote(m.media_type));
  }
  return m;
}

std::string Registry::get_blob(const std::string& digest, std::uint64_t size) {
  std::string what = "blob " + digest;
  if (size > limits::k_max_manifest_bytes) {
    throw Error(ErrorKind::operational, what + " on " + quote(m_ref.registry) + " declares " + std::to_string(size) +
                                            " bytes, more than the " + human_bytes(limits::k_max_manifest_bytes) +
                                            " a config may have");
  }
  http::Request req;
  req.url = url("/v2/" + m_ref.repository + "/blobs/" + digest);
  http::Response r = get_bounded(req, size, what + " (" + std::to_string(size) + " bytes by its descriptor)");
  if (r.status != 200) throw failure(r, "cannot get blob " + digest);
  if (r.body.size() != size || "sha256:" + sha256_hex(r.body) != digest) {
    throw Error(ErrorKind::operational, what + " from " + quote(m_ref.registry) + " does not match its digest or size");
  }
  return r.body;
}

void Registry::download_blob(const std::string& digest, std::uint64_t size, const std::filesystem::path& file) {
  http::Request req;
  req.url = url("/v2/" + m_ref.repository + "/blobs/" + digest);
  // Authenticate on a HEAD first: a download's body goes to the sink, and a
  // 401 answer should not.
  if (size > limits::k_max_blob_bytes) {
    throw Error(ErrorKind::operational, "blob " + digest + " on " + quote(m_ref.registry) + " declares " +
                                            std::to_string(size) + " bytes, more than the limit of " +
                                            human_bytes(limits::k_max_blob_bytes));
  }
  if (!has_blob(digest))
    throw Error(ErrorKind::not_found,
                "no blob " + digest + " in " + quote(m_ref.repository) + " on " + quote(m_ref.registry));
  std::vector<std::string> scopes = {repository_scope(m_ref.repository, m_actions)};
  if (std::string a = authorization(scopes); !a.empty()) req.headers.push_back(a);
  auto part = file;
  part += ".part";
  // Whatever happens (a failed or interrupted transfer, a bad digest), no
  // partial file stays behind.
  struct RemovePart {
    std::filesystem::path path;
    ~RemovePart() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove(path, ec);
    }
  } guard{part};
  FileSink sink(part, size, "blob " + digest + " from " + quote(m_ref.registry));
  http::Response r = m_http.download(req, sink);
  if (r.status != 200) throw failure(r, "cannot get blob " + digest);
  std::string got = sink.finish();
  if (got != digest || sink.bytes() != size) {
    throw Error(ErrorKind::operational, "blob " + digest + " from " + quote(m_ref.registry) +
                                            " does not match its digest or size (got " + std::to_string(sink.bytes()) +
                                            " bytes, " + got + ")");
  }
  std::error_code ec;
  std::filesystem::rename(part, file, ec);
  if (ec) throw Error(ErrorKind::io, "cannot write " + quote(file.string()) + ": " + ec.message());
  guard.path.clear();
}

} // namespace mlops::oci
