#include "cli/context.hpp"

#include "core/config.hpp"
#include "core/error.hpp"
#include "store/store.hpp"

namespace mlops::cli {

http::Options Context::http_options() const {
  const Settings& s = m_settings;
  http::Options o;
  o.user_agent = std::string("mlops/") + MLOPS_VERSION;
  o.idle_timeout_s = s.timeout_s;
  o.max_retries = s.max_retries;
  o.backoff_factor_s = s.backoff_factor;
  o.backoff_jitter_s = s.backoff_jitter;
  o.respect_retry_after = s.respect_retry_after;
  o.ca_bundle = s.ca_bundle;
  // MLflow: a CA bundle takes precedence over "insecure" from the same
  // level; an explicit --insecure flag beats a bundle from the environment.
  auto origin = s.origin.find("insecure_tls");
  bool insecure_flag = origin != s.origin.end() && origin->second == "flag --insecure";
  o.verify_tls = insecure_flag ? false : (!s.insecure_tls || !s.ca_bundle.empty());
  o.client_cert = s.client_cert;
  o.username = s.username;
  o.password = s.password;
  o.bearer_token = s.token;
  if (!s.workspace.empty()) o.extra_headers.push_back("X-MLFLOW-WORKSPACE: " + s.workspace);
  return o;
}

http::Options Context::registry_http_options() const {
  http::Options o = http_options();
  o.username.clear();
  o.password.clear();
  o.bearer_token.clear();
  o.extra_headers.clear();
  o.unreachable_hint = "is the registry running? check the registry in the image reference";
  return o;
}

mlflow::Client& Context::mlflow() {
  if (!m_mlflow) {
    auto origin = m_settings.origin.find("tracking_uri");
    m_log.debug(1, "tracking server " +
                       (m_settings.tracking_uri.empty() ? std::string("(none)") : m_settings.tracking_uri) +
                       (origin == m_settings.origin.end() ? "" : " (from " + origin->second + ")"));
    if (!http_options().verify_tls) {
      m_log.warn("TLS certificate verification is disabled");
    }
    http::Options o = http_options();
    o.unreachable_hint = "is the server running? check --tracking-uri / MLFLOW_TRACKING_URI";
    m_http = std::make_unique<http::Client>(std::move(o), m_log);
    m_mlflow = std::make_unique<mlflow::Client>(*m_http, m_settings.tracking_uri);
    // Artifact stores the server does not proxy are read directly, with the credentials and
    // endpoint MLflow's own client would use (from the environment); the timeouts and
    // retries are ours.
    m_mlflow->set_store_opener(
        [this](const std::string& uri) { return store::open_store(uri, http_options(), process_getenv, m_log); });
  }
  return *m_mlflow;
}

} // namespace mlops::cli
