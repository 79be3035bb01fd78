#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "core/error.hpp"
#include "release/doctor.hpp"

#include <chrono>

namespace mlops::cli {

namespace {

struct DoctorArgs {
  std::string env;
  std::string model;
};

int run_doctor(Context& ctx, const DoctorArgs& a) {
  release::DoctorSubject s;
  s.settings_error = ctx.config_error();
  s.project_file = ctx.settings().project_file;
  if (!s.project_file && !ctx.global().config_file.empty()) s.project_file = ctx.global().config_file;
  if (!s.project_file && !s.settings_error) s.project_file = find_project_file(std::filesystem::current_path());
  s.env = a.env;
  s.model = a.model;
  if (!ctx.settings().tracking_uri.empty()) s.mlflow = &ctx.mlflow();
  s.mlflow_user = ctx.settings().username;
  http::Client registry_http(ctx.registry_http_options(), ctx.log());
  s.registry_http = &registry_http;
  s.insecure = ctx.global().insecure;
  s.getenv = process_getenv;
  if (s.project_file) {
    auto file = *s.project_file;
    s.open_gitops = [&ctx, file](const gitops::GitopsConfig& cfg) {
      return std::make_unique<gitops::Remote>(remote_options(ctx, cfg, file));
    };
  }
  s.now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  release::DoctorReport r = release::diagnose(s, ctx.log());
  std::size_t failed = 0;
  for (const auto& c : r.checks)
    if (c.verdict == release::Verdict::fail) ++failed;
  if (ctx.json()) {
    nlohmann::ordered_json checks = nlohmann::ordered_json::array();
    for (const auto& c : r.checks) {
      nlohmann::ordered_json j = {{"name", c.name}, {"status", release::verdict_name(c.verdict)}, {"detail", c.detail}};
      j["hint"] = c.hint.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.hint);
      checks.push_back(j);
    }
    ctx.out().json({{"ok", r.ok()}, {"checks", checks}});
  } else {
    for (const auto& c : r.checks) {
      std::string status = c.verdict == release::Verdict::pass   ? "PASS"
                           : c.verdict == release::Verdict::fail ? "FAIL"
                                                                 : "SKIP";
      std::string name = c.name + std::string(c.name.size() < 18 ? 18 - c.name.size() : 1, ' ');
      ctx.out().line(status + "  " + name + c.detail);
      if (!c.hint.empty() && c.verdict != release::Verdict::pass)
        ctx.out().line(std::string(6 + 18, ' ') + "hint: " + c.hint);
    }
  }
  if (!r.ok())
    throw Error(ErrorKind::gate_failed,
                "doctor found " + std::to_string(failed) + " problem" + (failed == 1 ? "" : "s"),
                "each FAIL line above says what and how to fix it");
  return 0;
}

} // namespace

Command doctor_command() {
  Command c;
  c.name = "doctor";
  c.summary = "check the configuration and every server a release needs";
  c.needs.tolerate_broken_config = true;
  c.description =
      "Checks, in order, and prints one line each (PASS, FAIL or SKIP) with a hint for what fails: config (an "
      "mlops.yaml found by walking up, or --config, that every command can load), mlflow (the tracking server "
      "answers, and its version), mlflow-auth (the credentials are accepted: a registry search), model "
      "(deploy.name or --model is readable, with its aliases), clock (this machine's clock against the tracking "
      "server's Date header, at most 60 s apart), registry ENV for each environment (environments.ENV.registry "
      "answers, which credentials are used and where they were found, and a push is allowed: a blob upload is "
      "started and cancelled, leaving nothing behind) and gitops (gitops.url can be fetched and the credentials "
      "may push: the push handshake without a push). TLS failures say which certificate was refused and how to "
      "trust it. A check whose part is not configured is skipped, saying how to configure it. --env ENV checks "
      "only that environment's registry. Exit 0 when no check failed, 3 otherwise; --json prints every check "
      "(schemas/output.doctor.schema.json).";
  c.examples = "  mlops doctor\n  mlops doctor --env prod --json";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<DoctorArgs>();
    app.add_option("--env", a->env, "check only this environment's registry")->type_name("ENV");
    app.add_option("--model", a->model, "the registered model to read (default: deploy.name)")->type_name("NAME");
    return [a](Context& ctx) { return run_doctor(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
