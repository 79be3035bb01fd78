#pragma once

#include "gitops/git.hpp"
#include "gitops/promotion.hpp"
#include "mlflow/client.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlops::gitops {

/// What the workflow asks of the model registry: versions, aliases and
/// version tags. MlflowRegistry is the real one; tests use a fake. Throws
/// Error as mlflow::Client does (auth with Cause::permission_denied for a
/// refused write, not_found, unavailable).
class Registry {
public:
  virtual ~Registry() = default;
  virtual mlflow::RegisteredModel get_registered_model(const std::string& name) = 0;
  virtual mlflow::ModelVersion get_model_version(const std::string& name, const std::string& version) = 0;
  /// A version given as a number or @alias. Error(not_found) says whether
  /// the model or the version/alias is missing.
  virtual mlflow::ModelVersion resolve_version(const std::string& name, const std::string& version) = 0;
  virtual void set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                                     const std::string& value) = 0;
  virtual void set_alias(const std::string& name, const std::string& alias, const std::string& version) = 0;
};

/// The Registry of an MLflow tracking server; `client` must outlive it.
class MlflowRegistry final : public Registry {
public:
  explicit MlflowRegistry(mlflow::Client& client) : m_client(client) {}
  mlflow::RegisteredModel get_registered_model(const std::string& name) override;
  mlflow::ModelVersion get_model_version(const std::string& name, const std::string& version) override;
  /// mlflow::resolve_version, the one resolution pull uses too.
  mlflow::ModelVersion resolve_version(const std::string& name, const std::string& version) override;
  void set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                             const std::string& value) override;
  void set_alias(const std::string& name, const std::string& alias, const std::string& version) override;

private:
  mlflow::Client& m_client;
};

/// What an environment's signature policy found for an image: the check (named "signature")
/// and, when it passed, who signed ("key sha256:...").
struct ImageVerdict {
  Check check;
  std::string signer;
};

/// What promote, rollback, approve and history work with. The GitOps
/// repository is the deployed truth; the MLflow alias named after the
/// environment follows it, and tags on the versions record who did what.
struct Workflow {
  Registry& mlflow;
  RemoteBranch& remote;
  const PromotionConfig& config;
  /// Renders the manifests of the model for an environment with an image
  /// ("" = the deploy spec's own): file name -> contents.
  std::function<std::map<std::string, std::string>(const std::string& env, const std::string& image)> render;
  /// The lock digest of a version's files (pulls it when needed).
  std::function<std::string(const std::string& name, const std::string& version)> digest;
  /// The image the deploy spec names ("" = none): recorded when neither
  /// --image nor the version's mlops.image tag gives one.
  std::function<std::string()> default_image;
  /// Progress lines for the user (stderr), e.g. "pushed abc123".
  std::function<void(const std::string&)> note;
  /// Verifies the image's signature (and provenance) for a policy with requires.signature;
  /// a failed verification is a failed check, a missing image throws Error(not_found).
  std::function<ImageVerdict(const EnvPolicy& policy, const mlflow::ModelVersion& version, const std::string& image)>
      verify_image;
};

/// The result of promote or rollback.
struct Outcome {
  std::string action; ///< promote or rollback
  std::string model;
  std::string version; ///< the version the environment holds afterwards
  std::string env;
  std::string path;             ///< the directory in the repository
  std::string previous_version; ///< what the environment held before ("" = nothing)
  std::string image;
  std::vector<Check> checks;
  bool refused = false;     ///< a check failed; nothing was changed
  bool already = false;     ///< the environment already held the version in git
  bool committed = false;   ///< this run pushed a commit
  bool alias_moved = false; ///< this run moved the alias
  std::string commit;       ///< the commit that holds the environment now
  std::string diff;         ///< dry run: the manifest diff
};

struct PromoteRequest {
  std::string model;
  std::string version; ///< a number or @alias
  std::string env;
  std::string image;   ///< REF@sha256:..., or "" for the version's mlops.image tag
  std::string message; ///< recorded as the reason
  std::string actor;
  bool dry_run = false;
};

/// Promotes a version: checks the environment's policy, renders, commits and
/// pushes (retrying on a moved branch), then moves the alias and records
/// tags. Idempotent: a rerun completes a half-done promotion. Throws Error:
/// auth (needs EDIT; checked with a tag write before anything is pushed),
/// conflict (the branch kept moving), not_found, unavailable.
Outcome promote(Workflow& w, const PromoteRequest& req);

struct RollbackRequest {
  std::string model;
  std::string env;
  std::string to; ///< "" = the previous version (see rollback_target)
  std::string reason;
  std::string actor;
  bool dry_run = false;
};

/// Restores the manifests an earlier version had in the environment as a new
/// commit (never a history rewrite), moves the alias back and records tags.
/// Idempotent like promote: when the environment's last commit is a rollback
/// that the alias or the tags do not show yet, a rollback without `to`
/// completes that one (already = true) instead of going back further.
Outcome rollback(Workflow& w, const RollbackRequest& req);

/// Records an approval of a version for an environment as a version tag.
/// Throws Error(gate_failed) for a self-approval the policy refuses.
struct ApprovalResult {
  std::string model, version, env, actor, tag;
};
ApprovalResult approve(Registry& mlflow, const PromotionConfig& config, const std::string& model,
                       const std::string& version, const std::string& env, const std::string& actor,
                       const std::string& comment);

/// Every promotion and rollback of a model (of one environment when `env`
/// is set), newest first, with what MLflow says for each environment.
struct HistoryReport {
  std::vector<Record> records;
  std::map<std::string, std::string> git_current;   ///< env -> version the repository holds
  std::map<std::string, std::string> alias_current; ///< env -> version the alias points at ("" = unset)
  std::vector<std::string> mismatches;              ///< human sentences; empty when they agree
};
HistoryReport history(Workflow& w, const std::string& model, const std::string& env);

} // namespace mlops::gitops
