#include "cli/gitops_session.hpp"

#include "cli/image_signing.hpp"
#include "cli/model_source.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/redact.hpp"
#include "release/release.hpp"
#include "render/render.hpp"

#include <cstdlib>
#include <optional>

namespace mlops::cli {

std::string resolve_actor(Context& ctx, const std::string& actor_flag) {
  const std::string& user = ctx.settings().username;
  if (!user.empty()) {
    if (!actor_flag.empty() && actor_flag != user)
      throw Error(ErrorKind::usage, "invalid --actor " + quote(actor_flag) + ": the MLflow user is " + quote(user),
                  "with MLflow credentials set, the server's identity is the one recorded");
    return user;
  }
  if (!actor_flag.empty()) return actor_flag;
  for (const char* var : {"MLOPS_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "USER"})
    if (auto v = process_getenv(var); v && !v->empty()) return *v;
  throw Error(ErrorKind::usage, "cannot tell who is acting",
              "set MLFLOW_TRACKING_USERNAME, --actor NAME or MLOPS_ACTOR");
}

gitops::PromotionConfig load_promotion_config(Context& ctx) {
  const auto& project = ctx.settings().project_file;
  if (!project) return {};
  return gitops::load_promotion_config(*project);
}

gitops::RemoteOptions remote_options(Context& ctx, const gitops::GitopsConfig& config,
                                     const std::filesystem::path& project_file) {
  gitops::RemoteOptions ro;
  ro.url = config.url;
  // A relative local path is relative to the project file, as a user reads it.
  if (ro.url.find("://") == std::string::npos && ro.url.find('@') == std::string::npos && ro.url[0] != '/')
    ro.url = (std::filesystem::absolute(project_file).parent_path() / ro.url).lexically_normal().string();
  ro.branch = config.branch;
  ro.cache = gitops::cache_dir_for(cache_dir("gitops"), ro.url);
  ro.credentials = gitops::find_credentials(ro.url, process_getenv);
  ro.ca_bundle = ctx.settings().ca_bundle;
  ro.insecure = ctx.settings().insecure_tls;
  ro.http = ctx.http_options();
  ro.note = [&ctx](const std::string& line) { ctx.log().debug(1, line); };
  if (!ro.credentials.source.empty()) ctx.log().debug(1, "git credentials from " + ro.credentials.source);
  ctx.log().debug(1, "gitops repository " + redact_url(ro.url) + " branch " + ro.branch + " (cache " +
                         ro.cache.string() + ")");
  return ro;
}

GitopsSession::GitopsSession(Context& ctx) : config(load_promotion_config(ctx)) {
  const auto& project = ctx.settings().project_file;
  if (!project || config.gitops.url.empty())
    throw Error(ErrorKind::usage, "no GitOps repository configured: 'gitops.url' is not set in mlops.yaml",
                "add gitops: {url: https://git.example/manifests.git, branch: main, path: clusters/{env}/{model}}");
  remote = std::make_unique<gitops::Remote>(remote_options(ctx, config.gitops, *project));
  registry = std::make_unique<gitops::MlflowRegistry>(ctx.mlflow());

  // The deploy spec is read once, and only by commands that render
  // (history never needs it, so a broken deploy: section does not stop it).
  auto spec = std::make_shared<std::optional<render::DeploySpec>>();
  auto project_file = *project;
  auto load = [spec, project_file]() -> const render::DeploySpec& {
    if (!*spec) *spec = render::load_spec(project_file);
    return **spec;
  };
  auto render_fn = [load](const std::string& env, const std::string& image) {
    render::Overrides o;
    o.env = env;
    o.image = image;
    return release::render_files(load(), o);
  };
  auto digest_fn = [&ctx](const std::string& name, const std::string& version) {
    ModelSource s = open_model_source(ctx, "models:/" + name + "/" + version);
    if (!s.lock)
      throw Error(ErrorKind::operational, "cannot compute the digest of " + quote(name) + " version " + version);
    return s.lock->digest;
  };
  workflow =
      std::make_unique<gitops::Workflow>(gitops::Workflow{*registry,
                                                          *remote,
                                                          config,
                                                          render_fn,
                                                          digest_fn,
                                                          [load] { return load().image; },
                                                          [&ctx](const std::string& line) { ctx.log().debug(1, line); },
                                                          {}});
  workflow->verify_image = [&ctx, digest_fn](const gitops::EnvPolicy& policy, const mlflow::ModelVersion& v,
                                             const std::string& image) {
    VerifyRequest req;
    req.image = image;
    req.key = policy.signature_key;
    req.provenance = policy.provenance;
    if (policy.provenance) {
      req.model = "models:/" + v.name + "/" + v.version;
      req.lock_digest = digest_fn(v.name, v.version);
    }
    gitops::ImageVerdict verdict;
    verdict.check.name = "signature";
    try {
      sign::Verification got = verify_pushed(ctx, req);
      verdict.check.ok = true;
      verdict.signer = got.signer.str();
      verdict.check.detail =
          image + " signed by " + verdict.signer +
          (policy.provenance ? "; provenance names version " + v.version + " and its lock digest" : "");
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::gate_failed) throw; // a missing image is exit 4, not a failed check
      verdict.check.detail = e.what();
    }
    return verdict;
  };
}

void print_checks(Context& ctx, const std::vector<gitops::Check>& checks) {
  for (const auto& c : checks)
    ctx.out().line(std::string(c.ok ? "ok    " : "FAIL  ") + c.name + ": " + c.detail);
}

nlohmann::ordered_json outcome_json(const gitops::Outcome& o) {
  nlohmann::ordered_json j = {{"action", o.action},
                              {"model", o.model},
                              {"version", o.version},
                              {"environment", o.env},
                              {"path", o.path},
                              {"previous_version", o.previous_version},
                              {"image", o.image},
                              {"refused", o.refused},
                              {"already", o.already},
                              {"committed", o.committed},
                              {"alias_moved", o.alias_moved},
                              {"commit", o.commit}};
  j["checks"] = nlohmann::ordered_json::array();
  for (const auto& c : o.checks)
    j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  if (!o.diff.empty()) j["diff"] = o.diff;
  return j;
}

} // namespace mlops::cli
