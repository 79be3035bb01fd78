#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "model/lock.hpp"

namespace mlops::cli {

namespace {

struct HistoryArgs {
  std::string model;
  std::string env;
};

int run_history(Context& ctx, const HistoryArgs& a) {
  GitopsSession s(ctx);
  gitops::HistoryReport rep = gitops::history(*s.workflow, a.model, a.env);
  if (ctx.json()) {
    nlohmann::ordered_json j = {{"model", a.model}};
    if (!a.env.empty()) j["environment"] = a.env;
    j["records"] = nlohmann::ordered_json::array();
    for (const auto& r : rep.records) {
      j["records"].push_back({{"time", model::iso8601_utc_ms(r.time * 1000)},
                              {"environment", r.env},
                              {"action", r.action},
                              {"from_version", r.previous_version},
                              {"to_version", r.version},
                              {"image", r.image},
                              {"image_digest", gitops::image_digest(r.image)},
                              {"by", r.actor},
                              {"approvers", r.approvers},
                              {"reason", r.reason},
                              {"commit", r.commit}});
    }
    j["environments"] = nlohmann::ordered_json::object();
    for (const auto& [env, version] : rep.git_current)
      j["environments"][env] = {{"git_version", version},
                                {"alias_version", rep.alias_current[env]},
                                {"consistent", rep.alias_current[env] == version}};
    j["mismatches"] = rep.mismatches;
    ctx.out().json(j);
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : rep.records)
      rows.push_back({model::iso8601_utc_ms(r.time * 1000).substr(0, 19) + "Z", r.env, r.action,
                      (r.previous_version.empty() ? "-" : r.previous_version) + " -> " + r.version,
                      gitops::image_digest(r.image).substr(0, 19), r.actor, join(r.approvers, ","),
                      r.commit.substr(0, 12), r.reason});
    if (rows.empty())
      ctx.out().line("no promotions of " + quote(a.model) + (a.env.empty() ? "" : " to " + quote(a.env)));
    else
      ctx.out().table({"TIME", "ENV", "ACTION", "VERSION", "IMAGE", "BY", "APPROVED-BY", "COMMIT", "REASON"}, rows);
    for (const auto& m : rep.mismatches)
      ctx.out().warning(m);
  }
  return 0;
}

} // namespace

Command history_command() {
  Command c;
  c.name = "history";
  c.summary = "list the promotions and rollbacks of a model";
  c.description =
      "Lists every promotion and rollback of MODEL (of one environment with --env), newest first: time, "
      "environment, action, from -> to version, image digest, who, approvers, commit and reason. The GitOps "
      "repository's log is the record (commits made by mlops, read by their trailers); it is cross-checked with "
      "MLflow: where the alias @ENV does not point at the version the repository deploys, a warning says so (the "
      "next promote or rollback reconciles it). --json gives the records and, per environment, both versions "
      "(schemas/output.history.schema.json).";
  c.examples = "  mlops history iris\n"
               "  mlops history iris --env prod --json";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<HistoryArgs>();
    app.add_option("model", a->model, "the registered model")->required();
    app.add_option("--env", a->env, "only this environment")->type_name("ENV");
    return [a](Context& ctx) { return run_history(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
