#include "core/error.hpp"
#include "core/fs.hpp"
#include "gitops/promotion.hpp"
#include "http/client.hpp"
#include "oci/package.hpp"
#include "release/doctor.hpp"
#include "release/init.hpp"
#include "release/project.hpp"
#include "release/release.hpp"
#include "render/target.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

using namespace mlops;

namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no error thrown");
  return ErrorKind::operational;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("release init: the text for every target loads with every loader of the project file") {
  test::TempDir d;
  for (const auto& target : render::known_targets()) {
    release::InitOptions o;
    o.target = target;
    o.registry = "127.0.0.1:5000";
    o.gitops = "https://git.example/m.git";
    o.tracking_uri = "http://127.0.0.1:5000";
    auto file = d.path / (target + ".yaml");
    release::write_init(file, o, false);
    release::Project p = release::load_project(file);
    CHECK(p.deploy.target == target);
    CHECK(p.promotion.environments.at("prod").registry == "127.0.0.1:5000/models/" + p.deploy.name);
    CHECK(p.promotion.environments.at("prod").approvals == 1);
    CHECK(p.settings.tracking_uri == "http://127.0.0.1:5000");
    CHECK(p.package.format == (target == "kserve" ? "modelcar" : "image"));
  }
}

TEST_CASE("release init: the directory names the model; nothing given leaves commented examples") {
  test::TempDir d;
  std::filesystem::create_directory(d.path / "Fraud Model");
  auto file = d.path / "Fraud Model" / "mlops.yaml";
  release::write_init(file, {}, false);
  release::Project p = release::load_project(file);
  CHECK(p.deploy.name == "fraud-model");
  CHECK(p.promotion.gitops.url.empty());
  CHECK(p.promotion.environments.at("staging").registry.empty());
  CHECK(fs::read_file(file).find("# gitops:") != std::string::npos);
}

TEST_CASE("release init: an existing file is kept without force; a bad value writes nothing") {
  test::TempDir d;
  auto file = d.path / "mlops.yaml";
  fs::atomic_write(file, "keep: me\n");
  CHECK(kind_of([&] { release::write_init(file, {}, false); }) == ErrorKind::conflict);
  CHECK(fs::read_file(file) == "keep: me\n");
  release::InitOptions bad;
  bad.gitops = "https://u:pw@git.example/m.git";
  std::string msg = message_of([&] { release::write_init(file, bad, true); });
  CHECK(msg.find("gitops.url") != std::string::npos);
  CHECK(msg.find(file.string() + ":") != std::string::npos); // the file asked for, not the temporary one
  CHECK(fs::read_file(file) == "keep: me\n");
  release::InitOptions target;
  target.target = "helm";
  CHECK(kind_of([&] { release::write_init(d.path / "x.yaml", target, false); }) == ErrorKind::usage);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(d.path))
    ++entries;
  CHECK(entries == 1);
  release::write_init(file, {}, true);
  CHECK(release::load_project(file).deploy.name == release::load_project(file).deploy.name);
}

TEST_CASE("release: environments.ENV.registry is read and checked") {
  auto cfg =
      gitops::parse_promotion_config("environments:\n  prod:\n    registry: reg.example:5000/models/iris\n", "p.yaml");
  CHECK(cfg.environments.at("prod").registry == "reg.example:5000/models/iris");
  for (const char* bad : {"https://reg.example/models/iris", "reg.example", "reg.example/iris:v1",
                          "reg.example/iris@sha256:00", "u:p@reg.example/iris"}) {
    std::string text = std::string("environments:\n  prod:\n    registry: \"") + bad + "\"\n";
    std::string msg = message_of([&] { gitops::parse_promotion_config(text, "p.yaml"); });
    CAPTURE(bad);
    CHECK(msg.find("p.yaml:3") != std::string::npos);
    CHECK(msg.find("environments.prod.registry") != std::string::npos);
  }
}

TEST_CASE("release: package.base is read, checked and a relative layout path is the file's") {
  auto c = oci::parse_package_config("package: {base: reg.example/busybox:1.36}\n", "p.yaml");
  CHECK(c.base == "reg.example/busybox:1.36");
  CHECK(kind_of([] { oci::parse_package_config("package: {base: 'not a ref'}\n", "p.yaml"); }) == ErrorKind::usage);
  test::TempDir d;
  fs::atomic_write(d.path / "mlops.yaml", "package: {base: 'oci:base/busybox:latest'}\n");
  CHECK(oci::load_package_config(d.path / "mlops.yaml").base == "oci:" + (d.path / "base/busybox:latest").string());
}

TEST_CASE("release: HTTP dates for the clock check") {
  CHECK(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
  CHECK(!http::parse_http_date(""));
  CHECK(!http::parse_http_date("yesterday-ish"));
}

namespace {

release::Project project_with(const std::string& yaml, test::TempDir& d) {
  fs::atomic_write(d.path / "mlops.yaml", yaml);
  return release::load_project(d.path / "mlops.yaml");
}

const char* k_project = "package: {base: 'oci:/b:latest'}\n"
                        "deploy: {name: iris, target: kserve}\n"
                        "gitops: {url: https://git.example/m.git}\n"
                        "environments:\n"
                        "  dev: {registry: r.example/models/iris}\n"
                        "  staging: {registry: r.example/models/iris, requires: {validation: true}}\n"
                        "  qa: {}\n";

} // namespace

TEST_CASE("release: what cannot be shipped is refused before any step") {
  test::TempDir d;
  release::Project p = project_with(k_project, d);
  release::ReleaseRequest req;
  req.model_uri = "models:/iris/1";
  req.env = "dev";
  release::check_release(p, req);
  req.skip_validate = true;
  release::check_release(p, req); // dev does not require validation
  req.env = "staging";
  CHECK(message_of([&] { release::check_release(p, req); }).find("--skip-validate is refused") == 0);
  req.skip_validate = false;
  req.env = "qa";
  CHECK(message_of([&] { release::check_release(p, req); }).find("environments.qa.registry is not set") !=
        std::string::npos);
  req.env = "prod";
  CHECK(kind_of([&] { release::check_release(p, req); }) == ErrorKind::usage);
  release::Project artifact = project_with(std::string(k_project) + "", d);
  artifact.package.format = "artifact";
  req.env = "dev";
  CHECK(message_of([&] { release::check_release(artifact, req); }).find("OCI artifact") != std::string::npos);
  artifact.package.format.reset();
  artifact.package.base.reset();
  CHECK(message_of([&] { release::check_release(artifact, req); }).find("package.base is not set") !=
        std::string::npos);
}

TEST_CASE("doctor: without a project or servers every check fails or skips, saying how to fix it") {
  release::DoctorSubject s;
  release::DoctorReport r = release::diagnose(s, null_log());
  CHECK_FALSE(r.ok());
  REQUIRE(r.checks.size() >= 6);
  CHECK(r.checks[0].name == "config");
  CHECK(r.checks[0].verdict == release::Verdict::fail);
  CHECK(r.checks[0].hint.find("mlops init") != std::string::npos);
  for (std::size_t i = 1; i < r.checks.size(); ++i) {
    CAPTURE(r.checks[i].name);
    CHECK(r.checks[i].verdict == release::Verdict::skip);
  }
}

TEST_CASE("doctor: a valid project with nothing to reach passes its config check; a bad --env is a usage error") {
  test::TempDir d;
  fs::atomic_write(d.path / "mlops.yaml", k_project);
  release::DoctorSubject s;
  s.project_file = d.path / "mlops.yaml";
  release::DoctorReport r = release::diagnose(s, null_log());
  CHECK(r.ok());
  CHECK(r.checks[0].verdict == release::Verdict::pass);
  s.env = "nope";
  CHECK(kind_of([&] { release::diagnose(s, null_log()); }) == ErrorKind::usage);
  fs::atomic_write(d.path / "mlops.yaml", "environments:\n  prod: {requires: {approvals: many}}\n");
  s.env.clear();
  r = release::diagnose(s, null_log());
  CHECK(r.checks[0].verdict == release::Verdict::fail);
  CHECK(r.checks[0].detail.find("mlops.yaml:2") != std::string::npos);
}
