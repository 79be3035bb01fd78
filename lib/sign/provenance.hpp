#pragma once
// SLSA provenance v1 for an image mlops packaged, as an in-toto statement: which MLflow model
// version (URI, run, lock digest of its exact files) and which base image went in, which mlops
// built it, and the validation verdict `mlops validate --record` left on the version.

#include "sign/formats.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace mlops::sign {

/// The build type of `mlops package` provenance.
inline constexpr const char* k_build_type = "https://mlops.dev/buildtypes/package/v1";
/// The builder id mlops writes.
inline constexpr const char* k_builder_id = "https://mlops.dev/builder/mlops";

/// What a provenance statement says about an image.
struct Provenance {
  std::string image_name;   ///< host/repo
  std::string image_digest; ///< sha256:...
  std::string model_name, model_version;
  std::string run_id;
  std::string lock_digest;  ///< sha256:... of mlops.lock.json's file list
  std::string model_source; ///< the version's source (runs:/..., models:/m-...)
  std::string base_name, base_digest;
  std::string builder_version; ///< "mlops 0.1.0"
  std::string format;          ///< image, modelcar, artifact ("" = unknown)
  /// The recorded validation: status (passed/failed), policy digest, lock digest it
  /// validated, time; empty when none was recorded.
  std::map<std::string, std::string> validation;
  /// "models:/NAME/VERSION".
  std::string model_uri() const { return "models:/" + model_name + "/" + model_version; }
};

/// The provenance an image manifest's annotations give (io.mlflow.model.*, io.mlops.lock.digest,
/// org.opencontainers.image.base.*, io.mlops.tool); `image_name`/`image_digest` as given.
Provenance provenance_from_annotations(const std::map<std::string, std::string>& annotations,
                                       const std::string& image_name, const std::string& image_digest);

/// The in-toto statement (v1) with a SLSA provenance v1 predicate, as JSON text.
std::string provenance_statement(const Provenance& p);

/// Reads back what a SLSA v1 statement mlops (or another builder) made says: the model from
/// the resolved dependency whose uri starts with models:/ (its sha256 = lock digest), the run,
/// the base image, the builder version and the validation. Fields it does not find stay empty.
/// Error(gate_failed) when the predicate is not a SLSA v1 provenance object.
Provenance read_provenance(const Statement& s, const std::string& what);

} // namespace mlops::sign
