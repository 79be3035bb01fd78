#pragma once

#include "cli/context.hpp"
#include "gitops/git.hpp"
#include "gitops/promotion.hpp"
#include "gitops/workflow.hpp"

#include <memory>
#include <string>

namespace mlops::cli {

/// Who is acting: the MLflow user when credentials are set (the server's
/// identity wins; a different --actor is refused), else --actor, else
/// MLOPS_ACTOR or the CI's user variable, else $USER. Throws Error(usage).
std::string resolve_actor(Context& ctx, const std::string& actor_flag);

/// How to reach the GitOps repository of `config`: a relative path resolved
/// against the project file, credentials, the cache, TLS and retries.
gitops::RemoteOptions remote_options(Context& ctx, const gitops::GitopsConfig& config,
                                     const std::filesystem::path& project_file);

/// The promotion config, the GitOps remote and the workflow wired to the
/// render engine and the model cache, for promote, rollback and history.
class GitopsSession {
public:
  /// `need_remote`: fail with a usage error when gitops.url is not set.
  explicit GitopsSession(Context& ctx);
  gitops::PromotionConfig config;
  std::unique_ptr<gitops::MlflowRegistry> registry;
  std::unique_ptr<gitops::Remote> remote;
  std::unique_ptr<gitops::Workflow> workflow;
};

/// The promotion config of the project (empty when there is no mlops.yaml).
gitops::PromotionConfig load_promotion_config(Context& ctx);

/// The lines of a policy check list, for text output.
void print_checks(Context& ctx, const std::vector<gitops::Check>& checks);

/// An outcome as JSON (schemas/output.promote.schema.json).
nlohmann::ordered_json outcome_json(const gitops::Outcome& o);

} // namespace mlops::cli
