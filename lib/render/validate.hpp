#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace mlops::render {

/// Converts one YAML document to JSON with YAML 1.2 core-schema typing
/// (quoted scalars are strings; plain ones may be null, bool, int or float).
/// Throws Error(usage) for YAML that does not parse or repeats a key.
std::vector<nlohmann::json> parse_documents(const std::string& yaml_text);

/// Validates `doc` against a JSON Schema subset: type, enum, const,
/// required, properties, additionalProperties, items, pattern, minLength,
/// maxLength, minimum, maximum, minItems, maxItems, minProperties and
/// $ref to a sibling file of schemas/render. Returns "path: why" lines
/// (path like spec.predictors[0].traffic); empty when valid.
std::vector<std::string> check_schema(const nlohmann::json& doc, const nlohmann::json& schema);

/// Whether `s` matches the schema keyword `pattern` (an ECMAScript regex,
/// searched as JSON Schema says), the common patterns without std::regex.
bool schema_pattern_matches(const std::string& pattern, const std::string& s);

/// Validates one Kubernetes document: its kind's schema
/// (schemas/render/<kind>.schema.json, built in), label keys and values,
/// and the cross-field rules (traffic sums to 100 without shadows, the
/// experiment's default is one of its candidates, graph node names match a
/// container, images and oci:// URIs pinned by digest when `prod_digests`).
/// Returns the problems; empty when valid. A kind without a schema is one
/// problem ("no schema for kind 'X'").
std::vector<std::string> check_document(const nlohmann::json& doc, bool prod_digests);

/// One problem found by check_dir().
struct Finding {
  std::string file; ///< relative to the checked directory
  std::string what; ///< "Deployment 'iris': spec.replicas: ..."
};

/// Validates every .yaml/.yml file under `dir` (kustomization.yaml only for
/// parsing) like check_document(). Returns the findings and counts the
/// documents checked in `checked`. Throws Error(not_found) when `dir` is not
/// a directory.
std::vector<Finding> check_dir(const std::filesystem::path& dir, bool prod_digests, int& checked);

} // namespace mlops::render
