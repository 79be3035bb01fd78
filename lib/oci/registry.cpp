#include "oci/registry.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cctype>
#include <map>

namespace mlops::oci {

using nlohmann::json;

namespace {

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out(3 * (in.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  std::size_t pad = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) ++pad;
  out.resize(out.size() - std::min(pad, out.size()));
  return out;
}

/// Parses `Bearer realm="...",service="...",scope="..."` into its parameters.
std::map<std::string, std::string> challenge_params(const std::string& header) {
  std::map<std::string, std::string> out;
  auto sp = header.find(' ');
  std::string rest = sp == std::string::npos ? "" : header.substr(sp + 1);
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == ',')) ++i;
    auto eq = rest.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = rest.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < rest.size() && rest[i] == '"') {
      auto end = rest.find('"', i + 1);
      value = rest.substr(i + 1, end == std::string::npos ? std::string::npos : end - i - 1);
      i = end == std::string::npos ? rest.size() : end + 1;
    } else {
      auto end = rest.find(',', i);
      value = rest.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? rest.size() : end;
    }
    out[lower_ascii(key)] = value;
  }
  return out;
}

} // namespace

std::string ImageRef::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

ImageRef parse_image_ref(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::usage, "invalid image reference " + quote(text) + ": " + why, "use HOST[:PORT]/REPO[:TAG]");
  };
  ImageRef r;
  std::string rest = text;
  auto at = rest.find('@');
  if (at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (r.digest.rfind("sha256:", 0) != 0 || r.digest.size() != 71) throw bad("bad digest");
  }
  auto slash = rest.find('/');
  if (slash == std::string::npos) throw bad("no registry host");
  r.registry = rest.substr(0, slash);
  if (r.registry.find('.') == std::string::npos && r.registry.find(':') == std::string::npos && r.registry != "localhost") {
    throw bad("no registry host (mlops never guesses one)");
  }
  rest = rest.substr(slash + 1);
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  r.repository = rest;
  if (r.repository.empty()) throw bad("no repository");
  for (char c : r.repository) {
    bool ok = std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '/' ||
              c == '.' || c == '_' || c == '-';
    if (!ok) throw bad("repository names are lowercase letters, digits and . _ - /");
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::optional<RegistryCredentials> find_credentials(const std::string& registry,
                                                    const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  std::vector<std::pair<std::filesystem::path, std::string>> files;
  if (auto f = getenv("REGISTRY_AUTH_FILE"); f && !f->empty()) files.emplace_back(*f, "REGISTRY_AUTH_FILE");
  if (auto d = getenv("DOCKER_CONFIG"); d && !d->empty()) {
    files.emplace_back(std::filesystem::path(*d) / "config.json", "$DOCKER_CONFIG/config.json");
  } else if (auto h = getenv("HOME"); h && !h->empty()) {
    files.emplace_back(std::filesystem::path(*h) / ".docker" / "config.json", "~/.docker/config.json");
  }
  for (const auto& [path, label] : files) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    json j;
    try {
      j = json::parse(fs::read_file(path));
    } catch (const json::exception&) {
      throw Error(ErrorKind::usage, "invalid registry credentials file " + quote(path.string()) + ": not JSON");
    }
    const json auths = j.value("auths", json::object());
    for (const auto& key : {registry, "http://" + registry, "https://" + registry}) {
      if (!auths.contains(key)) continue;
      const json& a = auths[key];
      RegistryCredentials c;
      c.source = label;
      if (a.contains("auth") && a["auth"].is_string()) {
        std::string decoded = unbase64(a["auth"].get<std::string>());
        auto colon = decoded.find(':');
        if (colon == std::string::npos) continue;
        c.username = decoded.substr(0, colon);
        c.password = decoded.substr(colon + 1);
      } else {
        c.username = a.value("username", "");
        c.password = a.value("password", "");
      }
      if (!c.username.empty()) return c;
    }
  }
  return std::nullopt;
}

Registry::Registry(http::Client& http, ImageRef ref, std::optional<RegistryCredentials> creds, bool plain_http_allowed,
                   LogSink& log)
    : m_http(http), m_ref(std::move(ref)), m_creds(std::move(creds)), m_plain_allowed(plain_http_allowed), m_log(log) {}

std::string Registry::base() const { return std::string(m_plain ? "http://" : "https://") + m_ref.registry; }

Error Registry::failure(const http::Response& r, const std::string& what) const {
  std::string msg;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() && j["errors"][0].is_object()) {
    msg = j["errors"][0].value("code", "") + ": " + j["errors"][0].value("message", "");
  }
  if (msg.empty()) msg = "HTTP " + std::to_string(r.status);
  ErrorKind kind = r.status == 401 || r.status == 403    ? ErrorKind::auth
                   : r.status == 404                     ? ErrorKind::not_found
                   : http::is_retryable_status(r.status) ? ErrorKind::unavailable
                                                         : ErrorKind::operational;
  std::string hint;
  if (kind == ErrorKind::auth) {
    hint = m_creds ? "the credentials for " + quote(m_ref.registry) + " came from " + m_creds->source
                   : "no credentials for " + quote(m_ref.registry) +
                         " in REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json";
  }
  return Error(kind, what + " on " + quote(m_ref.registry) + ": " + msg, hint);
}

http::Response Registry::send(http::Request req) {
  http::Request first = req;
  if (!m_authorization.empty()) first.headers.push_back(m_authorization);
  http::Response r = m_http.send(first);
  if (r.status != 401) return r;
  std::string challenge = r.header("www-authenticate");
  std::string scheme = lower_ascii(challenge.substr(0, challenge.find(' ')));
  if (scheme == "basic") {
    if (!m_creds) return r;
    m_authorization = "Authorization: Basic " + base64(m_creds->username + ":" + m_creds->password);
  } else if (scheme == "bearer") {
    auto p = challenge_params(challenge);
    std::string scope = p.count("scope") ? p["scope"] : "repository:" + m_ref.repository + ":pull,push";
    http::Request token_req;
    token_req.url = p["realm"] + "?service=" + url_encode(p["service"]) + "&scope=" + url_encode(scope);
    if (m_creds) token_req.headers.push_back("Authorization: Basic " + base64(m_creds->username + ":" + m_creds->password));
    http::Response t = m_http.send(token_req);
    if (t.status != 200) return r;
    json j = json::parse(t.body, nullptr, false);
    std::string token = j.is_object() ? j.value("token", j.value("access_token", "")) : "";
    if (token.empty()) return r;
    m_authorization = "Authorization: Bearer " + token;
  } else {
    return r;
  }
  req.headers.push_back(m_authorization);
  return m_http.send(req);
}

void Registry::ping() {
  http::Request req;
  req.url = base() + "/v2/";
  http::Response r;
  try {
    r = send(req);
  } catch (const Error& tls_error) {
    // HTTPS first; a local (or --insecure) registry that speaks plain HTTP
    // gets a second try without TLS. A TLS server that refuses our plain
    // request keeps the TLS error, which says what is wrong.
    if (!m_plain_allowed || tls_error.kind() != ErrorKind::operational) throw;
    m_plain = true;
    req.url = base() + "/v2/";
    try {
      r = send(req);
    } catch (const Error&) {
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
  req.url = base() + "/v2/" + m_ref.repository + "/blobs/" + digest;
  http::Response r = send(req);
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  throw failure(r, "cannot check blob " + digest);
}

bool Registry::push_blob(const std::filesystem::path& file, const std::string& digest) {
  if (has_blob(digest)) {
    m_log.debug(1, "blob " + digest.substr(0, 19) + " is already in " + m_ref.repository);
    return false;
  }
  http::Request post;
  post.method = "POST";
  post.url = base() + "/v2/" + m_ref.repository + "/blobs/uploads/";
  post.idempotent = false;
  http::Response start = send(post);
  if (start.status != 202) throw failure(start, "cannot start an upload");
  std::string location = start.header("location");
  if (location.empty()) throw Error(ErrorKind::operational, "the registry " + quote(m_ref.registry) + " gave no upload location");
  if (location.rfind("http", 0) != 0) location = base() + location;
  location += (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + url_encode(digest);
  http::Request put;
  put.method = "PUT";
  put.url = location;
  put.headers = {"Content-Type: application/octet-stream"};
  put.body_file = file.string();
  http::Response done = send(put);
  if (done.status != 201) throw failure(done, "cannot upload blob " + digest);
  m_log.debug(1, "uploaded blob " + digest.substr(0, 19));
  return true;
}

void Registry::push_manifest(const std::string& bytes, const std::string& media_type, const std::string& reference) {
  http::Request put;
  put.method = "PUT";
  put.url = base() + "/v2/" + m_ref.repository + "/manifests/" + reference;
  put.headers = {"Content-Type: " + media_type};
  put.body = bytes;
  http::Response r = send(put);
  if (r.status != 201) throw failure(r, "cannot put the manifest " + quote(reference));
}

PushStats push_image(Registry& registry, const Layout& layout, const Descriptor& manifest_desc, const std::string& reference) {
  PushStats stats;
  json manifest = json::parse(layout.read_blob(manifest_desc.digest));
  std::vector<std::pair<std::string, std::uint64_t>> blobs;
  blobs.emplace_back(manifest.at("config").at("digest"), manifest.at("config").at("size"));
  for (const auto& l : manifest.at("layers")) blobs.emplace_back(l.at("digest"), l.at("size"));
  registry.ping();
  for (const auto& [digest, size] : blobs) {
    if (registry.push_blob(layout.blob_path(digest), digest)) {
      stats.uploaded += size;
      ++stats.blobs_uploaded;
    } else {
      stats.skipped += size;
      ++stats.blobs_skipped;
    }
  }
  registry.push_manifest(layout.read_blob(manifest_desc.digest), manifest_desc.media_type, reference);
  return stats;
}

} // namespace mlops::oci
