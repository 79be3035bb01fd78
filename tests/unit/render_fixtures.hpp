#pragma once

#include <string>

// Values shared by the render unit tests.
namespace mlops::test {

inline const std::string k_digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline const std::string k_image = "registry.example/iris@" + k_digest;
inline const std::string k_modelcar = "oci://registry.example/iris-modelcar@" + k_digest;

} // namespace mlops::test
