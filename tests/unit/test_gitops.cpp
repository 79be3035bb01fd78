#include "core/error.hpp"
#include "gitops/git.hpp"
#include "gitops/promotion.hpp"
#include "gitops/workflow.hpp"
#include "temp_dir.hpp"

#include <git2.h>
#include <unistd.h>

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::gitops;

namespace {

Commit commit_for(const Record& r, const std::string& id) {
  Commit c;
  c.id = id;
  c.message = format_message(r);
  c.trailers = parse_trailers(c.message);
  return c;
}

Record rec(const std::string& action, const std::string& env, const std::string& version, const std::string& previous,
           const std::string& id) {
  Record r;
  r.action = action;
  r.model = "iris";
  r.env = env;
  r.version = version;
  r.previous_version = previous;
  r.actor = "alice";
  r.commit = id;
  return r;
}

mlflow::ModelVersion version(const std::string& v, std::map<std::string, std::string> tags = {}) {
  mlflow::ModelVersion mv;
  mv.name = "iris";
  mv.version = v;
  mv.user_id = "trainer";
  mv.tags = std::move(tags);
  return mv;
}

} // namespace

TEST_CASE("gitops: a record survives the commit message, multi-line values stay on one trailer line") {
  Record r = rec("promote", "prod", "3", "2", "");
  r.image = "reg.example/iris@sha256:" + std::string(64, 'a');
  r.approvers = {"bob", "carol"};
  r.reason = "weekly\nretrain";
  Commit c = commit_for(r, "abc");
  CHECK(c.message.rfind("promote iris version 3 to prod (was 2)\n\n", 0) == 0);
  auto back = record_from_commit(c);
  REQUIRE(back);
  CHECK(back->version == "3");
  CHECK(back->previous_version == "2");
  CHECK(back->approvers == std::vector<std::string>{"bob", "carol"});
  CHECK(back->image == r.image);
  CHECK(back->reason == "weekly retrain");
  CHECK(c.trailer("Image-Digest") == "sha256:" + std::string(64, 'a'));
  // A first promotion says so explicitly and reads back as empty.
  Commit first = commit_for(rec("promote", "dev", "1", "", ""), "def");
  CHECK(first.trailer("Previous-Version") == "none");
  CHECK(record_from_commit(first)->previous_version.empty());
  // Commits that are not ours are not records.
  Commit other;
  other.message = "fix typo\n\nSigned-off-by: someone <s@example>\n";
  other.trailers = parse_trailers(other.message);
  CHECK_FALSE(record_from_commit(other));
}

TEST_CASE("gitops: path patterns, tag words and image digests") {
  CHECK(expand_path("clusters/{env}/{model}/", "prod", "iris") == "clusters/prod/iris");
  CHECK(expand_path("/{model}-{env}", "dev", "x") == "x-dev");
  CHECK(tag_word("alice@example.com") == "alice_example.com");
  CHECK(approval_tag("prod", "a b") == "mlops.approval.prod.a_b");
  CHECK(image_digest("r/i@sha256:ff") == "sha256:ff");
  CHECK(image_digest("r/i:latest").empty());
}

TEST_CASE("gitops: the current version and the rollback target come from history") {
  // Newest first: 1 -> staging, 2 -> staging, rollback to 1 (2 rolled back), 3 -> staging.
  std::vector<Record> h = {rec("promote", "staging", "3", "1", "d"), rec("rollback", "staging", "1", "2", "c"),
                           rec("promote", "staging", "2", "1", "b"), rec("promote", "staging", "1", "", "a"),
                           rec("promote", "prod", "1", "", "p")};
  CHECK(current_of(h, "staging")->version == "3");
  CHECK(current_of(h, "prod")->version == "1");
  CHECK_FALSE(current_of(h, "dev"));
  // From 3: 1 (2 was rolled back out).
  auto t = rollback_target(h, "staging");
  REQUIRE(t);
  CHECK(t->version == "1");
  CHECK(t->commit == "c"); // the newest commit that deployed it
  // prod has nothing earlier.
  CHECK_FALSE(rollback_target(h, "prod"));
}

TEST_CASE("gitops: policy checks") {
  EnvPolicy p;
  p.name = "prod";
  p.validation = true;
  p.approvals = 1;
  p.previous = "staging";
  p.image = true;
  std::string digest = "sha256:" + std::string(64, '1');
  auto v = version("2", {{"mlops.validation.status", "passed"},
                         {"mlops.validation.digest", digest},
                         {"mlops.approval.prod.alice", R"({"by":"alice","time":"t"})"},
                         {"mlops.approval.prod.trainer", R"({"by":"trainer","time":"t"})"}});
  CheckInputs in;
  in.policy = &p;
  in.version = &v;
  in.actor = "alice";
  in.image = "reg/iris@sha256:" + std::string(64, 'b');
  in.digest = [&] { return digest; };
  in.history = {rec("promote", "staging", "2", "", "s1")};
  auto checks = evaluate(in);
  REQUIRE(checks.size() == 4);
  CHECK(checks[0].ok);
  // Neither the promoter's nor the registrar's own approval counts.
  CHECK_FALSE(checks[1].ok);
  CHECK(checks[1].detail.find("self-approval does not count: alice, trainer") != std::string::npos);
  CHECK(checks[2].ok);
  CHECK(checks[3].ok);

  p.self_approval = true;
  CHECK(evaluate(in)[1].ok);

  // Other bytes than validated, a tag instead of a digest, never in staging.
  in.digest = [] { return std::string("sha256:other"); };
  in.image = "reg/iris:latest";
  in.history = {rec("promote", "staging", "1", "", "s1")};
  checks = evaluate(in);
  CHECK_FALSE(checks[0].ok);
  CHECK(checks[0].detail.find("other bytes") != std::string::npos);
  CHECK_FALSE(checks[2].ok);
  CHECK_FALSE(checks[3].ok);
  CHECK(checks[3].detail.find("not pinned") != std::string::npos);

  // Rolled back out of staging: does not count.
  in.history = {rec("rollback", "staging", "1", "2", "r"), rec("promote", "staging", "2", "1", "s2")};
  checks = evaluate(in);
  CHECK_FALSE(checks[2].ok);
  CHECK(checks[2].detail.find("rolled back") != std::string::npos);

  // No policy, no checks.
  in.policy = nullptr;
  CHECK(evaluate(in).empty());
}

TEST_CASE("gitops: promotion config") {
  auto cfg = parse_promotion_config(R"(
gitops:
  url: https://git.example/manifests.git
  path: envs/{env}/{model}
  committer: {name: bot, email: bot@example}
environments:
  staging: {}
  prod:
    requires: {validation: true, approvals: 2, previous: staging}
)",
                                    "mlops.yaml");
  CHECK(cfg.gitops.url == "https://git.example/manifests.git");
  CHECK(cfg.gitops.branch == "main");
  CHECK(cfg.gitops.committer.name == "bot");
  CHECK(cfg.environments.at("prod").approvals == 2);
  CHECK(cfg.environments.at("prod").previous == "staging");
  CHECK_FALSE(cfg.environments.at("staging").validation);

  auto fails = [](const std::string& text, const std::string& needle) {
    try {
      parse_promotion_config(text, "mlops.yaml");
      FAIL("accepted: " << text);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::usage);
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  fails("gitops: {url: 'https://u:secret@git.example/m.git'}\n", "gitops.url");
  fails("gitops: {url: x, path: 'clusters/{env}'}\n", "{model}");
  fails("gitops: {url: x, brnch: main}\n", "gitops.brnch");
  fails("environments: {prod: {requires: {previous: staging}}}\n", "environments.prod.requires.previous");
  fails("environments: {prod: {requires: {approvals: many}}}\n", "mlops.yaml:1");
  fails("environments: {Prod: {}}\n", "environments.Prod");
}

TEST_CASE("gitops: credential store lines match scheme, host and port") {
  auto m = match_store_line("https://bot:p%40ss@git.example", "https://git.example/org/m.git");
  REQUIRE(m);
  CHECK(m->first == "bot");
  CHECK(m->second == "p@ss");
  CHECK_FALSE(match_store_line("https://bot:x@git.example", "http://git.example/m.git"));
  CHECK_FALSE(match_store_line("https://bot:x@git.example:8443", "https://git.example/m.git"));
  CHECK(match_store_line("http://bot:x@127.0.0.1:8080", "http://127.0.0.1:8080/git/m.git"));
  CHECK_FALSE(match_store_line("https://bot@git.example", "https://git.example/m.git")); // no password

  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
      auto it = vars.find(k);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  auto c = find_credentials("https://git.example/m.git", env({{"MLOPS_GIT_TOKEN", "tok"}, {"HOME", "/nonexistent"}}));
  CHECK(c.username == "x-access-token");
  CHECK(c.password == "tok");
  CHECK(c.source == "environment MLOPS_GIT_TOKEN");
  c = find_credentials("https://git.example/m.git", env({{"HOME", "/nonexistent"}}));
  CHECK(c.source.empty());
}

TEST_CASE("gitops: refs a killed process left in the cache are dropped when it is opened again") {
  test::TempDir tmp;
  RemoteOptions o;
  o.url = (tmp.path / "none.git").string();
  o.cache = tmp.path / "cache";
  std::string commit;
  {
    Remote r(o);
    commit = r.commit_dir("", "a", {{"f", "x"}}, "m", {"a", "a@x.invalid"}, {"a", "a@x.invalid"});
  }
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open_bare(&repo, o.cache.c_str()) == 0);
  git_oid oid;
  REQUIRE(git_oid_fromstr(&oid, commit.c_str()) == 0);
  // A PID above any pid_max (its process is gone) and this process's own, under another name.
  const std::string dead = "refs/mlops/2147483647-1/remote";
  const std::string live = "refs/mlops/" + std::to_string(::getpid()) + "-77/remote";
  for (const auto& name : {dead, live}) {
    git_reference* ref = nullptr;
    REQUIRE(git_reference_create(&ref, repo, name.c_str(), &oid, 1, nullptr) == 0);
    git_reference_free(ref);
  }
  { Remote again(o); }
  git_reference* ref = nullptr;
  CHECK(git_reference_lookup(&ref, repo, dead.c_str()) == GIT_ENOTFOUND);
  REQUIRE(git_reference_lookup(&ref, repo, live.c_str()) == 0);
  git_reference_free(ref);
  git_repository_free(repo);
}

// ----------------------------------------------------------------------------- promote's races, driven through fakes
// The workflow talks to git through RemoteBranch and to MLflow through
// Registry; these fakes let a test move the branch between a fetch and a push,
// refuse a push or a tag write, and look at what was left behind.

namespace {

/// A branch held in memory. `before_push` runs inside each push before the
/// server compares tips: a writer racing us. `refusal` makes the server's
/// hook refuse every push.
class FakeBranch final : public RemoteBranch {
public:
  struct Object {
    std::string parent, message;
    std::map<std::string, std::map<std::string, std::string>> dirs;
  };
  std::map<std::string, Object> objects;
  std::string server; ///< the branch on the server
  std::string local;  ///< the tip of the last fetch or push
  std::function<void()> before_push;
  std::string refusal;
  int fetches = 0, pushes = 0;

  std::string fetch() override {
    ++fetches;
    return local = server;
  }
  const std::string& tip() const override { return local; }
  std::map<std::string, std::string> read_dir(const std::string& commit, const std::string& dir) override {
    auto it = objects.find(commit);
    if (it == objects.end() || !it->second.dirs.count(dir)) return {};
    return it->second.dirs.at(dir);
  }
  std::string commit_dir(const std::string& parent, const std::string& dir,
                         const std::map<std::string, std::string>& files, const std::string& message, const Identity&,
                         const Identity&) override {
    Object o{parent, message, parent.empty() ? decltype(Object::dirs){} : objects.at(parent).dirs};
    if (files.empty())
      o.dirs.erase(dir);
    else
      o.dirs[dir] = files;
    std::string id = "c" + std::to_string(objects.size() + 1);
    objects[id] = o;
    return id;
  }
  PushResult push(const std::string& commit) override {
    ++pushes;
    if (before_push) before_push();
    if (!refusal.empty())
      throw Error(ErrorKind::operational, "cannot push: the server refused refs/heads/main (" + refusal + ")");
    if (objects.at(commit).parent != server) return PushResult::non_fast_forward;
    server = local = commit;
    return PushResult::pushed;
  }
  std::vector<Commit> log(const std::string& dir) override {
    std::vector<Commit> out;
    for (std::string id = local; !id.empty(); id = objects.at(id).parent) {
      const Object& o = objects.at(id);
      if (!dir.empty() && read_dir(id, dir) == read_dir(o.parent, dir)) continue;
      Commit c;
      c.id = id;
      c.message = o.message;
      c.subject = o.message.substr(0, o.message.find('\n'));
      c.trailers = parse_trailers(o.message);
      out.push_back(c);
    }
    return out;
  }
  std::string diff(const std::string& from, const std::string& to, const std::string&) override {
    return from + ".." + to;
  }

  /// Another writer's promotion, straight onto the server's branch.
  std::string commit_on_server(const std::string& env, const std::string& version, const std::string& actor) {
    Record r;
    r.action = "promote";
    r.model = "iris";
    r.env = env;
    r.version = version;
    r.actor = actor;
    std::string id = commit_dir(server, "clusters/" + env + "/iris", {{"model.yaml", "version " + version}},
                                format_message(r), {}, {});
    return server = id;
  }
};

/// A model registry holding model 'iris' with versions 1 to 3. With
/// `deny_writes`, writes fail as MLflow refuses them: an auth error whose
/// cause is permission_denied and whose text says nothing of the kind.
class FakeRegistry final : public Registry {
public:
  std::map<std::string, mlflow::ModelVersion> versions;
  std::map<std::string, std::string> aliases;
  bool deny_writes = false;

  FakeRegistry() {
    for (const char* v : {"1", "2", "3"})
      versions[v] = version(v);
  }
  mlflow::RegisteredModel get_registered_model(const std::string& name) override {
    mlflow::RegisteredModel m;
    m.name = name;
    m.aliases = aliases;
    return m;
  }
  mlflow::ModelVersion get_model_version(const std::string&, const std::string& v) override {
    auto it = versions.find(v);
    if (it == versions.end()) throw Error(ErrorKind::not_found, "version " + quote(v) + " of model 'iris' not found");
    return it->second;
  }
  mlflow::ModelVersion resolve_version(const std::string& name, const std::string& v) override {
    if (!v.empty() && v[0] == '@') return get_model_version(name, aliases.at(v.substr(1)));
    return get_model_version(name, v);
  }
  void set_model_version_tag(const std::string&, const std::string& v, const std::string& key,
                             const std::string& value) override {
    refuse_if_denied();
    versions.at(v).tags[key] = value;
  }
  void set_alias(const std::string&, const std::string& alias, const std::string& v) override {
    refuse_if_denied();
    aliases[alias] = v;
  }

private:
  void refuse_if_denied() const {
    if (deny_writes)
      throw Error(ErrorKind::auth, "cannot set tag: the server said no (HTTP 403)")
          .because(Cause::permission_denied)
          .with_status(403);
  }
};

/// A workflow over the fakes: renders one file naming the environment and image.
struct Fixture {
  FakeRegistry registry;
  FakeBranch branch;
  PromotionConfig config;
  Workflow w{registry,
             branch,
             config,
             [](const std::string& env, const std::string& image) {
               return std::map<std::string, std::string>{{"model.yaml", env + " " + image}};
             },
             [](const std::string&, const std::string&) { return std::string("sha256:d"); },
             [] { return std::string(); },
             [](const std::string&) {},
             {}};

  PromoteRequest promote_request(const std::string& version, const std::string& env = "dev") {
    PromoteRequest r;
    r.model = "iris";
    r.version = version;
    r.env = env;
    r.actor = "alice";
    return r;
  }
  /// The environment's version on the server's branch, as a fresh reader sees it.
  std::string on_server(const std::string& env) {
    FakeBranch reader = branch;
    reader.fetch();
    std::vector<Record> rs;
    for (const auto& c : reader.log(""))
      if (auto r = record_from_commit(c)) rs.push_back(*r);
    auto cur = current_of(rs, env);
    return cur ? cur->version : "";
  }
};

} // namespace

TEST_CASE("gitops promote: an uncontended promotion pushes once, on the tip it fetched, then moves the alias") {
  Fixture f;
  Outcome o = promote(f.w, f.promote_request("2"));
  CHECK(o.committed);
  CHECK(o.alias_moved);
  CHECK(f.branch.pushes == 1);
  CHECK(f.branch.fetches == 3); // before the commit (the push builds on it), then twice to settle the alias
  CHECK(f.on_server("dev") == "2");
  CHECK(f.registry.aliases.at("dev") == "2");
  CHECK(f.registry.versions.at("2").tags.at("mlops.promotion.dev").find("\"status\":\"done\"") != std::string::npos);
  // Run again: nothing left to do.
  Outcome again = promote(f.w, f.promote_request("2"));
  CHECK(again.already);
  CHECK_FALSE(again.committed);
  CHECK(f.branch.pushes == 1);
}

TEST_CASE("gitops promote: the branch moving between fetch and push is fetched again and built on") {
  Fixture f;
  std::string theirs;
  f.branch.before_push = [&] {
    if (theirs.empty()) theirs = f.branch.commit_on_server("staging", "1", "bob");
  };
  Outcome o = promote(f.w, f.promote_request("2"));
  CHECK(o.committed);
  CHECK(f.branch.pushes == 2);
  CHECK(f.branch.objects.at(f.branch.server).parent == theirs); // ours on top of theirs, nothing lost
  CHECK(f.on_server("staging") == "1");
  CHECK(f.on_server("dev") == "2");
  CHECK(f.registry.aliases.at("dev") == "2");
}

TEST_CASE("gitops promote: someone else promoting the same version meanwhile leaves nothing to commit") {
  Fixture f;
  f.branch.before_push = [&] {
    if (f.branch.pushes == 1) f.branch.commit_on_server("dev", "2", "bob");
  };
  Outcome o = promote(f.w, f.promote_request("2"));
  CHECK_FALSE(o.committed);
  CHECK(f.branch.pushes == 1);
  CHECK(f.on_server("dev") == "2");
  CHECK(f.registry.aliases.at("dev") == "2"); // the alias still follows git
}

TEST_CASE("gitops promote: a branch that keeps moving ends in a conflict, with the alias untouched") {
  Fixture f;
  f.config.gitops.attempts = 2;
  f.branch.before_push = [&] { f.branch.commit_on_server("staging", std::to_string(f.branch.pushes), "bob"); };
  try {
    promote(f.w, f.promote_request("2"));
    FAIL("promoted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::conflict);
    CHECK(std::string(e.what()).find("it kept moving (2 attempts)") != std::string::npos);
  }
  CHECK(f.branch.pushes == 2);
  CHECK(f.on_server("dev").empty());
  CHECK_FALSE(f.registry.aliases.count("dev"));
}

TEST_CASE("gitops promote: a refused permission is told by its cause, before anything reaches git") {
  Fixture f;
  f.registry.deny_writes = true;
  try {
    promote(f.w, f.promote_request("2"));
    FAIL("promoted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()) == "cannot promote 'iris' version 2: permission denied: 'alice' needs EDIT on 'iris'");
  }
  CHECK(f.branch.pushes == 0);
  CHECK(f.on_server("dev").empty());
}

TEST_CASE("gitops promote: a push the server's hook refuses fails, and the alias does not move") {
  Fixture f;
  f.branch.refusal = "pre-receive hook declined";
  try {
    promote(f.w, f.promote_request("2"));
    FAIL("promoted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::operational);
    CHECK(std::string(e.what()).find("pre-receive hook declined") != std::string::npos);
  }
  CHECK_FALSE(f.registry.aliases.count("dev"));
}

TEST_CASE("gitops rollback: an environment that changed between fetch and push is a conflict, not an overwrite") {
  Fixture f;
  promote(f.w, f.promote_request("1"));
  promote(f.w, f.promote_request("2"));
  f.branch.before_push = [&] {
    if (f.branch.pushes == 3) f.branch.commit_on_server("dev", "3", "bob");
  };
  RollbackRequest req;
  req.model = "iris";
  req.env = "dev";
  req.actor = "alice";
  try {
    rollback(f.w, req);
    FAIL("rolled back");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::conflict);
    CHECK(std::string(e.what()).find("it changed meanwhile (now version 3)") != std::string::npos);
  }
  CHECK(f.on_server("dev") == "3");
}

TEST_CASE("gitops: signature policy and signing key (environments.ENV.requires.signature, signing)") {
  auto cfg = parse_promotion_config(R"(
environments:
  prod:
    requires: {signature: {key: keys/prod.pub}, provenance: true}
    signing: {key: /abs/prod.key}
)",
                                    "/proj/mlops.yaml");
  const EnvPolicy& p = cfg.environments.at("prod");
  CHECK(p.signature_key == "/proj/keys/prod.pub");
  CHECK(p.provenance);
  CHECK(p.signing_key == "/abs/prod.key");
  auto none = [](const std::string&) { return std::optional<std::string>(); };
  auto set = [](const std::string& k) {
    return k == "MLOPS_SIGNING_KEY" ? std::optional<std::string>("/env.key") : std::nullopt;
  };
  CHECK(signing_key_for(&p, none) == "/abs/prod.key");
  CHECK(signing_key_for(&p, set) == "/env.key");
  CHECK(signing_key_for(nullptr, none).empty());
  for (const char* bad :
       {"environments: {prod: {requires: {provenance: true}}}\n",
        "environments: {prod: {requires: {signature: true}}}\n",
        "environments: {prod: {requires: {signature: {kee: x}}}}\n", "environments: {prod: {signing: {}}}\n"}) {
    CHECK_THROWS_AS(parse_promotion_config(bad, "mlops.yaml"), Error);
  }
  Record r;
  r.action = "promote";
  r.model = "iris";
  r.version = "3";
  r.env = "prod";
  r.image = "127.0.0.1:5000/iris@sha256:" + std::string(64, 'a');
  r.image_signer = "key sha256:0123456789abcdef";
  r.actor = "ci";
  Commit c;
  c.id = "abc";
  c.message = format_message(r);
  CHECK(c.message.find("Image-Signed-By: key sha256:0123456789abcdef\n") != std::string::npos);
}
