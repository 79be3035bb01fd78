#include "core/error.hpp"
#include "mlflow/model_uri.hpp"
#include "mlflow/pull.hpp"

#include <doctest/doctest.h>

using mlops::Error;
using mlops::ErrorKind;
using mlops::mlflow::ModelUri;
using mlops::mlflow::parse_model_uri;

TEST_CASE("model URI: version, alias, stage and latest forms") {
  auto v = parse_model_uri("models:/iris/3");
  CHECK(v.kind == ModelUri::Kind::version);
  CHECK(v.name == "iris");
  CHECK(v.reference == "3");
  CHECK(v.str() == "models:/iris/3");

  auto a = parse_model_uri("models:/fraud-detector@champion");
  CHECK(a.kind == ModelUri::Kind::alias);
  CHECK(a.name == "fraud-detector");
  CHECK(a.reference == "champion");

  auto s = parse_model_uri("models:/iris/production");
  CHECK(s.kind == ModelUri::Kind::stage);
  CHECK(s.reference == "Production");
  CHECK(parse_model_uri("models:/iris/STAGING").reference == "Staging");
  CHECK(parse_model_uri("models:/iris/None").reference == "None");
  CHECK(parse_model_uri("models:/iris/Archived").reference == "Archived");

  auto l = parse_model_uri("models:/iris/latest");
  CHECK(l.kind == ModelUri::Kind::latest);
  CHECK(l.text == "models:/iris/latest");

  // MLflow accepts a triple slash too.
  CHECK(parse_model_uri("models:///iris/2").name == "iris");
  // Names may hold dots and spaces.
  CHECK(parse_model_uri("models:/my.model v2@prod").name == "my.model v2");
}

TEST_CASE("model URI: bad forms are usage errors that say why") {
  auto fails = [](const char* uri, const char* why) {
    try {
      parse_model_uri(uri);
      FAIL("accepted " << uri);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::usage);
      CHECK(std::string(e.what()).find(why) != std::string::npos);
      CHECK(!e.hint().empty());
    }
  };
  fails("runs:/abc/model", "must start with 'models:/'");
  fails("models:/", "no model name");
  fails("models:/iris", "no version, alias or stage");
  fails("models:/iris/", "no version, alias or stage");
  fails("models:/@prod", "no model name");
  fails("models:/iris@", "empty alias");
  fails("models:/iris/1/2", "too many path parts");
  fails("models:/iris/prod", "'prod' is not a version number");
  fails("models:/iris/0", "versions start at 1");
  fails("models:/m-0123456789abcdef", "logged model ids");
  fails("models:/iris@a/1", "both an alias and a version");
}

TEST_CASE("default destination: one path component whatever the server says") {
  CHECK(mlops::mlflow::default_dest("iris", "3") == "iris-v3");
  CHECK(mlops::mlflow::default_dest("a/b", "1") == "a_b-v1");
  CHECK(mlops::mlflow::default_dest("..", "1") == "model-v1");
  auto d = mlops::mlflow::default_dest("x", "x/../../../../../outside/PWNED");
  CHECK(d == "x-vx_.._.._.._.._.._outside_PWNED");
  CHECK(std::distance(d.begin(), d.end()) == 1);
}
