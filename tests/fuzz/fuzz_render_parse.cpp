// lib/render/parse + validate: `render --check DIR` reads manifests anyone may have edited.
#include "fuzz.hpp"
#include "render/validate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    for (const auto& doc : mlops::render::parse_documents(text)) {
      (void)mlops::render::check_document(doc, true);
    }
  });
  return 0;
}
