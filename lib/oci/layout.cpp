#include "oci/layout.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

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
  auto bad = [](const std::string& why) { return Error(ErrorKind::operational, "invalid OCI descriptor: " + why); };
  if (!j.is_object()) throw bad("not an object");
  Descriptor d;
  if (j.contains("mediaType")) {
    if (!j["mediaType"].is_string()) throw bad("'mediaType' is not a string");
    d.media_type = j["mediaType"].get<std::string>();
  }
  if (!j.contains("digest") || !j["digest"].is_string()) throw bad("no 'digest' string");
  d.digest = j["digest"].get<std::string>();
  hex_of(d.digest); // sha256:<64 hex> or an error
  const json* size = j.contains("size") ? &j["size"] : nullptr;
  bool count = size && (size->is_number_unsigned() || (size->is_number_integer() && size->get<std::int64_t>() >= 0));
  if (!count) throw bad("'size' of " + d.digest + " is not a byte count");
  d.size = j["size"].get<std::uint64_t>();
  if (d.size > limits::k_max_blob_bytes) {
    throw bad("blob " + d.digest + " declares " + std::to_string(d.size) + " bytes, more than the limit of " +
              human_bytes(limits::k_max_blob_bytes));
  }
  if (j.contains("annotations")) {
    if (!j["annotations"].is_object()) throw bad("'annotations' is not an object");
    for (const auto& [k, v] : j["annotations"].items()) {
      if (!v.is_string()) throw bad("annotation " + quote(k) + " is not a string");
      d.annotations[k] = v.get<std::string>();
    }
  }
  if (j.contains("artifactType") && j["artifactType"].is_string())
    d.artifact_type = j["artifactType"].get<std::string>();
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
  if (!std::filesystem::exists(dir / "oci-layout"))
    fs::atomic_write(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return Layout(dir);
}

Layout Layout::open(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / "oci-layout", ec) ||
      !std::filesystem::is_regular_file(dir / "index.json", ec)) {
    throw Error(ErrorKind::not_found,
                quote(dir.string()) + " is not an OCI image layout (no oci-layout and index.json)");
  }
  return Layout(dir);
}

std::filesystem::path Layout::blob_path(const std::string& digest) const {
  return m_dir / "blobs" / "sha256" / hex_of(digest);
}

bool Layout::has_blob(const std::string& digest) const {
  std::error_code ec; // a link planted under a blob's name is not the blob
  return std::filesystem::is_regular_file(std::filesystem::symlink_status(blob_path(digest), ec));
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

namespace {

/// Copies (or hard-links) the open blob `src` to `dst`, hashing every byte on
/// the way; true when it is `size` bytes with digest `digest`.
bool copy_verified(const fs::RegularFile& src, const std::filesystem::path& dst, const std::string& digest,
                   std::uint64_t size) {
  // The inode already opened (never a name looked up again) is linked, then
  // read once for its hash; elsewhere it is copied and hashed in one pass.
  std::string self = "/proc/self/fd/" + std::to_string(src.fd.get());
  bool linked = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW) == 0;
  fs::Fd out;
  if (!linked) {
    out = fs::Fd(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (out.get() < 0) throw Error(ErrorKind::io, "cannot write " + quote(dst.string()) + ": " + std::strerror(errno));
  }
  Sha256 h;
  std::uint64_t seen = 0;
  std::vector<char> buf(1u << 20);
  for (;;) {
    ssize_t n = ::pread(src.fd.get(), buf.data(), buf.size(), static_cast<off_t>(seen));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorKind::io, "cannot read blob " + digest + ": " + std::strerror(errno));
    if (n == 0) break;
    seen += static_cast<std::uint64_t>(n);
    if (seen > size) return false; // longer than its descriptor: stop now
    h.update(buf.data(), static_cast<std::size_t>(n));
    for (ssize_t done = 0; !linked && done < n;) {
      ssize_t w = ::write(out.get(), buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error(ErrorKind::io, "cannot write " + quote(dst.string()) + ": " + std::strerror(errno));
      done += w;
    }
  }
  return seen == size && "sha256:" + h.hex_digest() == digest;
}

} // namespace

void Layout::copy_blob_from(const Layout& other, const std::string& digest, std::uint64_t size) {
  if (has_blob(digest)) return;
  auto src_path = other.blob_path(digest);
  auto what = "blob " + digest + " in " + quote(other.dir().string());
  if (size > limits::k_max_blob_bytes) {
    throw Error(ErrorKind::operational, what + " declares " + std::to_string(size) + " bytes, more than the limit of " +
                                            human_bytes(limits::k_max_blob_bytes));
  }
  fs::RegularFile src = fs::open_regular(src_path);
  if (src.size != size) {
    throw Error(ErrorKind::operational,
                what + " has " + std::to_string(src.size) + " bytes, its descriptor says " + std::to_string(size));
  }
  auto tmp = tmp_dir() / ("copy-" + hex_of(digest));
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  bool ok = false;
  try {
    ok = copy_verified(src, tmp, digest, size);
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  if (!ok) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorKind::operational, what + " does not match its digest",
                "the base image is damaged: copy it again");
  }
  adopt_blob(tmp, digest);
}

std::string Layout::read_blob(const std::string& digest, std::optional<std::uint64_t> size) const {
  auto path = blob_path(digest);
  auto what = "blob " + digest + " in " + quote(m_dir.string());
  fs::RegularFile f = fs::open_regular(path);
  if (size && f.size != *size) {
    throw Error(ErrorKind::operational,
                what + " has " + std::to_string(f.size) + " bytes, its descriptor says " + std::to_string(*size));
  }
  if (f.size > limits::k_max_manifest_bytes) {
    throw Error(ErrorKind::operational,
                what + " is larger than " + human_bytes(limits::k_max_manifest_bytes) + " (a manifest or config)");
  }
  std::string bytes = fs::read_all(f.fd, limits::k_max_manifest_bytes, path);
  if ("sha256:" + sha256_hex(bytes) != digest) throw Error(ErrorKind::operational, what + " does not match its digest");
  return bytes;
}

json Layout::read_json_blob(const Descriptor& d) const {
  return parse_json(read_blob(d.digest, d.size), "blob " + d.digest + " in " + quote(m_dir.string()),
                    ErrorKind::operational, limits::k_max_manifest_bytes);
}

json Layout::read_index() const {
  auto path = m_dir / "index.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !std::filesystem::is_symlink(path, ec)) {
    return {{"schemaVersion", 2}, {"mediaType", k_index_type}, {"manifests", json::array()}};
  }
  fs::RegularFile f = fs::open_regular(path);
  json index = parse_json(fs::read_all(f.fd, limits::k_max_manifest_bytes, path), quote(path.string()),
                          ErrorKind::operational, limits::k_max_manifest_bytes);
  if (!index.is_object() || (index.contains("manifests") && !index["manifests"].is_array())) {
    throw Error(ErrorKind::operational, quote(path.string()) + " is not an OCI image index");
  }
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
    throw Error(ErrorKind::not_found, tag.empty()
                                          ? "OCI layout " + quote(m_dir.string()) + " holds " +
                                                std::to_string(ms.size()) + " images; name one with oci:PATH:TAG"
                                          : "no image tagged " + quote(tag) + " in " + quote(m_dir.string()));
  }
  if (found->media_type == k_index_type ||
      found->media_type == "application/vnd.docker.distribution.manifest.list.v2+json") {
    json sub = read_json_blob(*found);
    if (!sub.is_object() || (sub.contains("manifests") && !sub["manifests"].is_array())) {
      throw Error(ErrorKind::operational,
                  "blob " + found->digest + " in " + quote(m_dir.string()) + " is not an image index");
    }
    std::optional<Descriptor> pick;
    for (const auto& m : sub.value("manifests", json::array())) {
      Descriptor d = Descriptor::from_json(m);
      bool amd64 = d.platform.is_object() && d.platform.value("architecture", "") == "amd64" &&
                   d.platform.value("os", "") == "linux";
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
