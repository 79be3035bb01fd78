#include "gitops/promotion.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/strings.hpp"
#include "core/yaml_reader.hpp"

#include <regex>
#include <set>
#include <sstream>

namespace mlops::gitops {

namespace {

const std::regex k_env_name("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");

void read_gitops(const YamlReader& r, const YAML::Node& n, GitopsConfig& g) {
  r.keys(n, "gitops", {"url", "branch", "path", "committer", "attempts"});
  if (n["url"]) {
    g.url = r.nonempty(n["url"], "gitops.url");
    if (split_url(g.url).has_password)
      r.fail(n["url"], "gitops.url",
             "credentials do not belong in a config file; use MLOPS_GIT_USERNAME/MLOPS_GIT_PASSWORD or git's "
             "credential store");
  }
  if (n["branch"]) g.branch = r.nonempty(n["branch"], "gitops.branch");
  if (n["path"]) {
    g.path = r.nonempty(n["path"], "gitops.path");
    if (g.path.find("{model}") == std::string::npos || g.path.find("{env}") == std::string::npos)
      r.fail(n["path"], "gitops.path", "must contain {env} and {model}, e.g. clusters/{env}/{model}");
  }
  if (auto c = n["committer"]) {
    r.keys(c, "gitops.committer", {"name", "email"});
    if (c["name"]) g.committer.name = r.nonempty(c["name"], "gitops.committer.name");
    if (c["email"]) g.committer.email = r.nonempty(c["email"], "gitops.committer.email");
  }
  if (n["attempts"]) g.attempts = r.integer(n["attempts"], "gitops.attempts", 1, 50);
}

// feedback: environments.ENV.prometheus {url, ca_bundle, client_cert, insecure_tls, feedback_counter}
void read_prometheus(const YamlReader& r, const YAML::Node& n, const std::string& key, PrometheusConfig& p) {
  r.keys(n, key, {"url", "ca_bundle", "client_cert", "insecure_tls", "feedback_counter"});
  if (n["url"]) {
    p.url = r.nonempty(n["url"], key + ".url");
    if (p.url.rfind("http://", 0) != 0 && p.url.rfind("https://", 0) != 0)
      r.fail(n["url"], key + ".url", "expected an http:// or https:// URL, e.g. http://prometheus:9090");
    if (split_url(p.url).has_password)
      r.fail(n["url"], key + ".url",
             "credentials do not belong in a config file; use MLOPS_PROMETHEUS_TOKEN or "
             "MLOPS_PROMETHEUS_USERNAME/MLOPS_PROMETHEUS_PASSWORD");
  }
  if (n["ca_bundle"]) p.ca_bundle = r.nonempty(n["ca_bundle"], key + ".ca_bundle");
  if (n["client_cert"]) p.client_cert = r.nonempty(n["client_cert"], key + ".client_cert");
  if (n["insecure_tls"]) p.insecure_tls = r.boolean(n["insecure_tls"], key + ".insecure_tls");
  if (n["feedback_counter"]) p.feedback_counter = r.nonempty(n["feedback_counter"], key + ".feedback_counter");
}

void read_environments(const YamlReader& r, const YAML::Node& n, PromotionConfig& cfg) {
  if (n.IsNull()) return;
  if (!n.IsMap()) r.fail(n, "environments", "expected a mapping of environment name to its policy");
  for (const auto& kv : n) {
    std::string env = kv.first.Scalar();
    std::string key = "environments." + env;
    if (!std::regex_match(env, k_env_name))
      r.fail(kv.first, key, "environment names are lowercase DNS labels (dev, staging, prod)");
    EnvPolicy p;
    p.name = env;
    r.keys(kv.second, key, {"requires", "prometheus"});
    if (auto q = kv.second["requires"]) {
      std::string k = key + ".requires";
      r.keys(q, k, {"validation", "approvals", "previous", "image", "self_approval"});
      if (q["validation"]) p.validation = r.boolean(q["validation"], k + ".validation");
      if (q["approvals"]) p.approvals = r.integer(q["approvals"], k + ".approvals", 0, 20);
      if (q["previous"]) p.previous = r.nonempty(q["previous"], k + ".previous");
      if (q["image"]) p.image = r.boolean(q["image"], k + ".image");
      if (q["self_approval"]) p.self_approval = r.boolean(q["self_approval"], k + ".self_approval");
    }
    // feedback: where the environment's Prometheus answers (environments.ENV.prometheus)
    if (auto q = kv.second["prometheus"]) read_prometheus(r, q, key + ".prometheus", p.prometheus);
    cfg.environments[env] = p;
  }
  for (const auto& [env, p] : cfg.environments) {
    if (p.previous.empty()) continue;
    if (!cfg.environments.count(p.previous) || p.previous == env)
      r.fail(n[env]["requires"]["previous"], "environments." + env + ".requires.previous",
             quote(p.previous) + " is not another environment in 'environments'");
  }
}

} // namespace

PromotionConfig parse_promotion_config(const std::string& yaml_text, const std::string& file) {
  PromotionConfig cfg;
  cfg.file = file;
  YamlReader r{"config", file};
  YAML::Node root = r.load(yaml_text);
  if (!root.IsMap()) return cfg;
  if (auto g = root["gitops"]) read_gitops(r, g, cfg.gitops);
  if (auto e = root["environments"]) read_environments(r, e, cfg);
  return cfg;
}

PromotionConfig load_promotion_config(const std::filesystem::path& project_file) {
  return parse_promotion_config(fs::read_file(project_file), project_file.string());
}

std::string expand_path(const std::string& pattern, const std::string& env, const std::string& model) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.compare(i, 5, "{env}") == 0) {
      out += env;
      i += 4;
    } else if (pattern.compare(i, 7, "{model}") == 0) {
      out += model;
      i += 6;
    } else {
      out += pattern[i];
    }
  }
  while (!out.empty() && out.front() == '/')
    out.erase(out.begin());
  while (!out.empty() && out.back() == '/')
    out.pop_back();
  return out;
}

// ----------------------------------------------------------------------------- commit records

std::string image_digest(const std::string& image) {
  auto at = image.find("@sha256:");
  return at == std::string::npos ? std::string() : image.substr(at + 1);
}

std::string format_message(const Record& r) {
  std::ostringstream m;
  if (r.action == "rollback")
    m << "rollback " << r.model << " in " << r.env << " to version " << r.version;
  else
    m << "promote " << r.model << " version " << r.version << " to " << r.env;
  if (!r.previous_version.empty()) m << " (was " << r.previous_version << ")";
  m << "\n\n";
  if (!r.reason.empty()) m << r.reason << "\n\n";
  // Trailer values stay on one line.
  auto one_line = [](std::string v) {
    for (auto& c : v)
      if (c == '\n' || c == '\r') c = ' ';
    return v;
  };
  m << "Model: " << one_line(r.model) << "\n";
  m << "Version: " << one_line(r.version) << "\n";
  m << "Environment: " << one_line(r.env) << "\n";
  m << "Action: " << r.action << "\n";
  if (!r.image.empty()) {
    m << "Image: " << one_line(r.image) << "\n";
    if (auto d = image_digest(r.image); !d.empty()) m << "Image-Digest: " << d << "\n";
  }
  m << "Previous-Version: " << (r.previous_version.empty() ? "none" : one_line(r.previous_version)) << "\n";
  m << "Promoted-By: " << one_line(r.actor) << "\n";
  for (const auto& a : r.approvers)
    m << "Approved-By: " << one_line(a) << "\n";
  if (!r.reason.empty()) m << "Reason: " << one_line(r.reason) << "\n";
  return m.str();
}

std::optional<Record> record_from_commit(const Commit& c) {
  Record r;
  r.model = c.trailer("Model");
  r.version = c.trailer("Version");
  r.env = c.trailer("Environment");
  r.action = c.trailer("Action");
  if (r.model.empty() || r.version.empty() || r.env.empty() || (r.action != "promote" && r.action != "rollback"))
    return std::nullopt;
  r.image = c.trailer("Image");
  r.previous_version = c.trailer("Previous-Version");
  if (r.previous_version == "none") r.previous_version.clear();
  r.actor = c.trailer("Promoted-By");
  r.reason = c.trailer("Reason");
  for (const auto& [k, v] : c.trailers)
    if (k == "Approved-By") r.approvers.push_back(v);
  r.commit = c.id;
  r.time = c.time;
  return r;
}

// ----------------------------------------------------------------------------- tags

std::string tag_word(const std::string& text) {
  std::string out;
  for (unsigned char c : text)
    out += (std::isalnum(c) || c == '_' || c == '-' || c == '.') ? static_cast<char>(c) : '_';
  return out;
}

std::string approval_tag(const std::string& env, const std::string& user) {
  return "mlops.approval." + tag_word(env) + "." + tag_word(user);
}
std::string promotion_tag(const std::string& env) { return "mlops.promotion." + tag_word(env); }
std::string rollback_tag(const std::string& env) { return "mlops.rollback." + tag_word(env); }

std::vector<Approval> approvals_of(const mlflow::ModelVersion& v, const std::string& env) {
  std::vector<Approval> out;
  std::string prefix = "mlops.approval." + tag_word(env) + ".";
  for (const auto& [k, value] : v.tags) {
    if (k.rfind(prefix, 0) != 0) continue;
    Approval a;
    try {
      auto j = nlohmann::json::parse(value);
      a.user = j.value("by", "");
      a.time = j.value("time", "");
      a.comment = j.value("comment", "");
    } catch (const nlohmann::json::exception&) {
      continue; // not ours
    }
    if (!a.user.empty()) out.push_back(a);
  }
  return out;
}

// ----------------------------------------------------------------------------- checks

namespace {

/// The versions a rollback took out of `env`.
std::set<std::string> rolled_back_out_of(const std::vector<Record>& history, const std::string& env) {
  std::set<std::string> out;
  for (const auto& r : history)
    if (r.env == env && r.action == "rollback" && !r.previous_version.empty()) out.insert(r.previous_version);
  return out;
}

} // namespace

std::optional<Record> current_of(const std::vector<Record>& history, const std::string& env) {
  for (const auto& r : history)
    if (r.env == env) return r;
  return std::nullopt;
}

std::optional<Record> rollback_target(const std::vector<Record>& history, const std::string& env) {
  auto current = current_of(history, env);
  if (!current) return std::nullopt;
  std::set<std::string> rolled_back = rolled_back_out_of(history, env);
  bool past_current = false;
  for (const auto& r : history) {
    if (r.env != env) continue;
    if (!past_current) {
      past_current = true; // the newest record is the current one
      continue;
    }
    if (r.version == current->version || rolled_back.count(r.version)) continue;
    return r;
  }
  return std::nullopt;
}

std::vector<Check> evaluate(const CheckInputs& in) {
  std::vector<Check> checks;
  if (!in.policy) return checks;
  const EnvPolicy& p = *in.policy;
  const mlflow::ModelVersion& v = *in.version;
  auto tag = [&](const std::string& k) {
    auto it = v.tags.find(k);
    return it == v.tags.end() ? std::string() : it->second;
  };
  if (p.validation) {
    Check c{"validation", false, ""};
    std::string status = tag("mlops.validation.status");
    std::string recorded = tag("mlops.validation.digest");
    if (status.empty()) {
      c.detail = "no recorded validation (run: mlops validate models:/" + v.name + "/" + v.version + " --record)";
    } else if (status != "passed") {
      c.detail = "the recorded validation " + status;
    } else {
      std::string actual = in.digest ? in.digest() : std::string();
      if (recorded != actual)
        c.detail =
            "validation passed for other bytes (" + recorded + ") than version " + v.version + " has (" + actual + ")";
      else {
        c.ok = true;
        c.detail = "passed for " + actual;
      }
    }
    checks.push_back(c);
  }
  if (p.approvals > 0) {
    Check c{"approvals", false, ""};
    std::vector<std::string> counted, ignored;
    for (const auto& a : approvals_of(v, p.name)) {
      bool self = a.user == in.actor || (!v.user_id.empty() && a.user == v.user_id);
      (self && !p.self_approval ? ignored : counted).push_back(a.user);
    }
    c.ok = static_cast<int>(counted.size()) >= p.approvals;
    c.detail =
        std::to_string(counted.size()) + " of " + std::to_string(p.approvals) + " approvals for " + quote(p.name);
    if (!counted.empty()) c.detail += " (" + join(counted, ", ") + ")";
    if (!ignored.empty()) c.detail += "; self-approval does not count: " + join(ignored, ", ");
    checks.push_back(c);
  }
  if (!p.previous.empty()) {
    Check c{"previous", false, ""};
    std::set<std::string> rolled_back = rolled_back_out_of(in.history, p.previous);
    const Record* held = nullptr;
    for (const auto& r : in.history)
      if (r.env == p.previous && r.version == v.version) {
        held = &r;
        break;
      }
    if (!held)
      c.detail = "version " + v.version + " was never in " + quote(p.previous) + " (promote it there first)";
    else if (rolled_back.count(v.version))
      c.detail = "version " + v.version + " was rolled back out of " + quote(p.previous);
    else {
      c.ok = true;
      c.detail = "version " + v.version + " was promoted to " + quote(p.previous) + " in " + held->commit.substr(0, 12);
    }
    checks.push_back(c);
  }
  if (p.image) {
    Check c{"image", false, ""};
    if (in.image.empty())
      c.detail =
          "no image for version " + v.version + " (pass --image REF@sha256:DIGEST or tag the version 'mlops.image')";
    else if (image_digest(in.image).size() != 71)
      c.detail = quote(in.image) + " is not pinned by digest (REF@sha256:DIGEST)";
    else {
      c.ok = true;
      c.detail = in.image;
    }
    checks.push_back(c);
  }
  return checks;
}

} // namespace mlops::gitops
