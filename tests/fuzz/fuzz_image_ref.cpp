// lib/oci/registry: image references from flags, mlops.yaml and base images.
#include "fuzz.hpp"
#include "oci/layout.hpp"
#include "oci/registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::oci::parse_image_ref(text); });
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::oci::parse_layout_ref(text); });
  return 0;
}
