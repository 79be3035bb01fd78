#include "release/init.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"
#include "release/project.hpp"
#include "render/spec.hpp"
#include "render/target.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <unistd.h>

namespace mlops::release {

namespace {

/// A YAML double-quoted scalar (JSON's string syntax is one).
std::string yaml_quote(const std::string& s) { return nlohmann::json(s).dump(); }

/// "HOST[:PORT]" gets "/models/NAME"; a value with a repository stays.
std::string registry_repo(const std::string& registry, const std::string& name) {
  if (registry.empty() || registry.find('/') != std::string::npos) return registry;
  return registry + "/models/" + name;
}

/// One line, or the same line commented out when `value` is empty.
std::string line_or_example(const std::string& indent, const std::string& key, const std::string& value,
                            const std::string& example, const std::string& comment = {}) {
  std::string c = comment.empty() ? "" : "  # " + comment;
  if (value.empty()) return indent + "# " + key + ": " + example + c + "\n";
  return indent + key + ": " + yaml_quote(value) + c + "\n";
}

} // namespace

std::string init_text(const InitOptions& opts, const std::filesystem::path& dir) {
  std::string name = opts.name.empty() ? render::dns_label(dir.filename().string()) : opts.name;
  if (name.empty()) name = "model";
  std::string target = opts.target.empty() ? "kserve" : opts.target;
  auto known = render::known_targets();
  if (std::find(known.begin(), known.end(), target) == known.end())
    throw Error(ErrorKind::usage, "invalid --target " + quote(target), "use " + join(known, ", "));
  // KServe loads a modelcar from oci:// storage; the other targets run an MLServer serving image.
  bool modelcar = target == "kserve";
  std::string registry = registry_repo(opts.registry, name);
  std::ostringstream y;
  y << "# mlops.yaml: the project file of mlops, written by 'mlops init'. 'man 5 mlops.yaml' explains\n"
       "# every key; flags and environment variables (MLFLOW_TRACKING_URI, ...) beat what is written here.\n"
       "# Check it with 'mlops doctor', ship a version with 'mlops release models:/"
    << name << "@champion --env staging'.\n"
    << "version: 1\n\n";
  y << "# The MLflow tracking server. Credentials never go here: MLFLOW_TRACKING_USERNAME and\n"
       "# MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN.\n";
  if (opts.tracking_uri.empty())
    y << "# mlflow:\n#   tracking_uri: http://127.0.0.1:5000\n\n";
  else
    y << "mlflow:\n  tracking_uri: " << yaml_quote(opts.tracking_uri) << "\n\n";
  y << "# What 'mlops validate' (and the validate step of 'mlops release') checks.\n"
       "gates:\n"
       "  interface: {flavors: [python_function], require_signature: true}\n"
       "  environment: {require_pinned: true}\n"
       "  # metrics:\n"
       "  #   thresholds: [\"accuracy >= 0.9\"]\n"
       "  #   compare: [{metric: accuracy, against: \"@prod\", tolerance: 0.01}]\n\n";
  y << "# How 'mlops package' and 'mlops release' build the image (no Docker daemon needed).\n"
       "package:\n"
    << "  format: "
    << (modelcar ? "modelcar  # the model files under /models, for KServe's oci:// storage"
                 : "image  # the model on an MLServer serving image")
    << "\n"
    << line_or_example("  ", "base", opts.base,
                       modelcar ? "docker.io/library/busybox:1.36" : "docker.io/seldonio/mlserver:1.7.1",
                       modelcar ? "a modelcar base needs sh, ln and sleep" : "MLServer with mlserver-mlflow")
    << "\n";
  y << "# What 'mlops render' writes for Kubernetes. 'mlops release' fills in the image it pushed\n"
       "# (pinned by digest); environments here override the namespace, replicas, resources, traffic.\n"
       "deploy:\n"
    << "  name: " << yaml_quote(name) << "\n"
    << "  target: " << target << "  # " << join(known, ", ") << "\n"
    << "  namespace: models\n"
       "  environments:\n"
       "    staging: {namespace: models-staging}\n"
       "    prod: {namespace: models-prod, replicas: 2}\n\n";
  y << "# The GitOps repository promotions commit the manifests to (Argo CD or Flux apply them).\n"
       "# Git credentials: MLOPS_GIT_USERNAME/MLOPS_GIT_PASSWORD, MLOPS_GIT_TOKEN or ~/.git-credentials.\n";
  if (opts.gitops.empty())
    y << "# gitops:\n#   url: https://git.example/platform/manifests.git\n#   branch: main\n"
         "#   path: clusters/{env}/{model}\n\n";
  else
    y << "gitops:\n  url: " << yaml_quote(opts.gitops) << "\n  branch: main\n  path: clusters/{env}/{model}\n\n";
  y << "# Who may ship where: 'mlops promote' and 'mlops release' check these policies; registry is\n"
       "# where 'mlops release' pushes the image (tagged vVERSION).\n"
       "environments:\n";
  for (const char* env : {"staging", "prod"}) {
    y << "  " << env << ":\n" << line_or_example("    ", "registry", registry, "registry.example/models/" + name);
    if (std::string(env) == "staging")
      y << "    requires: {validation: true}\n";
    else
      y << "    requires: {validation: true, approvals: 1, previous: staging, image: true}\n";
  }
  return y.str();
}

void write_init(const std::filesystem::path& file, const InitOptions& opts, bool force) {
  std::error_code ec;
  if (!force && std::filesystem::exists(file, ec))
    throw Error(ErrorKind::conflict, "cannot write " + quote(file.string()) + ": it exists",
                "'mlops init --force' replaces it; 'mlops doctor' checks the one there");
  std::filesystem::path dir = std::filesystem::absolute(file).parent_path();
  std::string text = init_text(opts, dir);
  // Written beside the file, read back by every loader, then moved into place.
  std::filesystem::path tmp = dir / ("." + file.filename().string() + ".init-" + std::to_string(::getpid()));
  std::filesystem::remove(tmp, ec);
  fs::write_new_file(tmp, text);
  try {
    try {
      load_project(tmp);
    } catch (const Error& e) {
      // Said of the file the user asked for, not of the temporary one.
      std::string msg = e.what();
      for (auto at = msg.find(tmp.string()); at != std::string::npos; at = msg.find(tmp.string()))
        msg.replace(at, tmp.string().size(), file.string());
      throw Error(e.kind(), msg, e.hint());
    }
    if (force) {
      std::filesystem::rename(tmp, file);
    } else if (::link(tmp.c_str(), file.c_str()) != 0) {
      int err = errno;
      throw Error(err == EEXIST ? ErrorKind::conflict : ErrorKind::io,
                  "cannot write " + quote(file.string()) + ": " + (err == EEXIST ? "it exists" : std::strerror(err)),
                  err == EEXIST ? "'mlops init --force' replaces it" : "");
    }
  } catch (...) {
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::filesystem::remove(tmp, ec);
  fs::sync_directory(dir);
}

} // namespace mlops::release
