#pragma once

#include "http/client.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlops::gitops {

class NetScope;

/// Where credentials for a git remote come from, in this order:
/// MLOPS_GIT_USERNAME + MLOPS_GIT_PASSWORD (or MLOPS_GIT_TOKEN), then git's
/// credential store files (~/.git-credentials, $XDG_CONFIG_HOME/git/credentials),
/// then for SSH the agent and MLOPS_GIT_SSH_KEY. Never printed.
struct Credentials {
  std::string username;
  std::string password;
  std::string source;  ///< "environment MLOPS_GIT_PASSWORD", "credential store '~/.git-credentials'"; empty: none
  std::string ssh_key; ///< private key file for SSH remotes (MLOPS_GIT_SSH_KEY)
};

using Getenv = std::function<std::optional<std::string>(const std::string&)>;

/// Finds credentials for `url` (see Credentials). `home` is $HOME.
Credentials find_credentials(const std::string& url, const Getenv& getenv);

/// One line of git's credential store format (`https://user:pass@host[:port]`):
/// matches `url` by scheme, host and port; sets username and password
/// (percent-decoded). Exposed for tests.
std::optional<std::pair<std::string, std::string>> match_store_line(const std::string& line, const std::string& url);

/// The parts of a URL (`scheme://user:password@host:port/path`): scheme and
/// host lowercased, user and password percent-decoded, the port defaulted for
/// http and https. Everything empty when `url` has no scheme (a local path,
/// scp-like `git@host:repo`).
struct UrlParts {
  std::string scheme, user, password, host, port, path;
  bool has_password = false; ///< the user info has a ':' (even with an empty password)
};
UrlParts split_url(const std::string& url);

/// Commit message trailers (`Key: value` lines of the last paragraph).
using Trailers = std::vector<std::pair<std::string, std::string>>;

/// A commit as history reads it.
struct Commit {
  std::string id;        ///< full hex object id
  std::int64_t time = 0; ///< committer time, epoch seconds
  std::string author;    ///< author name
  std::string subject;   ///< first line
  std::string message;
  Trailers trailers;
  /// The first value of trailer `key`, or "".
  std::string trailer(const std::string& key) const;
};

/// Who a commit is made by.
struct Identity {
  std::string name;
  std::string email;
};

/// Options for opening a remote branch.
struct RemoteOptions {
  std::string url; ///< https://, http://, ssh://, file:// or a local path
  std::string branch = "main";
  std::filesystem::path cache; ///< the bare repository mlops keeps for this remote
  Credentials credentials;
  std::string ca_bundle; ///< PEM file for HTTPS; empty: system store
  bool insecure = false; ///< skip certificate checks (warned about by the caller)
  /// Timeouts and retries of fetch and push, as for every other server: the connect
  /// timeout, idle_timeout_s (seconds without a byte moving), max_retries and the
  /// backoff; Retry-After is honoured (plain HTTP) up to backoff_max_s. Not for SSH.
  http::Options http;
  /// Told about each retry ("... retrying in 1.5 s"); may be empty.
  std::function<void(const std::string&)> note;
};

/// The outcome of a push.
enum class PushResult { pushed, non_fast_forward };

/// The branch of a GitOps repository that promote, rollback and history
/// read and push: the seam between their logic and git (as ninja's
/// DiskInterface), so that tests can drive races with a fake. Remote is the
/// real one. Implementations throw Error: auth (credentials refused),
/// unavailable (cannot reach the server), conflict (the branch ref is
/// locked), operational (refused push, e.g. by a hook; an answer over its
/// size limit), interrupted, io.
class RemoteBranch {
public:
  virtual ~RemoteBranch() = default;

  /// Fetches the branch; returns its tip ("" while the branch does not exist).
  virtual std::string fetch() = 0;
  /// The tip from the last fetch or push ("" when none).
  virtual const std::string& tip() const = 0;

  /// The files directly in `dir` at `commit` (name -> contents); empty when
  /// the directory does not exist there.
  virtual std::map<std::string, std::string> read_dir(const std::string& commit, const std::string& dir) = 0;

  /// A commit on top of `parent` ("" = a root commit) whose tree is the
  /// parent's with `dir` replaced by exactly `files` (the tree may equal the
  /// parent's: the commit still records the promotion). Not pushed.
  virtual std::string commit_dir(const std::string& parent, const std::string& dir,
                                 const std::map<std::string, std::string>& files, const std::string& message,
                                 const Identity& author, const Identity& committer) = 0;

  /// Pushes `commit` to the branch, never forcing. Returns non_fast_forward
  /// when the branch moved on the server since the last fetch.
  virtual PushResult push(const std::string& commit) = 0;

  /// Commits reachable from the tip that change `dir` (every commit when
  /// `dir` is empty), newest first.
  virtual std::vector<Commit> log(const std::string& dir) = 0;

  /// A unified diff of `dir` between two commits ("" = empty tree).
  virtual std::string diff(const std::string& from, const std::string& to, const std::string& dir) = 0;
};

/// A remote branch of a GitOps repository through libgit2, kept in a bare
/// cache repository. Builds commits from trees directly (no working tree).
/// Fetch and push retry refused or dropped connections, stalls and
/// 408/429/5xx answers as RemoteOptions::http says, and stop at
/// limits::k_git_network_deadline_s.
class Remote final : public RemoteBranch {
public:
  explicit Remote(RemoteOptions options);
  ~Remote() override;
  Remote(const Remote&) = delete;
  Remote& operator=(const Remote&) = delete;

  std::string fetch() override;
  const std::string& tip() const override { return m_tip; }
  std::map<std::string, std::string> read_dir(const std::string& commit, const std::string& dir) override;
  std::string commit_dir(const std::string& parent, const std::string& dir,
                         const std::map<std::string, std::string>& files, const std::string& message,
                         const Identity& author, const Identity& committer) override;
  PushResult push(const std::string& commit) override;
  std::vector<Commit> log(const std::string& dir) override;
  std::string diff(const std::string& from, const std::string& to, const std::string& dir) override;

  const RemoteOptions& options() const { return m_opt; }
  /// Whether the credentials may push, without pushing: connects for a push
  /// (the receive-pack advertisement) and disconnects. Throws Error as push().
  void check_push();

private:
  std::string fetch_once(NetScope* scope);
  PushResult push_once(const std::string& commit, NetScope* scope);

  struct Impl;
  RemoteOptions m_opt;
  std::unique_ptr<Impl> m_impl;
  std::string m_tip;
};

/// Parses `Key: value` trailers from the last paragraph of a message.
Trailers parse_trailers(const std::string& message);

/// The cache directory for a remote URL under `cache_root`.
std::filesystem::path cache_dir_for(const std::filesystem::path& cache_root, const std::string& url);

} // namespace mlops::gitops
