#pragma once

#include "core/error.hpp"
#include "http/client.hpp"
#include "store/store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::mlflow {

class Fields; // checked access to a JSON answer (client.cpp)

/// A registered model version as the registry reports it.
struct ModelVersion {
  std::string name;
  std::string version;
  std::int64_t creation_timestamp = 0;     ///< epoch milliseconds
  std::int64_t last_updated_timestamp = 0; ///< epoch milliseconds
  std::string user_id;
  std::string current_stage;
  std::string description;
  std::string source;
  std::string run_id;
  std::string status; ///< READY, PENDING_REGISTRATION, FAILED_REGISTRATION
  std::string status_message;
  std::string run_link;
  std::vector<std::string> aliases;
  std::map<std::string, std::string> tags;
};

/// A registered model with its aliases and the latest version per stage.
struct RegisteredModel {
  std::string name;
  std::int64_t creation_timestamp = 0;
  std::int64_t last_updated_timestamp = 0;
  std::string description;
  std::vector<ModelVersion> latest_versions;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> aliases; ///< alias -> version
};

/// A metric's latest value on a run.
struct Metric {
  double value = 0;
  std::int64_t timestamp = 0;
  std::int64_t step = 0;
};

/// A run's info and data.
struct Run {
  std::string run_id;
  std::string run_name;
  std::string experiment_id;
  std::string user_id;
  std::string status;
  std::string artifact_uri;
  std::int64_t start_time = 0;
  std::int64_t end_time = 0;
  std::map<std::string, Metric> metrics;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
};

/// One entry of an artifact listing; `path` is relative to the listed root.
struct FileInfo {
  std::string path;
  bool is_dir = false;
  std::optional<std::uint64_t> file_size;
};

/// Where a model version's files live and how to reach them: through the tracking
/// server, or (Kind::store) in a storage service read directly.
struct ArtifactLocation {
  enum class Kind { proxied, run, logged_model, store };
  Kind kind = Kind::proxied;
  std::string uri;                     ///< the download URI as the server gave it
  std::string root;                    ///< proxied: path under mlflow-artifacts; run: path in the run
  std::string run_id;                  ///< for Kind::run
  std::string model_id;                ///< for Kind::logged_model
  std::shared_ptr<store::Store> store; ///< for Kind::store
};

/// Maps an MLflow error response to an Error: JSON `error_code`, FastAPI
/// `detail`, plain-text 401/403 and bare statuses. `what` names the failed
/// operation ("cannot get model 'iris'").
Error error_from_response(const http::Response& resp, const std::string& what);

/// The records of one MLflow answer body, parsed as Client parses what it receives
/// (through parse_json, so size and depth are bounded). For tests and the fuzz targets
/// (tests/fuzz/fuzz_mlflow_answers.cpp). Each throws Error(operational) for a body that
/// is not JSON.
namespace answer {
ModelVersion model_version(std::string_view body);                     ///< model-versions/get, registered-models/alias
std::vector<ModelVersion> model_versions(std::string_view body);       ///< model-versions/search, get-latest-versions
RegisteredModel registered_model(std::string_view body);               ///< registered-models/get
std::vector<RegisteredModel> registered_models(std::string_view body); ///< registered-models/search
Run run(std::string_view body);                                        ///< runs/get
std::map<std::string, Metric> logged_model_metrics(std::string_view body); ///< logged-models/ID
std::vector<FileInfo> files(std::string_view body);                        ///< artifact listings
} // namespace answer

/// Typed access to the MLflow tracking server's REST API.
class Client {
public:
  /// `tracking_uri` is the server's base URL (no trailing slash needed).
  Client(http::Client& http, std::string tracking_uri);

  const std::string& tracking_uri() const { return m_base; }
  /// The HTTP client this client sends through.
  http::Client& http() { return m_http; }

  RegisteredModel get_registered_model(const std::string& name);
  /// All registered models matching `filter` (every page); `limit` 0 = all.
  std::vector<RegisteredModel> search_registered_models(const std::string& filter, std::size_t limit = 0);
  ModelVersion get_model_version(const std::string& name, const std::string& version);
  /// All versions matching `filter` (every page).
  std::vector<ModelVersion> search_model_versions(const std::string& filter);
  /// The version an alias points at; Error(not_found) when the alias does not exist.
  ModelVersion get_version_by_alias(const std::string& name, const std::string& alias);
  /// Latest version per stage; `stages` empty = every stage.
  std::vector<ModelVersion> get_latest_versions(const std::string& name, const std::vector<std::string>& stages);
  std::string get_download_uri(const std::string& name, const std::string& version);
  Run get_run(const std::string& run_id);
  /// Metrics recorded on an MLflow 3.x logged model (`m-...`).
  std::map<std::string, Metric> get_logged_model_metrics(const std::string& model_id);
  /// Sets (or overwrites) a tag on a model version. Needs EDIT permission.
  void set_model_version_tag(const std::string& name, const std::string& version, const std::string& key,
                             const std::string& value);

  /// Points `alias` of a registered model at `version` (creating or moving
  /// it; atomic on the server). Needs EDIT permission.
  void set_alias(const std::string& name, const std::string& alias, const std::string& version);
  /// Opens the reader of a storage URI (s3://...) that the server does not proxy.
  using StoreOpener = std::function<std::shared_ptr<store::Store>(const std::string& uri)>;
  /// Lets resolve_location() read stores directly (without it they are refused).
  void set_store_opener(StoreOpener opener) { m_store_opener = std::move(opener); }

  /// Turns a download URI into a location reachable through this server, or read directly
  /// from its store (set_store_opener). Throws Error(operational) for storage neither can read.
  ArtifactLocation resolve_location(const std::string& download_uri);
  /// One directory level under `dir` ("" = root); paths come back relative to
  /// the location root.
  std::vector<FileInfo> list_directory(const ArtifactLocation& loc, const std::string& dir);
  /// Every file below the location, recursively, with root-relative paths. Throws
  /// Error(operational) for a tree deeper than limits::k_max_listing_depth or with more
  /// than limits::k_max_listing_entries entries, or for a malformed listing.
  std::vector<FileInfo> list_files(const ArtifactLocation& loc);
  /// The request that downloads one root-relative file.
  http::Request file_request(const ArtifactLocation& loc, const std::string& path) const;
  /// The HTTP client that file_request()s of `loc` go through (a store's own, or the server's).
  http::Client& transport(const ArtifactLocation& loc);
  /// The error for a refused file request of `loc` (`what` names the failed operation).
  Error download_error(const ArtifactLocation& loc, const http::Response& resp, const std::string& what) const;

private:
  struct Answer;
  /// The JSON of a 2xx answer (bounded by parse_json); an error status becomes the
  /// matching Error, anything that is not JSON a protocol error (operational).
  Answer parse_answer(const http::Response& resp, const std::string& path, const std::string& what) const;
  http::Response get(const std::string& path, const std::string& query);
  Answer get_json(const std::string& path, const std::string& query, const std::string& what);
  /// POSTs a JSON body; `idempotent` requests may be retried.
  void post_json(const std::string& path, const nlohmann::json& body, const std::string& what, bool idempotent);
  /// Calls `page` with each page of a paginated GET (following
  /// next_page_token) until it returns false or the pages end.
  void for_each_page(const std::string& path, const std::string& query, const std::string& what,
                     const std::function<bool(const Fields&)>& page);
  /// Points `loc` at the store holding `uri` when it is one a reader exists for.
  bool open_store_at(ArtifactLocation& loc, const std::string& uri);
  std::string m_base;
  http::Client& m_http;
  StoreOpener m_store_opener;
};

} // namespace mlops::mlflow
