#pragma once

#include "gitops/git.hpp"
#include "mlflow/client.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlops::gitops {

/// Where an environment's Prometheus answers (`environments.ENV.prometheus`, for `mlops
/// feedback`). Credentials come from the environment only (MLOPS_PROMETHEUS_TOKEN,
/// MLOPS_PROMETHEUS_USERNAME/PASSWORD), never from the file.
struct PrometheusConfig {
  std::string url;              ///< http(s)://HOST:9090[/prefix]; "": not configured
  std::string ca_bundle;        ///< PEM bundle to verify it with
  std::string client_cert;      ///< PEM with client certificate and key (mTLS)
  bool insecure_tls = false;    ///< skip TLS verification
  std::string feedback_counter; ///< the model's counter of every feedback, e.g. m_total{method="feedback"}
};

/// What an environment requires before a version may be promoted into it
/// (`environments.ENV.requires` in mlops.yaml).
struct EnvPolicy {
  std::string name;
  bool validation = false;     ///< a passed `validate --record` of exactly this version's bytes
  int approvals = 0;           ///< approvals recorded with `mlops approve` for this environment
  std::string previous;        ///< an environment that must already have held this version
  bool image = false;          ///< an image pinned by digest (--image or the version's mlops.image tag)
  bool self_approval = false;  ///< whether the promoter's own approval, or the version creator's, counts
  PrometheusConfig prometheus; ///< feedback: environments.ENV.prometheus
};

/// The `gitops:` section of mlops.yaml.
struct GitopsConfig {
  std::string url; ///< https://, http://, ssh://, file:// or a path
  std::string branch = "main";
  std::string path = "clusters/{env}/{model}";    ///< {env} and {model} are replaced
  Identity committer{"mlops", "mlops@localhost"}; ///< gitops.committer {name, email}
  int attempts = 5;                               ///< pushes tried when the branch keeps moving
};

/// `gitops:` and `environments:` of a project file.
struct PromotionConfig {
  GitopsConfig gitops;
  std::map<std::string, EnvPolicy> environments;
  std::string file;
};

/// Reads `gitops:` and `environments:` of `project_file`. Throws
/// Error(usage) naming file, line and key for a bad value, and for
/// credentials written into gitops.url.
PromotionConfig load_promotion_config(const std::filesystem::path& project_file);

/// Parses the same sections from YAML text (for tests).
PromotionConfig parse_promotion_config(const std::string& yaml_text, const std::string& file);

/// The directory for a model in an environment: the pattern with {env}
/// and {model} replaced, without leading or trailing '/'.
std::string expand_path(const std::string& pattern, const std::string& env, const std::string& model);

/// One promotion or rollback as a commit records it.
struct Record {
  std::string action; ///< "promote" or "rollback"
  std::string model;
  std::string version;
  std::string env;
  std::string previous_version; ///< the version the environment held before ("" = none)
  std::string image;            ///< the image deployed (REF@sha256:...), or ""
  std::string actor;
  std::vector<std::string> approvers;
  std::string reason;
  // Filled from the commit when read back.
  std::string commit;
  std::int64_t time = 0; ///< epoch seconds
};

/// The commit message for a record: a subject line, a blank line, the
/// reason (if any) and the trailers Model, Version, Environment, Action,
/// Image-Digest, Image, Previous-Version, Promoted-By, Approved-By, Reason.
std::string format_message(const Record& r);

/// The record a commit made by mlops carries; nullopt for other commits.
std::optional<Record> record_from_commit(const Commit& c);

/// The digest part of an image reference ("sha256:..."), or "".
std::string image_digest(const std::string& image);

/// An MLflow tag key part for a user name or environment: characters other
/// than letters, digits, '_', '-' and '.' become '_'.
std::string tag_word(const std::string& text);

/// Tag keys written on model versions.
std::string approval_tag(const std::string& env, const std::string& user); ///< mlops.approval.ENV.USER
std::string promotion_tag(const std::string& env);                         ///< mlops.promotion.ENV
std::string rollback_tag(const std::string& env);                          ///< mlops.rollback.ENV
inline constexpr const char* k_image_tag = "mlops.image";

/// One recorded approval.
struct Approval {
  std::string user;
  std::string time;
  std::string comment;
};

/// The approvals for `env` recorded on a version's tags.
std::vector<Approval> approvals_of(const mlflow::ModelVersion& v, const std::string& env);

/// One policy check and its outcome.
struct Check {
  std::string name; ///< validation, approvals, previous, image
  bool ok = false;
  std::string detail;
};

/// Everything a policy check looks at.
struct CheckInputs {
  const EnvPolicy* policy = nullptr; ///< null: no requirements
  const mlflow::ModelVersion* version = nullptr;
  std::string actor;
  std::string image;                   ///< the image to deploy, or ""
  std::function<std::string()> digest; ///< this version's lock digest (pulls when needed)
  std::vector<Record> history;         ///< every record of this model, newest first
};

/// Runs the environment's checks. Never throws for a failed check.
std::vector<Check> evaluate(const CheckInputs& in);

/// The version an environment holds according to `history` (newest first):
/// the newest record for `env`, or nullopt.
std::optional<Record> current_of(const std::vector<Record>& history, const std::string& env);

/// The version a rollback returns to by default: the newest earlier version
/// of `env` that is not the current one and was never rolled back out of it.
std::optional<Record> rollback_target(const std::vector<Record>& history, const std::string& env);

} // namespace mlops::gitops
