#include "gitops/workflow.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/time.hpp"
#include "mlflow/pull.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <random>
#include <thread>

namespace mlops::gitops {

namespace {

void note(Workflow& w, const std::string& line) {
  if (w.note) w.note(line);
}

/// Every record of `model` at the tip last fetched, newest first.
std::vector<Record> records_at_tip(Workflow& w, const std::string& model) {
  std::vector<Record> out;
  for (const auto& c : w.remote.log(""))
    if (auto r = record_from_commit(c); r && r->model == model) out.push_back(*r);
  return out;
}

/// The same after fetching the branch.
std::vector<Record> records(Workflow& w, const std::string& model) {
  w.remote.fetch();
  return records_at_tip(w, model);
}

const EnvPolicy* policy_for(const PromotionConfig& cfg, const std::string& env) {
  if (cfg.environments.empty()) return nullptr;
  auto it = cfg.environments.find(env);
  if (it == cfg.environments.end()) {
    std::vector<std::string> names;
    for (const auto& [name, p] : cfg.environments)
      names.push_back(name);
    std::string known = join(names, ", ");
    throw Error(ErrorKind::usage,
                "unknown environment " + quote(env) + " (environments in " + quote(cfg.file) + ": " + known + ")");
  }
  return &it->second;
}

/// Writes a tag on a version, turning a refused permission (Cause, not the
/// message's words) into the message that says which permission is needed.
void write_tag(Registry& mlflow, const std::string& model, const std::string& version, const std::string& key,
               const std::string& value, const std::string& actor, const std::string& doing) {
  try {
    mlflow.set_model_version_tag(model, version, key, value);
  } catch (const Error& e) {
    if (e.cause() != Cause::permission_denied) throw;
    throw Error(ErrorKind::auth,
                "cannot " + doing + ": permission denied: " +
                    (actor.empty() ? std::string("this user") : quote(actor)) + " needs EDIT on " + quote(model),
                "an admin can grant it: MLflow registered-model permissions");
  }
}

/// The commit author for an actor: the name as given; an e-mail address
/// when it is one, else a non-deliverable one under .invalid (RFC 2606).
Identity author_of(const std::string& actor) {
  if (actor.find('@') != std::string::npos) return {actor, actor};
  return {actor, tag_word(actor) + "@mlops.invalid"};
}

void backoff(int attempt) {
  static thread_local std::mt19937 rng(std::random_device{}());
  int base = std::min(2000, 100 << std::min(attempt, 5));
  std::uniform_int_distribution<int> jitter(0, base);
  std::this_thread::sleep_for(std::chrono::milliseconds(base / 2 + jitter(rng)));
}

/// Makes the environment's alias point where the repository says, and checks
/// again after moving it, so that racing promotions converge on git's order.
/// Returns the record the environment holds (nullopt: never promoted).
std::optional<Record> reconcile_alias(Workflow& w, const std::string& model, const std::string& env, Outcome& out) {
  for (int round = 0; round < 10; ++round) {
    auto current = current_of(records(w, model), env);
    if (!current) return current;
    out.version = current->version;
    out.commit = current->commit;
    auto rm = w.mlflow.get_registered_model(model);
    auto it = rm.aliases.find(env);
    if (it != rm.aliases.end() && it->second == current->version) return current;
    w.mlflow.set_alias(model, env, current->version);
    out.alias_moved = true;
    note(w, "alias @" + env + " of " + quote(model) + " -> version " + current->version);
  }
  throw Error(ErrorKind::conflict, "cannot settle alias " + quote("@" + env) + " of " + quote(model) +
                                       ": the repository kept changing while it was moved");
}

nlohmann::json tag_json(const mlflow::ModelVersion& v, const std::string& key) {
  auto it = v.tags.find(key);
  if (it == v.tags.end()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

bool settled(const nlohmann::json& tag, const std::string& commit) {
  return tag.value("status", "") == "done" && tag.value("commit", "") == commit;
}

/// Makes the version tags agree with the record the repository holds: the
/// deployed version's mlops.promotion.ENV says done in that commit, and for
/// a rollback the version rolled back from says so in mlops.rollback.ENV.
/// Who and when come from the commit, so any later run can settle them.
/// Returns true when nothing had to be written.
bool settle_tags(Workflow& w, const std::string& model, const Record& r, bool check_only = false) {
  bool clean = true;
  auto v = w.mlflow.get_model_version(model, r.version);
  if (!settled(tag_json(v, promotion_tag(r.env)), r.commit)) {
    clean = false;
    if (!check_only) {
      nlohmann::json t = {{"status", "done"},
                          {"by", r.actor},
                          {"time", iso8601_utc_ms(r.time * 1000)},
                          {"commit", r.commit},
                          {"from", r.previous_version},
                          {"action", r.action},
                          {"approvers", r.approvers}};
      w.mlflow.set_model_version_tag(model, r.version, promotion_tag(r.env), t.dump());
    }
  }
  if (r.action == "rollback" && !r.previous_version.empty()) {
    auto from = w.mlflow.get_model_version(model, r.previous_version);
    if (!settled(tag_json(from, rollback_tag(r.env)), r.commit)) {
      clean = false;
      if (!check_only) {
        nlohmann::json t = {{"status", "done"},   {"by", r.actor},   {"time", iso8601_utc_ms(r.time * 1000)},
                            {"commit", r.commit}, {"to", r.version}, {"reason", r.reason}};
        w.mlflow.set_model_version_tag(model, r.previous_version, rollback_tag(r.env), t.dump());
      }
    }
  }
  return clean;
}

/// True when the alias and the tags already say what record `r` (the
/// environment's current one in git) says.
bool mlflow_agrees(Workflow& w, const std::string& model, const Record& r) {
  auto rm = w.mlflow.get_registered_model(model);
  auto it = rm.aliases.find(r.env);
  return it != rm.aliases.end() && it->second == r.version && settle_tags(w, model, r, true);
}

/// Alias first, then tags: everything MLflow says follows the repository.
void reconcile(Workflow& w, const std::string& model, const std::string& env, Outcome& out) {
  if (auto current = reconcile_alias(w, model, env, out)) settle_tags(w, model, *current);
}

nlohmann::json stamp(const std::string& status, const std::string& actor) {
  return {{"status", status}, {"by", actor}, {"time", now_iso()}};
}

/// Pushes a commit made by `make` on the tip last fetched (the caller has
/// just fetched), fetching again and retrying while the branch moves. `make` returns "" when there is nothing to commit
/// any more. Returns the pushed commit or "".
std::string push_with_retry(Workflow& w, const std::function<std::string(const std::string& tip)>& make) {
  int attempts = w.config.gitops.attempts;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    // The caller fetched just before; after a refused push, fetch again.
    std::string tip = attempt == 0 ? w.remote.tip() : w.remote.fetch();
    std::string commit = make(tip);
    if (commit.empty()) return {};
    if (w.remote.push(commit) == PushResult::pushed) {
      note(w, "pushed " + commit.substr(0, 12) + " to " + quote(w.config.gitops.branch));
      return commit;
    }
    note(w, "the branch moved on the server; fetching and trying again");
    backoff(attempt);
  }
  throw Error(ErrorKind::conflict,
              "cannot push to branch " + quote(w.config.gitops.branch) + ": it kept moving (" +
                  std::to_string(attempts) + " attempts)",
              "run the command again; gitops.attempts sets how often to retry");
}

} // namespace

mlflow::RegisteredModel MlflowRegistry::get_registered_model(const std::string& name) {
  return m_client.get_registered_model(name);
}

mlflow::ModelVersion MlflowRegistry::get_model_version(const std::string& name, const std::string& version) {
  return m_client.get_model_version(name, version);
}

mlflow::ModelVersion MlflowRegistry::resolve_version(const std::string& name, const std::string& version) {
  mlflow::ModelUri uri;
  bool alias = !version.empty() && version[0] == '@';
  uri.kind = alias ? mlflow::ModelUri::Kind::alias : mlflow::ModelUri::Kind::version;
  uri.name = name;
  uri.reference = alias ? version.substr(1) : version;
  uri.text = "models:/" + name + (alias ? version : "/" + version);
  return mlflow::resolve_version(m_client, uri);
}

void MlflowRegistry::set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                                           const std::string& value) {
  m_client.set_model_version_tag(name, version, key, value);
}

void MlflowRegistry::set_alias(const std::string& name, const std::string& alias, const std::string& version) {
  m_client.set_alias(name, alias, version);
}

namespace {

/// requires.signature: the image verified before anything is written (a missing image throws
/// Error(not_found)); an empty verdict when the environment does not ask for it.
ImageVerdict signature_verdict(Workflow& w, const EnvPolicy* policy, const mlflow::ModelVersion& v,
                               const std::string& image) {
  if (!policy || policy->signature_key.empty()) return {};
  if (image.empty())
    return {{"signature", false,
             "no image to verify for version " + v.version + " (pass --image REF@sha256:DIGEST or tag 'mlops.image')"},
            ""};
  if (!w.verify_image) return {{"signature", false, "this command cannot verify image signatures"}, ""};
  return w.verify_image(*policy, v, image);
}

} // namespace

Outcome promote(Workflow& w, const PromoteRequest& req) {
  Outcome out;
  out.action = "promote";
  out.model = req.model;
  out.env = req.env;
  const EnvPolicy* policy = policy_for(w.config, req.env);
  mlflow::ModelVersion v = w.mlflow.resolve_version(req.model, req.version);
  out.version = v.version;
  out.path = expand_path(w.config.gitops.path, req.env, req.model);
  out.image = req.image;
  if (out.image.empty())
    if (auto it = v.tags.find(k_image_tag); it != v.tags.end()) out.image = it->second;

  auto history = records(w, req.model);
  auto current = current_of(history, req.env);
  out.previous_version = current ? current->version : "";
  out.already = current && current->version == v.version;

  CheckInputs in;
  in.policy = policy;
  in.version = &v;
  in.actor = req.actor;
  in.image = out.image;
  in.digest = [&] { return w.digest(v.name, v.version); };
  in.history = history;
  out.checks = evaluate(in);
  ImageVerdict signature = signature_verdict(w, policy, v, out.image);
  if (!signature.check.name.empty()) out.checks.push_back(signature.check);
  for (const auto& c : out.checks)
    out.refused = out.refused || !c.ok;

  std::vector<std::string> approvers;
  for (const auto& a : approvals_of(v, req.env))
    if (a.user != req.actor || (policy && policy->self_approval)) approvers.push_back(a.user);

  auto files = w.render(req.env, out.image);
  Record rec;
  rec.action = "promote";
  rec.model = req.model;
  rec.version = v.version;
  rec.env = req.env;
  rec.image = out.image.empty() && w.default_image ? w.default_image() : out.image;
  rec.actor = req.actor;
  rec.approvers = approvers;
  rec.reason = req.message;
  rec.image_signer = signature.signer;

  if (req.dry_run) {
    std::string tip = w.remote.tip();
    rec.previous_version = out.previous_version;
    std::string commit =
        w.remote.commit_dir(tip, out.path, files, format_message(rec), author_of(req.actor), w.config.gitops.committer);
    out.diff = w.remote.diff(tip, commit, out.path);
    return out;
  }
  if (out.refused) return out;

  if (out.already && mlflow_agrees(w, req.model, *current)) {
    out.commit = current->commit;
    return out; // nothing to do
  }

  // The permission check and the journal in one: a tag write needs EDIT, the
  // same permission as moving the alias, so a READ-only user stops here
  // before anything reaches git.
  auto pending = stamp("pending", req.actor);
  pending["from"] = out.previous_version;
  write_tag(w.mlflow, req.model, v.version, promotion_tag(req.env), pending.dump(), req.actor,
            "promote " + quote(req.model) + " version " + v.version);
  if (!req.image.empty() && v.tags[k_image_tag] != req.image)
    w.mlflow.set_model_version_tag(req.model, v.version, k_image_tag, req.image);

  if (!out.already) {
    std::string pushed = push_with_retry(w, [&](const std::string& tip) -> std::string {
      auto now = current_of(records_at_tip(w, req.model), req.env);
      if (now && now->version == v.version) return {}; // someone else promoted it meanwhile
      rec.previous_version = now ? now->version : "";
      return w.remote.commit_dir(tip, out.path, files, format_message(rec), author_of(req.actor),
                                 w.config.gitops.committer);
    });
    out.committed = !pushed.empty();
    out.previous_version = rec.previous_version.empty() ? out.previous_version : rec.previous_version;
  }
  reconcile(w, req.model, req.env, out);
  out.version = v.version;
  return out;
}

Outcome rollback(Workflow& w, const RollbackRequest& req) {
  Outcome out;
  out.action = "rollback";
  out.model = req.model;
  out.env = req.env;
  policy_for(w.config, req.env);
  out.path = expand_path(w.config.gitops.path, req.env, req.model);
  auto history = records(w, req.model);
  auto current = current_of(history, req.env);
  if (!current)
    throw Error(ErrorKind::not_found,
                "cannot roll back " + quote(req.model) + " in " + quote(req.env) + ": it was never promoted there");
  out.previous_version = current->version;
  if (req.to.empty() && current->action == "rollback" && !mlflow_agrees(w, req.model, *current)) {
    // The last rollback reached git but not MLflow (killed, or the alias step
    // failed): running the command again completes that one rather than
    // going back one more version.
    out.version = current->version;
    out.previous_version = current->previous_version;
    out.image = current->image;
    out.already = true;
    if (!req.dry_run) reconcile(w, req.model, req.env, out);
    out.version = current->version;
    return out;
  }
  std::optional<Record> target;
  if (!req.to.empty()) {
    for (const auto& r : history)
      if (r.env == req.env && r.version == req.to) {
        target = r;
        break;
      }
    if (!target) {
      std::string held;
      for (const auto& r : history)
        if (r.env == req.env && held.find(" " + r.version + ",") == std::string::npos) held += " " + r.version + ",";
      if (!held.empty()) held.pop_back();
      throw Error(ErrorKind::not_found, "cannot roll back " + quote(req.model) + " in " + quote(req.env) +
                                            " to version " + req.to + ": it was never there (versions it held:" + held +
                                            ")");
    }
  } else {
    target = rollback_target(history, req.env);
    if (!target)
      throw Error(ErrorKind::not_found,
                  "cannot roll back " + quote(req.model) + " in " + quote(req.env) +
                      ": no earlier version to return to (it holds version " + current->version + ")",
                  "name one with --to VERSION");
  }
  out.version = target->version;
  out.image = target->image;
  out.already = target->version == current->version;
  auto files = w.remote.read_dir(target->commit, out.path);

  Record rec;
  rec.action = "rollback";
  rec.model = req.model;
  rec.version = target->version;
  rec.env = req.env;
  rec.image = target->image;
  rec.actor = req.actor;
  rec.reason = req.reason;
  rec.previous_version = current->version;

  if (req.dry_run) {
    std::string tip = w.remote.tip();
    std::string commit =
        w.remote.commit_dir(tip, out.path, files, format_message(rec), author_of(req.actor), w.config.gitops.committer);
    out.diff = w.remote.diff(tip, commit, out.path);
    return out;
  }

  if (!out.already) {
    auto pending = stamp("pending", req.actor);
    pending["to"] = target->version;
    pending["reason"] = req.reason;
    write_tag(w.mlflow, req.model, current->version, rollback_tag(req.env), pending.dump(), req.actor,
              "roll back " + quote(req.model) + " in " + quote(req.env));
    std::string pushed = push_with_retry(w, [&](const std::string& tip) -> std::string {
      auto now = current_of(records_at_tip(w, req.model), req.env);
      if (!now || now->commit != current->commit)
        throw Error(ErrorKind::conflict,
                    "cannot roll back " + quote(req.model) + " in " + quote(req.env) +
                        ": it changed meanwhile (now version " + (now ? now->version : std::string("none")) + ")",
                    "look at 'mlops history " + req.model + " --env " + req.env + "' and run rollback again");
      return w.remote.commit_dir(tip, out.path, files, format_message(rec), author_of(req.actor),
                                 w.config.gitops.committer);
    });
    out.committed = !pushed.empty();
  }
  reconcile(w, req.model, req.env, out);
  out.version = target->version;
  return out;
}

ApprovalResult approve(Registry& mlflow, const PromotionConfig& config, const std::string& model,
                       const std::string& version, const std::string& env, const std::string& actor,
                       const std::string& comment) {
  const EnvPolicy* policy = policy_for(config, env);
  mlflow::ModelVersion v = mlflow.resolve_version(model, version);
  bool self_allowed = policy && policy->self_approval;
  if (!self_allowed && !v.user_id.empty() && v.user_id == actor)
    throw Error(ErrorKind::gate_failed,
                "cannot approve " + quote(model) + " version " + v.version + " for " + quote(env) + ": " +
                    quote(actor) + " registered it, and self-approval is not allowed",
                "ask another user to approve, or set environments." + env + ".requires.self_approval: true");
  nlohmann::json value = {{"by", actor}, {"time", now_iso()}, {"comment", comment}};
  if (auto it = v.tags.find("mlops.validation.digest"); it != v.tags.end()) value["digest"] = it->second;
  ApprovalResult r{model, v.version, env, actor, approval_tag(env, actor)};
  write_tag(mlflow, model, v.version, r.tag, value.dump(), actor,
            "approve " + quote(model) + " version " + v.version + " for " + quote(env));
  return r;
}

HistoryReport history(Workflow& w, const std::string& model, const std::string& env) {
  HistoryReport rep;
  for (auto& r : records(w, model))
    if (env.empty() || r.env == env) rep.records.push_back(std::move(r));
  std::map<std::string, std::string> git_commit; // env -> commit that deployed the current version
  for (const auto& r : rep.records)
    if (rep.git_current.emplace(r.env, r.version).second) git_commit[r.env] = r.commit;
  auto rm = w.mlflow.get_registered_model(model);
  for (const auto& [e, version] : rep.git_current) {
    // The version's promotion tag should record that same commit as done.
    auto tag = tag_json(w.mlflow.get_model_version(model, version), promotion_tag(e));
    if (!settled(tag, git_commit[e])) {
      std::string status = tag.value("status", ""), commit = tag.value("commit", "");
      rep.mismatches.push_back(
          "tag " + promotion_tag(e) + " of version " + version + " says " +
          (status.empty() ? std::string("nothing") : quote(status)) +
          (commit.empty() || commit == git_commit[e] ? "" : " for commit " + commit.substr(0, 12)) +
          " but the repository deployed it in " + git_commit[e].substr(0, 12) +
          "; the next 'mlops promote' or 'mlops rollback' reconciles it");
    }
    auto it = rm.aliases.find(e);
    rep.alias_current[e] = it == rm.aliases.end() ? "" : it->second;
    if (rep.alias_current[e] != version)
      rep.mismatches.push_back(
          "alias @" + e + " points at " +
          (rep.alias_current[e].empty() ? std::string("nothing") : "version " + rep.alias_current[e]) +
          " but the repository deploys version " + version +
          "; the next 'mlops promote' or 'mlops rollback' reconciles it");
  }
  return rep;
}

} // namespace mlops::gitops
