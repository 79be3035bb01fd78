// lib/oci/layout: index.json (and a nested image index) of an OCI layout a user names as
// --base oci:DIR or --output oci:DIR. The input is written as index.json; the layout also
// holds one real nested image index (k_nested, listed in the seeds) so that path is taken too;
// and every descriptor the input holds goes through Descriptor::from_json directly.
#include "core/digest.hpp"
#include "fuzz.hpp"
#include "oci/layout.hpp"

#include <filesystem>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  using mlops::fuzz::refusing_is_fine;
  static const auto dir = [] {
    auto d = mlops::fuzz::scratch_dir() / "layout";
    mlops::fuzz::scratch_file("layout/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    std::string nested = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)"
                         R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:)" +
                         std::string(64, 'b') + R"(","size":2,"platform":{"architecture":"amd64","os":"linux"}}]})";
    mlops::fuzz::scratch_file("layout/blobs/sha256/" + mlops::sha256_hex(nested), nested);
    return d;
  }();
  mlops::fuzz::scratch_file("layout/index.json", text);
  refusing_is_fine([&] {
    auto layout = mlops::oci::Layout::open(dir);
    for (const char* tag : {"", "latest", "v1"}) {
      refusing_is_fine([&] { (void)layout.resolve(tag); });
    }
  });
  refusing_is_fine([&] {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    for (const char* key : {"manifests", "layers"}) {
      if (auto it = j.find(key); it != j.end() && it->is_array()) {
        for (const auto& d : *it)
          (void)mlops::oci::Descriptor::from_json(d).to_json();
      }
    }
    if (auto it = j.find("config"); it != j.end()) (void)mlops::oci::Descriptor::from_json(*it);
  });
  return 0;
}
