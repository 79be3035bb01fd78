#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "core/error.hpp"

namespace mlops::cli {

namespace {

struct RollbackArgs {
  gitops::RollbackRequest req;
  std::string actor;
};

int run_rollback(Context& ctx, RollbackArgs& a) {
  a.req.actor = resolve_actor(ctx, a.actor);
  GitopsSession s(ctx);
  gitops::Outcome o = gitops::rollback(*s.workflow, a.req);
  std::string what = quote(o.model) + " in " + quote(o.env);
  if (ctx.json()) {
    ctx.out().json(outcome_json(o));
  } else if (a.req.dry_run) {
    if (!o.diff.empty()) ctx.out().data(o.diff);
    ctx.out().line("dry run: would roll back " + what + " from version " + o.previous_version + " to " + o.version +
                   "; nothing changed");
  } else if (o.already) {
    ctx.out().line(what + " already holds version " + o.version +
                   (o.alias_moved ? "; alias @" + o.env + " moved back to it" : "; nothing to do"));
  } else {
    ctx.out().line("rolled back " + what + " from version " + o.previous_version + " to " + o.version + ": commit " +
                   o.commit.substr(0, 12) + " pushed, alias @" + o.env + " -> " + o.version);
  }
  return 0;
}

} // namespace

Command rollback_command() {
  Command c;
  c.name = "rollback";
  c.summary = "return an environment to an earlier model version with a new GitOps commit";
  c.description =
      "Returns the environment ENV of MODEL to the version that held it before the current one, or to --to "
      "VERSION, according to the GitOps repository's history. The manifests that version had there are restored "
      "byte for byte as a new commit (never a history rewrite) with Action: rollback and the --reason in its "
      "message and Reason trailer; the commit is pushed, the alias @ENV is moved back and tags record it "
      "(mlops.rollback.ENV on the version rolled back from, mlops.promotion.ENV on the version returned to). By "
      "default the target skips versions that were already rolled back out of the environment. If the "
      "environment changes while the rollback is being pushed, the command stops with exit 7 rather than undo "
      "someone else's promotion. Rolling back to the version the environment already holds only reconciles the "
      "alias (exit 0). Needs EDIT on the model (checked by a tag write before anything is pushed; exit 5). Exit 4 "
      "when there is nothing to roll back to.";
  c.examples = "  mlops rollback iris --env prod --reason 'error rate doubled'\n"
               "  mlops rollback iris --env prod --to 3\n"
               "  mlops rollback iris --env staging --dry-run";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<RollbackArgs>();
    app.add_option("model", a->req.model, "the registered model")->required();
    app.add_option("--env", a->req.env, "the environment to roll back")->required()->type_name("ENV");
    app.add_option("--to", a->req.to, "the version to return to (default: the one before the current)")
        ->type_name("VERSION");
    app.add_option("--reason", a->req.reason, "why: recorded in the commit and the tags")->type_name("TEXT");
    app.add_option("--actor", a->actor, "who is rolling back, when MLflow has no user (CI)")->type_name("NAME");
    app.add_flag("--dry-run", a->req.dry_run, "print the manifest diff; change nothing");
    return [a](Context& ctx) { return run_rollback(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
