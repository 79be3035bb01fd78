#include "prometheus/client.hpp"

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mlops::prometheus {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(std::string_view what, const std::string& why) {
  throw Error(ErrorKind::operational, "malformed answer from " + std::string(what) + ": " + why);
}

/// A sample value: Prometheus sends numbers as strings ("1.5", "NaN", "+Inf", "-Inf").
double value_of(const json& v, std::string_view what) {
  if (!v.is_string()) malformed(what, "a sample value is not a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "NaN") return std::nan("");
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s.empty() || s.size() > 64) malformed(what, "sample value " + quote(s.substr(0, 64)) + " is not a number");
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) malformed(what, "sample value " + quote(s) + " is not a number");
  return d;
}

std::pair<double, double> sample_of(const json& pair, std::string_view what) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number())
    malformed(what, "a sample is not [time, \"value\"]");
  return {pair[0].get<double>(), value_of(pair[1], what)};
}

std::map<std::string, std::string> labels_of(const json& m, std::string_view what) {
  if (!m.is_object()) malformed(what, "'metric' is not an object");
  if (m.size() > limits::k_max_prometheus_labels) malformed(what, "a series has too many labels");
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string()) malformed(what, "label " + quote(k) + " is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

Series series_of(const json& r, const std::string& type, std::string_view what, std::size_t& samples) {
  if (!r.is_object()) malformed(what, "a result is not an object");
  Series s;
  s.labels = labels_of(r.contains("metric") ? r["metric"] : json::object(), what);
  if (type == "vector") {
    if (!r.contains("value")) malformed(what, "a vector result has no 'value'");
    s.samples.push_back(sample_of(r["value"], what));
  } else {
    if (!r.contains("values") || !r["values"].is_array()) malformed(what, "a matrix result has no 'values' array");
    for (const auto& p : r["values"])
      s.samples.push_back(sample_of(p, what));
  }
  samples += s.samples.size();
  if (samples > limits::k_max_prometheus_samples)
    malformed(what, "more than " + std::to_string(limits::k_max_prometheus_samples) + " samples");
  return s;
}

} // namespace

Answer parse_answer(std::string_view body, std::string_view what) {
  json j = parse_json(body, what, ErrorKind::operational, limits::k_max_prometheus_answer_bytes);
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string()) malformed(what, "no 'status'");
  Answer a;
  if (j.contains("warnings") && j["warnings"].is_array())
    for (const auto& w : j["warnings"])
      if (w.is_string() && a.warnings.size() < 16) a.warnings.push_back(w.get<std::string>());
  if (j["status"] != "success") {
    std::string type = j.contains("errorType") && j["errorType"].is_string() ? j["errorType"].get<std::string>() : "";
    std::string err = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "no reason given";
    if (err.size() > 512) err = err.substr(0, 512) + "...";
    throw Error(ErrorKind::operational, "prometheus refused the query: " + (type.empty() ? "" : type + ": ") + err);
  }
  if (!j.contains("data") || !j["data"].is_object()) malformed(what, "no 'data'");
  const json& d = j["data"];
  if (!d.contains("resultType") || !d["resultType"].is_string()) malformed(what, "no 'data.resultType'");
  a.result_type = d["resultType"].get<std::string>();
  if (!d.contains("result")) malformed(what, "no 'data.result'");
  const json& r = d["result"];
  if (a.result_type == "scalar" || a.result_type == "string") {
    if (a.result_type == "scalar") a.series.push_back({{}, {sample_of(r, what)}});
    return a;
  }
  if (a.result_type != "vector" && a.result_type != "matrix")
    malformed(what, "unknown result type " + quote(a.result_type));
  if (!r.is_array()) malformed(what, "'data.result' is not an array");
  if (r.size() > limits::k_max_prometheus_series)
    malformed(what, "more than " + std::to_string(limits::k_max_prometheus_series) + " series");
  std::size_t samples = 0;
  for (const auto& s : r)
    a.series.push_back(series_of(s, a.result_type, what, samples));
  return a;
}

std::string form_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Client::Client(http::Client& http, Endpoint endpoint) : m_http(http), m_endpoint(std::move(endpoint)) {
  while (!m_endpoint.url.empty() && m_endpoint.url.back() == '/')
    m_endpoint.url.pop_back();
}

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

} // namespace

Answer Client::query(const std::string& promql, std::optional<double> time) {
  std::string form = "query=" + form_encode(promql);
  if (time) form += "&time=" + number(*time);
  return post("/api/v1/query", form);
}

Answer Client::query_range(const std::string& promql, double start, double end, double step_s) {
  return post("/api/v1/query_range", "query=" + form_encode(promql) + "&start=" + number(start) +
                                         "&end=" + number(end) + "&step=" + number(step_s));
}

Answer Client::post(const std::string& path, const std::string& form) {
  http::Request req;
  req.method = "POST";
  req.url = m_endpoint.url + path;
  req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  req.body = form;
  std::string what = quote(req.url);
  http::Response resp = m_http.send(req);
  // Prometheus answers 400 (bad_data), 422 (execution) and 503 (timeout, canceled) with
  // its JSON envelope: parse_answer says its error type and text.
  bool envelope = resp.header("content-type").find("json") != std::string::npos;
  if (resp.status == 401 || resp.status == 403)
    throw Error(ErrorKind::auth,
                "cannot query " + what + ": " +
                    (resp.status == 401 ? "authentication failed (HTTP 401)" : "permission denied (HTTP 403)"),
                "check environments.ENV.prometheus credentials (MLOPS_PROMETHEUS_TOKEN, "
                "MLOPS_PROMETHEUS_USERNAME/PASSWORD)")
        .because(resp.status == 401 ? Cause::unauthenticated : Cause::permission_denied)
        .with_status(static_cast<int>(resp.status));
  if (resp.status == 404)
    throw Error(ErrorKind::not_found, "cannot query " + what + ": not found (HTTP 404)",
                "is the URL a Prometheus server (http://HOST:9090)?")
        .with_status(404);
  if (resp.status >= 500 && !envelope)
    throw Error(ErrorKind::unavailable, "cannot query " + what + ": HTTP " + std::to_string(resp.status))
        .with_status(static_cast<int>(resp.status));
  if ((resp.status < 200 || resp.status >= 300) && !envelope)
    throw Error(ErrorKind::operational, "cannot query " + what + ": HTTP " + std::to_string(resp.status))
        .with_status(static_cast<int>(resp.status));
  try {
    return parse_answer(resp.body, what);
  } catch (const Error& e) {
    if (resp.status == 503) throw Error(ErrorKind::unavailable, e.what(), e.hint()).with_status(503);
    throw;
  }
}

} // namespace mlops::prometheus
