#pragma once

#include "core/log.hpp"
#include "oci/layer.hpp"
#include "oci/layout.hpp"
#include "oci/registry.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlops::oci {

/// What `mlops package` builds.
enum class Format { image, modelcar, artifact };

/// Parses "image", "modelcar" or "artifact"; Error(usage) otherwise.
Format parse_format(const std::string& text);

/// The artifactType of `--format artifact` manifests.
inline constexpr const char* k_artifact_type = "application/vnd.mlops.mlflow.model.v1";

/// Receives a new layer's stored bytes while the layer is built (a push
/// streams them to the registry), then the finished layer.
class LayerStream {
public:
  virtual ~LayerStream() = default;
  /// Bytes in order; may throw, which aborts the package.
  virtual void write(const char* data, std::size_t size) = 0;
  /// The layer is complete: its digest and size are known. True when the
  /// stream delivered it (e.g. the registry committed the blob).
  virtual bool finish(const Layer& layer) = 0;
  /// False when the layer's bytes are wanted only by this stream: no file is
  /// written then (the layer is built again into a file if finish() fails).
  virtual bool needs_file() const { return true; }
};

/// Asked before each new layer is built with the layer's identity (see
/// LayerInfo::key) and the bytes of its files; returns a stream or nullptr.
using LayerStreamFactory =
    std::function<std::unique_ptr<LayerStream>(const std::string& key, std::uint64_t file_bytes)>;

/// The `package:` section of mlops.yaml (flags beat it).
struct PackageConfig {
  std::optional<std::string> format, compression, model_path, implementation;
  /// The base image (--base): oci:PATH[:TAG] (a relative PATH is relative to the
  /// project file's directory) or HOST[:PORT]/REPO[:TAG|@DIGEST].
  std::optional<std::string> base;
  std::map<std::string, std::string> env;
  std::optional<std::vector<std::string>> entrypoint, cmd;
  std::map<std::string, std::string> labels;
};

/// Reads `package:` from a project file; empty when there is none. Throws
/// Error(usage) "invalid config 'FILE:LINE': key 'package.x': why".
PackageConfig load_package_config(const std::filesystem::path& project_file);
PackageConfig parse_package_config(const std::string& yaml_text, const std::string& file);

struct PackageOptions {
  std::filesystem::path source; ///< a model directory (with MLmodel)
  Format format = Format::modelcar;
  Compression compression = Compression::automatic;
  std::string base; ///< "oci:PATH[:TAG]" or a registry image; not for artifacts
  /// A client for the base's repository when `base` names a registry image.
  Registry* base_registry = nullptr;
  /// Whether a registry base's layers are downloaded into the output (false
  /// only when they will be mounted or skipped by a push to the same registry).
  bool fetch_base_layers = true;
  std::string output;                     ///< "oci:PATH[:TAG]"
  std::vector<std::string> tags;          ///< extra tags in the output layout
  std::string model_path = "/mnt/models"; ///< where `image` puts the model
  /// The runtime's settings file for `image` (MLServer's model-settings.json),
  /// rendered from templates/package/model-settings.json.mustache.
  std::string implementation = "mlserver_mlflow.MLflowRuntime";
  std::optional<std::filesystem::path> templates; ///< overrides of the built-in templates
  /// Image config for `image` and `modelcar`: variables added to the base's
  /// Env (replacing one of the same name), and Entrypoint/Cmd/Labels.
  std::map<std::string, std::string> env;
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::map<std::string, std::string> labels;
  std::optional<std::int64_t> source_date_epoch; ///< pins every time stamp
  std::string tool;                              ///< "mlops 0.1.0"
  LayerStreamFactory stream_layer;               ///< optional
};

/// One layer as the result reports it.
struct LayerInfo {
  std::string digest, diff_id, media_type;
  std::uint64_t size = 0;
  bool from_base = false;
  /// For new layers: a hash of what decides the layer's bytes (paths, types,
  /// sizes, modification times and inodes of the files, compression, time
  /// stamp), so a cache can know a layer's digest before building it again.
  std::string key;
};

struct PackageResult {
  Descriptor manifest;
  std::string config_digest;
  std::vector<LayerInfo> layers;
  std::vector<std::string> references; ///< "oci:PATH:TAG" written
};

/// Builds the image, modelcar or artifact into an OCI layout. The same model
/// files, base digest and options give the same manifest digest. Blobs are
/// written before index.json, which is replaced last.
PackageResult package(const PackageOptions& opts, LogSink& log);

} // namespace mlops::oci
