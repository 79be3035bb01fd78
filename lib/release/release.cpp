#include "release/release.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"
#include "gates/gates.hpp"
#include "mlflow/pull.hpp"
#include "oci/package.hpp"
#include "oci/push.hpp"
#include "oci/reference.hpp"
#include "oci/registry.hpp"
#include "oci/registry_auth.hpp"
#include "render/render.hpp"

#include <chrono>

namespace mlops::release {

std::map<std::string, std::string> render_files(const render::DeploySpec& spec, const render::Overrides& overrides) {
  render::Resolved resolved = render::resolve(spec, overrides);
  render::RenderOptions opts;
  opts.prod_digests = resolved.env == "prod";
  auto manifests = render::render(resolved, opts);
  std::map<std::string, std::string> files;
  for (const auto& m : manifests)
    files[m.file] = m.yaml;
  files["kustomization.yaml"] = render::kustomization(resolved, manifests);
  return files;
}

namespace {

/// The package format a release builds: package.format, else a modelcar for
/// KServe (oci:// storage) and a serving image for the other targets.
oci::Format release_format(const Project& p) {
  if (p.package.format) return oci::parse_format(*p.package.format);
  return p.deploy.target == "kserve" ? oci::Format::modelcar : oci::Format::image;
}

/// The render overrides that deploy `image`: a modelcar is a storage URI.
render::Overrides deploy_overrides(const Project& p, const std::string& env, const std::string& image) {
  render::Overrides o;
  o.env = env;
  if (image.empty()) return o;
  if (release_format(p) == oci::Format::modelcar)
    o.model_uri = "oci://" + image;
  else
    o.image = image;
  return o;
}

/// Times a step and hands its record to the report and the caller; a failure
/// keeps its kind and says which step failed.
class Steps {
public:
  Steps(ReleaseServices& s, ReleaseReport& r, const std::function<void(const StepRecord&)>& done)
      : m_s(s), m_r(r), m_done(done) {}

  template <typename F> void run(const std::string& name, F&& body) {
    if (m_s.on_start) m_s.on_start(name);
    auto start = std::chrono::steady_clock::now();
    StepRecord rec;
    rec.name = name;
    try {
      body(rec);
    } catch (const Error& e) {
      throw e.with_context("release step " + quote(name));
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m_r.steps.push_back(rec);
    if (m_done) m_done(rec);
  }

private:
  ReleaseServices& m_s;
  ReleaseReport& m_r;
  const std::function<void(const StepRecord&)>& m_done;
};

mlflow::PullResult pull_step(ReleaseServices& s, const mlflow::ModelUri& uri, const mlflow::ModelVersion& v,
                             StepRecord& rec) {
  mlflow::PullOptions opts;
  opts.uri = uri;
  opts.dest = s.cache / "models" / mlflow::default_dest(v.name, v.version);
  opts.jobs = s.jobs;
  opts.tool = s.tool;
  mlflow::PullResult r = mlflow::pull(s.mlflow, opts, s.log, s.progress);
  s.progress.end();
  rec.status = r.unchanged ? "reused" : "done";
  rec.detail = std::to_string(r.lock.files.size()) + " files, " + human_bytes(r.bytes_downloaded + r.bytes_reused) +
               " (" + human_bytes(r.bytes_downloaded) + " downloaded, " + human_bytes(r.bytes_reused) + " reused) in " +
               r.dir.string();
  return r;
}

void validate_step(ReleaseServices& s, const ReleaseRequest& req, const mlflow::PullResult& pulled,
                   ReleaseReport& report, StepRecord& rec) {
  const Project& p = s.project;
  if (req.skip_validate) {
    rec.status = "skipped";
    rec.detail = "--skip-validate (the policy of " + quote(req.env) + " does not require validation)";
    return;
  }
  // The version's tags now, not as resolved before the pull: a rerun sees
  // what the previous run recorded.
  mlflow::ModelVersion v = s.mlflow.get_model_version(pulled.lock.name, pulled.lock.version);
  if (gates::has_passed_verdict(v, pulled.lock.digest, p.gates.digest)) {
    rec.status = "reused";
    rec.detail = "a passed validation of these bytes under this policy is recorded";
    report.validation_reused = true;
    return;
  }
  gates::Target t;
  t.dir = pulled.dir;
  t.lock = pulled.lock;
  t.uri = req.model_uri;
  t.label = req.model_uri;
  t.name = pulled.lock.name;
  t.version = pulled.lock.version;
  t.run_id = pulled.lock.run_id;
  t.source = pulled.lock.source;
  gates::Report r = gates::validate(t, p.gates, &s.mlflow, p.file.parent_path(), s.log);
  std::vector<std::string> failed;
  for (const auto& g : r.gates) {
    if (g.status == gates::Status::pass) report.gates_passed.push_back(g.name);
    if (g.status == gates::Status::fail) failed.push_back(g.name + " (" + g.reason + ")");
  }
  if (!req.dry_run) gates::record_verdict(s.mlflow, r);
  if (!failed.empty())
    throw Error(ErrorKind::gate_failed,
                "validation of " + pulled.lock.name + " version " + pulled.lock.version +
                    " failed: " + join(failed, "; "),
                "'mlops validate " + req.model_uri + "' shows every finding");
  rec.status = req.dry_run ? "dry-run" : "done";
  rec.detail = std::to_string(report.gates_passed.size()) + " gates passed (" + join(report.gates_passed, ", ") + ")" +
               (req.dry_run ? "; not recorded" : "; recorded on the version");
}

/// The image registries of one package step: the push target and a registry base.
struct Registries {
  std::optional<oci::Registry> target, base;
  bool same_registry() const { return target && base && target->ref().registry == base->ref().registry; }
};

void package_step(ReleaseServices& s, const ReleaseRequest& req, const mlflow::PullResult& pulled,
                  ReleaseReport& report, StepRecord& rec) {
  const Project& p = s.project;
  const std::string& repo = p.promotion.environments.at(req.env).registry;
  std::string push_text = repo + ":v" + pulled.lock.version;
  Registries regs;
  std::map<std::string, std::optional<oci::RegistryCredentials>> found;
  auto open = [&](std::optional<oci::Registry>& slot, const std::string& text, const char* actions) {
    oci::ImageRef ref = oci::parse_image_ref(text);
    auto it = found.find(ref.registry);
    if (it == found.end()) it = found.emplace(ref.registry, oci::find_credentials(ref.registry, s.getenv)).first;
    slot.emplace(s.registry_http, ref, it->second, s.insecure || oci::is_loopback_registry(ref.registry), s.log,
                 actions);
  };
  open(regs.target, push_text, "pull,push");
  regs.target->upload_options().session_dir = s.cache / "uploads"; // a rerun continues a cut-off upload
  std::string base = p.package.base.value_or("");
  if (!base.empty() && base.rfind("oci:", 0) != 0) open(regs.base, base, "pull");

  fs::TempDir scratch("release");
  std::string output = "oci:" + (scratch.path() / "layout").string() + ":release";
  oci::PackageOptions o;
  o.source = pulled.dir;
  o.format = release_format(p);
  if (p.package.compression) o.compression = oci::parse_compression(*p.package.compression);
  o.output = output;
  o.base = base;
  o.base_registry = regs.base ? &*regs.base : nullptr;
  o.fetch_base_layers = req.dry_run || !regs.same_registry();
  if (p.package.model_path) o.model_path = *p.package.model_path;
  if (p.package.implementation) o.implementation = *p.package.implementation;
  o.env = p.package.env;
  o.entrypoint = p.package.entrypoint;
  o.cmd = p.package.cmd;
  o.labels = p.package.labels;
  o.source_date_epoch = s.source_date_epoch;
  o.tool = s.tool;
  oci::LayerDigestCache cache(s.cache / "layers");
  std::map<std::string, oci::BlobOutcome> streamed;
  if (!req.dry_run) o.stream_layer = oci::push_stream_factory(*regs.target, cache, streamed, false);
  oci::PackageResult r = oci::package(o, s.log);
  report.image = repo + "@" + r.manifest.digest;
  if (req.dry_run) {
    rec.status = "dry-run";
    rec.detail = "built " + report.image + "; not pushed";
    return;
  }
  oci::PackagePushSources sources;
  sources.base = regs.base ? &*regs.base : nullptr;
  sources.same_registry = regs.same_registry();
  sources.done = std::move(streamed);
  oci::PackagePushResult pr = oci::push_package(*regs.target, r, output, push_text, std::move(sources));
  for (const auto& l : r.layers)
    cache.put(l.key, l.digest);
  report.bytes_uploaded = pr.stats.uploaded;
  report.bytes_reused = pr.stats.skipped + pr.stats.mounted;
  rec.status = pr.stats.uploaded == 0 ? "reused" : "done";
  rec.detail = "pushed " + push_text + " = " + report.image + ": " + human_bytes(pr.stats.uploaded) + " uploaded, " +
               human_bytes(report.bytes_reused) + " reused";
}

/// The files of the environment's directory that the release changes.
std::vector<std::string> changed_files(const std::map<std::string, std::string>& before,
                                       const std::map<std::string, std::string>& after) {
  std::vector<std::string> out;
  for (const auto& [f, text] : after) {
    auto it = before.find(f);
    if (it == before.end())
      out.push_back("+ " + f);
    else if (it->second != text)
      out.push_back("~ " + f);
  }
  for (const auto& [f, _] : before)
    if (!after.count(f)) out.push_back("- " + f);
  return out;
}

void render_step(ReleaseServices& s, const ReleaseRequest& req, const std::string& model, ReleaseReport& report,
                 StepRecord& rec) {
  const Project& p = s.project;
  auto files = render_files(p.deploy, deploy_overrides(p, req.env, report.image));
  std::string tip = s.gitops.fetch();
  std::string dir = gitops::expand_path(p.promotion.gitops.path, req.env, model);
  auto before = tip.empty() ? std::map<std::string, std::string>{} : s.gitops.read_dir(tip, dir);
  report.manifests_changed = changed_files(before, files);
  rec.status = "done";
  rec.detail = std::to_string(files.size()) + " files for " + quote(dir) + ", " +
               std::to_string(report.manifests_changed.size()) + " changed";
}

void promote_step(ReleaseServices& s, const ReleaseRequest& req, const mlflow::PullResult& pulled,
                  ReleaseReport& report, StepRecord& rec) {
  const Project& p = s.project;
  auto render_fn = [&p](const std::string& env, const std::string& image) {
    return render_files(p.deploy, deploy_overrides(p, env, image));
  };
  auto digest_fn = [&pulled](const std::string& name, const std::string& version) {
    if (name != pulled.lock.name || version != pulled.lock.version)
      throw Error(ErrorKind::operational, "cannot compute the digest of " + quote(name) + " version " + version);
    return pulled.lock.digest;
  };
  auto note = [&s](const std::string& line) { s.log.debug(1, line); };
  gitops::Workflow w{s.registry, s.gitops, p.promotion, render_fn, digest_fn, [&p] { return p.deploy.image; },
                     note,       {}};
  gitops::PromoteRequest pr;
  pr.model = pulled.lock.name;
  pr.version = pulled.lock.version;
  pr.env = req.env;
  pr.image = report.image;
  pr.message = req.message;
  pr.actor = req.actor;
  pr.dry_run = req.dry_run;
  gitops::Outcome o = gitops::promote(w, pr);
  if (req.dry_run) {
    // The validation of this run passed but was not recorded: say so instead of "no recorded validation".
    for (auto& c : o.checks)
      if (c.name == "validation" && !c.ok && !report.gates_passed.empty() && !req.skip_validate) {
        c.ok = true;
        c.detail = "passed in this run (not recorded: dry run)";
      }
    o.refused = false;
    for (const auto& c : o.checks)
      if (!c.ok) o.refused = true;
  }
  report.checks = o.checks;
  report.commit = o.commit;
  report.committed = o.committed;
  report.alias_moved = o.alias_moved;
  report.already = o.already;
  report.previous_version = o.previous_version;
  report.diff = o.diff;
  if (o.refused) {
    std::vector<std::string> failed;
    for (const auto& c : o.checks)
      if (!c.ok) failed.push_back(c.name + ": " + c.detail);
    throw Error(ErrorKind::gate_failed, "the policy of " + quote(req.env) + " refuses " + pr.model + " version " +
                                            pr.version + ": " + join(failed, "; "));
  }
  if (req.dry_run) {
    rec.status = "dry-run";
    rec.detail = "every check passed; nothing committed";
  } else if (!o.committed && !o.alias_moved && o.already) {
    rec.status = "reused";
    rec.detail = quote(req.env) + " already holds version " + pr.version + " (commit " + o.commit.substr(0, 12) + ")";
  } else {
    rec.status = "done";
    rec.detail = "commit " + o.commit.substr(0, 12) + (o.committed ? " pushed" : " (already in git)") + ", alias @" +
                 req.env + " -> " + pr.version;
  }
}

} // namespace

void check_release(const Project& p, const ReleaseRequest& req) {
  auto env = p.promotion.environments.find(req.env);
  std::string file = quote(p.file.string());
  if (env == p.promotion.environments.end())
    throw Error(ErrorKind::usage,
                "cannot release to " + quote(req.env) + ": no environments." + req.env + " in " + file,
                "add it with its registry and policy ('mlops init' writes staging and prod)");
  if (env->second.registry.empty())
    throw Error(ErrorKind::usage,
                "cannot release to " + quote(req.env) + ": environments." + req.env + ".registry is not set in " + file,
                "name the repository the image goes to: registry: HOST[:PORT]/REPO");
  if (p.promotion.gitops.url.empty())
    throw Error(ErrorKind::usage, "cannot release to " + quote(req.env) + ": gitops.url is not set in " + file);
  oci::Format f = release_format(p);
  if (f == oci::Format::artifact)
    throw Error(ErrorKind::usage, "cannot release an OCI artifact: package.format must be modelcar or image",
                "an artifact has no runtime to deploy");
  if (!p.package.base)
    throw Error(ErrorKind::usage, "cannot release to " + quote(req.env) + ": package.base is not set in " + file,
                f == oci::Format::modelcar ? "a modelcar needs a base with sh, ln and sleep (busybox)"
                                           : "a serving image needs an MLServer base");
  if (req.skip_validate && env->second.validation)
    throw Error(ErrorKind::usage,
                "--skip-validate is refused: the policy of " + quote(req.env) + " requires validation",
                "environments." + req.env + ".requires.validation is true");
}

ReleaseReport run_release(ReleaseServices& s, const ReleaseRequest& req,
                          const std::function<void(const StepRecord&)>& steps_done) {
  check_release(s.project, req);
  ReleaseReport report;
  report.env = req.env;
  report.dry_run = req.dry_run;
  Steps steps(s, report, steps_done);
  mlflow::ModelUri uri = mlflow::parse_model_uri(req.model_uri);
  mlflow::PullResult pulled;
  steps.run("pull", [&](StepRecord& rec) {
    mlflow::ModelVersion v = mlflow::resolve_version(s.mlflow, uri);
    report.model = v.name;
    report.version = v.version;
    pulled = pull_step(s, uri, v, rec);
  });
  steps.run("validate", [&](StepRecord& rec) { validate_step(s, req, pulled, report, rec); });
  steps.run("package", [&](StepRecord& rec) { package_step(s, req, pulled, report, rec); });
  steps.run("render", [&](StepRecord& rec) { render_step(s, req, report.model, report, rec); });
  steps.run("promote", [&](StepRecord& rec) { promote_step(s, req, pulled, report, rec); });
  return report;
}

} // namespace mlops::release
