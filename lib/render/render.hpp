#pragma once

#include "render/spec.hpp"

#include <nlohmann/json.hpp>

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mlops::render {

/// One resource to render: which template, with what values.
struct Planned {
  std::string kind;      ///< Kubernetes kind, e.g. "Deployment"
  std::string name;      ///< metadata.name
  std::string tmpl;      ///< template path, e.g. "k8s/deployment.yaml.mustache"
  nlohmann::json values; ///< the template's context
};

/// The resources a resolved spec becomes on its target, in output order
/// (workload first, then traffic, then monitoring). Throws Error(usage)
/// naming the key path when a composed name would exceed 63 characters.
std::vector<Planned> plan(const Resolved& spec);

/// One rendered and validated resource.
struct Manifest {
  std::string kind;
  std::string name;
  std::string file; ///< "<kind>-<name>.yaml", lowercase
  std::string yaml; ///< one document, ending in a newline, without '---'
};

/// Options of render().
struct RenderOptions {
  std::optional<std::filesystem::path> templates; ///< user templates, each overriding the built-in one
  bool prod_digests = false;                      ///< require digests (set for environment 'prod')
};

/// Renders every planned resource, parses each back and validates it
/// (schemas/render/<kind>.schema.json plus the cross-field rules) before
/// returning. Throws Error(usage) for a template that produced invalid YAML
/// or a document that does not validate, naming the template and field.
std::vector<Manifest> render(const Resolved& spec, const RenderOptions& options);

/// The manifests as one multi-document YAML stream.
std::string stream(const std::vector<Manifest>& manifests);

/// A kustomization.yaml listing the manifests' files.
std::string kustomization(const Resolved& spec, const std::vector<Manifest>& manifests);

/// Writes one file per manifest plus kustomization.yaml into `dir`: first
/// into a temporary directory beside it, then renamed into place (an
/// existing `dir` is replaced whole). Nothing changes in `dir` on failure.
/// Throws Error(io).
void write_dir(const std::filesystem::path& dir, const Resolved& spec, const std::vector<Manifest>& manifests);

/// One model of a batch: its resolved spec and rendered manifests.
struct Rendered {
  Resolved spec;
  std::vector<Manifest> manifests;
};

/// The project files a batch list names: one path per line (a project file,
/// or a directory holding mlops.yaml), relative to the list's directory;
/// blank lines and lines starting with '#' are skipped. Throws
/// Error(not_found) for an unreadable list, Error(usage) for an empty one.
std::vector<std::filesystem::path> read_batch_list(const std::filesystem::path& list);

/// The projects a batch list's `text` names, relative to `base` (the list's directory);
/// `list` names it in errors. Throws Error(usage) when it names none. No file system access
/// beyond telling directories from files: the entry point a fuzz target calls.
std::vector<std::filesystem::path> parse_batch_list(const std::string& text, const std::filesystem::path& base,
                                                    const std::string& list);

/// What render_batch() made of a batch list.
struct Batch {
  std::vector<Rendered> models; ///< in list order; on failure, the models before the failing project
  std::exception_ptr error;     ///< the first project's failure in list order, or null
};

/// Loads, resolves (with `overrides`) and renders every project of a batch
/// on up to `threads` threads (0: one per core), each with `options` and
/// prod_digests for environment 'prod'. The result is in list order and the
/// same whatever the thread count; after a failure, later projects may be
/// skipped. Throws nothing a project causes: that is `error`.
Batch render_batch(const std::vector<std::filesystem::path>& projects, const Overrides& overrides,
                   const RenderOptions& options, unsigned threads = 0);

/// Writes every model of a batch into DIR/NAMESPACE/NAME/ (as write_dir) plus
/// a kustomization.yaml at the top listing those directories, all through one
/// temporary directory renamed into place. Throws Error(usage) when two
/// models share a namespace and name, Error(io) or Error(conflict) as write_dir.
void write_batch(const std::filesystem::path& dir, const std::vector<Rendered>& models);

/// The text of a template: from `user_dir` when it has the file, else built in.
/// Throws Error(not_found) when neither has it.
std::string load_template(const std::optional<std::filesystem::path>& user_dir, const std::string& path);

} // namespace mlops::render
