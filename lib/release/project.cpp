#include "release/project.hpp"

#include "core/fs.hpp"

namespace mlops::release {

Project load_project(const std::filesystem::path& file) {
  Project p;
  p.file = file;
  p.settings = parse_config_text(fs::read_file(file), file.string());
  p.gates = gates::policy_from_project(file);
  p.package = oci::load_package_config(file);
  p.deploy = render::load_spec(file);
  p.promotion = gitops::load_promotion_config(file);
  return p;
}

} // namespace mlops::release
