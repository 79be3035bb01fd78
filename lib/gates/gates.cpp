#include "gates/gates.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "gates/checks.hpp"
#include "model/mlmodel.hpp"

#include <chrono>

namespace mlops::gates {

namespace {

GateResult timed(const std::string& name, const std::function<void(GateResult&)>& body) {
  GateResult g;
  g.name = name;
  auto start = std::chrono::steady_clock::now();
  body(g);
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

void fail_with(GateResult& g, const std::string& reason, std::vector<std::string> details = {}) {
  g.status = Status::fail;
  g.reason = reason;
  g.details = std::move(details);
}

GateResult format_gate(const Target& t, std::optional<model::MlModel>& mlmodel) {
  return timed("format", [&](GateResult& g) {
    try {
      fs::check_tree(t.dir); // the rule package applies: UTF-8 names, links that stay inside
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::io) throw; // a part that cannot be read: no verdict, an error (exit 1)
      fail_with(g, e.what());
      return;
    }
    try {
      mlmodel = model::MlModel::load(t.dir);
    } catch (const Error& e) {
      fail_with(g, e.what());
      return;
    }
    std::vector<std::string> missing;
    for (const auto& rel : mlmodel->referenced_files()) {
      std::error_code ec;
      try {
        if (!std::filesystem::exists(fs::safe_join(t.dir, rel), ec)) missing.push_back("missing: " + rel);
      } catch (const Error& e) {
        missing.push_back("unsafe path in MLmodel: " + rel);
      }
    }
    if (t.lock) {
      auto r = model::verify_dir(t.dir, *t.lock);
      for (const auto& f : r.modified)
        missing.push_back("changed since pull: " + f);
      for (const auto& f : r.missing)
        missing.push_back("deleted since pull: " + f);
      for (const auto& f : r.unexpected)
        missing.push_back("added since pull: " + f);
    }
    if (!missing.empty()) {
      fail_with(g,
                missing.front() + (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : ""),
                missing);
      return;
    }
    std::size_t nf = mlmodel->flavors.size();
    g.reason = "MLmodel parsed (" + std::to_string(nf) + (nf == 1 ? " flavor), " : " flavors), ") +
               std::to_string(mlmodel->referenced_files().size()) + " referenced files present" +
               (t.lock ? ", " + std::to_string(t.lock->files.size()) + " files match mlops.lock.json" : "");
  });
}

GateResult skipped(const std::string& name, const std::string& reason) {
  GateResult g;
  g.name = name;
  g.status = Status::skip;
  g.reason = reason;
  return g;
}

GateResult extras_gate(const Target& t, const Policy& p) {
  return timed("extras", [&](GateResult& g) {
    std::vector<std::string> missing;
    for (const auto& a : p.extra_artifacts) {
      std::error_code ec;
      try {
        if (!std::filesystem::exists(fs::safe_join(t.dir, a), ec)) missing.push_back(a);
      } catch (const Error&) {
        missing.push_back(a + " (path leaves the model directory)");
      }
    }
    if (!missing.empty()) {
      fail_with(g, "declared artifact '" + missing.front() + "' is not in the model", missing);
      return;
    }
    g.reason = std::to_string(p.extra_artifacts.size()) + " declared artifacts present";
  });
}

GateResult tests_gate(const Target& t, const Policy& p, const std::optional<model::MlModel>& mlmodel,
                      const std::filesystem::path& cwd, LogSink& log) {
  return timed("tests", [&](GateResult& g) {
    std::map<std::string, std::string> env;
    env["MLOPS_MODEL_DIR"] = std::filesystem::absolute(t.dir).string();
    // The exact version validated, never an alias that may have moved since.
    env["MLOPS_MODEL_URI"] = !t.name.empty() ? "models:/" + t.name + "/" + t.version : t.uri;
    std::string example;
    if (mlmodel && mlmodel->input_example && !mlmodel->input_example->artifact_path.empty()) {
      example = (std::filesystem::absolute(t.dir) / mlmodel->input_example->artifact_path).string();
    }
    env["MLOPS_INPUT_EXAMPLE"] = example;
    std::size_t passed = 0;
    for (const auto& cmd : p.tests) {
      log.debug(1, "running test " + quote(cmd.name));
      ProcessResult r = run_process(cmd.run, cwd, env, cmd.timeout);
      g.output += "$ " + cmd.name + "\n" + r.output + (r.output.empty() || r.output.back() == '\n' ? "" : "\n");
      std::string line;
      if (r.not_found)
        line = quote(cmd.name) + ": command not found: " + cmd.run.front();
      else if (r.timed_out)
        line = quote(cmd.name) + ": timed out after " + std::to_string(cmd.timeout.count()) + " s";
      else if (r.exit_code != 0)
        line = quote(cmd.name) + ": exit code " + std::to_string(r.exit_code);
      if (line.empty()) {
        ++passed;
        g.details.push_back(quote(cmd.name) + ": passed in " + std::to_string(r.seconds).substr(0, 4) + " s");
      } else {
        g.details.push_back(line);
        if (g.status != Status::fail) fail_with(g, "test " + line, g.details);
      }
    }
    if (g.status != Status::fail) g.reason = std::to_string(passed) + " test commands passed";
  });
}

} // namespace

void conclude(GateResult& g, std::vector<std::string> problems, std::vector<std::string> notes,
              const std::string& sep) {
  if (!problems.empty()) {
    g.status = Status::fail;
    g.reason = problems.front();
    g.details = std::move(problems);
    return;
  }
  g.status = Status::pass;
  g.reason.clear();
  for (const auto& n : notes)
    g.reason += (g.reason.empty() ? "" : sep) + n;
  g.details = std::move(notes);
}

const char* status_name(Status s) {
  switch (s) {
  case Status::pass:
    return "pass";
  case Status::fail:
    return "fail";
  case Status::skip:
    return "skip";
  }
  return "fail";
}

bool Report::passed() const { return count(Status::fail) == 0; }

std::size_t Report::count(Status s) const {
  return static_cast<std::size_t>(
      std::count_if(gates.begin(), gates.end(), [s](const GateResult& g) { return g.status == s; }));
}

void record_verdict(mlflow::Client& client, const Report& r) {
  const Target& t = r.target;
  if (t.name.empty() || t.version.empty() || !t.lock)
    throw Error(ErrorKind::usage, "cannot record the verdict: the model was not pulled by mlops (no lock file)");
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  // "pending" first and the verdict last: a reader never sees an old
  // "passed" next to a new digest, even when a write in between fails.
  client.set_model_version_tag(t.name, t.version, "mlops.validation.status", "pending");
  client.set_model_version_tag(t.name, t.version, "mlops.validation.digest", t.lock->digest);
  client.set_model_version_tag(t.name, t.version, "mlops.validation.policy", r.policy_digest);
  client.set_model_version_tag(t.name, t.version, "mlops.validation.time", model::iso8601_utc_ms(now.count()));
  client.set_model_version_tag(t.name, t.version, "mlops.validation.status", r.passed() ? "passed" : "failed");
}

bool has_passed_verdict(const mlflow::ModelVersion& v, const std::string& lock_digest,
                        const std::string& policy_digest) {
  auto tag = [&](const std::string& k) {
    auto it = v.tags.find(k);
    return it == v.tags.end() ? std::string() : it->second;
  };
  return tag("mlops.validation.status") == "passed" && !lock_digest.empty() &&
         tag("mlops.validation.digest") == lock_digest && tag("mlops.validation.policy") == policy_digest;
}

Report validate(const Target& target, const Policy& policy, mlflow::Client* client, const std::filesystem::path& cwd,
                LogSink& log) {
  Report r;
  r.target = target;
  r.policy_digest = policy.digest;
  r.policy_origin = policy.origin;
  std::optional<model::MlModel> mlmodel;
  r.gates.push_back(format_gate(target, mlmodel));
  if (mlmodel) {
    r.gates.push_back(interface_gate(target, policy, *mlmodel));
    r.gates.push_back(environment_gate(target, policy, *mlmodel));
  } else {
    r.gates.push_back(skipped("interface", "MLmodel could not be read"));
    r.gates.push_back(skipped("environment", "MLmodel could not be read"));
  }
  if (policy.extras_configured) r.gates.push_back(extras_gate(target, policy));
  if (policy.metrics_configured) r.gates.push_back(metrics_gate(target, policy, mlmodel, client));
  if (policy.tests_configured) r.gates.push_back(tests_gate(target, policy, mlmodel, cwd, log));
  if (policy.serve) {
    std::string mlserver = find_executable("mlserver");
    if (mlserver.empty())
      r.gates.push_back(skipped("serve", "mlserver not found"));
    else if (!mlmodel)
      r.gates.push_back(skipped("serve", "MLmodel could not be read"));
    else
      r.gates.push_back(serve_gate(target, *mlmodel, mlserver, log));
  }
  return r;
}

} // namespace mlops::gates
