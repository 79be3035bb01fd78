// lib/gitops: a commit message of the GitOps repository (anyone with push access writes them):
// its trailers, the promotion record read from them, and that record written back.
#include "fuzz.hpp"
#include "gitops/git.hpp"
#include "gitops/promotion.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    mlops::gitops::Commit c;
    c.id = std::string(40, 'a');
    c.message = text;
    c.subject = text.substr(0, text.find('\n'));
    c.trailers = mlops::gitops::parse_trailers(text);
    auto record = mlops::gitops::record_from_commit(c);
    if (!record) return;
    (void)mlops::gitops::format_message(*record);
  });
  return 0;
}
