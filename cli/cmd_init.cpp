#include "cli/command.hpp"
#include "core/error.hpp"
#include "release/init.hpp"

#include <filesystem>

namespace mlops::cli {

namespace {

struct InitArgs {
  release::InitOptions opts;
  bool force = false;
};

int run_init(Context& ctx, InitArgs& a) {
  // --config FILE names the file to write; else mlops.yaml here. No questions
  // are asked: every value has a flag, the rest is written as a commented example.
  std::filesystem::path file = ctx.global().config_file.empty() ? "mlops.yaml" : ctx.global().config_file;
  if (a.opts.tracking_uri.empty()) a.opts.tracking_uri = ctx.global().tracking_uri;
  release::write_init(file, a.opts, a.force);
  if (ctx.json()) {
    ctx.out().json({{"file", std::filesystem::absolute(file).string()}, {"written", true}});
    return 0;
  }
  ctx.out().line("wrote " + file.string() + " (checked: it loads as every command reads it)");
  ctx.out().line("next: edit the commented values, then 'mlops doctor' and 'mlops release models:/NAME@ALIAS --env "
                 "staging'");
  return 0;
}

} // namespace

Command init_command() {
  Command c;
  c.name = "init";
  c.summary = "write a commented mlops.yaml for a new project";
  c.needs.settings = false; // writes the file: works next to a broken one
  c.description =
      "Writes mlops.yaml in the current directory (or the file --config names): the MLflow server, the gates "
      "'mlops validate' checks, how 'mlops package' builds (package.format, package.base), what 'mlops render' "
      "writes (deploy.name, deploy.target, namespaces per environment), the GitOps repository and, per "
      "environment, the registry 'mlops release' pushes to and the promotion policy (staging needs a recorded "
      "validation; prod also an approval, staging first and a pinned image). Every value has a flag; what no "
      "flag gives is written as a commented example. No questions are asked, so it works the same in a script.\n\n"
      "The text is read back by the loaders every command uses before it is written, so the file always "
      "loads; an existing file is never replaced without --force (exit 7). --registry HOST[:PORT] gets "
      "/models/NAME appended; HOST[:PORT]/REPO is used as it is.";
  c.examples = "  mlops init\n"
               "  mlops init --name iris --target kserve --registry registry.example:5000 "
               "--gitops https://git.example/platform/manifests.git\n"
               "  mlops --tracking-uri http://127.0.0.1:5000 init --force";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<InitArgs>();
    app.add_option("--name", a->opts.name, "the registered model (deploy.name; default: the directory's name)")
        ->type_name("NAME");
    app.add_option("--target", a->opts.target, "seldon-v1, seldon-v2, kserve (default) or k8s")->type_name("TARGET");
    app.add_option("--registry", a->opts.registry, "where releases push images: HOST[:PORT][/REPO]")
        ->type_name("REGISTRY");
    app.add_option("--gitops", a->opts.gitops, "the GitOps repository: https://, ssh://, file:// or a path")
        ->type_name("URL");
    app.add_option("--base", a->opts.base, "the base image (package.base): oci:PATH[:TAG] or HOST/REPO[:TAG]")
        ->type_name("REF");
    app.add_flag("--force", a->force, "replace an existing file");
    return [a](Context& ctx) { return run_init(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
