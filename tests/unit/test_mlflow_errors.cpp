#include "core/error.hpp"
#include "mlflow/client.hpp"

#include <doctest/doctest.h>

using namespace mlops;

namespace {

http::Response response(long status, std::string body, std::string content_type = "application/json") {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers["content-type"] = std::move(content_type);
  return r;
}

} // namespace

TEST_CASE("MLflow errors: JSON error_code decides the kind") {
  auto e = mlflow::error_from_response(
      response(404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered Model with name=x not found"})"),
      "cannot get model 'x'");
  CHECK(e.kind() == ErrorKind::not_found);
  CHECK(std::string(e.what()) == "cannot get model 'x': Registered Model with name=x not found");

  // RESOURCE_ALREADY_EXISTS comes as 400 but is a conflict.
  CHECK(mlflow::error_from_response(response(400, R"({"error_code":"RESOURCE_ALREADY_EXISTS","message":"m"})"), "w")
            .kind() == ErrorKind::conflict);
  CHECK(mlflow::error_from_response(response(400, R"({"error_code":"INVALID_PARAMETER_VALUE","message":"m"})"), "w")
            .kind() == ErrorKind::operational);
  CHECK(mlflow::error_from_response(response(403, R"({"error_code":"PERMISSION_DENIED","message":"m"})"), "w").kind() ==
        ErrorKind::auth);
  CHECK(mlflow::error_from_response(response(503, R"({"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"})"), "w")
            .kind() == ErrorKind::unavailable);
}

TEST_CASE("MLflow errors: FastAPI detail bodies") {
  auto e = mlflow::error_from_response(response(400, R"({"detail":"path is a directory"})"), "cannot download 'a'");
  CHECK(std::string(e.what()) == "cannot download 'a': path is a directory");
  auto v = mlflow::error_from_response(response(422, R"({"detail":[{"loc":["query","path"],"msg":"field required"}]})"),
                                       "w");
  CHECK(std::string(v.what()).find("field required") != std::string::npos);
}

TEST_CASE("MLflow errors: plain-text 401 and 403 of the basic-auth app") {
  auto u = mlflow::error_from_response(response(401, "You are not authenticated. Please see docs", "text/plain"),
                                       "cannot get model 'iris'");
  CHECK(u.kind() == ErrorKind::auth);
  CHECK(std::string(u.what()).find("authentication failed (HTTP 401)") != std::string::npos);
  CHECK(u.hint().find("MLFLOW_TRACKING_USERNAME") != std::string::npos);
  auto f = mlflow::error_from_response(response(403, "Permission denied", "text/plain"), "cannot set alias");
  CHECK(f.kind() == ErrorKind::auth);
  CHECK(std::string(f.what()) == "cannot set alias: permission denied (HTTP 403): Permission denied");
}

TEST_CASE("MLflow errors: HTML from a proxy falls back to the status") {
  auto e = mlflow::error_from_response(response(502, "<html><body>Bad Gateway</body></html>", "text/html"), "w");
  CHECK(e.kind() == ErrorKind::unavailable);
  CHECK(std::string(e.what()) == "w: HTTP 502");
  auto n = mlflow::error_from_response(response(404, "", "text/plain"), "w");
  CHECK(n.kind() == ErrorKind::not_found);
}

TEST_CASE("exit codes follow DESIGN.md") {
  CHECK(exit_code(ErrorKind::operational) == 1);
  CHECK(exit_code(ErrorKind::usage) == 2);
  CHECK(exit_code(ErrorKind::gate_failed) == 3);
  CHECK(exit_code(ErrorKind::not_found) == 4);
  CHECK(exit_code(ErrorKind::auth) == 5);
  CHECK(exit_code(ErrorKind::unavailable) == 6);
  CHECK(exit_code(ErrorKind::conflict) == 7);
  CHECK(exit_code(ErrorKind::interrupted) == 130);
}

TEST_CASE("MLflow errors: server text is printed without control characters") {
  auto e = mlflow::error_from_response(
      response(400,
               "{\"error_code\":\"BAD\\u001b[2J\",\"message\":\"oops\\u001b]0;pwned\\u0007\\r\\nmlops: error: fake\"}"),
      "w");
  CHECK(std::string(e.what()) == "w: oops\\x1b]0;pwned\\x07\\x0d\\x0amlops: error: fake");
  auto t = mlflow::error_from_response(response(500, "boom\x1b[31m", "text/plain"), "w");
  CHECK(std::string(t.what()) == "w: server unavailable (HTTP 500): boom\\x1b[31m");
  auto deep = mlflow::error_from_response(response(400, std::string(100000, '[') + std::string(100000, ']')), "w");
  CHECK(deep.kind() == ErrorKind::operational); // refused by the bounded parser, not a crash
}
