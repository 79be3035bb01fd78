// lib/render/template: user templates (--templates DIR) rendered with a context holding
// every kind of value, including hostile strings.
#include "fuzz.hpp"
#include "render/template.hpp"

namespace {
const nlohmann::json& context() {
  static const nlohmann::json ctx = nlohmann::json::parse(R"({
    "name": "iris", "namespace": "models", "replicas": 2, "ratio": 0.5, "on": true, "off": false,
    "none": null, "empty": "", "list": [], "evil": "a\n---\nkind: Secret\n\"'{{x}}",
    "variants": [{"name": "a", "traffic": 90, "image": "r/i@sha256:00"}, {"name": "b", "traffic": 10}],
    "labels": {"app": "iris", "tier": {"deep": ["x", {"y": 1}]}},
    "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}
  })");
  return ctx;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::render::render_template(text, context(), "fuzz.mustache"); });
  return 0;
}
