#pragma once

#include "core/log.hpp"
#include "gates/policy.hpp"
#include "mlflow/client.hpp"
#include "model/lock.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mlops::gates {

enum class Status { pass, fail, skip };

/// "pass", "fail" or "skip".
const char* status_name(Status s);

/// The outcome of one gate.
struct GateResult {
  std::string name;
  Status status = Status::pass;
  std::string reason;               ///< one line: why it passed, failed or was skipped
  std::vector<std::string> details; ///< one line per finding (each failing column, package, file...)
  double seconds = 0;
  std::string output; ///< captured output (tests gate)
};

/// What is validated.
struct Target {
  std::string label;                   ///< the target as the user gave it (dir or URI)
  std::filesystem::path dir;           ///< the model directory
  std::optional<model::LockFile> lock; ///< its lock file, if it was pulled
  std::string uri;                     ///< models:/ URI given, or the lock's, or empty
  std::string name, version;           ///< registered model, when known
  std::string run_id;                  ///< from the registry, the lock or MLmodel
  std::string source;                  ///< version source (models:/m-... for 3.x)
};

/// All gates' results plus what identifies the validation.
struct Report {
  Target target;
  std::vector<GateResult> gates;
  std::string policy_digest;
  std::string policy_origin;
  bool passed() const;
  std::size_t count(Status s) const;
};

/// Runs every gate the policy asks for against `target`. `client` may be
/// null when no tracking server is configured (the metrics gate then fails
/// with that reason). `cwd` is where test commands run.
/// Throws Error only for problems outside the model (e.g. server down).
Report validate(const Target& target, const Policy& policy, mlflow::Client* client, const std::filesystem::path& cwd,
                LogSink& log);

/// Writes the verdict of `r` on its model version as tags (needs a target
/// with a name, version and lock file): mlops.validation.status "pending"
/// first, then .digest (the lock digest), .policy, .time, and the status
/// ("passed" or "failed") last, so a reader never sees an old "passed" next
/// to a new digest. Throws Error as the client does (auth without EDIT).
void record_verdict(mlflow::Client& client, const Report& r);

/// Whether the version's tags hold a passed verdict for exactly `lock_digest`
/// under the policy `policy_digest` (what record_verdict wrote).
bool has_passed_verdict(const mlflow::ModelVersion& v, const std::string& lock_digest,
                        const std::string& policy_digest);

/// The report as the JSON document of schemas/output.validate.schema.json.
nlohmann::ordered_json report_json(const Report& r);

/// The report as JUnit XML (one testcase per gate).
std::string report_junit(const Report& r);

} // namespace mlops::gates
