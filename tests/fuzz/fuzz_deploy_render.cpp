// lib/render: a deploy: section carried through resolve() and render() for every target and
// environment, so what parses is rendered, parsed back and validated as `mlops render` does.
#include "fuzz.hpp"
#include "render/render.hpp"
#include "render/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::render::DeploySpec spec;
  try {
    spec = mlops::render::parse_spec(text, "mlops.yaml");
  } catch (const mlops::Error&) {
    return 0;
  }
  for (const auto& target : mlops::render::known_targets()) {
    for (const char* env : {"", "prod"}) {
      mlops::fuzz::refusing_is_fine([&] {
        mlops::render::Overrides o;
        o.target = target;
        o.env = env;
        auto resolved = mlops::render::resolve(spec, o);
        mlops::render::RenderOptions ro;
        ro.prod_digests = o.env == "prod";
        auto manifests = mlops::render::render(resolved, ro);
        (void)mlops::render::stream(manifests);
        (void)mlops::render::kustomization(resolved, manifests);
      });
    }
  }
  return 0;
}
