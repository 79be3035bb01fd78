#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "core/strings.hpp"
#include "gates/checks.hpp"
#include "http/client.hpp"

#include <chrono>
#include <stdlib.h>
#include <thread>

namespace mlops::gates {

namespace {

constexpr const char* k_model_name = "model";

std::string log_tail(const std::filesystem::path& log, std::size_t max = 4000) {
  try {
    std::string text = fs::read_file(log);
    return valid_utf8(text.size() > max ? "[...]\n" + text.substr(text.size() - max) : text);
  } catch (const Error&) {
    return {};
  }
}

/// Compares the first output of a V2 response with the output signature.
void check_response(const model::Signature& sig, const nlohmann::json& resp, std::size_t rows,
                    std::vector<std::string>& problems, std::vector<std::string>& notes) {
  if (!resp.contains("outputs") || !resp["outputs"].is_array() || resp["outputs"].empty()) {
    problems.push_back("the response has no outputs");
    return;
  }
  const auto& out = resp["outputs"][0];
  std::string datatype = out.value("datatype", "");
  std::vector<long> shape;
  for (const auto& d : out.value("shape", nlohmann::json::array()))
    shape.push_back(d.get<long>());
  if (shape.empty() || static_cast<std::size_t>(shape[0]) != rows) {
    problems.push_back("the response has " +
                       (shape.empty() ? std::string("no shape") : std::to_string(shape[0]) + " rows") + " for " +
                       std::to_string(rows) + " input rows");
  }
  if (!sig.outputs.empty()) {
    std::string want = model::v2_datatype(sig.outputs.front().type);
    if (want != datatype) problems.push_back("output datatype " + datatype + ", the signature says " + want);
  }
  notes.push_back(std::to_string(rows) + " rows in, output '" + out.value("name", "") + "' " + datatype + " " +
                  nlohmann::json(shape).dump());
}

} // namespace

GateResult serve_gate(const Target& t, const model::MlModel& m, const std::string& mlserver, LogSink& log) {
  GateResult g;
  g.name = "serve";
  auto start = std::chrono::steady_clock::now();
  auto done = [&](std::vector<std::string> problems, std::vector<std::string> notes) {
    conclude(g, std::move(problems), std::move(notes));
    g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return g;
  };
  if (!m.signature || m.signature->inputs.empty() || !m.input_example || m.input_example->artifact_path.empty()) {
    g.status = Status::skip;
    g.reason = "the model has no signature and input example to send";
    return g;
  }
  std::vector<std::string> unreadable;
  auto read = read_example(t, m.input_example->artifact_path, unreadable);
  if (!read) return done({"cannot read the input example: " + unreadable.front()}, {});
  nlohmann::json example = std::move(*read);
  std::size_t rows = 0;
  std::string why;
  auto body = model::v2_request(*m.signature, *m.input_example, example, rows, why);
  if (!body) {
    // Our limitation, not the model's fault: say so rather than fail.
    g.status = Status::skip;
    g.reason = "cannot send this input example as a V2 request: " + why;
    return g;
  }

  fs::TempDir scratch("serve");
  int http_port = free_local_port();
  int grpc_port = free_local_port();
  fs::atomic_write(scratch.path() / "settings.json", nlohmann::json{{"host", "127.0.0.1"},
                                                                    {"http_port", http_port},
                                                                    {"grpc_port", grpc_port},
                                                                    {"metrics_endpoint", nullptr},
                                                                    {"parallel_workers", 0}}
                                                         .dump());
  fs::atomic_write(scratch.path() / "model-settings.json",
                   nlohmann::json{{"name", k_model_name},
                                  {"implementation", "mlserver_mlflow.MLflowRuntime"},
                                  {"parameters", {{"uri", std::filesystem::absolute(t.dir).string()}}}}
                       .dump());
  auto log_file = scratch.path() / "mlserver.log";
  log.debug(1, "starting " + mlserver + " on 127.0.0.1:" + std::to_string(http_port));
  BackgroundProcess server({mlserver, "start", scratch.path().string()}, scratch.path(), log_file);

  http::Options o;
  o.max_retries = 0;
  o.connect_timeout_s = 2;
  o.idle_timeout_s = 60;
  http::Client client(o, log);
  std::string base = "http://127.0.0.1:" + std::to_string(http_port);
  auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  bool ready = false;
  while (std::chrono::steady_clock::now() < ready_deadline) {
    throw_if_cancelled();
    if (!server.running()) break;
    try {
      if (client.send({"GET", base + "/v2/models/" + k_model_name + "/ready", {}, {}, {}, true}).status == 200) {
        ready = true;
        break;
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::interrupted) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (!ready) {
    bool exited = !server.running();
    server.stop();
    g.output = log_tail(log_file);
    return done(
        {exited ? "mlserver exited before the model was ready (exit code " + std::to_string(server.exit_code()) + ")"
                : "the model was not ready after 180 s"},
        {});
  }
  double ready_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> problems, notes;
  notes.push_back("ready in " + std::to_string(ready_s).substr(0, 4) + " s");
  try {
    http::Response r = client.send({"POST",
                                    base + "/v2/models/" + k_model_name + "/infer",
                                    {"Content-Type: application/json"},
                                    body->dump(),
                                    {},
                                    false});
    if (r.status != 200) {
      problems.push_back("inference answered HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 200));
    } else {
      check_response(*m.signature, parse_json(r.body, "the inference response", ErrorKind::operational), rows, problems,
                     notes);
    }
  } catch (const nlohmann::json::exception& e) {
    problems.push_back("the inference response has an unexpected shape: " + json_error_text(e));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::interrupted) throw;
    problems.push_back(std::string("inference failed: ") + e.what());
  }
  server.stop();
  if (!problems.empty()) g.output = log_tail(log_file);
  return done(std::move(problems), std::move(notes));
}

} // namespace mlops::gates
