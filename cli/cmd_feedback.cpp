#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "gitops/promotion.hpp"
#include "prometheus/condition.hpp"
#include "prometheus/feedback.hpp"
#include "render/render.hpp"

#include <cmath>
#include <cstdio>

namespace mlops::cli {

namespace {

struct FeedbackArgs {
  std::string model;
  std::string env;
  std::string window = "1h";
  std::string prometheus;
  std::string feedback_counter;
  std::vector<std::string> fail_if;
  std::string variant;
  CLI::App* status = nullptr;
  CLI::App* check = nullptr;
};

/// The model's resolved deploy spec and its environment's Prometheus settings.
struct Target {
  render::Resolved spec;
  gitops::PrometheusConfig prometheus;
};

Target load_target(Context& ctx, const FeedbackArgs& a) {
  const auto& project = ctx.settings().project_file;
  std::string what = "cannot read the feedback of " + quote(a.model);
  if (!project)
    throw Error(ErrorKind::usage, what + ": no mlops.yaml with a 'deploy:' section",
                "run in the model's project (mlops.yaml found by walking up) or pass --config FILE");
  render::DeploySpec spec = render::load_spec(*project);
  render::Overrides o;
  o.env = a.env;
  Target t{render::resolve(spec, o), {}};
  if (a.model != spec.name && a.model != t.spec.name)
    throw Error(ErrorKind::usage,
                what + ": " + quote(project->string()) + " deploys " + quote(t.spec.name) + ", not " + quote(a.model));
  auto config = gitops::load_promotion_config(*project);
  if (auto it = config.environments.find(a.env); !a.env.empty() && it != config.environments.end())
    t.prometheus = it->second.prometheus;
  return t;
}

/// The Prometheus endpoint: --prometheus, MLOPS_PROMETHEUS_URL, environments.ENV.prometheus.url.
http::Options prometheus_http(Context& ctx, const gitops::PrometheusConfig& p, std::string& url,
                              const FeedbackArgs& a) {
  auto env = [](const char* name) { return process_getenv(name).value_or(""); };
  if (url.empty()) url = env("MLOPS_PROMETHEUS_URL");
  if (url.empty()) url = p.url;
  if (url.empty())
    throw Error(ErrorKind::usage, "cannot read the feedback of " + quote(a.model) + ": no Prometheus URL",
                "pass --prometheus URL, set MLOPS_PROMETHEUS_URL or environments." +
                    (a.env.empty() ? std::string("ENV") : a.env) + ".prometheus.url in mlops.yaml");
  http::Options o = ctx.http_options();
  o.username = env("MLOPS_PROMETHEUS_USERNAME");
  o.password = env("MLOPS_PROMETHEUS_PASSWORD");
  o.bearer_token = env("MLOPS_PROMETHEUS_TOKEN");
  o.extra_headers.clear();
  if (!p.ca_bundle.empty()) o.ca_bundle = p.ca_bundle;
  if (!p.client_cert.empty()) o.client_cert = p.client_cert;
  if (p.insecure_tls) o.verify_tls = false;
  o.unreachable_hint = "is Prometheus running? check --prometheus / environments.ENV.prometheus.url";
  return o;
}

prometheus::Status read_status(Context& ctx, const FeedbackArgs& a) {
  double window = prometheus::parse_duration(a.window, "--window");
  Target t = load_target(ctx, a);
  std::string url = a.prometheus;
  http::Client http(prometheus_http(ctx, t.prometheus, url, a), ctx.log());
  prometheus::Client client(http, {url});
  prometheus::StatusOptions o;
  o.window_s = window;
  o.feedback_counter = a.feedback_counter.empty() ? t.prometheus.feedback_counter : a.feedback_counter;
  prometheus::Status st = prometheus::status(client, t.spec, o);
  for (const auto& w : st.warnings)
    ctx.log().warn(w);
  return st;
}

std::string fixed(std::optional<double> v, int digits) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, *v);
  return buf;
}

std::string count(std::optional<double> v) {
  if (!v) return "-";
  return fixed(v, std::fabs(*v - std::round(*v)) < 1e-9 ? 0 : 2);
}

std::string ms(std::optional<double> seconds) {
  if (!seconds) return "-";
  if (std::isinf(*seconds)) return "+Inf";
  return fixed(*seconds * 1000, 1) + "ms";
}

nlohmann::ordered_json number(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  return *v;
}

nlohmann::ordered_json variant_json(const prometheus::VariantStatus& v, double window) {
  return {{"variant", v.variant},
          {"requests", number(v.requests)},
          {"rate_per_s", number(v.rate(window))},
          {"errors", number(v.errors)},
          {"error_rate", number(v.error_rate())},
          {"latency_s",
           {{"p50", number(v.p50)}, {"p95", number(v.p95)}, {"p99", number(v.p99)}, {"mean", number(v.mean_latency)}}},
          {"feedback", number(v.feedback)},
          {"rewarded", number(v.rewarded)},
          {"reward_sum", number(v.reward_sum)},
          {"mean_reward", number(v.mean_reward)},
          {"mean_reward_biased", v.mean_reward_biased}};
}

std::string heading(const prometheus::Status& st) {
  return "feedback of " + quote(st.model) + (st.env.empty() ? "" : " in env " + quote(st.env)) + " (" + st.target +
         ") over " + prometheus::window_text(st.window_s);
}

int run_status(Context& ctx, const FeedbackArgs& a) {
  prometheus::Status st = read_status(ctx, a);
  if (ctx.json()) {
    nlohmann::ordered_json vs = nlohmann::ordered_json::array();
    for (const auto& v : st.variants)
      vs.push_back(variant_json(v, st.window_s));
    ctx.out().json({{"model", st.model},
                    {"env", st.env},
                    {"target", st.target},
                    {"window_s", st.window_s},
                    {"mean_only", st.mean_only},
                    {"feedback_route", st.no_feedback_why.empty()},
                    {"variants", vs},
                    {"warnings", st.warnings}});
    return 0;
  }
  ctx.out().line(heading(st));
  std::vector<std::string> header = {"VARIANT", "REQUESTS", "RATE/S", "ERRORS", "ERROR_RATE"};
  if (st.mean_only)
    header.push_back("LATENCY (MEAN ONLY)");
  else
    header.insert(header.end(), {"P50", "P95", "P99"});
  header.insert(header.end(), {"FEEDBACK", "MEAN_REWARD"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : st.variants) {
    std::vector<std::string> row = {v.variant, count(v.requests), fixed(v.rate(st.window_s), 3), count(v.errors),
                                    fixed(v.error_rate(), 4)};
    if (st.mean_only)
      row.push_back(ms(v.mean_latency));
    else
      row.insert(row.end(), {ms(v.p50), ms(v.p95), ms(v.p99)});
    row.push_back(v.feedback ? count(v.feedback) : v.rewarded ? count(v.rewarded) + " (rewarded)" : "-");
    row.push_back(fixed(v.mean_reward, 4) + (v.mean_reward_biased ? " (biased)" : ""));
    rows.push_back(row);
  }
  ctx.out().table(header, rows);
  if (st.mean_only) ctx.out().line("latency: mean only (" + st.mean_only_why + ")");
  if (!st.no_feedback_why.empty()) ctx.out().line("feedback: none (" + st.no_feedback_why + ")");
  return 0;
}

int run_check(Context& ctx, const FeedbackArgs& a) {
  std::vector<prometheus::Condition> conditions;
  for (const auto& text : a.fail_if)
    conditions.push_back(prometheus::parse_condition(text));
  prometheus::Status st = read_status(ctx, a);
  std::vector<const prometheus::VariantStatus*> variants;
  for (const auto& v : st.variants)
    if (a.variant.empty() || v.variant == a.variant) variants.push_back(&v);
  if (variants.empty())
    throw Error(
        ErrorKind::not_found,
        "no data for variant " + quote(a.variant) + " of " + quote(st.model) + " over " +
            prometheus::window_text(st.window_s),
        "variants with data: " + [&] {
          std::vector<std::string> names;
          for (const auto& v : st.variants)
            names.push_back(v.variant);
          return join(names, ", ");
        }());
  std::vector<std::string> breached, missing;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const auto* v : variants)
    for (const auto& c : conditions) {
      auto x = prometheus::measure_of(c.measure, *v, st.window_s);
      std::string verdict = !x ? "no data" : prometheus::holds(c, *x) ? "breached" : "ok";
      std::string where = v->variant + ": " + c.text;
      if (verdict == "breached")
        breached.push_back(where + " (" + prometheus::measure_name(c.measure) + " " + fixed(x, 4) + ")");
      if (verdict == "no data") missing.push_back(where);
      results.push_back({{"variant", v->variant}, {"condition", c.text}, {"value", number(x)}, {"verdict", verdict}});
      if (!ctx.json())
        ctx.out().line((verdict == "breached" ? "FAIL     "
                        : verdict == "ok"     ? "ok       "
                                              : "NO DATA  ") +
                       where + (x ? " (" + prometheus::measure_name(c.measure) + " " + fixed(x, 4) + ")" : ""));
    }
  if (ctx.json())
    ctx.out().json({{"model", st.model},
                    {"env", st.env},
                    {"window_s", st.window_s},
                    {"results", results},
                    {"breached", breached.size()},
                    {"no_data", missing.size()}});
  if (!breached.empty())
    throw Error(ErrorKind::gate_failed, "feedback check of " + quote(st.model) + " failed: " + join(breached, "; "));
  if (!missing.empty())
    throw Error(ErrorKind::not_found,
                "feedback check of " + quote(st.model) + ": no data over " + prometheus::window_text(st.window_s) +
                    " for " + join(missing, "; "),
                "an idle variant or lost series is not a failure: exit 4, never 3");
  return 0;
}

void common_options(CLI::App* app, FeedbackArgs& a) {
  app->fallthrough();
  app->add_option("MODEL", a.model, "the model (deploy.name in mlops.yaml)")->required();
  app->add_option("--env", a.env, "the environment (deploy.environments.ENV, environments.ENV.prometheus)")
      ->type_name("ENV");
  app->add_option("--window", a.window, "how far back to count: 90s, 15m, 1h (default), 2d")->type_name("DURATION");
  app->add_option("--prometheus", a.prometheus,
                  "Prometheus URL (else MLOPS_PROMETHEUS_URL, "
                  "environments.ENV.prometheus.url)")
      ->type_name("URL");
  app->add_option("--feedback-counter", a.feedback_counter,
                  "the model's counter of every feedback, e.g. 'm_calls_total{method=\"feedback\"}' (the mean "
                  "reward's denominator where no Seldon executor counts feedback)")
      ->type_name("METRIC");
}

} // namespace

Command feedback_command() {
  Command c;
  c.name = "feedback";
  c.summary = "live request, error, latency and reward numbers of a deployed model from Prometheus";
  c.description =
      "'mlops feedback status MODEL' prints, per variant of the model's deployment (Seldon v1 predictor, Seldon v2 "
      "model, KServe or k8s model), the requests, request rate, errors and error rate, latency p50/p95/p99 from the "
      "server's histogram (the mean only where the server keeps a summary), the feedback count and the mean reward "
      "over --window. Counts are exact (the counter now minus its value one window ago), not rate()'s "
      "extrapolation. The metric names are those render's target table gives the alerts and dashboard.\n\n"
      "The Seldon wrapper counts neither a feedback with reward 0 nor one without a reward, so its reward sum over "
      "its feedback count is biased upward: the mean reward divides by a count of every feedback (the Seldon "
      "executor's service=\"feedback\" requests, or the model's own counter named by --feedback-counter or "
      "environments.ENV.prometheus.feedback_counter); without one it prints the biased mean marked '(biased)' with "
      "a warning.\n\n"
      "'mlops feedback check MODEL --fail-if COND ...' evaluates each condition on each variant (--variant narrows) "
      "and exits 3 naming every breached one, 4 when a condition has no data (an idle deployment or lost series is "
      "never 3), 6 when Prometheus cannot be reached, 2 for a malformed condition (its column named). A condition "
      "is METRIC OP NUMBER [UNIT]: METRIC one of reward, error_rate, requests, rate, p50, p95, p99, latency_mean, "
      "feedback; OP one of <, <=, >, >=, ==, !=; UNIT % (reward, error_rate) or ms/s (latencies; default s).\n\n"
      "Prometheus: --prometheus URL, else MLOPS_PROMETHEUS_URL, else environments.ENV.prometheus.url; credentials "
      "from MLOPS_PROMETHEUS_TOKEN (bearer) or MLOPS_PROMETHEUS_USERNAME/MLOPS_PROMETHEUS_PASSWORD (basic), TLS "
      "from environments.ENV.prometheus {ca_bundle, client_cert, insecure_tls}.";
  c.examples = "  mlops feedback status iris --env prod --window 1h\n"
               "  mlops feedback status iris --env prod --json\n"
               "  mlops feedback check iris --env prod --fail-if 'reward < 0.8' --fail-if 'error_rate > 1%'\n"
               "  mlops feedback check iris --env prod --fail-if 'p95 > 250ms'; [ $? -eq 3 ] && mlops rollback iris "
               "--env prod";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<FeedbackArgs>();
    app.require_subcommand(1, 1);
    a->status = app.add_subcommand("status", "per-variant requests, errors, latency, feedback and mean reward");
    common_options(a->status, *a);
    a->check = app.add_subcommand("check", "exit 3 when a --fail-if condition holds on a variant, 4 on no data");
    common_options(a->check, *a);
    a->check->add_option("--fail-if", a->fail_if, "a condition that fails the check, e.g. 'reward < 0.8' (repeat)")
        ->type_name("COND")
        ->required();
    a->check->add_option("--variant", a->variant, "check only this variant")->type_name("NAME");
    return [a](Context& ctx) {
      if (a->status->parsed()) return run_status(ctx, *a);
      return run_check(ctx, *a);
    };
  };
  return c;
}

} // namespace mlops::cli
