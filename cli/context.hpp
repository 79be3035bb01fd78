#pragma once

#include "cli/output.hpp"
#include "core/config.hpp"
#include "http/client.hpp"
#include "mlflow/client.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlops::cli {

/// Options every command accepts (before or after the command name).
struct GlobalOptions {
  std::string tracking_uri;
  std::string config_file;
  std::string output = "text";
  bool json = false;
  int verbose = 0;
  bool quiet = false;
  bool no_color = false;
  std::string ca_bundle;
  bool insecure = false;
  bool version = false;
};

/// What a command runs with: resolved settings, output, and the clients,
/// built on first use so commands that need no server never touch one.
class Context {
public:
  Context(const GlobalOptions& g, Settings settings, const Output& out, std::vector<std::string> words = {})
      : m_global(g), m_settings(std::move(settings)), m_out(out), m_log(out), m_words(std::move(words)) {}

  const GlobalOptions& global() const { return m_global; }
  const Settings& settings() const { return m_settings; }
  const Output& out() const { return m_out; }
  LogSink& log() { return m_log; }
  bool json() const { return m_out.mode().json; }
  /// The words after the command's name as typed, for a command that takes no
  /// global options (Needs::global_options false); empty for the others.
  const std::vector<std::string>& words() const { return m_words; }

  /// The MLflow client for the configured tracking server. Throws
  /// Error(usage) when none is configured.
  mlflow::Client& mlflow();

  /// HTTP options derived from the settings (TLS, auth, retries).
  http::Options http_options() const;

private:
  const GlobalOptions& m_global;
  Settings m_settings;
  const Output& m_out;
  StderrLog m_log;
  std::vector<std::string> m_words;
  std::unique_ptr<http::Client> m_http;
  std::unique_ptr<mlflow::Client> m_mlflow;
};

} // namespace mlops::cli
