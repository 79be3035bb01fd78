#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "core/error.hpp"

namespace mlops::cli {

namespace {

struct ApproveArgs {
  std::string model, version, env, comment, actor;
};

int run_approve(Context& ctx, const ApproveArgs& a) {
  std::string actor = resolve_actor(ctx, a.actor);
  auto config = load_promotion_config(ctx);
  gitops::MlflowRegistry registry(ctx.mlflow());
  auto r = gitops::approve(registry, config, a.model, a.version, a.env, actor, a.comment);
  if (ctx.json())
    ctx.out().json(
        {{"model", r.model}, {"version", r.version}, {"environment", r.env}, {"by", r.actor}, {"tag", r.tag}});
  else
    ctx.out().line("approved " + quote(r.model) + " version " + r.version + " for " + quote(r.env) + " as " +
                   quote(r.actor));
  return 0;
}

} // namespace

Command approve_command() {
  Command c;
  c.name = "approve";
  c.summary = "record an approval of a model version for an environment";
  c.description =
      "Records that the acting user approves VERSION (a number or @alias) of MODEL for the environment ENV, as the "
      "version tag mlops.approval.ENV.USER (who, when, the comment and the validated digest). 'mlops promote' "
      "counts these against environments.ENV.requires.approvals. The identity is the MLflow user "
      "(MLFLOW_TRACKING_USERNAME; the server authenticates it) or, without one, --actor or MLOPS_ACTOR. Unless "
      "the environment's policy sets self_approval: true, the user who registered the version may not approve it "
      "(exit 3), and the promoter's own approval does not count. Needs EDIT on the model (exit 5).";
  c.examples = "  mlops approve iris 3 --env prod --comment 'reviewed the drift report'\n"
               "  mlops approve iris @challenger --env prod";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<ApproveArgs>();
    app.add_option("model", a->model, "the registered model")->required();
    app.add_option("version", a->version, "the version number or @alias")->required();
    app.add_option("--env", a->env, "the environment the approval is for")->required()->type_name("ENV");
    app.add_option("--comment", a->comment, "a note kept with the approval")->type_name("TEXT");
    app.add_option("--actor", a->actor, "who approves, when MLflow has no user")->type_name("NAME");
    return [a](Context& ctx) { return run_approve(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
