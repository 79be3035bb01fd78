#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "cli/model_source.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "release/release.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace mlops::cli {

namespace {

struct ReleaseArgs {
  release::ReleaseRequest req;
  std::string actor;
};

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

nlohmann::ordered_json report_json(const release::ReleaseReport& r, double total) {
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const auto& s : r.steps)
    steps.push_back({{"name", s.name}, {"status", s.status}, {"seconds", s.seconds}, {"detail", s.detail}});
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const auto& c : r.checks)
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  nlohmann::ordered_json j = {{"model", r.model},
                              {"version", r.version},
                              {"environment", r.env},
                              {"dry_run", r.dry_run},
                              {"steps", steps},
                              {"gates_passed", r.gates_passed},
                              {"validation_reused", r.validation_reused},
                              {"image", r.image},
                              {"bytes_uploaded", r.bytes_uploaded},
                              {"bytes_reused", r.bytes_reused},
                              {"manifests_changed", r.manifests_changed},
                              {"checks", checks},
                              {"commit", r.commit},
                              {"committed", r.committed},
                              {"alias_moved", r.alias_moved},
                              {"already", r.already},
                              {"previous_version", r.previous_version},
                              {"seconds", total}};
  if (!r.diff.empty()) j["diff"] = r.diff;
  return j;
}

void print_summary(Context& ctx, const release::ReleaseReport& r, double total) {
  auto row = [&](const std::string& k, const std::string& v) {
    ctx.out().line("  " + k + std::string(k.size() < 19 ? 19 - k.size() : 1, ' ') + v);
  };
  ctx.out().line(std::string(r.dry_run ? "dry run: would release " : "released ") + r.model + " version " + r.version +
                 " to " + r.env + " in " + seconds_text(total));
  row("gates passed", r.validation_reused      ? "(recorded before; reused)"
                      : r.gates_passed.empty() ? "none (skipped)"
                                               : join(r.gates_passed, ", "));
  row("image", r.image);
  if (!r.dry_run) row("bytes", human_bytes(r.bytes_uploaded) + " uploaded, " + human_bytes(r.bytes_reused) + " reused");
  row("manifests changed", r.manifests_changed.empty() ? "none" : join(r.manifests_changed, ", "));
  if (!r.dry_run) {
    row("commit", r.commit.substr(0, 12) + (r.committed ? " pushed" : " (already in git)"));
    row("alias", "@" + r.env + " -> " + r.version + (r.alias_moved ? " (moved)" : " (already there)"));
  }
  if (r.dry_run && !r.diff.empty()) ctx.out().data(r.diff);
}

int run_release(Context& ctx, ReleaseArgs& a) {
  const auto& project_file = ctx.settings().project_file;
  if (!project_file)
    throw Error(ErrorKind::usage, "cannot release: no mlops.yaml here or in a parent directory",
                "'mlops init' writes one; --config FILE names another");
  release::Project project = release::load_project(*project_file);
  release::check_release(project, a.req); // before any server is asked
  a.req.actor = resolve_actor(ctx, a.actor);
  gitops::Remote remote(remote_options(ctx, project.promotion.gitops, *project_file));
  gitops::MlflowRegistry registry(ctx.mlflow());
  http::Client registry_http(ctx.registry_http_options(), ctx.log());
  ProgressBar bar(ctx.out());
  release::ReleaseServices s{project,
                             ctx.mlflow(),
                             registry,
                             remote,
                             registry_http,
                             process_getenv,
                             ctx.global().insecure,
                             cache_dir(""),
                             std::string("mlops ") + MLOPS_VERSION,
                             ctx.settings().jobs,
                             source_date_epoch(),
                             ctx.log(),
                             bar,
                             {}};
  bool text = !ctx.json();
  s.on_start = [&ctx](const std::string& step) { ctx.log().debug(1, "release step " + step); };
  auto start = std::chrono::steady_clock::now();
  release::ReleaseReport r = release::run_release(s, a.req, [&](const release::StepRecord& rec) {
    if (text)
      ctx.out().note(rec.name + std::string(10 - rec.name.size(), ' ') + rec.status +
                     std::string(rec.status.size() < 9 ? 9 - rec.status.size() : 1, ' ') + seconds_text(rec.seconds) +
                     "  " + rec.detail);
  });
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ctx.json())
    ctx.out().json(report_json(r, total));
  else
    print_summary(ctx, r, total);
  return 0;
}

} // namespace

Command release_command() {
  Command c;
  c.name = "release";
  c.summary = "pull, validate, package, render and promote a model version in one step";
  c.description =
      "Ships one model version to an environment: pull (into $XDG_CACHE_HOME/mlops/models, checked against the "
      "server's listing), validate (the gates of mlops.yaml; the verdict is recorded on the version as 'mlops "
      "validate --record' does), package (package.format, default a modelcar for KServe and a serving image for "
      "the other targets, on package.base, pushed to environments.ENV.registry with the tag vVERSION), render "
      "(the manifests of 'deploy:' for ENV with the pushed image pinned by digest: model_uri oci://... for a "
      "modelcar, image otherwise) and promote (the policy of environments.ENV.requires, a GitOps commit, the "
      "alias @ENV). Each step prints one line (its status, time and result) on stderr, and the end a summary: "
      "version, gates passed, image digest, bytes uploaded and reused, manifests changed, commit and alias.\n\n"
      "The first step that fails stops the release with that step's error and exit code (3 for a failed gate "
      "or policy check, 5 for refused credentials, 6 for a server that does not answer). A rerun resumes: files "
      "already pulled, a passed validation recorded for the same bytes and policy, blobs the registry holds "
      "and a promotion the repository holds are reused, not redone. --dry-run pulls, validates and builds the "
      "image without pushing or recording anything, and shows the policy checks and the manifest diff a "
      "release would commit. --skip-validate is refused (exit 2) where the environment requires validation. "
      "--json prints the whole record with per-step timings (schemas/output.release.schema.json). Environments "
      "that deliver by direct apply, and signing, are not supported by release yet: their keys are refused "
      "by the config loader.";
  c.examples = "  mlops release models:/iris@champion --env staging\n"
               "  mlops release models:/iris/3 --env prod -m 'weekly retrain' --json\n"
               "  mlops release models:/iris@challenger --env prod --dry-run";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<ReleaseArgs>();
    app.add_option("MODEL_URI", a->req.model_uri, "models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/STAGE")
        ->required();
    app.add_option("--env", a->req.env, "the environment to release to (environments.ENV in mlops.yaml)")
        ->required()
        ->type_name("ENV");
    app.add_flag("--dry-run", a->req.dry_run, "pull, validate and build; push, record and commit nothing");
    app.add_flag("--skip-validate", a->req.skip_validate,
                 "do not run the gates (refused where the environment requires validation)");
    app.add_option("-m,--message", a->req.message, "why: recorded in the commit and its Reason trailer")
        ->type_name("TEXT");
    app.add_option("--actor", a->actor, "who is releasing, when MLflow has no user (CI)")->type_name("NAME");
    return [a](Context& ctx) { return run_release(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
