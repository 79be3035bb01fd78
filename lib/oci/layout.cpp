#include "oci/layout.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace mlops::oci {

using nlohmann::json;

namespace {

std::string hex_of(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71 ||
      digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos) {
    throw Error(ErrorKind::operational, "invalid digest " + quote(digest));
  }
  return digest.substr(7);
}

} // namespace

json Descriptor::to_json() const {
  json j = {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
  if (!annotations.empty()) j["annotations"] = annotations;
  if (!artifact_type.empty()) j["artifactType"] = artifact_type;
  if (!platform.is_null()) j["platform"] = platform;
  return j;
}

Descriptor Descriptor::from_json(const json& j) {
  // Checked field by field: a layout or registry may hold anything, and nlohmann's own
  // exceptions must not reach the user.
  auto bad = [](const std::string& why) { return Error(ErrorKind::operational, "invalid OCI descriptor: " + why); };
  if (!j.is_object()) throw bad("not a JSON object");
  auto text = [&](const char* key, bool required) {
    auto it = j.find(key);
    if (it == j.end() && !required) return std::string();
    if (it == j.end() || !it->is_string()) throw bad("key " + quote(key) + " is not a string");
    return it->get<std::string>();
  };
  Descriptor d;
  d.media_type = text("mediaType", false);
  d.digest = text("digest", true);
  auto size = j.find("size");
  if (size == j.end() || !(size->is_number_unsigned() || (size->is_number_integer() && size->get<std::int64_t>() >= 0))) {
    throw bad("key 'size' is not a non-negative integer");
  }
  d.size = size->get<std::uint64_t>();
  if (auto a = j.find("annotations"); a != j.end()) {
    if (!a->is_object()) throw bad("key 'annotations' is not an object");
    for (const auto& [k, v] : a->items()) {
      if (!v.is_string()) throw bad("annotation " + quote(k) + " is not a string");
      d.annotations[k] = v.get<std::string>();
    }
  }
  d.artifact_type = text("artifactType", false);
  if (j.contains("platform")) d.platform = j["platform"];
  return d;
}

LayoutRef parse_layout_ref(const std::string& text) {
  if (text.rfind("oci:", 0) != 0 || text.size() == 4) {
    throw Error(ErrorKind::usage, "invalid layout reference " + quote(text), "use oci:PATH or oci:PATH:TAG");
  }
  std::string rest = text.substr(4);
  LayoutRef r;
  auto colon = rest.rfind(':');
  auto slash = rest.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (r.tag.empty()) throw Error(ErrorKind::usage, "invalid layout reference " + quote(text) + ": empty tag");
  }
  r.path = rest;
  return r;
}

Layout Layout::open_or_create(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir / "blobs" / "sha256", ec);
  if (ec) throw Error(ErrorKind::io, "cannot create OCI layout " + quote(dir.string()) + ": " + ec.message());
  if (!std::filesystem::exists(dir / "oci-layout")) fs::atomic_write(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return Layout(dir);
}

Layout Layout::open(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / "oci-layout", ec) || !std::filesystem::is_regular_file(dir / "index.json", ec)) {
    throw Error(ErrorKind::not_found, quote(dir.string()) + " is not an OCI image layout (no oci-layout and index.json)");
  }
  return Layout(dir);
}

std::filesystem::path Layout::blob_path(const std::string& digest) const { return m_dir / "blobs" / "sha256" / hex_of(digest); }

bool Layout::has_blob(const std::string& digest) const {
  std::error_code ec;
  return std::filesystem::is_regular_file(blob_path(digest), ec);
}

std::filesystem::path Layout::tmp_dir() const {
  auto t = m_dir / "blobs" / ".mlops-tmp";
  std::error_code ec;
  std::filesystem::create_directories(t, ec);
  return t;
}

void Layout::adopt_blob(const std::filesystem::path& file, const std::string& digest) {
  auto target = blob_path(digest);
  if (::rename(file.c_str(), target.c_str()) != 0) {
    throw Error(ErrorKind::io, "cannot store blob " + digest + ": " + std::strerror(errno));
  }
}

Descriptor Layout::put_blob(const std::string& bytes, const std::string& media_type) {
  Descriptor d{media_type, "sha256:" + sha256_hex(bytes), bytes.size(), {}, {}, nullptr};
  if (!has_blob(d.digest)) fs::atomic_write(blob_path(d.digest), bytes, false);
  return d;
}

void Layout::copy_blob_from(const Layout& other, const std::string& digest) {
  if (has_blob(digest)) return;
  auto src = other.blob_path(digest);
  auto dst = blob_path(digest);
  auto tmp = tmp_dir() / ("copy-" + hex_of(digest));
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (::link(src.c_str(), tmp.c_str()) != 0) {
    std::filesystem::copy_file(src, tmp, ec);
    if (ec) throw Error(ErrorKind::io, "cannot copy blob " + digest + " from " + quote(other.dir().string()) + ": " + ec.message());
  }
  adopt_blob(tmp, digest);
}

std::string Layout::read_blob(const std::string& digest) const {
  std::string bytes = fs::read_file(blob_path(digest));
  if ("sha256:" + sha256_hex(bytes) != digest) {
    throw Error(ErrorKind::operational, "blob " + digest + " in " + quote(m_dir.string()) + " does not match its digest");
  }
  return bytes;
}

json Layout::read_index() const {
  std::error_code ec;
  if (!std::filesystem::exists(m_dir / "index.json", ec)) {
    return {{"schemaVersion", 2}, {"mediaType", k_index_type}, {"manifests", json::array()}};
  }
  json index = parse_json(fs::read_file(m_dir / "index.json"), quote((m_dir / "index.json").string()));
  if (!index.is_object()) throw Error(ErrorKind::operational, "invalid index.json in " + quote(m_dir.string()) + ": not a JSON object");
  return index;
}

Descriptor Layout::resolve(const std::string& tag) const {
  json index = read_index();
  const json& ms = index.value("manifests", json::array());
  std::optional<Descriptor> found;
  for (const auto& m : ms) {
    Descriptor d = Descriptor::from_json(m);
    auto name = d.annotations.find("org.opencontainers.image.ref.name");
    if (tag.empty() ? ms.size() == 1 : (name != d.annotations.end() && name->second == tag)) found = d;
  }
  if (!found) {
    throw Error(ErrorKind::not_found, tag.empty() ? "OCI layout " + quote(m_dir.string()) + " holds " +
                                                        std::to_string(ms.size()) + " images; name one with oci:PATH:TAG"
                                                  : "no image tagged " + quote(tag) + " in " + quote(m_dir.string()));
  }
  if (found->media_type == k_index_type || found->media_type == "application/vnd.docker.distribution.manifest.list.v2+json") {
    json sub = parse_json(read_blob(found->digest), "the image index " + found->digest);
    if (!sub.is_object()) throw Error(ErrorKind::operational, "the image index " + found->digest + " is not a JSON object");
    std::optional<Descriptor> pick;
    for (const auto& m : sub.value("manifests", json::array())) {
      Descriptor d = Descriptor::from_json(m);
      // Compared as JSON values: a platform field of another type is simply no match.
      bool amd64 = d.platform.is_object() && d.platform.find("architecture") != d.platform.end() &&
                   d.platform["architecture"] == "amd64" && d.platform.find("os") != d.platform.end() && d.platform["os"] == "linux";
      if (!pick || amd64) pick = d;
      if (amd64) break;
    }
    if (!pick) throw Error(ErrorKind::not_found, "the image index " + found->digest + " lists no manifests");
    return *pick;
  }
  return *found;
}

void Layout::tag(const Descriptor& manifest, const std::string& tag) {
  json index = read_index();
  json kept = json::array();
  for (const auto& m : index.value("manifests", json::array())) {
    if (m.contains("annotations") && m["annotations"].value("org.opencontainers.image.ref.name", "") == tag) continue;
    kept.push_back(m);
  }
  Descriptor d = manifest;
  d.annotations["org.opencontainers.image.ref.name"] = tag;
  kept.push_back(d.to_json());
  index["manifests"] = kept;
  index["schemaVersion"] = 2;
  index["mediaType"] = k_index_type;
  fs::atomic_write(m_dir / "index.json", index.dump());
}

} // namespace mlops::oci
