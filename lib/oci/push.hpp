#pragma once

#include "oci/package.hpp"
#include "oci/registry.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace mlops::oci {

/// Which layer digest a LayerInfo::key gave last time (DIR/KEY), so a push
/// can tell before building a layer whether the registry has it already
/// (then it is not streamed). An empty directory disables the cache.
class LayerDigestCache {
public:
  explicit LayerDigestCache(std::filesystem::path dir) : m_dir(std::move(dir)) {}
  /// The digest recorded for `key`, or nothing when none (or a malformed one) is.
  std::optional<std::string> get(const std::string& key) const;
  /// Best effort: a cache that cannot be written only costs speed; never throws.
  void put(const std::string& key, const std::string& digest) const;

private:
  std::filesystem::path m_dir;
};

/// A factory for PackageOptions::stream_layer: layers of at least 32 MiB of
/// files go up to `target` while they are built (recorded in `done`), unless
/// `cache` says the registry has them already. `keep_files`: the layers are
/// wanted locally too (an --output), not only in the registry. The first
/// stream pings `target` and throws its error with context. `target`, `cache`
/// and `done` must outlive the factory.
LayerStreamFactory push_stream_factory(Registry& target, const LayerDigestCache& cache,
                                       std::map<std::string, BlobOutcome>& done, bool keep_files);

/// Where a pushed package's blobs come from besides its layout.
struct PackagePushSources {
  Registry* base = nullptr;   ///< the registry base, when the base is one: blobs the layout lacks are fetched from it
  bool same_registry = false; ///< the base lives on the push target: its layers are mounted
  int jobs = 4;               ///< blobs pushed at once
  std::map<std::string, BlobOutcome> done; ///< blobs already uploaded (streamed while built)
};

/// What a push did, and the pushed reference pinned to the manifest digest.
struct PackagePushResult {
  ImageRef reference;
  PushStats stats;
};

/// Pushes the image `r` written to the OCI layout `output` (oci:PATH[:TAG])
/// to `target`, under its tag or else the manifest digest. Errors are thrown
/// with the context "cannot push 'TARGET_TEXT'".
PackagePushResult push_package(Registry& target, const PackageResult& r, const std::string& output,
                               const std::string& target_text, PackagePushSources sources);

} // namespace mlops::oci
