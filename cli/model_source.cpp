#include "cli/model_source.hpp"

#include "core/error.hpp"
#include "mlflow/pull.hpp"

#include <cstdlib>

namespace mlops::cli {

std::filesystem::path cache_dir(const std::string& sub) {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "mlops" / sub;
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "mlops" / sub;
  return std::filesystem::temp_directory_path() / ("mlops-" + sub);
}

std::optional<std::int64_t> source_date_epoch() {
  const char* v = std::getenv("SOURCE_DATE_EPOCH");
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < 0)
    throw Error(ErrorKind::usage, "invalid environment variable 'SOURCE_DATE_EPOCH': expected seconds since 1970");
  return n;
}

ModelSource open_model_source(Context& ctx, const std::string& text) {
  ModelSource s;
  if (text.rfind("models:/", 0) == 0) {
    mlflow::PullOptions opts;
    opts.uri = mlflow::parse_model_uri(text);
    auto& client = ctx.mlflow();
    mlflow::ModelVersion v = mlflow::resolve_version(client, opts.uri);
    opts.dest = cache_dir("models") / mlflow::default_dest(v.name, v.version);
    opts.jobs = ctx.settings().jobs;
    opts.tool = std::string("mlops ") + MLOPS_VERSION;
    ctx.log().debug(1, "pulling " + text + " into " + opts.dest.string());
    ProgressBar bar(ctx.out());
    mlflow::PullResult r = mlflow::pull(client, opts, ctx.log(), bar);
    bar.end();
    s.dir = r.dir;
    s.lock = r.lock;
    s.uri = text;
    return s;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(text, ec)) {
    throw Error(ErrorKind::operational, quote(text) + " is not a model directory or a models:/ URI");
  }
  s.dir = text;
  s.lock = model::LockFile::load(s.dir);
  if (s.lock) s.uri = s.lock->requested_uri;
  return s;
}

} // namespace mlops::cli
