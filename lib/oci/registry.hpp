#pragma once

#include "core/error.hpp"
#include "core/log.hpp"
#include "http/client.hpp"
#include "oci/layout.hpp"
#include "oci/reference.hpp"
#include "oci/registry_auth.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace mlops::oci {

/// Every manifest media type mlops reads (OCI and Docker schema 2).
inline constexpr const char* k_manifest_accept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

/// A manifest as fetched: its exact bytes, type and digest.
struct RemoteManifest {
  std::string bytes;
  std::string media_type; ///< from Content-Type, parameters dropped
  std::string digest;     ///< sha256 of bytes
  nlohmann::json json;    ///< bytes parsed (parse_json: bounded), an object
};

/// How blobs go up.
struct UploadOptions {
  /// Blobs larger than this go up in PATCH chunks of this size (resumable);
  /// 0 = always one monolithic PUT.
  std::uint64_t chunk_size = 0;
  int max_resumes = 5; ///< times one upload may resume after a failed chunk
  /// Where chunked and streamed upload sessions are remembered between runs
  /// (registry, repository, Location, what is uploaded); empty: nowhere.
  /// A rerun asks the registry how much of a remembered session it holds
  /// and sends only the rest; a session the registry no longer knows is
  /// replaced by a new one.
  std::filesystem::path session_dir;
};

/// How a blob reached the registry.
enum class BlobOutcome { uploaded, existed, mounted };

/// A client for one repository of an OCI distribution registry: Basic and
/// Bearer-token auth from the WWW-Authenticate challenge (tokens cached per
/// scope set, fetched again when the registry rejects one), blob existence
/// checks, cross-repository mounts, monolithic and chunked resumable uploads,
/// manifests and verified blob downloads. Thread-safe after ping().
class Registry {
public:
  /// `plain_http_allowed`: the registry may be spoken to over plain HTTP
  /// (localhost, or --insecure); HTTPS is still tried first. `actions`:
  /// what tokens are asked for on this repository ("pull,push" or "pull").
  Registry(http::Client& http, ImageRef ref, std::optional<RegistryCredentials> creds, bool plain_http_allowed,
           LogSink& log, std::string actions = "pull,push");

  const ImageRef& ref() const { return m_ref; }
  UploadOptions& upload_options() { return m_upload; }

  /// GET /v2/: reachable and authenticated? Throws Error(auth|unavailable|operational).
  void ping();
  /// Whether this identity may push to the repository, leaving nothing
  /// behind: starts a blob upload and cancels it. Throws Error(auth) when
  /// refused, like the upload would be.
  void check_push();
  bool has_blob(const std::string& digest);
  /// Asks the registry to link a blob from another repository of it;
  /// true when mounted, false when it would not (nothing left behind).
  bool mount_blob(const std::string& digest, const std::string& from_repository);
  /// Uploads a blob from a file (chunked when larger than the chunk size,
  /// monolithic where chunks are refused), resuming after failed chunks.
  void upload_blob(const std::filesystem::path& file, const std::string& digest);
  /// HEAD, then upload_blob() when missing; true if uploaded.
  bool push_blob(const std::filesystem::path& file, const std::string& digest);
  /// PUTs a manifest under `reference` (tag or digest); checks the digest
  /// the registry reports.
  void push_manifest(const std::string& bytes, const std::string& media_type, const std::string& reference);

  /// GETs a manifest (any type of k_manifest_accept). Error(not_found) when
  /// absent; a digest reference is checked against the bytes; an answer
  /// larger than limits::k_max_manifest_bytes is refused while it arrives.
  RemoteManifest get_manifest(const std::string& reference);
  /// GETs a small blob (a config) of `size` bytes into memory, at most
  /// limits::k_max_manifest_bytes: a body longer than `size` is refused as it
  /// arrives; size and digest checked.
  std::string get_blob(const std::string& digest, std::uint64_t size);
  /// Streams a blob into `file` (created or replaced), size and digest
  /// checked; a body longer than `size` is cut off the moment it is, and
  /// `size` is at most limits::k_max_blob_bytes.
  void download_blob(const std::string& digest, std::uint64_t size, const std::filesystem::path& file);

  /// An upload whose bytes come while they are produced (one PATCH with
  /// chunked transfer encoding); committed with its digest at the end.
  class Stream;

  /// Sends a request with this repository's credentials: adds the cached
  /// Authorization, and on a 401 answers the challenge (Basic, or a Bearer
  /// token for this repository plus `extra_scopes`) and sends it once more
  /// (unless `resend` is false: a streamed body cannot be sent twice).
  http::Response send(http::Request req, const std::vector<std::string>& extra_scopes = {}, bool resend = true);
  /// The URL of `path` ("/v2/...") on this registry.
  std::string url(const std::string& path) const;
  /// An Error for an unexpected response, with the registry's error code.
  Error failure(const http::Response& r, const std::string& what) const;
  LogSink& log() { return m_log; }

private:
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::string authorization(const std::vector<std::string>& scopes);
  bool answer_challenge(const http::Response& r, std::vector<std::string>& scopes);
  Token fetch_token(const std::vector<std::string>& scopes);
  std::string absolute(const std::string& location) const;
  /// GETs `req` into memory (authenticated like send()); a body longer than
  /// `max` is Error(operational) "<what> from 'REG' is larger than ...".
  http::Response get_bounded(http::Request req, std::uint64_t max, const std::string& what);
  std::string start_upload(const std::string& query = {});
  void upload_monolithic(const std::filesystem::path& file, const std::string& digest, std::uint64_t size);
  bool upload_chunked(const std::filesystem::path& file, const std::string& digest, std::uint64_t size);
  /// Where an interrupted upload goes on: the session's Location and the
  /// bytes the registry holds (GET on the session), or a new session at 0.
  /// `identity` names the session remembered in UploadOptions::session_dir.
  std::pair<std::string, std::uint64_t> resume_point(const std::string& location, const std::string& identity = {});
  /// The upload session for `identity` (a blob digest, or a layer's key when
  /// its digest is not known yet): the one an earlier run left, when the
  /// registry still holds it (its Location and the bytes held), else a new
  /// one at 0. Either way it is remembered until forget_session().
  std::pair<std::string, std::uint64_t> open_session(const std::string& identity);
  /// Records the latest Location of `identity`'s session (best effort).
  void remember_session(const std::string& identity, const std::string& location) noexcept;
  /// Drops the record of `identity`'s session (committed or cancelled).
  void forget_session(const std::string& identity) noexcept;
  std::filesystem::path session_file(const std::string& identity) const;
  void commit_upload(const std::string& location, const std::string& digest);
  /// Closes an upload session that will not be committed (best effort).
  void cancel_upload(const std::string& location) noexcept;

  http::Client& m_http;
  ImageRef m_ref;
  std::optional<RegistryCredentials> m_creds;
  bool m_plain_allowed;
  std::atomic<bool> m_plain = false;
  LogSink& m_log;
  std::string m_actions;
  UploadOptions m_upload;

  std::mutex m_mutex;   // guards what follows
  std::string m_scheme; ///< "", "basic" or "bearer": what the registry asked for
  std::string m_realm, m_service;
  std::map<std::string, Token> m_tokens; ///< by space-joined scope list
};

/// One byte stream going up as a blob while it is produced: POST, then one
/// PATCH fed from a bounded queue by a worker thread, then PUT ?digest=.
/// write() blocks while the queue is full; any failure is kept and reported
/// by finish() (the caller can then fall back to upload_blob from a file).
class Registry::Stream {
public:
  /// `identity`, when given, names the upload in UploadOptions::session_dir
  /// (a layer's key): a session an earlier run left is continued, the bytes
  /// the registry holds being skipped from the start of the stream (which
  /// must be the same bytes: layers are reproducible; the digest check of
  /// the final PUT guards the rest).
  explicit Stream(Registry& registry, std::string identity = {});
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  /// Queues bytes (copied; small pieces are fine). Never throws; a failed
  /// stream drops them.
  void write(const char* data, std::size_t size);
  /// Ends the body and commits it as `digest`. Returns false (with the reason
  /// in `why`) when the stream failed; the registry then holds no such blob.
  bool finish(const std::string& digest, std::string& why);

private:
  void publish();
  struct State;
  std::unique_ptr<State> m_state;
};

/// What a push moved.
struct PushStats {
  std::uint64_t uploaded = 0, skipped = 0, mounted = 0;
  std::size_t blobs_uploaded = 0, blobs_skipped = 0, blobs_mounted = 0;
};

/// Where a push may find blobs it does not have locally.
struct PushSources {
  /// A repository of the same registry that holds the base layers (mount source).
  std::string mount_from;
  std::set<std::string> base_blobs; ///< the digests worth mounting from there
  /// Fetches a blob into the layout when it is needed and missing (a base
  /// layer from another registry); may be empty.
  std::function<void(const std::string& digest, std::uint64_t size)> fetch;
  /// Blobs already pushed while the layers were built (streamed), by digest.
  std::map<std::string, BlobOutcome> done;
  int jobs = 4; ///< blobs uploaded at once
};

/// Pushes the manifest `manifest` of `layout` (its config and layers, then
/// itself) to the registry under `reference`: blobs the registry has are
/// skipped, base blobs are mounted when `sources.mount_from` is set, the rest
/// uploaded `sources.jobs` at a time.
PushStats push_image(Registry& registry, const Layout& layout, const Descriptor& manifest, const std::string& reference,
                     const PushSources& sources = {});

} // namespace mlops::oci
