#pragma once
// Image references (HOST[:PORT]/REPO[:TAG][@sha256:DIGEST]), parsed and checked by hand:
// std::regex recurses per character and overflows the stack on long input, and every
// reference is bounded by limits::k_max_image_ref_bytes before it is looked at.

#include <string>
#include <string_view>

namespace mlops::oci {

/// "host[:port]/repo/path[:tag|@sha256:...]".
struct ImageRef {
  std::string registry;   ///< host[:port]
  std::string repository; ///< e.g. models/iris
  std::string tag;        ///< may be empty when a digest is given
  std::string digest;
  std::string str() const;
};

/// True for a registry on this machine (localhost, 127.0.0.1, [::1], with
/// or without a port): plain HTTP is tried there without --insecure.
bool is_loopback_registry(const std::string& registry);

/// Parses an image reference; Error(usage) when it is not one. A reference
/// without a registry host is refused (no implicit Docker Hub).
ImageRef parse_image_ref(const std::string& text);

/// True when `text` looks like an image reference as manifests carry it:
/// at most limits::k_max_image_ref_bytes, starts with [a-z0-9], no
/// whitespace, and at most one '@', which must introduce "sha256:<64 hex>".
bool is_image_reference(std::string_view text);

/// True when `text` is NAME@sha256:<64 hex> (NAME non-empty, no whitespace
/// or '@'), at most limits::k_max_image_ref_bytes: pinned by digest.
bool is_pinned_reference(std::string_view text);

} // namespace mlops::oci
