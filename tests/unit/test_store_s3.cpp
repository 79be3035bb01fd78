// S3 store reader (lib/store): listing pages, error bodies, AWS files and where credentials
// come from. The reader itself is tested against versitygw (tests/integration/test_stores.py).
#include "core/error.hpp"
#include "store/s3.hpp"
#include "store/xml.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <map>

using namespace mlops;
using namespace mlops::store;

namespace {

Getenv env_of(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

const char* k_page = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<IsTruncated>true</IsTruncated><NextContinuationToken>t1</NextContinuationToken>
<Contents><Key>p/MLmodel</Key><Size>703</Size></Contents>
<Contents><Key>p/a &amp; b.bin</Key><Size>5</Size></Contents></ListBucketResult>)";

} // namespace

TEST_CASE("parse_list_objects reads keys, sizes and the continuation token") {
  auto p = parse_list_objects(k_page, "x");
  REQUIRE(p.objects.size() == 2);
  CHECK(p.objects[0].key == "p/MLmodel");
  CHECK(p.objects[0].size == 703);
  CHECK(p.objects[1].key == "p/a & b.bin");
  CHECK(p.truncated);
  CHECK(p.continuation_token == "t1");
}

TEST_CASE("parse_list_objects refuses malformed and hostile answers") {
  for (const char* bad :
       {"", "not xml", "<Other/>", "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>&a;</ListBucketResult>"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_list_objects(bad, "malformed answer"), Error);
  }
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += "<a>";
  CHECK_THROWS_WITH_AS(parse_list_objects("<ListBucketResult>" + deep, "m"), doctest::Contains("nested deeper"), Error);
}

TEST_CASE("parse_xml_error reads Code and Message, and never throws") {
  auto e = parse_xml_error("<Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>");
  CHECK(e.code == "SlowDown");
  CHECK(e.message == "Please reduce");
  CHECK(parse_xml_error("<html>").code.empty());
}

TEST_CASE("s3_settings: environment first, then the profile's files; the source is named, never the secret") {
  test::TempDir d;
  std::filesystem::create_directories(d.path / ".aws");
  std::ofstream(d.path / ".aws/credentials") << "[default]\naws_access_key_id = AK1\naws_secret_access_key = S1\n"
                                                "[prod]\naws_access_key_id = AK2\naws_secret_access_key = S2\n";
  std::ofstream(d.path / ".aws/config") << "[profile prod]\nregion = eu-west-3\n";
  auto s = s3_settings(env_of({{"HOME", d.path.string()}, {"AWS_PROFILE", "prod"}}));
  CHECK(s.key_id == "AK2");
  CHECK(s.secret == "S2");
  CHECK(s.region == "eu-west-3");
  CHECK(s.credential_source == "AWS_PROFILE 'prod' in '" + (d.path / ".aws/credentials").string() + "'");
  auto e = s3_settings(env_of({{"HOME", d.path.string()},
                               {"AWS_ACCESS_KEY_ID", "K"},
                               {"AWS_SECRET_ACCESS_KEY", "S"},
                               {"AWS_REGION", "us-west-2"},
                               {"MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000/"},
                               {"MLFLOW_S3_IGNORE_TLS", "true"}}));
  CHECK(e.key_id == "K");
  CHECK(e.credential_source == "AWS_ACCESS_KEY_ID");
  CHECK(e.region == "us-west-2");
  CHECK(e.endpoint == "http://127.0.0.1:9000");
  CHECK(!e.verify_tls);
  CHECK_THROWS_AS(s3_settings(env_of({{"HOME", d.path.string()}, {"AWS_PROFILE", "none"}})), Error);
  test::TempDir empty;
  try {
    s3_settings(env_of({{"HOME", empty.path.string()}}));
    FAIL("no credentials accepted");
  } catch (const Error& err) {
    CHECK(err.kind() == ErrorKind::auth);
  }
  CHECK_THROWS_AS(s3_settings(env_of({{"AWS_ACCESS_KEY_ID", "K"}})), Error);
}

TEST_CASE("parse_s3_uri splits bucket and prefix") {
  auto l = parse_s3_uri("s3://bucket/a/b/");
  CHECK(l.bucket == "bucket");
  CHECK(l.prefix == "a/b");
  CHECK(parse_s3_uri("s3://bucket").prefix.empty());
  CHECK_THROWS_AS(parse_s3_uri("s3:///x"), Error);
  CHECK_THROWS_AS(parse_s3_uri("s3://bad bucket/x"), Error);
  CHECK_THROWS_AS(parse_s3_uri("gs://b/x"), Error);
}
