#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "model/lock.hpp"

#include <algorithm>

namespace mlops::cli {

namespace {

struct ModelsArgs {
  std::string filter;
  std::size_t max = 0;
  std::string name;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
};

std::string when(std::int64_t ms) { return ms ? model::iso8601_utc_ms(ms) : "-"; }

std::string join_or_dash(const std::vector<std::string>& v) { return v.empty() ? "-" : join(v, ","); }

nlohmann::ordered_json version_json(const mlflow::ModelVersion& v) {
  nlohmann::ordered_json tags = nlohmann::ordered_json::object();
  for (const auto& [k, val] : v.tags)
    tags[k] = val;
  return {{"name", v.name},
          {"version", v.version},
          {"status", v.status},
          {"stage", v.current_stage},
          {"aliases", v.aliases},
          {"run_id", v.run_id},
          {"source", v.source},
          {"creation_timestamp", v.creation_timestamp},
          {"created", when(v.creation_timestamp)},
          {"description", v.description},
          {"tags", tags}};
}

int run_list(Context& ctx, const ModelsArgs& a) {
  auto models = ctx.mlflow().search_registered_models(a.filter, a.max);
  if (ctx.json()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& m : models) {
      nlohmann::ordered_json aliases = nlohmann::ordered_json::object();
      for (const auto& [k, v] : m.aliases)
        aliases[k] = v;
      std::string latest;
      for (const auto& v : m.latest_versions)
        if (latest.empty() || std::stoll(v.version) > std::stoll(latest)) latest = v.version;
      arr.push_back(
          {{"name", m.name},
           {"latest_version", latest.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(latest)},
           {"aliases", aliases},
           {"description", m.description},
           {"last_updated_timestamp", m.last_updated_timestamp},
           {"updated", when(m.last_updated_timestamp)}});
    }
    ctx.out().json({{"models", arr}});
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : models) {
    std::string latest = "-";
    long long best = 0;
    for (const auto& v : m.latest_versions)
      if (std::stoll(v.version) > best) best = std::stoll(v.version), latest = v.version;
    std::vector<std::string> aliases;
    for (const auto& [k, v] : m.aliases)
      aliases.push_back(k + "=" + v);
    rows.push_back({m.name, latest, join_or_dash(aliases), when(m.last_updated_timestamp)});
  }
  if (rows.empty()) {
    ctx.out().line(a.filter.empty() ? "no registered models" : "no registered models match " + quote(a.filter));
    return 0;
  }
  ctx.out().table({"NAME", "LATEST", "ALIASES", "UPDATED"}, rows);
  return 0;
}

int run_show(Context& ctx, const ModelsArgs& a) {
  auto& client = ctx.mlflow();
  mlflow::RegisteredModel m = client.get_registered_model(a.name);
  std::string escaped;
  for (char c : a.name) {
    if (c == '\'')
      escaped += "''";
    else
      escaped += c;
  }
  auto versions = client.search_model_versions("name='" + escaped + "'");
  // Search results carry no aliases on some servers; the model has them all.
  for (auto& v : versions) {
    if (!v.aliases.empty()) continue;
    for (const auto& [alias, ver] : m.aliases)
      if (ver == v.version) v.aliases.push_back(alias);
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& x, const auto& y) { return std::stoll(x.version) > std::stoll(y.version); });
  if (ctx.json()) {
    nlohmann::ordered_json vs = nlohmann::ordered_json::array();
    for (const auto& v : versions)
      vs.push_back(version_json(v));
    nlohmann::ordered_json aliases = nlohmann::ordered_json::object();
    for (const auto& [k, v] : m.aliases)
      aliases[k] = v;
    nlohmann::ordered_json tags = nlohmann::ordered_json::object();
    for (const auto& [k, v] : m.tags)
      tags[k] = v;
    ctx.out().json({{"name", m.name},
                    {"description", m.description},
                    {"aliases", aliases},
                    {"tags", tags},
                    {"creation_timestamp", m.creation_timestamp},
                    {"last_updated_timestamp", m.last_updated_timestamp},
                    {"versions", vs}});
    return 0;
  }
  ctx.out().line("model:   " + m.name);
  if (!m.description.empty()) ctx.out().line("about:   " + m.description);
  ctx.out().line("created: " + when(m.creation_timestamp));
  ctx.out().line("updated: " + when(m.last_updated_timestamp));
  ctx.out().line("");
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : versions) {
    rows.push_back({v.version, v.status.empty() ? "-" : v.status, v.current_stage.empty() ? "-" : v.current_stage,
                    join_or_dash(v.aliases), v.run_id.empty() ? "-" : v.run_id, when(v.creation_timestamp)});
  }
  ctx.out().table({"VERSION", "STATUS", "STAGE", "ALIASES", "RUN", "CREATED"}, rows);
  return 0;
}

} // namespace

Command models_command() {
  Command c;
  c.name = "models";
  c.summary = "list registered models and show their versions";
  c.description = "'mlops models list' lists the registered models of the tracking server (every page) with their "
                  "latest version and aliases; --filter takes MLflow's search syntax, e.g. \"name LIKE 'fraud%'\". "
                  "'mlops models show NAME' lists every version of one model with its status, stage, aliases, run id "
                  "and creation time.";
  c.examples = "  mlops models list\n"
               "  mlops models list --filter \"name LIKE 'iris%'\" --json\n"
               "  mlops models show iris";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<ModelsArgs>();
    app.require_subcommand(1, 1);
    a->list = app.add_subcommand("list", "list registered models");
    a->list->fallthrough();
    a->list->add_option("--filter", a->filter, "MLflow search filter, e.g. \"name LIKE 'iris%'\"")->type_name("EXPR");
    a->list->add_option("--max", a->max, "list at most N models")->type_name("N");
    a->show = app.add_subcommand("show", "show one model's versions, stages and aliases");
    a->show->fallthrough();
    a->show->add_option("NAME", a->name, "registered model name")->required();
    return [a](Context& ctx) {
      if (a->list->parsed()) return run_list(ctx, *a);
      return run_show(ctx, *a);
    };
  };
  return c;
}

} // namespace mlops::cli
