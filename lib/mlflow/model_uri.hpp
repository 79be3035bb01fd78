#pragma once

#include <string>
#include <string_view>

namespace mlops::mlflow {

/// A parsed `models:/` URI naming one registered model version.
struct ModelUri {
  enum class Kind { version, alias, stage, latest };
  Kind kind = Kind::version;
  std::string name;      ///< registered model name
  std::string reference; ///< the version number, alias or canonical stage name
  std::string text;      ///< the URI as the user wrote it

  /// "models:/iris/3", "models:/iris@champion", ... (canonical form).
  std::string str() const;
};

/// Parses `models:/NAME/VERSION`, `models:/NAME@ALIAS`, `models:/NAME/STAGE`
/// (None, Staging, Production, Archived, any case) and `models:/NAME/latest`.
/// Throws Error(usage) saying what is wrong.
ModelUri parse_model_uri(std::string_view uri);

/// The canonical stage name ("Production") for any spelling, or "" if `word`
/// is not a stage.
std::string canonical_stage(std::string_view word);

} // namespace mlops::mlflow
