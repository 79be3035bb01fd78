#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "mlflow/pull.hpp"

namespace mlops::cli {

namespace {

struct PullArgs {
  std::string target;
  std::string dir;
  int jobs = 0;
  bool force = false;
  bool verify = false;
};

std::string shown_path(const std::filesystem::path& p) {
  std::error_code ec;
  auto rel = p.lexically_relative(std::filesystem::current_path(ec));
  if (!rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return p.string();
}

nlohmann::ordered_json report_json(const std::filesystem::path& dir, const model::VerifyReport& r) {
  return {{"dir", dir.string()},
          {"ok", r.ok()},
          {"modified", r.modified},
          {"missing", r.missing},
          {"unexpected", r.unexpected}};
}

int run_verify(Context& ctx, const PullArgs& a) {
  std::string d = !a.dir.empty() ? a.dir : a.target;
  if (d.empty()) throw Error(ErrorKind::usage, "--verify needs a directory", "mlops pull --verify DIR");
  if (d.rfind("models:/", 0) == 0) {
    throw Error(ErrorKind::usage, "--verify checks a directory, not " + quote(d), "mlops pull --verify DIR");
  }
  std::filesystem::path dir(d);
  auto lock = model::LockFile::load(dir);
  if (!lock) {
    throw Error(ErrorKind::not_found, "cannot verify " + quote(d) + ": no " + model::LockFile::k_file_name + " in it",
                "only a directory written by 'mlops pull' can be verified");
  }
  model::VerifyReport r = model::verify_dir(dir, *lock);
  if (ctx.json())
    ctx.out().json(report_json(dir, r));
  else {
    for (const auto& f : r.modified)
      ctx.out().line("modified:   " + f);
    for (const auto& f : r.missing)
      ctx.out().line("missing:    " + f);
    for (const auto& f : r.unexpected)
      ctx.out().line("unexpected: " + f);
    if (r.ok()) {
      ctx.out().line(quote(d) + " matches its lock file: " + lock->name + " version " + lock->version + ", " +
                     std::to_string(lock->files.size()) + " files");
    }
  }
  if (!r.ok()) {
    std::string why;
    auto add = [&](std::size_t n, const char* what) {
      if (!n) return;
      if (!why.empty()) why += ", ";
      why += std::to_string(n) + " " + what;
    };
    add(r.modified.size(), "modified");
    add(r.missing.size(), "missing");
    add(r.unexpected.size(), "unexpected");
    throw Error(ErrorKind::gate_failed, quote(d) + " differs from its lock file: " + why,
                "pull again to restore the recorded files");
  }
  return 0;
}

int run_pull(Context& ctx, const PullArgs& a) {
  if (a.verify) return run_verify(ctx, a);
  if (a.target.empty()) throw Error(ErrorKind::usage, "missing MODEL_URI", "mlops pull models:/NAME/VERSION");
  mlflow::PullOptions opts;
  opts.uri = mlflow::parse_model_uri(a.target);
  opts.dest = a.dir;
  opts.jobs = a.jobs > 0 ? a.jobs : ctx.settings().jobs;
  opts.force = a.force;
  opts.tool = std::string("mlops ") + MLOPS_VERSION;
  ProgressBar bar(ctx.out());
  mlflow::PullResult r;
  try {
    r = mlflow::pull(ctx.mlflow(), opts, ctx.log(), bar);
  } catch (const Error& e) {
    throw e.with_context("cannot pull " + quote(a.target));
  }
  bar.end();
  if (ctx.json()) {
    ctx.out().json(nlohmann::ordered_json::parse(r.lock.to_json()));
    return 0;
  }
  std::uint64_t total = r.bytes_downloaded + r.bytes_reused;
  std::string where = shown_path(r.dir);
  if (r.unchanged) {
    ctx.out().line(r.lock.name + " version " + r.lock.version + " in " + quote(where) + " is up to date (" +
                   std::to_string(r.lock.files.size()) + " files verified, " + human_bytes(total) + ")");
  } else {
    ctx.out().line("pulled " + r.lock.name + " version " + r.lock.version + " into " + quote(where) + ": " +
                   std::to_string(r.lock.files.size()) + " files, " + human_bytes(total) + " (" +
                   std::to_string(r.files_downloaded) + " downloaded, " + std::to_string(r.files_reused) + " reused)");
  }
  return 0;
}

} // namespace

Command pull_command() {
  Command c;
  c.name = "pull";
  c.summary = "download a registered model version with provenance";
  c.description = "Downloads every file of one registered model version from the MLflow tracking server into a "
                  "directory (default ./NAME-vVERSION), in parallel, checking each file's size against the server's "
                  "listing and recording its sha256. Files go to a hidden partial directory beside the destination "
                  "and are moved into place only when all are complete, so a failed or interrupted pull leaves no "
                  "half model in the directory; running the same pull again resumes from the partial directory, "
                  "reusing every file already verified.\n\n"
                  "MODEL_URI is models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/STAGE (None, Staging, "
                  "Production, Archived) or models:/NAME/latest. The directory gets mlops.lock.json: the server, "
                  "model, version, alias or stage used, run id, source, download URI, creation time, and the path, "
                  "size and sha256 of every file, with a digest over the list. --json prints that record.\n\n"
                  "A non-empty directory that holds no pull of the same model is refused unless --force is given. "
                  "Remote paths that would land outside the directory are refused. With --verify, an existing "
                  "directory is re-hashed against its lock file (exit 3 and one line per differing file).";
  c.examples = "  mlops pull models:/iris@champion\n"
               "  mlops pull models:/iris/3 -o ./model -j 16\n"
               "  mlops pull models:/iris/Production --json > lock.json\n"
               "  mlops pull --verify ./model";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<PullArgs>();
    app.add_option("MODEL_URI", a->target,
                   "models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/STAGE or models:/NAME/latest (with "
                   "--verify: a directory)");
    app.add_option("-o,--dir", a->dir, "destination directory (default ./NAME-vVERSION)")->type_name("DIR");
    app.add_option("-j,--jobs", a->jobs, "parallel downloads (default 8, or pull.jobs in mlops.yaml)")
        ->check(CLI::Range(1, 64))
        ->type_name("N");
    app.add_flag("--force", a->force, "replace a non-empty directory that is not a pull of this model");
    app.add_flag("--verify", a->verify, "re-check a pulled directory against its mlops.lock.json");
    return [a](Context& ctx) { return run_pull(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
