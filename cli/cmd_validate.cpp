#include "cli/command.hpp"
#include "cli/model_source.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/redact.hpp"
#include "gates/gates.hpp"

#include <chrono>

namespace mlops::cli {

namespace {

struct ValidateArgs {
  std::string target;
  std::string policy;
  std::string junit;
  bool record = false;
};

/// Pulls a models:/ URI into the cache (reusing what is there) or reads a directory.
gates::Target resolve_target(Context& ctx, const std::string& text) {
  gates::Target t;
  ModelSource src;
  try {
    src = open_model_source(ctx, text);
  } catch (const Error& e) {
    throw e.with_context("cannot validate " + quote(text));
  }
  t.dir = src.dir;
  t.lock = src.lock;
  t.uri = src.uri;
  if (t.lock) {
    t.name = t.lock->name;
    t.version = t.lock->version;
    t.run_id = t.lock->run_id;
    t.source = t.lock->source;
  }
  return t;
}

void print_text(Context& ctx, const gates::Report& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : r.gates) {
    std::string status = g.status == gates::Status::pass ? "PASS" : g.status == gates::Status::fail ? "FAIL" : "SKIP";
    rows.push_back({status, g.name, g.reason});
    if (g.status == gates::Status::fail) {
      // Every finding on its own line, except the one the reason already says.
      for (const auto& d : g.details) {
        if (g.reason.size() >= d.size() && g.reason.compare(g.reason.size() - d.size(), d.size(), d) == 0) continue;
        rows.push_back({"", "", d});
      }
    }
  }
  for (const auto& row : rows) {
    std::string line = row[0] + std::string(6 - row[0].size(), ' ') + row[1] +
                       std::string(row[1].size() < 13 ? 13 - row[1].size() : 1, ' ') + row[2];
    ctx.out().line(line);
  }
  std::string what =
      r.target.name.empty() ? quote(r.target.dir.string()) : r.target.name + " version " + r.target.version;
  ctx.out().line("validate " + what + ": " + std::to_string(r.count(gates::Status::pass)) + " passed, " +
                 std::to_string(r.count(gates::Status::fail)) + " failed, " +
                 std::to_string(r.count(gates::Status::skip)) + " skipped");
}

void record(Context& ctx, const gates::Report& r) {
  const auto& t = r.target;
  if (t.name.empty() || !t.lock) {
    throw Error(ErrorKind::usage, "--record needs a model pulled by mlops (a lock file) or a models:/ URI");
  }
  auto& client = ctx.mlflow();
  if (t.lock->tracking_uri != client.tracking_uri()) {
    throw Error(ErrorKind::usage,
                "cannot record the verdict: " + quote(t.dir.string()) + " was pulled from " +
                    quote(t.lock->tracking_uri) + ", not from " + quote(client.tracking_uri()),
                "point --tracking-uri at the server the model came from");
  }
  gates::record_verdict(client, r);
  ctx.log().debug(1, "recorded the verdict on " + t.name + " version " + t.version);
}

/// Captured output of test commands and servers may echo credentials from
/// the environment; none of them leaves mlops.
void redact_report(gates::Report& r, const Settings& s) {
  std::string pair = s.username.empty() || s.password.empty() ? std::string() : s.username + ":" + s.password;
  for (auto& g : r.gates) {
    g.output = redact_secrets(g.output, {pair, s.password, s.token});
    g.reason = redact_secrets(g.reason, {pair, s.password, s.token});
    for (auto& d : g.details)
      d = redact_secrets(d, {pair, s.password, s.token});
  }
}

int run_validate(Context& ctx, const ValidateArgs& a) {
  gates::Policy policy =
      a.policy.empty() ? gates::policy_from_project(ctx.settings().project_file) : gates::load_policy_file(a.policy);
  gates::Target target = resolve_target(ctx, a.target);
  target.label = a.target;
  mlflow::Client* client = nullptr;
  bool need_server = policy.metrics_configured || a.record;
  if (need_server && !ctx.settings().tracking_uri.empty()) client = &ctx.mlflow();
  if (a.record && !client) {
    throw Error(ErrorKind::usage, "--record needs an MLflow tracking server",
                "set MLFLOW_TRACKING_URI or pass --tracking-uri");
  }
  gates::Report report = gates::validate(target, policy, client, std::filesystem::current_path(), ctx.log());
  redact_report(report, ctx.settings());
  if (!a.junit.empty()) {
    try {
      fs::atomic_write(a.junit, gates::report_junit(report));
    } catch (const Error& e) {
      throw e.with_context("cannot write the JUnit report");
    }
  }
  // The verdict is printed before it is recorded, so a refused tag write
  // (permission denied) still leaves the user with the report.
  if (ctx.json())
    ctx.out().json(gates::report_json(report));
  else
    print_text(ctx, report);
  if (a.record) record(ctx, report);
  if (!report.passed()) {
    std::string failed;
    for (const auto& g : report.gates)
      if (g.status == gates::Status::fail) failed += (failed.empty() ? "" : ", ") + g.name;
    throw Error(ErrorKind::gate_failed, "validation of " + quote(a.target) + " failed: " + failed);
  }
  return 0;
}

} // namespace

Command validate_command() {
  Command c;
  c.name = "validate";
  c.summary = "check a model against interface, environment, metric and test gates";
  c.description =
      "Runs the gates of the policy against a pulled model directory or a models:/ URI (pulled into "
      "$XDG_CACHE_HOME/mlops/models, default ~/.cache/mlops/models, first) and reports one line per gate. format: "
      "MLmodel parses, the files it "
      "names exist and the files still match mlops.lock.json. interface: a servable flavor "
      "(python_function by default), a signature, and input examples (input_example.json of every saved "
      "type and serving_input_example.json) that conform to it: column names, required columns, types, "
      "tensor dtypes and shapes. environment: requirements present and pinned with '==', a Python version, "
      "no forbidden package, required packages at the required versions. extras: declared artifacts exist. "
      "metrics: thresholds on the version's run metrics ('accuracy >= 0.9') and comparisons with another "
      "version ('@champion'); a metric never logged fails. tests: user commands run as argument vectors with "
      "MLOPS_MODEL_DIR, MLOPS_MODEL_URI and MLOPS_INPUT_EXAMPLE set, each with a timeout. serve (serve: true): "
      "starts MLServer (the mlserver executable on PATH, with mlserver-mlflow) on free 127.0.0.1 ports, sends "
      "the input example to /v2/models/NAME/infer, checks the answer against the output signature and stops "
      "the server; reported as skipped, never silently, when mlserver is not installed.\n\n"
      "The policy is the 'gates:' section of mlops.yaml, or --policy FILE (a YAML file with a top-level "
      "'gates:'); see schemas/mlops.schema.json. Exit 0 when every gate passed, 3 when one failed, 2 for a "
      "bad policy. --json prints the report (schemas/output.validate.schema.json), --junit FILE writes JUnit "
      "XML for CI test reporters, and --record writes the verdict to the model version as tags "
      "(mlops.validation.status, .digest = the lock digest validated, .time, .policy).";
  c.examples = "  mlops validate models:/iris@challenger --junit report.xml --record\n"
               "  mlops validate ./iris-v3 --policy gates.yaml\n"
               "  mlops validate ./iris-v3 --json | jq '.gates[] | select(.status==\"fail\")'";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<ValidateArgs>();
    app.add_option("TARGET", a->target, "a pulled model directory or a models:/ URI")->required();
    app.add_option("--policy", a->policy, "policy file with a top-level 'gates:' (default: mlops.yaml's gates)")
        ->type_name("FILE");
    app.add_option("--junit", a->junit, "write a JUnit XML report to FILE")->type_name("FILE");
    app.add_flag("--record", a->record, "write the verdict to the MLflow model version as tags");
    return [a](Context& ctx) { return run_validate(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
