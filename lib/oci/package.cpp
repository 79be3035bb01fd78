#include "oci/package.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/regex.hpp"
#include "core/yaml_reader.hpp"
#include "model/lock.hpp"
#include "model/mlmodel.hpp"
#include "render/render.hpp"
#include "render/template.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <regex>
#include <stdio.h>
#include <sys/stat.h>

namespace mlops::oci {

using nlohmann::json;

namespace {

std::string rfc3339(std::int64_t seconds) { return model::iso8601_utc_ms(seconds * 1000); }

/// The time every entry and "created" field carries: SOURCE_DATE_EPOCH,
/// else the model version's creation time from the lock, else the epoch.
std::int64_t pinned_time(const PackageOptions& o, const std::optional<model::LockFile>& lock) {
  if (o.source_date_epoch) return *o.source_date_epoch;
  if (lock && lock->creation_timestamp > 0) return lock->creation_timestamp / 1000;
  return 0;
}

std::map<std::string, std::string> provenance(const PackageOptions& o, const std::optional<model::LockFile>& lock,
                                              const model::MlModel& m, std::int64_t when) {
  std::map<std::string, std::string> a;
  a["org.opencontainers.image.created"] = rfc3339(when);
  if (lock) {
    a["org.opencontainers.image.title"] = lock->name;
    a["org.opencontainers.image.version"] = lock->version;
    a["org.opencontainers.image.source"] =
        lock->tracking_uri + "/#/models/" + lock->name + "/versions/" + lock->version;
    a["io.mlflow.model.name"] = lock->name;
    a["io.mlflow.model.version"] = lock->version;
    if (!lock->run_id.empty()) a["io.mlflow.model.run_id"] = lock->run_id;
    if (!lock->source.empty()) a["io.mlflow.model.source"] = lock->source;
    a["io.mlops.lock.digest"] = lock->digest;
  }
  if (!m.model_uuid.empty()) a["io.mlflow.model.uuid"] = m.model_uuid;
  if (!m.run_id.empty() && !a.count("io.mlflow.model.run_id")) a["io.mlflow.model.run_id"] = m.run_id;
  if (!o.tool.empty()) a["io.mlops.tool"] = o.tool;
  return a;
}

/// The base image's manifest and config, from an OCI layout or a registry.
struct Base {
  std::optional<Layout> layout;
  Registry* registry = nullptr;
  Descriptor manifest_desc;
  json manifest;
  json config;
  std::string name;
};

/// The GOARCH name of the machine mlops runs on.
std::string host_architecture() {
#if defined(__aarch64__)
  return "arm64";
#else
  return "amd64";
#endif
}

bool is_index_type(const std::string& media_type) {
  return media_type == k_index_type || media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// The manifest an index lists for linux and the host architecture, else linux/amd64.
std::string pick_platform(const json& index, const std::string& name) {
  if (!index.contains("manifests") || !index["manifests"].is_array()) {
    throw Error(ErrorKind::operational, "base " + quote(name) + " is an image index without a list of manifests");
  }
  for (const std::string& arch : {host_architecture(), std::string("amd64")}) {
    for (const auto& m : index["manifests"]) {
      Descriptor d = Descriptor::from_json(m); // an object with a well-formed digest, or an error
      const json& p = d.platform;
      if (p.is_object() && p.value("os", json()) == "linux" && p.value("architecture", json()) == arch) return d.digest;
    }
  }
  throw Error(ErrorKind::not_found,
              "base " + quote(name) + " has no linux/" + host_architecture() + " or linux/amd64 image");
}

/// Checks that a base's manifest is an image manifest: a config descriptor
/// and a list of layer descriptors (digests well formed, sizes bounded).
void check_image_manifest(const json& m, const std::string& name, const std::string& media_type) {
  if (!m.is_object() || !m.contains("config") || !m.contains("layers") || !m["layers"].is_array()) {
    throw Error(ErrorKind::operational, "base " + quote(name) + " is not an image manifest (" + media_type + ")");
  }
  try {
    Descriptor::from_json(m["config"]);
    for (const auto& l : m["layers"])
      Descriptor::from_json(l);
  } catch (const Error& e) {
    throw e.with_context("base " + quote(name));
  }
}

Base read_registry_base(const std::string& ref_text, Registry& reg) {
  Base b;
  b.name = ref_text;
  b.registry = &reg;
  reg.ping();
  const ImageRef& ref = reg.ref();
  RemoteManifest m = reg.get_manifest(ref.digest.empty() ? ref.tag : ref.digest);
  if (is_index_type(m.media_type)) m = reg.get_manifest(pick_platform(m.json, ref_text));
  b.manifest_desc.media_type = m.media_type;
  b.manifest_desc.digest = m.digest;
  b.manifest_desc.size = m.bytes.size();
  b.manifest = m.json;
  check_image_manifest(b.manifest, ref_text, m.media_type);
  Descriptor config = Descriptor::from_json(b.manifest["config"]);
  b.config = parse_json(reg.get_blob(config.digest, config.size), "the config of base " + quote(ref_text),
                        ErrorKind::operational, limits::k_max_manifest_bytes);
  return b;
}

Base read_base(const PackageOptions& o) {
  if (o.base.rfind("oci:", 0) != 0) {
    if (!o.base_registry)
      throw Error(ErrorKind::usage,
                  "base " + quote(o.base) + " names a registry image but no registry client was given");
    return read_registry_base(o.base, *o.base_registry);
  }
  LayoutRef r = parse_layout_ref(o.base);
  Base b;
  b.name = o.base;
  b.layout = Layout::open(r.path);
  b.manifest_desc = b.layout->resolve(r.tag);
  b.manifest = b.layout->read_json_blob(b.manifest_desc);
  check_image_manifest(b.manifest, o.base, b.manifest_desc.media_type);
  b.config = b.layout->read_json_blob(Descriptor::from_json(b.manifest["config"]));
  return b;
}

/// The OCI media type of a Docker schema 2 layer (the same bytes).
std::string oci_layer_type(const std::string& media_type) {
  if (media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip")
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (media_type == "application/vnd.docker.image.rootfs.diff.tar") return "application/vnd.oci.image.layer.v1.tar";
  return media_type;
}

/// Puts a base layer into `out`: linked from a base layout, or downloaded
/// (streamed, size and digest checked) from the base's registry.
void copy_base_layer(const Base& base, Layout& out, const Descriptor& layer, bool fetch) {
  if (base.layout) return out.copy_blob_from(*base.layout, layer.digest, layer.size);
  if (!fetch || out.has_blob(layer.digest)) return;
  auto tmp = out.tmp_dir() / (".base-" + layer.digest.substr(7, 16));
  base.registry->download_blob(layer.digest, layer.size, tmp);
  out.adopt_blob(tmp, layer.digest);
}

std::string stripped(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.front() == '/')
    p.erase(0, 1);
  while (!p.empty() && p.back() == '/')
    p.pop_back();
  return p;
}

std::string mlserver_settings(const PackageOptions& o, const std::string& name, const std::string& model_path) {
  // Rendered from the template into the layer, so the image itself needs no
  // templates; every value is a quoted scalar, and the result must be JSON.
  const char* path = "package/model-settings.json.mustache";
  json ctx = {{"name", name.empty() ? "model" : name}, {"implementation", o.implementation}, {"uri", model_path}};
  std::string text = render::render_template(render::load_template(o.templates, path), ctx, path);
  if (!json::accept(text)) throw Error(ErrorKind::usage, "template " + quote(path) + " did not render JSON");
  return text;
}

/// Docker's `docker save` form plus an OCI layout in one tar (as Docker 25+
/// writes): manifest.json for `docker load`, index.json for OCI readers.
void write_docker_archive(const Layout& layout, const Descriptor& manifest_desc, const std::filesystem::path& file,
                          const std::string& repo_tag, std::int64_t when) {
  json manifest = layout.read_json_blob(manifest_desc);
  auto blob_name = [](const std::string& digest) { return "blobs/sha256/" + digest.substr(7); };
  json layers = json::array();
  for (const auto& l : manifest.at("layers"))
    layers.push_back(blob_name(l.at("digest")));
  json docker = json::array({{{"Config", blob_name(manifest.at("config").at("digest"))},
                              {"RepoTags", json::array({repo_tag})},
                              {"Layers", layers}}});
  auto stage = layout.dir().parent_path() / (layout.dir().filename().string() + ".stage");
  fs::remove_tree_quietly(stage);
  fs::TreeGuard cleanup(stage);
  std::filesystem::create_directories(stage / "blobs" / "sha256");
  auto link_blob = [&](const std::string& digest) {
    auto dst = stage / blob_name(digest);
    if (std::filesystem::exists(dst)) return;
    std::error_code ec;
    std::filesystem::create_hard_link(layout.blob_path(digest), dst, ec);
    if (ec) std::filesystem::copy_file(layout.blob_path(digest), dst);
  };
  link_blob(manifest_desc.digest);
  link_blob(manifest.at("config").at("digest"));
  for (const auto& l : manifest.at("layers"))
    link_blob(l.at("digest"));
  fs::atomic_write(stage / "manifest.json", docker.dump());
  fs::atomic_write(stage / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  Descriptor d = manifest_desc;
  d.annotations["io.containerd.image.name"] = repo_tag;
  d.annotations["org.opencontainers.image.ref.name"] = repo_tag.substr(repo_tag.rfind(':') + 1);
  fs::atomic_write(
      stage / "index.json",
      json{{"schemaVersion", 2}, {"mediaType", k_index_type}, {"manifests", json::array({d.to_json()})}}.dump());
  // The tar is written in a directory of a fixed name beside the archive (same file system,
  // so the rename is atomic): a run killed here leaves it, and the next run clears it.
  auto abs_file = std::filesystem::absolute(file);
  auto scratch = abs_file.parent_path() / ("." + abs_file.filename().string() + ".mlops-tmp");
  fs::remove_tree_quietly(scratch);
  std::filesystem::create_directories(scratch);
  fs::TreeGuard scratch_cleanup(scratch);
  Layer tar = write_layer(entries_for_tree(stage, ""), Compression::none, when, scratch);
  ::chmod(tar.file.c_str(), 0644);
  if (::rename(tar.file.c_str(), file.c_str()) != 0) {
    int err = errno;
    std::error_code ec;
    std::filesystem::remove(tar.file, ec);
    throw Error(ErrorKind::io, "cannot write " + quote(file.string()) + ": " + std::strerror(err));
  }
}

/// LayerInfo::key: what decides a new layer's bytes, as git's index judges
/// a file unchanged by its stat data. Also returns the files' total size.
std::pair<std::string, std::uint64_t> layer_key(const std::vector<LayerEntry>& entries, Compression c,
                                                std::int64_t when) {
  Sha256 h;
  std::uint64_t bytes = 0;
  h.update("mlops-layer-key-1\n" + std::to_string(static_cast<int>(c)) + " " + std::to_string(when) + "\n");
  for (const auto& e : entries) {
    std::string line = std::to_string(static_cast<int>(e.type)) + " " + e.path + " " + e.link_target + " " +
                       (e.executable ? "x" : "-");
    struct stat st {};
    if (e.type == LayerEntry::Type::file && ::stat(e.source.c_str(), &st) == 0) {
      bytes += static_cast<std::uint64_t>(st.st_size);
      line += " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ctim.tv_sec) + "." +
              std::to_string(st.st_ctim.tv_nsec) + " " + std::to_string(st.st_ino) + " " + std::to_string(st.st_dev);
    }
    h.update(line + "\n");
  }
  return {h.hex_digest(), bytes};
}

} // namespace

Format parse_format(const std::string& text) {
  if (text == "image") return Format::image;
  if (text == "modelcar") return Format::modelcar;
  if (text == "artifact") return Format::artifact;
  throw Error(ErrorKind::usage, "unknown format " + quote(text), "use image, modelcar or artifact");
}

PackageResult package(const PackageOptions& o, LogSink& log) {
  fs::check_tree(o.source); // validate's rule, before anything is read: UTF-8 names, links that stay inside
  model::MlModel mlmodel = model::MlModel::load(o.source); // a model directory or an error
  std::optional<model::LockFile> lock = model::LockFile::load(o.source);
  if (lock) {
    auto check = model::verify_dir(o.source, *lock);
    if (!check.ok()) {
      throw Error(ErrorKind::gate_failed, quote(o.source.string()) + " no longer matches its lock file",
                  "run 'mlops pull --verify " + o.source.string() + "' to see which files changed");
    }
  }
  std::int64_t when = pinned_time(o, lock);
  // docker-archive:FILE[:REPO:TAG] is built as a temporary layout first.
  std::optional<std::filesystem::path> archive;
  std::string archive_tag;
  LayoutRef out_ref;
  if (o.output.rfind("docker-archive:", 0) == 0) {
    std::string rest = o.output.substr(15);
    auto colon = rest.find(':');
    archive = rest.substr(0, colon);
    if (colon != std::string::npos) archive_tag = rest.substr(colon + 1);
    if (archive->empty())
      throw Error(ErrorKind::usage, "invalid output " + quote(o.output), "use docker-archive:FILE[:REPO:TAG]");
    auto abs = std::filesystem::absolute(*archive);
    out_ref.path = abs.parent_path() / ("." + abs.filename().string() + ".layout");
    fs::remove_tree_quietly(out_ref.path);
    out_ref.tag = "latest";
  } else {
    out_ref = parse_layout_ref(o.output);
  }
  // A new layout is built beside its destination and renamed into place at
  // the end; an existing one gets its blobs first and index.json last.
  std::error_code ec;
  bool fresh = !std::filesystem::exists(out_ref.path, ec);
  std::filesystem::path work = out_ref.path;
  if (fresh) {
    auto abs = std::filesystem::absolute(out_ref.path).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();
    work = abs.parent_path() / ("." + abs.filename().string() + ".mlops-tmp");
    fs::remove_tree_quietly(work);
  }
  fs::TreeGuard cleanup(work, fresh);
  Layout out = Layout::open_or_create(work);
  std::optional<Base> base;
  if (o.format != Format::artifact) {
    if (o.base.empty()) throw Error(ErrorKind::usage, "--format image and modelcar need --base");
    base = read_base(o);
  }

  PackageResult result;
  json layers = json::array();
  json diff_ids = json::array();
  if (base) {
    for (json l : base->manifest["layers"]) {
      Descriptor d = Descriptor::from_json(l); // checked by read_base
      copy_base_layer(*base, out, d, o.fetch_base_layers);
      l["mediaType"] = oci_layer_type(d.media_type);
      layers.push_back(l);
      result.layers.push_back({d.digest, "", l["mediaType"], d.size, true, ""});
    }
    diff_ids = base->config.value("rootfs", json::object()).value("diff_ids", json::array());
  }

  std::vector<std::pair<std::vector<LayerEntry>, std::string>> new_layers;
  std::vector<std::string> skip = {model::LockFile::k_file_name};
  switch (o.format) {
  case Format::artifact:
    new_layers.push_back({entries_for_tree(o.source, "", skip), "model files"});
    break;
  case Format::modelcar:
    new_layers.push_back({entries_for_tree(o.source, "models", skip), "model files under /models"});
    break;
  case Format::image: {
    std::string at = stripped(o.model_path);
    if (at.empty()) throw Error(ErrorKind::usage, "--model-path must not be '/'");
    new_layers.push_back({entries_for_tree(o.source, at, skip), "model files under /" + at});
    break;
  }
  }

  std::filesystem::path settings_dir;
  if (o.format == Format::image) {
    // A second, small layer: MLServer's model-settings.json beside the model.
    std::string at = stripped(o.model_path);
    settings_dir = out.tmp_dir() / ".settings";
    fs::remove_tree_quietly(settings_dir);
    std::filesystem::create_directories(settings_dir);
    fs::atomic_write(settings_dir / "model-settings.json", mlserver_settings(o, lock ? lock->name : "", "/" + at));
    std::vector<LayerEntry> entries;
    for (auto& e : entries_for_tree(settings_dir, at))
      entries.push_back(e);
    new_layers.push_back({entries, "MLServer model-settings.json"});
  }

  for (auto& [entries, what] : new_layers) {
    log.debug(1, "writing layer: " + what + " (" + std::to_string(entries.size()) + " entries)");
    auto [key, file_bytes] = layer_key(entries, o.compression, when);
    std::unique_ptr<LayerStream> stream = o.stream_layer ? o.stream_layer(key, file_bytes) : nullptr;
    // The stream as a ByteSink: written from the layer's writer thread, one
    // thread at a time; the stream's own finish() comes after the layer.
    struct StreamSink final : ByteSink {
      LayerStream& stream;
      explicit StreamSink(LayerStream& s) : stream(s) {}
      void write(const void* data, std::size_t n) override { stream.write(static_cast<const char*>(data), n); }
    };
    std::optional<StreamSink> to_stream;
    if (stream) to_stream.emplace(*stream);
    bool to_file = !stream || stream->needs_file();
    Layer layer = to_file ? write_layer(entries, o.compression, when, out.tmp_dir(), to_stream ? &*to_stream : nullptr)
                          : write_layer(entries, o.compression, when, *to_stream);
    if (stream && !stream->finish(layer) && !to_file) {
      log.debug(1, "building the layer again, into a file"); // the same bytes: layers are reproducible
      std::string streamed = layer.digest;
      layer = write_layer(entries, o.compression, when, out.tmp_dir());
      if (layer.digest != streamed)
        throw Error(ErrorKind::operational, "the model files changed while they were being packaged");
    }
    if (layer.file.empty()) {
      // Only in the registry (streamed); the layout that feeds the push lacks it.
    } else if (out.has_blob(layer.digest)) {
      std::filesystem::remove(layer.file, ec);
    } else {
      out.adopt_blob(layer.file, layer.digest);
    }
    json d = {{"mediaType", layer.media_type}, {"digest", layer.digest}, {"size", layer.size}};
    d["annotations"] = {{"org.opencontainers.image.title", what}};
    layers.push_back(d);
    diff_ids.push_back(layer.diff_id);
    result.layers.push_back({layer.digest, layer.diff_id, layer.media_type, layer.size, false, key});
  }
  if (!settings_dir.empty()) fs::remove_tree_quietly(settings_dir);

  auto annotations = provenance(o, lock, mlmodel, when);
  Descriptor config_desc;
  json manifest = {{"schemaVersion", 2}, {"mediaType", k_manifest_type}};
  if (o.format == Format::artifact) {
    config_desc = out.put_blob("{}", k_empty_type);
    manifest["artifactType"] = k_artifact_type;
    manifest["config"] = {{"mediaType", k_empty_type}, {"digest", config_desc.digest}, {"size", 2}, {"data", "e30="}};
  } else {
    json config = base->config;
    config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
    config["created"] = rfc3339(when);
    json& history = config["history"];
    if (!history.is_array()) history = json::array();
    for (const auto& [entries, what] : new_layers) {
      history.push_back({{"created", rfc3339(when)}, {"created_by", "mlops package"}, {"comment", what}});
    }
    json& labels = config["config"]["Labels"];
    if (!labels.is_object()) labels = json::object();
    for (const auto& [k, v] : o.labels)
      labels[k] = v;
    for (const auto& [k, v] : annotations)
      labels[k] = v;
    // Env: the base's, with ours added or replacing the same name, in order.
    if (!o.env.empty()) {
      json& env = config["config"]["Env"];
      if (!env.is_array()) env = json::array();
      for (const auto& [k, v] : o.env) {
        std::string entry = k + "=" + v;
        bool replaced = false;
        for (auto& e : env)
          if (e.is_string() && e.get<std::string>().rfind(k + "=", 0) == 0) {
            e = entry;
            replaced = true;
          }
        if (!replaced) env.push_back(entry);
      }
    }
    if (o.entrypoint) config["config"]["Entrypoint"] = *o.entrypoint;
    if (o.cmd) config["config"]["Cmd"] = *o.cmd;
    annotations["org.opencontainers.image.base.name"] = base->name;
    annotations["org.opencontainers.image.base.digest"] = base->manifest_desc.digest;
    config_desc = out.put_blob(config.dump(), k_config_type);
    manifest["config"] = config_desc.to_json();
  }
  manifest["layers"] = layers;
  manifest["annotations"] = annotations;
  result.manifest = out.put_blob(manifest.dump(), k_manifest_type);
  result.manifest.artifact_type = o.format == Format::artifact ? k_artifact_type : "";
  result.config_digest = config_desc.digest;

  std::vector<std::string> tags = o.tags;
  if (!out_ref.tag.empty()) tags.insert(tags.begin(), out_ref.tag);
  if (tags.empty()) tags.push_back("latest");
  if (archive) {
    tags = {"latest"};
    if (archive_tag.empty()) {
      archive_tag =
          (lock ? lock->name : std::string("model")) + ":" + (lock ? "v" + lock->version : std::string("latest"));
    }
  }
  for (const auto& t : tags) {
    out.tag(result.manifest, t);
    if (!archive) result.references.push_back("oci:" + out_ref.path.string() + ":" + t);
  }
  fs::remove_tree_quietly(out.tmp_dir());
  if (archive) {
    write_docker_archive(out, result.manifest, *archive, archive_tag, when);
    result.references.push_back("docker-archive:" + archive->string() + ":" + archive_tag);
    return result; // the temporary layout goes with `cleanup`
  }
  if (fresh) {
    if (::rename(work.c_str(), out_ref.path.c_str()) != 0) {
      throw Error(ErrorKind::io, "cannot create " + quote(out_ref.path.string()) + ": " + std::strerror(errno));
    }
    cleanup.release();
  }
  return result;
}

PackageConfig parse_package_config(const std::string& yaml_text, const std::string& file) {
  PackageConfig c;
  YamlReader r{"config", file};
  YAML::Node root = r.load(yaml_text);
  if (!root.IsMap() || !root["package"]) return c;
  const YAML::Node n = root["package"];
  r.keys(n, "package",
         {"format", "compression", "model_path", "implementation", "env", "entrypoint", "cmd", "labels", "base"});
  if (n.IsNull()) return c;
  auto mapping = [&](const YAML::Node& m, const std::string& key, bool env_names) {
    std::map<std::string, std::string> out;
    if (!m.IsMap()) r.fail(m, key, "expected a mapping of name to string");
    static const std::regex k_env("^[A-Za-z_][A-Za-z0-9_]*$");
    for (const auto& kv : m) {
      std::string k = kv.first.Scalar();
      if (env_names && !bounded_regex_match(k, k_env))
        r.fail(kv.first, key + "." + k, "not an environment variable name");
      if (k.empty()) r.fail(kv.first, key, "empty name");
      out[k] = r.string(kv.second, key + "." + k);
    }
    return out;
  };
  if (n["format"]) c.format = r.nonempty(n["format"], "package.format");
  if (n["compression"]) c.compression = r.nonempty(n["compression"], "package.compression");
  if (n["base"]) {
    c.base = r.nonempty(n["base"], "package.base");
    try {
      if (c.base->rfind("oci:", 0) != 0) parse_image_ref(*c.base);
    } catch (const Error& e) {
      r.fail(n["base"], "package.base", std::string(e.what()) + " (oci:PATH[:TAG] or HOST[:PORT]/REPO[:TAG|@DIGEST])");
    }
  }
  if (n["model_path"]) {
    c.model_path = r.nonempty(n["model_path"], "package.model_path");
    if ((*c.model_path)[0] != '/') r.fail(n["model_path"], "package.model_path", "must be absolute (start with '/')");
  }
  if (n["implementation"]) c.implementation = r.nonempty(n["implementation"], "package.implementation");
  if (n["env"]) c.env = mapping(n["env"], "package.env", true);
  if (n["labels"]) c.labels = mapping(n["labels"], "package.labels", false);
  if (n["entrypoint"]) c.entrypoint = r.strings(n["entrypoint"], "package.entrypoint");
  if (n["cmd"]) c.cmd = r.strings(n["cmd"], "package.cmd");
  return c;
}

PackageConfig load_package_config(const std::filesystem::path& project_file) {
  PackageConfig c = parse_package_config(fs::read_file(project_file), project_file.string());
  // A layout base is written relative to the file, as a user reads it.
  if (c.base && c.base->rfind("oci:", 0) == 0 && c.base->size() > 4 && (*c.base)[4] != '/')
    c.base = "oci:" + (std::filesystem::absolute(project_file).parent_path() / c.base->substr(4)).string();
  return c;
}

} // namespace mlops::oci
