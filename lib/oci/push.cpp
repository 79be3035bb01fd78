#include "oci/push.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"
#include "oci/layout.hpp"

#include <memory>

namespace mlops::oci {

std::optional<std::string> LayerDigestCache::get(const std::string& key) const {
  std::error_code ec;
  if (m_dir.empty() || !std::filesystem::is_regular_file(m_dir / key, ec)) return std::nullopt;
  std::string d = fs::read_file(m_dir / key);
  if (d.rfind("sha256:", 0) != 0 || d.size() != 71) return std::nullopt;
  return d;
}

void LayerDigestCache::put(const std::string& key, const std::string& digest) const {
  if (m_dir.empty() || key.empty()) return;
  try {
    std::filesystem::create_directories(m_dir);
    fs::atomic_write(m_dir / key, digest, false);
  } catch (const std::exception&) {
  }
}

namespace {

/// A new layer going up to the push target while it is built; when the
/// stream fails the push uploads the layer from its file instead.
class PushStream final : public LayerStream {
public:
  /// `key`: the layer's LayerInfo::key, naming its upload session for a rerun.
  PushStream(Registry& registry, std::map<std::string, BlobOutcome>& done, bool keep_file, const std::string& key)
      : m_registry(registry), m_stream(registry, key), m_done(done), m_keep_file(keep_file) {}
  bool needs_file() const override { return m_keep_file; }
  void write(const char* data, std::size_t size) override { m_stream.write(data, size); }
  bool finish(const Layer& layer) override {
    std::string why;
    if (m_stream.finish(layer.digest, why)) {
      m_done[layer.digest] = BlobOutcome::uploaded;
      m_registry.log().debug(1, "streamed layer " + layer.digest.substr(0, 19) + " (" + human_bytes(layer.size) +
                                    ") while building it");
      return true;
    }
    m_registry.log().debug(1, "streaming layer " + layer.digest.substr(0, 19) + " failed (" + why +
                                  "); it goes up from a file");
    return false;
  }

private:
  Registry& m_registry;
  Registry::Stream m_stream;
  std::map<std::string, BlobOutcome>& m_done;
  bool m_keep_file;
};

/// Layers with at least this many bytes of files are streamed to the push
/// target while they are built, unless the registry has them already.
constexpr std::uint64_t k_stream_min = 32u << 20;

} // namespace

LayerStreamFactory push_stream_factory(Registry& target, const LayerDigestCache& cache,
                                       std::map<std::string, BlobOutcome>& done, bool keep_files) {
  auto pinged = std::make_shared<bool>(false);
  return [&target, &cache, &done, pinged, keep_files](const std::string& key,
                                                      std::uint64_t bytes) -> std::unique_ptr<LayerStream> {
    if (bytes < k_stream_min) return nullptr;
    if (!*pinged) {
      try {
        target.ping(); // fails early, before the layer is built, when the registry cannot be used
      } catch (const Error& e) {
        throw e.with_context("cannot push " + quote(target.ref().str()));
      }
      *pinged = true;
    }
    if (auto known = cache.get(key); known && target.has_blob(*known)) return nullptr; // the push skips it
    try {
      return std::make_unique<PushStream>(target, done, keep_files, key);
    } catch (const Error& e) {
      target.log().debug(1, std::string("cannot stream the layer: ") + e.what());
      return nullptr;
    }
  };
}

PackagePushResult push_package(Registry& target, const PackageResult& r, const std::string& output,
                               const std::string& target_text, PackagePushSources from) {
  Layout layout = Layout::open(parse_layout_ref(output).path);
  const ImageRef& ref = target.ref();
  std::string reference = ref.tag.empty() ? r.manifest.digest : ref.tag;
  PushSources sources;
  sources.jobs = from.jobs;
  sources.done = std::move(from.done);
  if (from.same_registry && from.base) {
    sources.mount_from = from.base->ref().repository;
    for (const auto& l : r.layers)
      if (l.from_base) sources.base_blobs.insert(l.digest);
  }
  if (from.base) {
    Registry* base = from.base;
    sources.fetch = [&layout, base](const std::string& digest, std::uint64_t size) {
      auto tmp = layout.tmp_dir() / (".fetch-" + digest.substr(7, 16));
      base->download_blob(digest, size, tmp);
      layout.adopt_blob(tmp, digest);
    };
  }
  PackagePushResult result;
  try {
    result.stats = push_image(target, layout, r.manifest, reference, sources);
  } catch (const Error& e) {
    throw e.with_context("cannot push " + quote(target_text));
  }
  const PushStats& st = result.stats;
  target.log().debug(1, "uploaded " + human_bytes(st.uploaded) + " in " + std::to_string(st.blobs_uploaded) +
                            " blobs, mounted " + human_bytes(st.mounted) + ", skipped " + human_bytes(st.skipped) +
                            " already there");
  result.reference = ref;
  result.reference.digest = r.manifest.digest;
  return result;
}

} // namespace mlops::oci
