#include "release/doctor.hpp"

#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "oci/reference.hpp"
#include "oci/registry.hpp"
#include "oci/registry_auth.hpp"
#include "release/project.hpp"

#include <cstdlib>

namespace mlops::release {

namespace {

/// What the doctor learnt on the way that later checks need.
struct Findings {
  std::optional<Project> project;
  bool mlflow_reachable = false;
  std::optional<std::int64_t> server_date;
};

DoctorCheck failed(std::string name, const Error& e) { return {std::move(name), Verdict::fail, e.what(), e.hint()}; }

/// The printable first line of a server's answer, at most 40 characters.
std::string short_text(const std::string& body) {
  std::string out;
  for (char c : body) {
    if (c == '\n' || c == '\r' || out.size() >= 40) break;
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f) out += c;
  }
  return std::string(trim(out));
}

DoctorCheck check_config(const DoctorSubject& s, Findings& f) {
  if (s.settings_error) return failed("config", *s.settings_error);
  if (!s.project_file)
    return {"config", Verdict::fail, "no mlops.yaml in this directory or a parent",
            "'mlops init' writes one; --config FILE names another"};
  try {
    f.project = load_project(*s.project_file);
  } catch (const Error& e) {
    return failed("config", e);
  }
  const Project& p = *f.project;
  std::string detail = s.project_file->string() + " is valid";
  if (!p.deploy.name.empty()) detail += "; model " + quote(p.deploy.name);
  if (!p.promotion.environments.empty()) {
    std::vector<std::string> envs;
    for (const auto& [name, _] : p.promotion.environments)
      envs.push_back(name);
    detail += "; environments " + join(envs, ", ");
  }
  return {"config", Verdict::pass, detail, ""};
}

DoctorCheck check_mlflow(const DoctorSubject& s, Findings& f) {
  if (!s.mlflow)
    return {"mlflow", Verdict::skip, "no tracking server configured",
            "set MLFLOW_TRACKING_URI, --tracking-uri or mlflow.tracking_uri in mlops.yaml"};
  http::Request req;
  req.url = s.mlflow->tracking_uri() + "/version";
  http::Response r;
  try {
    r = s.mlflow->http().send(req);
  } catch (const Error& e) {
    return failed("mlflow", e);
  }
  f.mlflow_reachable = true;
  f.server_date = http::parse_http_date(r.header("date"));
  std::string where = quote(s.mlflow->tracking_uri());
  if (r.status == 200 && !short_text(r.body).empty())
    return {"mlflow", Verdict::pass, where + " answers: MLflow " + short_text(r.body), ""};
  return {"mlflow", Verdict::pass,
          where + " answers (its version is not public: HTTP " + std::to_string(r.status) + ")", ""};
}

DoctorCheck check_mlflow_auth(const DoctorSubject& s, const Findings& f) {
  if (!f.mlflow_reachable) return {"mlflow-auth", Verdict::skip, "the tracking server did not answer", ""};
  try {
    s.mlflow->search_registered_models("", 1);
  } catch (const Error& e) {
    return failed("mlflow-auth", e);
  }
  return {"mlflow-auth", Verdict::pass,
          s.mlflow_user.empty() ? "the registry can be read (no user configured, or a token)"
                                : "the registry can be read as " + quote(s.mlflow_user),
          ""};
}

DoctorCheck check_model(const DoctorSubject& s, const Findings& f) {
  std::string name = !s.model.empty() ? s.model : f.project ? f.project->deploy.name : "";
  if (name.empty())
    return {"model", Verdict::skip, "no model named", "set deploy.name in mlops.yaml or pass --model NAME"};
  if (!f.mlflow_reachable) return {"model", Verdict::skip, "the tracking server did not answer", ""};
  try {
    mlflow::RegisteredModel m = s.mlflow->get_registered_model(name);
    std::vector<std::string> aliases;
    for (const auto& [alias, version] : m.aliases)
      aliases.push_back("@" + alias + " -> " + version);
    return {"model", Verdict::pass,
            quote(name) + " is readable" + (aliases.empty() ? ", no aliases yet" : ": " + join(aliases, ", ")), ""};
  } catch (const Error& e) {
    return failed("model", e);
  }
}

DoctorCheck check_clock(const DoctorSubject& s, const Findings& f) {
  if (!f.server_date || !s.now)
    return {"clock", Verdict::skip, "no server date to compare with (the tracking server did not answer)", ""};
  std::int64_t skew = s.now() - *f.server_date;
  std::string amount = std::to_string(skew < 0 ? -skew : skew) + " s";
  if (skew <= limits::k_max_clock_skew_s && skew >= -limits::k_max_clock_skew_s)
    return {"clock", Verdict::pass, "within " + amount + " of the tracking server's clock", ""};
  return {"clock", Verdict::fail,
          "this machine's clock is " + amount + (skew > 0 ? " ahead of" : " behind") + " the tracking server's",
          "synchronise it (NTP): expiring tokens and recorded times depend on it"};
}

DoctorCheck check_registry(const DoctorSubject& s, const std::string& env, const std::string& repo, LogSink& log) {
  std::string name = "registry " + env;
  if (repo.empty())
    return {name, Verdict::skip, "environments." + env + ".registry is not set",
            "set it to HOST[:PORT]/REPO for 'mlops release --env " + env + "'"};
  if (!s.registry_http) return {name, Verdict::skip, "no HTTP client for registries", ""};
  try {
    oci::ImageRef ref = oci::parse_image_ref(repo);
    auto creds = oci::find_credentials(ref.registry, s.getenv);
    oci::Registry reg(*s.registry_http, ref, creds, s.insecure || oci::is_loopback_registry(ref.registry), log,
                      "pull,push");
    reg.ping();
    reg.check_push();
    std::string who = creds ? "credentials from " + creds->source : "no credentials found (anonymous)";
    return {name, Verdict::pass, quote(repo) + " answers and accepts a push (" + who + ")", ""};
  } catch (const Error& e) {
    return failed(name, e);
  }
}

DoctorCheck check_gitops(const DoctorSubject& s, const Findings& f) {
  if (!f.project || f.project->promotion.gitops.url.empty())
    return {"gitops", Verdict::skip, "gitops.url is not set", "set it for 'mlops promote' and 'mlops release'"};
  if (!s.open_gitops) return {"gitops", Verdict::skip, "not checked", ""};
  const auto& cfg = f.project->promotion.gitops;
  try {
    auto remote = s.open_gitops(cfg);
    std::string tip = remote->fetch();
    remote->check_push();
    std::string where = quote(redact_url(cfg.url));
    return {"gitops", Verdict::pass,
            where + " branch " + quote(cfg.branch) + (tip.empty() ? " (not created yet)" : " at " + tip.substr(0, 12)) +
                "; push allowed" +
                (remote->options().credentials.source.empty()
                     ? ""
                     : " (credentials from " + remote->options().credentials.source + ")"),
            ""};
  } catch (const Error& e) {
    return failed("gitops", e);
  }
}

} // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
  case Verdict::pass:
    return "pass";
  case Verdict::fail:
    return "fail";
  case Verdict::skip:
    return "skip";
  }
  return "skip";
}

bool DoctorReport::ok() const {
  for (const auto& c : checks)
    if (c.verdict == Verdict::fail) return false;
  return true;
}

DoctorReport diagnose(const DoctorSubject& s, LogSink& log) {
  DoctorReport r;
  Findings f;
  r.checks.push_back(check_config(s, f));
  if (!s.env.empty() && f.project && !f.project->promotion.environments.count(s.env))
    throw Error(ErrorKind::usage, "unknown --env " + quote(s.env) + ": not in 'environments' of mlops.yaml");
  r.checks.push_back(check_mlflow(s, f));
  r.checks.push_back(check_mlflow_auth(s, f));
  r.checks.push_back(check_model(s, f));
  r.checks.push_back(check_clock(s, f));
  if (!f.project || f.project->promotion.environments.empty()) {
    r.checks.push_back({"registry", Verdict::skip, "no environments in mlops.yaml",
                        "environments.ENV.registry names where 'mlops release' pushes"});
  } else {
    for (const auto& [env, policy] : f.project->promotion.environments)
      if (s.env.empty() || env == s.env) r.checks.push_back(check_registry(s, env, policy.registry, log));
  }
  r.checks.push_back(check_gitops(s, f));
  return r;
}

} // namespace mlops::release
