#include "core/error.hpp"
#include "core/fs.hpp"
#include "oci/registry.hpp"
#include "oci/registry_auth.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::oci;

TEST_CASE("WWW-Authenticate: one Bearer challenge with quoted parameters") {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")");
  REQUIRE(c.size() == 1);
  CHECK(c[0].scheme == "bearer");
  CHECK(c[0].params["realm"] == "https://auth.example/token");
  CHECK(c[0].params["service"] == "registry.example");
  CHECK(c[0].params["scope"] == "repository:a/b:pull,push"); // the comma inside quotes stays
}

TEST_CASE("WWW-Authenticate: several challenges, escapes, tokens and odd spacing") {
  auto c =
      parse_www_authenticate(R"(Negotiate, Basic realm="say \"hi\"" , BEARER Realm=http://h/t, error="invalid_token")");
  REQUIRE(c.size() == 3);
  CHECK(c[0].scheme == "negotiate");
  CHECK(c[0].params.empty());
  CHECK(c[1].scheme == "basic");
  CHECK(c[1].params["realm"] == "say \"hi\"");
  CHECK(c[2].scheme == "bearer");
  CHECK(c[2].params["realm"] == "http://h/t");
  CHECK(c[2].params["error"] == "invalid_token");
  CHECK(parse_www_authenticate("").empty());
  CHECK(parse_www_authenticate("=,=").empty());
  auto unterminated = parse_www_authenticate(R"(Bearer realm="http://x)");
  REQUIRE(unterminated.size() == 1);
  CHECK(unterminated[0].params["realm"] == "http://x");
}

TEST_CASE("scopes: repository scope strings, new scopes first, no duplicates") {
  CHECK(repository_scope("models/iris", "pull,push") == "repository:models/iris:pull,push");
  std::vector<std::string> s = {repository_scope("t", "pull,push")};
  add_scope(s, repository_scope("base", "pull"));
  add_scope(s, repository_scope("t", "pull,push"));
  add_scope(s, "");
  CHECK(s == std::vector<std::string>{"repository:base:pull", "repository:t:pull,push"});
}

TEST_CASE("upload Range header: bytes held by the registry") {
  CHECK(parse_upload_range("0-1023") == 1024u);
  CHECK(parse_upload_range("bytes=0-9") == 10u);
  CHECK(parse_upload_range(" 0-0 ") == 0u); // distribution's answer for an empty session
  CHECK(!parse_upload_range("5-10"));       // must start at 0
  CHECK(!parse_upload_range("0-"));
  CHECK(!parse_upload_range("-5"));
  CHECK(!parse_upload_range("0-12x"));
  CHECK(!parse_upload_range(""));
}

TEST_CASE("credential helper output: password, identity token, malformed") {
  auto c =
      parse_helper_output(R"({"ServerURL":"r.example","Username":"bob","Secret":"s3cret"})", "docker-credential-x");
  CHECK(c.username == "bob");
  CHECK(c.password == "s3cret");
  CHECK(c.identity_token.empty());
  auto t = parse_helper_output("warning on stderr\n{\"Username\":\"<token>\",\"Secret\":\"refresh-123\"}\n",
                               "docker-credential-x");
  CHECK(t.username.empty());
  CHECK(t.identity_token == "refresh-123");
  try {
    parse_helper_output(R"({"Username":"bob","Password":"leaked"})", "docker-credential-x");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()).find("leaked") == std::string::npos);
  }
  CHECK_THROWS_AS(parse_helper_output("not json", "docker-credential-x"), Error);
}

namespace {

std::function<std::optional<std::string>(const std::string&)> env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

ProcessResult helper_result(int code, std::string out) {
  ProcessResult r;
  r.exit_code = code;
  r.output = std::move(out);
  return r;
}

} // namespace

TEST_CASE("credentials: credHelpers, then credsStore, then auths; a helper without any falls through") {
  test::TempDir dir;
  fs::atomic_write(
      dir.path / "config.json",
      R"({"auths": {"https://reg.example/v1/": {"auth": "dXNlcjpwYXNz"}, "other.example": {"auth": "YTpi"}},
                       "credsStore": "store", "credHelpers": {"helped.example": "special"}})");
  std::vector<std::string> asked;
  HelperRunner run = [&](const std::string& program, const std::string& server) {
    asked.push_back(program + " " + server);
    if (program == "docker-credential-special") return helper_result(0, R"({"Username":"h","Secret":"hs"})");
    return helper_result(1, "credentials not found in native keychain\n");
  };
  auto env = env_of({{"DOCKER_CONFIG", dir.path.string()}});
  auto helped = find_credentials("helped.example", env, run);
  REQUIRE(helped);
  CHECK(helped->username == "h");
  CHECK(helped->source == "credential helper 'docker-credential-special' (credHelpers in $DOCKER_CONFIG/config.json)");
  auto fallback = find_credentials("reg.example", env, run); // the store has none: auths, matched leniently
  REQUIRE(fallback);
  CHECK(fallback->username == "user");
  CHECK(fallback->password == "pass");
  CHECK(fallback->source == "$DOCKER_CONFIG/config.json");
  CHECK(asked ==
        std::vector<std::string>{"docker-credential-special helped.example", "docker-credential-store reg.example"});
  CHECK(!find_credentials("none.example", env, run));
}

TEST_CASE("credentials: a failing or missing helper is an auth error without its output") {
  test::TempDir dir;
  fs::atomic_write(dir.path / "config.json", R"({"credsStore": "broken"})");
  auto env = env_of({{"DOCKER_CONFIG", dir.path.string()}});
  HelperRunner failing = [](const std::string&, const std::string&) { return helper_result(3, "oops secret-value"); };
  try {
    find_credentials("r.example", env, failing);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::auth);
    CHECK(std::string(e.what()).find("'docker-credential-broken'") != std::string::npos);
    CHECK(std::string(e.what()).find("secret-value") == std::string::npos);
  }
  HelperRunner missing = [](const std::string&, const std::string&) {
    ProcessResult r;
    r.not_found = true;
    return r;
  };
  CHECK_THROWS_AS(find_credentials("r.example", env, missing), Error);
}

TEST_CASE("image references") {
  auto r = parse_image_ref("127.0.0.1:5000/models/iris@sha256:" + std::string(64, 'a'));
  CHECK(r.registry == "127.0.0.1:5000");
  CHECK(r.repository == "models/iris");
  CHECK(r.tag.empty());
  CHECK(parse_image_ref("localhost/x").tag == "latest");
  CHECK_THROWS_AS(parse_image_ref("iris:v1"), Error);
}

TEST_CASE("image references: bounded, checked without std::regex") {
  // 50k characters used to overflow the stack in std::regex: refused by length at once.
  std::string huge = "127.0.0.1:5000/" + std::string(50000, 'a');
  CHECK_THROWS_WITH_AS(parse_image_ref(huge), doctest::Contains("longer than 1024 characters"), Error);
  CHECK_FALSE(is_image_reference(huge));
  CHECK_FALSE(is_pinned_reference(huge + "@sha256:" + std::string(64, 'a')));
  CHECK(is_image_reference("registry.local/iris:v3"));
  CHECK(is_image_reference("registry.local/iris@sha256:" + std::string(64, 'f')));
  CHECK_FALSE(is_image_reference("Registry.local/iris"));
  CHECK_FALSE(is_image_reference("registry.local/iris v3"));
  CHECK_FALSE(is_image_reference("registry.local/iris@sha256:abc"));
  CHECK(is_pinned_reference("r/iris@sha256:" + std::string(64, '0')));
  CHECK_FALSE(is_pinned_reference("r/iris:v1"));
  CHECK_FALSE(is_pinned_reference("@sha256:" + std::string(64, '0')));
  CHECK_THROWS_AS(parse_image_ref("localhost/x:bad tag"), Error);
  CHECK_THROWS_AS(parse_image_ref("localhost/x:" + std::string(129, 't')), Error);
}

TEST_CASE("credential helper output nested 100k deep is an auth error, not a crash") {
  std::string bomb = std::string(100000, '[');
  bomb = "{\"Secret\":" + bomb + std::string(100000, ']') + "}";
  CHECK_THROWS_WITH_AS(parse_helper_output(bomb, "docker-credential-x"), doctest::Contains("printed no"), Error);
}
