#include "cli/command.hpp"
#include "cli/gitops_session.hpp"
#include "core/error.hpp"

namespace mlops::cli {

namespace {

struct PromoteArgs {
  gitops::PromoteRequest req;
  std::string actor;
};

int run_promote(Context& ctx, PromoteArgs& a) {
  a.req.actor = resolve_actor(ctx, a.actor);
  GitopsSession s(ctx);
  gitops::Outcome o = gitops::promote(*s.workflow, a.req);
  std::string what = quote(o.model) + " version " + o.version + " to " + quote(o.env);
  if (ctx.json()) {
    ctx.out().json(outcome_json(o));
  } else {
    print_checks(ctx, o.checks);
    if (a.req.dry_run) {
      if (!o.diff.empty()) ctx.out().data(o.diff);
      ctx.out().line("dry run: would promote " + what + " (" + o.path + ")" +
                     (o.already ? "; it is there already" : "") + "; nothing changed");
    } else if (o.refused) {
      // reported below as the error
    } else if (!o.committed && !o.alias_moved && o.already) {
      ctx.out().line(what + ": already promoted (commit " + o.commit.substr(0, 12) + "); nothing to do");
    } else {
      ctx.out().line("promoted " + what + ": commit " + o.commit.substr(0, 12) +
                     (o.committed ? " pushed" : " (already in git)") + ", alias @" + o.env + " -> " + o.version);
    }
  }
  if (o.refused) {
    std::string failed;
    for (const auto& c : o.checks)
      if (!c.ok) failed += (failed.empty() ? "" : "; ") + c.name + ": " + c.detail;
    throw Error(ErrorKind::gate_failed, "cannot promote " + what + ": " + failed);
  }
  return 0;
}

} // namespace

Command promote_command() {
  Command c;
  c.name = "promote";
  c.summary = "promote a model version to an environment as a GitOps commit and an MLflow alias";
  c.description =
      "Promotes VERSION (a number or @alias) of MODEL to the environment ENV. First the environment's policy "
      "(environments.ENV.requires in mlops.yaml) is checked: validation (a passed 'mlops validate --record' of "
      "exactly this version's bytes: the recorded digest equals the lock digest of the version, pulled into the "
      "cache when needed), approvals (N approvals recorded with 'mlops approve' for ENV; with self_approval false "
      "the promoter's own does not count), previous (the environment named there already held the version, "
      "according to the GitOps repository, and did not roll it back) and image (an image pinned by digest, from "
      "--image or the version's 'mlops.image' tag). Then the manifests for ENV are rendered from the 'deploy:' "
      "section (as 'mlops render --env ENV --image IMAGE') and committed into the GitOps repository ('gitops:' "
      "url, branch, path such as clusters/{env}/{model}) as the whole content of that directory, with a "
      "structured message and the trailers Model, Version, Environment, Action, Image, Image-Digest, "
      "Previous-Version, Promoted-By, Approved-By and Reason; the commit is pushed (never forced), and when the "
      "branch moved meanwhile it is made again on the new tip (gitops.attempts times). Last, the MLflow alias "
      "named after the environment (@ENV) is pointed at the version and the tag mlops.promotion.ENV records "
      "status, who, when, the commit and the approvers.\n\n"
      "Order and failures: the permission to change the model is checked first, by writing the "
      "mlops.promotion.ENV tag as 'pending' (a user with only READ gets exit 5 and nothing reaches git). The "
      "repository is the deployed truth and is written before the alias; if the alias cannot be moved after the "
      "push, the command fails and the next promote, rollback or history run sees the difference: rerunning the "
      "promote completes it. The alias is always set to what the repository holds, and checked again after it "
      "moved, so racing promotions end with the alias on the repository's latest promotion. Promoting the version "
      "the environment already holds is a no-op (exit 0). --dry-run prints the checks and the manifest diff and "
      "changes nothing (exit 3 when a check fails).\n\n"
      "Identity: the MLflow user when MLFLOW_TRACKING_USERNAME is set, else --actor, MLOPS_ACTOR or the CI's "
      "user variable. Git credentials: MLOPS_GIT_USERNAME and MLOPS_GIT_PASSWORD (or MLOPS_GIT_TOKEN), else "
      "git's credential store (~/.git-credentials), for SSH the agent or MLOPS_GIT_SSH_KEY; never printed. The "
      "repository is cached under $XDG_CACHE_HOME/mlops/gitops. Exit 3 when a check fails, 5 without permission, "
      "7 when the branch kept moving, 6 when a server is unreachable.";
  c.examples =
      "  mlops promote iris 3 --env staging\n"
      "  mlops promote iris @champion --env prod --image registry.example/iris@sha256:<digest> -m 'weekly retrain'\n"
      "  mlops promote iris 4 --env prod --dry-run";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<PromoteArgs>();
    app.add_option("model", a->req.model, "the registered model")->required();
    app.add_option("version", a->req.version, "the version number or @alias")->required();
    app.add_option("--env", a->req.env, "the environment to promote to (dev, staging, prod, ...)")
        ->required()
        ->type_name("ENV");
    app.add_option("--image", a->req.image,
                   "the image to deploy, pinned: REF@sha256:DIGEST (recorded as the version's mlops.image tag)")
        ->type_name("REF");
    app.add_option("-m,--message", a->req.message, "why: recorded in the commit and its Reason trailer")
        ->type_name("TEXT");
    app.add_option("--actor", a->actor, "who is promoting, when MLflow has no user (CI)")->type_name("NAME");
    app.add_flag("--dry-run", a->req.dry_run, "print the checks and the manifest diff; change nothing");
    return [a](Context& ctx) { return run_promote(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
