#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "http/client.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <regex>

using namespace mlops;

TEST_CASE("redaction: URLs, headers and known secrets") {
  CHECK(redact_url("https://alice:s3cret@mlflow.example/api?x=1") == "https://***@mlflow.example/api?x=1");
  CHECK(redact_url("http://127.0.0.1:5000/a@b") == "http://127.0.0.1:5000/a@b"); // '@' in the path is not user info
  CHECK(redact_url("not a url") == "not a url");
  CHECK(redact_url("bob:hunter2@host:5000/x") == "***@host:5000/x");
  CHECK(redact_header("Authorization: Basic YWxpY2U6czNjcmV0") == "Authorization: Basic ***");
  CHECK(redact_header("authorization: Bearer tok123") == "authorization: Bearer ***");
  CHECK(redact_header("X-Api-Token: abc") == "X-Api-Token: ***");
  CHECK(redact_header("Content-Type: application/json") == "Content-Type: application/json");
  CHECK(redact_secrets("user bob pw hunter2 hunter2", {"hunter2", ""}) == "user bob pw *** ***");
}

TEST_CASE("sha256 matches known vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update("a");
  h.update("bc");
  CHECK(h.hex_digest() == sha256_hex("abc"));
}

TEST_CASE("sha256: moves hand the context over and assignment frees the old one") {
  // Under LeakSanitizer a move assignment that drops its old context shows as a leak of
  // one EVP_MD_CTX per assignment (pull reset its hash this way for every file).
  Sha256 a;
  a.update("a");
  for (int i = 0; i < 3; ++i)
    a = Sha256(); // move-assign over a live context
  a.update("abc");
  CHECK(a.hex_digest() == sha256_hex("abc"));
  Sha256 b;
  b.update("ab");
  Sha256 c(std::move(b)); // move construction
  c.update("c");
  CHECK(c.hex_digest() == sha256_hex("abc"));
  Sha256 d;
  d = std::move(c); // move-assign from a used hash
  Sha256 e;
  e.update("abc");
  c = std::move(e); // assign into a moved-from hash
  CHECK(c.hex_digest() == sha256_hex("abc"));
}

TEST_CASE("did you mean: close commands are suggested, far ones are not") {
  std::vector<std::string> cmds = {"pull", "models", "help", "version", "validate", "package"};
  CHECK(suggest("pul", cmds).front() == "pull");
  CHECK(suggest("plul", cmds).front() == "pull"); // swapped letters
  CHECK(suggest("modles", cmds).front() == "models");
  CHECK(suggest("vers", cmds).front() == "version"); // prefix
  CHECK(suggest("kubernetes", cmds).empty());
  CHECK(edit_distance("abc", "abc") == 0);
  CHECK(edit_distance("abc", "acb") == 1);
}

TEST_CASE("url encoding keeps unreserved characters and optionally slashes") {
  CHECK(url_encode("a b/c") == "a%20b%2Fc");
  CHECK(url_encode("a b/c", true) == "a%20b/c");
  CHECK(url_encode("ü") == "%C3%BC");
}

TEST_CASE("retry policy: statuses, backoff and Retry-After") {
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L})
    CHECK(http::is_retryable_status(s));
  for (long s : {200L, 400L, 401L, 403L, 404L, 409L, 501L})
    CHECK_FALSE(http::is_retryable_status(s));

  http::Options o;
  o.backoff_factor_s = 0.5;
  o.backoff_max_s = 3;
  CHECK(http::backoff_delay(o, 1) == doctest::Approx(0.5));
  CHECK(http::backoff_delay(o, 2) == doctest::Approx(1.0));
  CHECK(http::backoff_delay(o, 3) == doctest::Approx(2.0));
  CHECK(http::backoff_delay(o, 10) == doctest::Approx(3.0)); // capped

  auto now = std::chrono::system_clock::from_time_t(1700000000); // 2023-11-14T22:13:20Z
  CHECK(http::parse_retry_after("7", now).value() == doctest::Approx(7));
  CHECK(http::parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now).value() == doctest::Approx(10));
  CHECK(http::parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now).value() == doctest::Approx(0)); // past
  CHECK_FALSE(http::parse_retry_after("", now).has_value());
  CHECK_FALSE(http::parse_retry_after("soon", now).has_value());
}

TEST_CASE("retry policy: refused connections retry briefly, Retry-After is clamped") {
  http::Options o; // backoff factor 0.5: 0.5, 1, 2, 4, 8 s added up to 17 s for a closed port
  double refused = 0;
  for (int n = 1; n <= o.max_retries; ++n)
    refused += http::refused_backoff_delay(o, n);
  CHECK(refused <= limits::k_max_refused_retry_s);
  CHECK(http::refused_backoff_delay(o, 1) < http::backoff_delay(o, 1));
  auto now = std::chrono::system_clock::now();
  CHECK(*http::parse_retry_after("100000", now) == 100000);
  CHECK(*http::parse_retry_after(std::string(400, '9'), now) == 1e9); // no infinity, no overflow
}

TEST_CASE("deadlines: buffered answers, sized transfers, open streams") {
  http::Request api;
  CHECK(http::request_deadline(api, false) == limits::k_request_deadline_s);
  http::Request file;
  file.expected_size = std::uint64_t{10} << 30; // 10 GiB at the slowest average accepted
  CHECK(http::request_deadline(file, true) == doctest::Approx(limits::k_deadline_base_s + 10240));
  http::Request stream;
  CHECK(http::request_deadline(stream, true) == 0); // unknown size: only the stall rule
  http::Request upload;
  upload.body_file = "blob";
  CHECK(http::request_deadline(upload, false, 1 << 20) == doctest::Approx(limits::k_deadline_base_s + 1));
  stream.deadline_s = 5;
  CHECK(http::request_deadline(stream, true) == 5);
}

TEST_CASE("printable: server text cannot drive the terminal") {
  CHECK(printable("plain ünïcødé text") == "plain ünïcødé text");
  CHECK(printable("\x1b]0;title\x07\x1b[31mred\r\n") == "\\x1b]0;title\\x07\\x1b[31mred\\x0d\\x0a");
  CHECK(printable("a\x7f"
                  "b") == "a\\x7fb");
  CHECK(printable("\xc2\x9b"
                  "2J") == "\\u009b2J");                        // C1 CSI
  CHECK(printable("x\xe2\x80\xaey") == "x\\u202ey");            // right-to-left override
  CHECK(printable("bad \xff byte") == "bad \xef\xbf\xbd byte"); // invalid UTF-8
  CHECK(printable("abcdef", 4) == "abcd...");
  CHECK(printable("ab\xc3\xbc", 3) == "ab..."); // never cut inside a character
  CHECK(quote("a\x1b[2Jb") == "'a\\x1b[2Jb'");
}

TEST_CASE("human byte counts") {
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(1023) == "1023 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(50ull * 1024 * 1024) == "50.0 MiB");
}

TEST_CASE("strings: format_double writes what printf's %g and %f write") {
  // The gates' numbers (metrics %.6g, the policy hash's %.17g, seconds %.3f) were printf's.
  for (double v : {0.0, -0.0, 0.955556, 0.9555555555, 1e-7, 2e-7, 123456789.0, 1e300, -2.5, 0.1 + 0.2}) {
    for (int precision : {1, 3, 6, 17}) {
      char g[400];
      char f[400];
      CHECK(std::snprintf(g, sizeof g, "%.*g", precision, v) > 0);
      CHECK(std::snprintf(f, sizeof f, "%.*f", precision, v) > 0);
      CHECK(mlops::format_double(v, std::chars_format::general, precision) == g);
      CHECK(mlops::format_double(v, std::chars_format::fixed, precision) == f);
    }
  }
}

TEST_CASE("strings: join") {
  CHECK(mlops::join({}, ",").empty());
  CHECK(mlops::join({"a"}, ", ") == "a");
  CHECK(mlops::join({"a", "", "b"}, ", ") == "a, , b");
  CHECK(mlops::join({"", "x"}, " ") == " x");
}

TEST_CASE("looks_like_uri: the storage URI pattern, without std::regex and at any length") {
  const std::regex re(R"(^[a-z][a-z0-9+.-]*://\S+$)");
  for (const char* s : {"s3://b/k", "oci://r/i:t", "gs://x", "a+b.c-d://y", "S3://b", "3s://b", "s3://", "s3:/b",
                        "://b", "s3://b k", "s3://b\tk", "s_3://b", "", "s3://b/\xc3\xa9"})
    CHECK_MESSAGE(looks_like_uri(s) == std::regex_match(std::string(s), re), s);
  CHECK(looks_like_uri("s3://" + std::string(200000, 'x')));
}

TEST_CASE("quote: names of any length are cut in messages") {
  std::string q = quote(std::string(100000, 'a'));
  CHECK(q.size() == limits::k_max_quoted_bytes + 5); // the quotes and "..."
  CHECK(q.substr(q.size() - 4) == "...'");
  CHECK(quote("iris") == "'iris'");
}
