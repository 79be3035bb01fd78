// lib/oci/registry_auth: docker config.json (REGISTRY_AUTH_FILE, DOCKER_CONFIG) and what a
// credential helper prints. No real helper runs: a stand-in answers with the same input.
#include "fuzz.hpp"
#include "oci/registry_auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  using mlops::fuzz::refusing_is_fine;
  refusing_is_fine([&] { (void)mlops::oci::parse_helper_output(text, "docker-credential-fuzz"); });
  auto file = mlops::fuzz::scratch_file("auth.json", text);
  auto getenv = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "REGISTRY_AUTH_FILE") return file.string();
    if (name == "HOME" || name == "DOCKER_CONFIG") return mlops::fuzz::scratch_dir().string();
    return std::nullopt;
  };
  auto helper = [&](const std::string&, const std::string&) {
    mlops::ProcessResult r;
    r.exit_code = 0;
    r.output = text;
    return r;
  };
  for (const char* registry : {"registry.example", "127.0.0.1:5000", "docker.io"}) {
    refusing_is_fine([&] { (void)mlops::oci::find_credentials(registry, getenv, helper); });
  }
  return 0;
}
