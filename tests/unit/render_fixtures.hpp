#pragma once

#include "core/error.hpp"
#include "render/render.hpp"
#include "render/validate.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>

// Values and helpers shared by the render unit tests.
namespace mlops::test {

inline const std::string k_digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline const std::string k_image = "registry.example/iris@" + k_digest;
inline const std::string k_modelcar = "oci://registry.example/iris-modelcar@" + k_digest;
inline const std::string k_gs_model = "gs://bucket/iris/1"; ///< seldon-v2 fetches with rclone: no oci://

/// The spec `yaml` resolved for `target` (and environment `env`).
inline render::Resolved resolved(const std::string& yaml, const std::string& target, const std::string& env = "") {
  render::Overrides o;
  o.target = target;
  o.env = env;
  return render::resolve(render::parse_spec(yaml, "mlops.yaml"), o);
}

/// Renders, parses every document back and checks it again, keyed "Kind/name".
inline std::map<std::string, nlohmann::json> docs_of(const render::Resolved& r,
                                                     const render::RenderOptions& opts = {}) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& m : render::render(r, opts)) {
    auto docs = render::parse_documents(m.yaml);
    REQUIRE(docs.size() == 1);
    CHECK(render::check_document(docs[0], opts.prod_digests).empty());
    out[m.kind + "/" + m.name] = docs[0];
  }
  return out;
}

/// The message of the mlops::Error `f` throws, or "(accepted)"; with
/// `usage`, also checks that it is a usage error (exit 2).
inline std::string error_of(const std::function<void()>& f, bool usage = false) {
  try {
    f();
  } catch (const Error& e) {
    if (usage) CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

} // namespace mlops::test
