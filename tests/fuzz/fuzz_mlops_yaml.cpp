// Every section of mlops.yaml, read from one file as the commands read it: settings
// (lib/core/config), gates: (lib/gates/policy), deploy: (lib/render/spec), gitops: and
// environments: (lib/gitops/promotion), package: (lib/oci/package); and the same text
// as a --policy file and as a user config.yaml.
#include "core/config.hpp"
#include "fuzz.hpp"
#include "gates/policy.hpp"
#include "gitops/promotion.hpp"
#include "oci/package.hpp"
#include "render/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  using mlops::fuzz::refusing_is_fine;
  auto project = mlops::fuzz::scratch_file("project/mlops.yaml", text);
  refusing_is_fine([&] {
    mlops::ConfigInputs in;
    in.cwd = project.parent_path();
    in.config_file = project;
    in.user_config = project;
    in.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    (void)mlops::resolve_settings(in);
  });
  refusing_is_fine([&] { (void)mlops::gates::policy_from_project(project); });
  refusing_is_fine([&] { (void)mlops::gates::load_policy_file(project); });
  refusing_is_fine([&] { (void)mlops::render::load_spec(project); });
  refusing_is_fine([&] { (void)mlops::gitops::load_promotion_config(project); });
  refusing_is_fine([&] { (void)mlops::oci::load_package_config(project); });
  return 0;
}
