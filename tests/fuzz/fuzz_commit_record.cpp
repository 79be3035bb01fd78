// lib/gitops: a commit message of the GitOps repository (anyone with push access writes them):
// its trailers, and the promotion record read from them.
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
    // A record that was read back is written as a message that reads back the same.
    mlops::gitops::Commit again;
    again.id = c.id;
    again.message = mlops::gitops::format_message(*record);
    again.subject = again.message.substr(0, again.message.find('\n'));
    again.trailers = mlops::gitops::parse_trailers(again.message);
    auto back = mlops::gitops::record_from_commit(again);
    if (!back || back->model != record->model || back->version != record->version || back->env != record->env ||
        back->action != record->action) {
      __builtin_trap();
    }
  });
  return 0;
}
