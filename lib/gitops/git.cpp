#include "gitops/git.hpp"

#include "core/cancel.hpp"
#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "gitops/net.hpp"

#include <git2.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace mlops::gitops {

namespace {

// ----------------------------------------------------------------------------- small helpers

void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

template <typename T, void (*Free)(T*)> struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using Repo = Owned<git_repository, git_repository_free>;
using RemotePtr = Owned<git_remote, git_remote_free>;
using Tree = Owned<git_tree, git_tree_free>;
using TreeEntry = Owned<git_tree_entry, git_tree_entry_free>;
using Builder = Owned<git_treebuilder, git_treebuilder_free>;
using CommitPtr = Owned<git_commit, git_commit_free>;
using Blob = Owned<git_blob, git_blob_free>;
using Signature = Owned<git_signature, git_signature_free>;
using Walk = Owned<git_revwalk, git_revwalk_free>;
using Diff = Owned<git_diff, git_diff_free>;
using Reference = Owned<git_reference, git_reference_free>;
using RefIterator = Owned<git_reference_iterator, git_reference_iterator_free>;

std::string last_error() {
  const git_error* e = git_error_last();
  return e && e->message ? std::string(e->message) : std::string("unknown libgit2 error");
}

std::string hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

git_oid parse_oid(const std::string& id) {
  git_oid oid;
  if (git_oid_fromstr(&oid, id.c_str()) != 0) throw Error(ErrorKind::operational, "invalid git object id " + quote(id));
  return oid;
}

std::vector<std::string> split_dir(const std::string& dir) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : dir) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  for (const auto& p : parts)
    if (p == "." || p == "..")
      throw Error(ErrorKind::usage, "invalid gitops path " + quote(dir) + ": no '.' or '..' parts");
  return parts;
}

std::string percent_decode(std::string_view s) {
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out += static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

UrlParts split_url(const std::string& url) {
  UrlParts u;
  auto sep = url.find("://");
  if (sep == std::string::npos) return u;
  u.scheme = lower_ascii(url.substr(0, sep));
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "" : rest.substr(slash);
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    u.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string::npos) {
      u.password = percent_decode(userinfo.substr(colon + 1));
      u.has_password = true;
    }
  }
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = lower_ascii(authority.substr(0, colon));
    u.port = authority.substr(colon + 1);
  } else {
    u.host = lower_ascii(authority);
  }
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : u.scheme == "http" ? "80" : "";
  return u;
}

namespace {

// ----------------------------------------------------------------------------- callbacks

struct CallbackState {
  const RemoteOptions* opt = nullptr;
  int userpass_tries = 0;
  int ssh_tries = 0;
  bool auth_failed = false;
  std::string rejected;       ///< a ref the server refused, with its reason
  std::string untrusted_host; ///< a host whose certificate or host key was not trusted
};

/// The error for a host that was not trusted: unknown SSH host key or a TLS
/// certificate that does not verify.
Error untrusted_error(const CallbackState& st, const std::string& doing, const std::string& where) {
  bool ssh = st.untrusted_host.find("(ssh)") != std::string::npos;
  std::string host = st.untrusted_host.substr(0, st.untrusted_host.find(' '));
  if (ssh)
    return Error(ErrorKind::operational,
                 "cannot " + doing + " " + where + ": the SSH host key of " + quote(host) +
                     " is not in ~/.ssh/known_hosts",
                 "check the key and add it: ssh-keyscan -p PORT " + host + " >> ~/.ssh/known_hosts");
  return Error(ErrorKind::operational,
               "cannot " + doing + " " + where + ": the TLS certificate of " + quote(host) + " is not trusted",
               "pass the CA with --ca-bundle FILE (or MLFLOW_TRACKING_SERVER_CERT_PATH)");
}

int credentials_cb(git_credential** out, const char* /*url*/, const char* user_from_url, unsigned int allowed,
                   void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  const Credentials& c = st->opt->credentials;
  if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
    // libgit2 asks again after a 401: the credentials were refused (a new
    // connection may ask once more, so allow a few before giving up).
    if (c.password.empty() || st->userpass_tries++ >= 3) {
      st->auth_failed = true;
      return GIT_EAUTH;
    }
    return git_credential_userpass_plaintext_new(out, c.username.c_str(), c.password.c_str());
  }
  if (allowed & GIT_CREDENTIAL_USERNAME) {
    return git_credential_username_new(out, user_from_url ? user_from_url
                                                          : (c.username.empty() ? "git" : c.username.c_str()));
  }
  if (allowed & GIT_CREDENTIAL_SSH_KEY) {
    // libgit2 asks once per attempt: a key file when one is configured, else
    // the agent when one runs. A second call means the server refused it.
    const char* user = user_from_url ? user_from_url : "git";
    if (st->ssh_tries++ == 0) {
      if (!c.ssh_key.empty()) return git_credential_ssh_key_new(out, user, nullptr, c.ssh_key.c_str(), nullptr);
      if (std::getenv("SSH_AUTH_SOCK")) return git_credential_ssh_key_from_agent(out, user);
    }
    st->auth_failed = true;
    return GIT_EAUTH;
  }
  st->auth_failed = true;
  return GIT_EAUTH;
}

// Callbacks run inside libgit2's C frames: nothing may throw out of them.
int certificate_cb(git_cert* cert, int valid, const char* host, void* payload) noexcept {
  auto* st = static_cast<CallbackState*>(payload);
  if (st->opt->insecure || valid) return 0;
  try {
    st->untrusted_host =
        std::string(host ? host : "?") + (cert && cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2 ? " (ssh)" : "");
  } catch (...) {
  }
  return GIT_ECERTIFICATE;
}

int push_update_cb(const char* refname, const char* status, void* payload) noexcept {
  auto* st = static_cast<CallbackState*>(payload);
  try {
    if (status) st->rejected = std::string(refname) + " (" + status + ")";
  } catch (...) {
    return GIT_EUSER;
  }
  return 0;
}

void set_callbacks(git_remote_callbacks& cb, git_proxy_options& proxy, CallbackState& st) {
  cb.credentials = credentials_cb;
  cb.certificate_check = certificate_cb;
  cb.push_update_reference = push_update_cb;
  cb.payload = &st;
  proxy.type = GIT_PROXY_AUTO; // http(s)_proxy and no_proxy from the environment
}

Error auth_error(const RemoteOptions& opt, const std::string& doing) {
  bool http = opt.url.rfind("http://", 0) == 0 || opt.url.rfind("https://", 0) == 0;
  return Error(ErrorKind::auth,
               "cannot " + doing + " " + quote(redact_url(opt.url)) + ": authentication failed" +
                   (opt.credentials.source.empty() ? " (no credentials found)"
                                                   : " with credentials from " + opt.credentials.source),
               http ? "set MLOPS_GIT_USERNAME and MLOPS_GIT_PASSWORD (or MLOPS_GIT_TOKEN), or store them with git "
                      "credential-store"
                    : "set MLOPS_GIT_SSH_KEY to a private key the server accepts, or load one into ssh-agent");
}

// ----------------------------------------------------------------------------- network failures

/// A failure another attempt may get past (refused or dropped connection,
/// stall, 408/429/5xx, a locked ref); `error` is what the last one reports.
struct Transient {
  Error error;
  std::optional<double> retry_after;
};

/// The HTTP status in libgit2's "unexpected http status code: 503" (0: none).
int status_in(const std::string& msg) {
  const std::string mark = "status code: ";
  auto at = msg.find(mark);
  if (at == std::string::npos) return 0;
  return std::atoi(msg.c_str() + at + mark.size());
}

/// A ref that another writer holds locked (`git` running, or one that died
/// holding it): worth another attempt, a conflict (exit 7) if it stays.
Transient locked(const std::string& message) {
  return Transient{Error(ErrorKind::conflict, message,
                         "another git process is writing the branch; if none is, remove the .lock file"),
                   std::nullopt};
}

/// Throws the error for a failed libgit2 network call: Transient when
/// another attempt may succeed, Error when it cannot.
[[noreturn]] void throw_net_failure(const NetScope* scope, const std::string& what) {
  std::string msg = redact_url(last_error());
  Error error(ErrorKind::unavailable, what + ": " + msg);
  switch (scope ? scope->fault() : NetFault::none) {
  case NetFault::interrupted:
    throw_if_cancelled();
    throw Error(ErrorKind::interrupted, "interrupted");
  case NetFault::oversized:
    throw Error(ErrorKind::operational, what + ": " + msg, "is the gitops url a git repository?");
  case NetFault::deadline:
    throw error;
  case NetFault::stalled:
    throw Transient{error, std::nullopt};
  case NetFault::none:
    break;
  }
  if (msg.find("failed to lock") != std::string::npos) throw locked(what + ": " + msg);
  if (int status = status_in(msg)) {
    if (http::is_retryable_status(status)) throw Transient{error, scope ? scope->retry_after() : std::nullopt};
    if (status == 403) throw Error(ErrorKind::auth, what + ": permission denied (HTTP 403)");
    throw Error(ErrorKind::operational, what + ": " + msg);
  }
  throw Transient{error, std::nullopt};
}

std::string seconds_text(double s) {
  std::ostringstream o;
  o.precision(2);
  o << std::fixed << s;
  return o.str() + " s";
}

/// Runs `attempt` (one fetch or push) again after transient failures, as
/// `opt.http` says, all within limits::k_git_network_deadline_s. Every
/// attempt runs under a NetScope (none for SSH, whose socket libssh2 reads
/// itself) that first allows `max_bytes` to be received.
template <typename F> auto with_retries(const RemoteOptions& opt, std::uint64_t max_bytes, F&& attempt) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(limits::k_git_network_deadline_s));
  bool ssh = opt.url.rfind("ssh://", 0) == 0 ||
             (opt.url.find("://") == std::string::npos && opt.url.find('@') != std::string::npos);
  static thread_local std::mt19937 rng(std::random_device{}());
  for (int n = 1;; ++n) {
    try {
      std::optional<NetScope> scope;
      if (!ssh) scope.emplace(opt.http, deadline, max_bytes);
      return attempt(scope ? &*scope : nullptr);
    } catch (const Transient& t) {
      double wait = http::backoff_delay(opt.http, n) +
                    std::uniform_real_distribution<double>(0, std::max(0.0, opt.http.backoff_jitter_s))(rng);
      if (t.retry_after && opt.http.respect_retry_after) wait = std::min(*t.retry_after, opt.http.backoff_max_s);
      auto resume = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
      if (n > opt.http.max_retries || resume >= deadline) throw t.error;
      if (opt.note)
        opt.note(std::string(t.error.what()) + "; retrying in " + seconds_text(wait) + " (attempt " +
                 std::to_string(n + 1) + ")");
      while (Clock::now() < resume) {
        throw_if_cancelled();
        std::this_thread::sleep_for(std::min<Clock::duration>(resume - Clock::now(), std::chrono::milliseconds(100)));
      }
    }
  }
}

} // namespace

// ----------------------------------------------------------------------------- credentials

std::optional<std::pair<std::string, std::string>> match_store_line(const std::string& line, const std::string& url) {
  UrlParts stored = split_url(std::string(trim(line)));
  UrlParts want = split_url(url);
  if (stored.scheme.empty() || stored.password.empty()) return std::nullopt;
  if (stored.scheme != want.scheme || stored.host != want.host || stored.port != want.port) return std::nullopt;
  if (!want.user.empty() && want.user != stored.user) return std::nullopt;
  return std::make_pair(stored.user, stored.password);
}

Credentials find_credentials(const std::string& url, const Getenv& getenv) {
  Credentials c;
  UrlParts u = split_url(url);
  c.username = u.user;
  if (auto key = getenv("MLOPS_GIT_SSH_KEY"); key && !key->empty()) {
    c.ssh_key = *key;
    if (u.scheme == "ssh" || u.scheme.empty()) c.source = "SSH key " + quote(*key) + " (MLOPS_GIT_SSH_KEY)";
  } else if ((u.scheme == "ssh" || u.scheme.empty()) && getenv("SSH_AUTH_SOCK")) {
    c.source = "ssh-agent";
  }
  auto env_user = getenv("MLOPS_GIT_USERNAME");
  if (auto pw = getenv("MLOPS_GIT_PASSWORD"); pw && !pw->empty()) {
    c.username = env_user ? *env_user : (u.user.empty() ? std::string("git") : u.user);
    c.password = *pw;
    c.source = "environment MLOPS_GIT_PASSWORD";
    return c;
  }
  if (auto token = getenv("MLOPS_GIT_TOKEN"); token && !token->empty()) {
    c.username = env_user ? *env_user : (u.user.empty() ? std::string("x-access-token") : u.user);
    c.password = *token;
    c.source = "environment MLOPS_GIT_TOKEN";
    return c;
  }
  if (u.scheme != "http" && u.scheme != "https") return c;
  std::vector<std::filesystem::path> stores;
  if (auto home = getenv("HOME")) stores.push_back(std::filesystem::path(*home) / ".git-credentials");
  if (auto xdg = getenv("XDG_CONFIG_HOME"); xdg && !xdg->empty())
    stores.push_back(std::filesystem::path(*xdg) / "git" / "credentials");
  else if (auto home = getenv("HOME"))
    stores.push_back(std::filesystem::path(*home) / ".config" / "git" / "credentials");
  for (const auto& store : stores) {
    std::ifstream in(store);
    std::string line;
    while (in && std::getline(in, line)) {
      if (auto m = match_store_line(line, url)) {
        c.username = m->first;
        c.password = m->second;
        c.source = "credential store " + quote(store.string());
        return c;
      }
    }
  }
  return c;
}

// ----------------------------------------------------------------------------- trailers

Trailers parse_trailers(const std::string& message) {
  init_libgit2(); // libgit2's allocator, even when no repository was opened
  Trailers out;
  git_message_trailer_array arr{};
  if (git_message_trailers(&arr, message.c_str()) == 0) {
    for (std::size_t i = 0; i < arr.count; ++i)
      out.emplace_back(arr.trailers[i].key, arr.trailers[i].value);
    git_message_trailer_array_free(&arr);
  }
  return out;
}

std::string Commit::trailer(const std::string& key) const {
  for (const auto& [k, v] : trailers)
    if (k == key) return v;
  return {};
}

std::filesystem::path cache_dir_for(const std::filesystem::path& cache_root, const std::string& url) {
  return cache_root / sha256_hex(url).substr(0, 16);
}

// ----------------------------------------------------------------------------- Remote

struct Remote::Impl {
  Repo repo;
  // Refs of this process only: several mlops processes may share the cache
  // (objects are safe to write concurrently, refs are locked), so each keeps
  // its own and removes them when done.
  std::string tracking_ref; ///< where fetch stores the branch tip
  std::string push_ref;     ///< what push sends

  ~Impl() {
    for (const auto* name : {&tracking_ref, &push_ref}) {
      Reference ref;
      if (repo.get() && git_reference_lookup(ref.out(), repo.get(), name->c_str()) == 0)
        git_reference_delete(ref.get());
    }
  }

  Error fail(ErrorKind kind, const std::string& what) const {
    return Error(kind, what + ": " + redact_url(last_error()));
  }

  /// Removes the refs of mlops processes that were killed before they could
  /// (refs/mlops/PID-N/...), so that a cache outlives any number of crashes
  /// without keeping their objects alive. A PID in use again is left alone.
  void drop_refs_of_dead_processes() {
    RefIterator it;
    if (git_reference_iterator_glob_new(it.out(), repo.get(), "refs/mlops/*") != 0) return;
    std::vector<std::string> dead;
    for (;;) {
      Reference ref;
      if (git_reference_next(ref.out(), it.get()) != 0) break;
      std::string name = git_reference_name(ref.get());
      long pid = std::strtol(name.c_str() + std::strlen("refs/mlops/"), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) dead.push_back(name);
    }
    for (const auto& name : dead) {
      Reference r;
      if (git_reference_lookup(r.out(), repo.get(), name.c_str()) == 0) git_reference_delete(r.get());
    }
  }

  void open_remote(RemotePtr& remote, const RemoteOptions& opt) {
    if (git_remote_create_anonymous(remote.out(), repo.get(), opt.url.c_str()) != 0)
      throw fail(ErrorKind::usage, "invalid gitops url " + quote(redact_url(opt.url)));
  }

  git_tree* tree_of(const std::string& commit_id, Tree& holder) {
    if (commit_id.empty()) return nullptr;
    git_oid oid = parse_oid(commit_id);
    CommitPtr c;
    if (git_commit_lookup(c.out(), repo.get(), &oid) != 0)
      throw fail(ErrorKind::operational, "cannot read commit " + quote(commit_id));
    if (git_commit_tree(holder.out(), c.get()) != 0)
      throw fail(ErrorKind::operational, "cannot read the tree of " + quote(commit_id));
    return holder.get();
  }

  /// The subtree id at `dir` in `tree` ("" when absent).
  std::string subtree_id(git_tree* tree, const std::string& dir) {
    if (!tree) return {};
    if (split_dir(dir).empty()) return hex(git_tree_id(tree));
    TreeEntry e;
    if (git_tree_entry_bypath(e.out(), tree, dir.c_str()) != 0) return {};
    if (git_tree_entry_type(e.get()) != GIT_OBJECT_TREE) return {};
    return hex(git_tree_entry_id(e.get()));
  }

  /// Writes a copy of `base` (may be null) with `parts[i..]` replaced by `leaf`
  /// (null = removed); returns the new tree id.
  git_oid replace_path(git_tree* base, const std::vector<std::string>& parts, std::size_t i, const git_oid* leaf) {
    Builder b;
    if (git_treebuilder_new(b.out(), repo.get(), base) != 0) throw fail(ErrorKind::operational, "cannot build a tree");
    const std::string& name = parts[i];
    git_oid child;
    const git_oid* child_ptr = leaf;
    if (i + 1 < parts.size()) {
      Tree sub;
      const git_tree_entry* e = base ? git_tree_entry_byname(base, name.c_str()) : nullptr;
      if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE) git_tree_lookup(sub.out(), repo.get(), git_tree_entry_id(e));
      child = replace_path(sub.get(), parts, i + 1, leaf);
      child_ptr = &child;
      // An empty subtree is left out, as git does.
      Tree written;
      if (git_tree_lookup(written.out(), repo.get(), &child) == 0 && git_tree_entrycount(written.get()) == 0)
        child_ptr = nullptr;
    }
    if (child_ptr) {
      if (git_treebuilder_insert(nullptr, b.get(), name.c_str(), child_ptr, GIT_FILEMODE_TREE) != 0)
        throw fail(ErrorKind::operational, "cannot build a tree");
    } else if (git_treebuilder_get(b.get(), name.c_str())) {
      git_treebuilder_remove(b.get(), name.c_str());
    }
    git_oid out;
    if (git_treebuilder_write(&out, b.get()) != 0) throw fail(ErrorKind::operational, "cannot write a tree");
    return out;
  }
};

Remote::Remote(RemoteOptions options) : m_opt(std::move(options)), m_impl(std::make_unique<Impl>()) {
  init_libgit2();
  if (!m_opt.ca_bundle.empty()) git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, m_opt.ca_bundle.c_str(), nullptr);
  std::error_code ec;
  std::filesystem::create_directories(m_opt.cache.parent_path(), ec);
  if (git_repository_open_bare(m_impl->repo.out(), m_opt.cache.c_str()) != 0) {
    // A fresh cache, built in a temporary directory and renamed, so a killed
    // run never leaves a half-initialised repository.
    auto tmp = m_opt.cache;
    tmp += ".tmp-" + std::to_string(::getpid());
    std::filesystem::remove_all(tmp, ec);
    Repo fresh;
    if (git_repository_init(fresh.out(), tmp.c_str(), 1) != 0)
      throw m_impl->fail(ErrorKind::io, "cannot create the gitops cache " + quote(m_opt.cache.string()));
    std::filesystem::rename(tmp, m_opt.cache, ec);
    if (ec && !std::filesystem::exists(m_opt.cache / "HEAD")) {
      std::filesystem::remove_all(tmp, ec);
      throw Error(ErrorKind::io, "cannot create the gitops cache " + quote(m_opt.cache.string()) + ": " + ec.message());
    }
    std::filesystem::remove_all(tmp, ec);
    if (git_repository_open_bare(m_impl->repo.out(), m_opt.cache.c_str()) != 0)
      throw m_impl->fail(ErrorKind::io, "cannot open the gitops cache " + quote(m_opt.cache.string()));
  }
  std::string self =
      std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this) & 0xffffff);
  m_impl->tracking_ref = "refs/mlops/" + self + "/remote";
  m_impl->push_ref = "refs/mlops/" + self + "/push";
  m_impl->drop_refs_of_dead_processes();
}

Remote::~Remote() = default;

std::string Remote::fetch() {
  return with_retries(m_opt, limits::k_max_git_refs_bytes, [this](NetScope* scope) { return fetch_once(scope); });
}

std::string Remote::fetch_once(NetScope* scope) {
  RemotePtr remote;
  m_impl->open_remote(remote, m_opt);
  CallbackState st;
  st.opt = &m_opt;
  git_fetch_options fo; // the init functions, not GIT_*_OPTIONS_INIT: clang warns on the macros' missing fields
  if (git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot set up a fetch");
  set_callbacks(fo.callbacks, fo.proxy_opts, st);
  fo.prune = GIT_FETCH_NO_PRUNE;
  fo.update_fetchhead = 0;
  fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  std::string spec = "+refs/heads/" + m_opt.branch + ":" + m_impl->tracking_ref;
  char* specs[] = {spec.data()};
  git_strarray refspecs = {specs, 1};
  // A missing branch is not an error: an empty repository gets a root commit.
  // Connect and list first so "no such branch" is told apart from failures.
  int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &fo.callbacks, &fo.proxy_opts, nullptr);
  std::string where = quote(redact_url(m_opt.url));
  if (rc != 0) {
    if (st.auth_failed || rc == GIT_EAUTH) throw auth_error(m_opt, "fetch");
    if (!st.untrusted_host.empty()) throw untrusted_error(st, "fetch", where);
    const git_error* e = git_error_last();
    std::string msg = e && e->message ? e->message : "";
    if (msg.find("404") != std::string::npos)
      throw Error(ErrorKind::not_found, "cannot fetch " + where + ": no repository there (HTTP 404)");
    if (msg.find("could not find repository") != std::string::npos ||
        msg.find("not a git repository") != std::string::npos ||
        msg.find("failed to resolve path") != std::string::npos)
      throw Error(ErrorKind::not_found, "cannot fetch " + where + ": no repository there: " + msg);
    throw_net_failure(scope, "cannot reach the gitops repository " + where);
  }
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  bool has_branch = false;
  if (git_remote_ls(&heads, &count, remote.get()) == 0) {
    std::string want = "refs/heads/" + m_opt.branch;
    for (size_t i = 0; i < count; ++i)
      if (want == heads[i]->name) has_branch = true;
  }
  if (!has_branch) {
    git_remote_disconnect(remote.get());
    m_tip.clear();
    return m_tip;
  }
  // Download on the same connection, then move the tracking ref.
  if (scope) scope->set_max_bytes(limits::k_max_git_fetch_bytes);
  if (git_remote_download(remote.get(), &refspecs, &fo) != 0) {
    if (st.auth_failed) throw auth_error(m_opt, "fetch");
    throw_net_failure(scope, "cannot fetch " + where);
  }
  if (git_remote_update_tips(remote.get(), &fo.callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, nullptr) != 0)
    throw m_impl->fail(ErrorKind::io, "cannot update the gitops cache");
  git_remote_disconnect(remote.get());
  git_oid oid;
  if (git_reference_name_to_id(&oid, m_impl->repo.get(), m_impl->tracking_ref.c_str()) != 0)
    throw m_impl->fail(ErrorKind::operational,
                       "cannot fetch " + where + ": branch " + quote(m_opt.branch) + " not received");
  m_tip = hex(&oid);
  return m_tip;
}

std::map<std::string, std::string> Remote::read_dir(const std::string& commit, const std::string& dir) {
  std::map<std::string, std::string> files;
  Tree root;
  git_tree* tree = m_impl->tree_of(commit, root);
  std::string id = m_impl->subtree_id(tree, dir);
  if (id.empty()) return files;
  git_oid oid = parse_oid(id);
  Tree sub;
  if (git_tree_lookup(sub.out(), m_impl->repo.get(), &oid) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot read " + quote(dir));
  for (std::size_t i = 0; i < git_tree_entrycount(sub.get()); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(sub.get(), i);
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) continue;
    Blob blob;
    if (git_blob_lookup(blob.out(), m_impl->repo.get(), git_tree_entry_id(e)) != 0)
      throw m_impl->fail(ErrorKind::operational, "cannot read " + quote(dir));
    files[git_tree_entry_name(e)] = std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                                static_cast<std::size_t>(git_blob_rawsize(blob.get())));
  }
  return files;
}

std::string Remote::commit_dir(const std::string& parent, const std::string& dir,
                               const std::map<std::string, std::string>& files, const std::string& message,
                               const Identity& author, const Identity& committer) {
  auto* repo = m_impl->repo.get();
  auto parts = split_dir(dir);
  if (parts.empty()) throw Error(ErrorKind::usage, "invalid gitops path: empty");
  Builder leaf;
  if (git_treebuilder_new(leaf.out(), repo, nullptr) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot build a tree");
  for (const auto& [name, content] : files) {
    if (name.empty() || name.find('/') != std::string::npos)
      throw Error(ErrorKind::operational, "invalid manifest file name " + quote(name));
    git_oid blob;
    if (git_blob_create_from_buffer(&blob, repo, content.data(), content.size()) != 0)
      throw m_impl->fail(ErrorKind::operational, "cannot store " + quote(name));
    if (git_treebuilder_insert(nullptr, leaf.get(), name.c_str(), &blob, GIT_FILEMODE_BLOB) != 0)
      throw m_impl->fail(ErrorKind::operational, "cannot build a tree");
  }
  git_oid leaf_id;
  if (git_treebuilder_write(&leaf_id, leaf.get()) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot write a tree");

  Tree base;
  git_tree* base_tree = m_impl->tree_of(parent, base);
  git_oid root_id = m_impl->replace_path(base_tree, parts, 0, files.empty() ? nullptr : &leaf_id);
  Tree root;
  if (git_tree_lookup(root.out(), repo, &root_id) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot read a tree");

  Signature a, c;
  if (git_signature_now(a.out(), author.name.c_str(), author.email.c_str()) != 0 ||
      git_signature_now(c.out(), committer.name.c_str(), committer.email.c_str()) != 0)
    throw m_impl->fail(ErrorKind::usage, "invalid commit identity " + quote(author.name));
  CommitPtr parent_commit;
  const git_commit* parents[1] = {nullptr};
  int nparents = 0;
  if (!parent.empty()) {
    git_oid p = parse_oid(parent);
    if (git_commit_lookup(parent_commit.out(), repo, &p) != 0)
      throw m_impl->fail(ErrorKind::operational, "cannot read commit " + quote(parent));
    parents[0] = parent_commit.get();
    nparents = 1;
  }
  git_oid out;
  if (git_commit_create(&out, repo, nullptr, a.get(), c.get(), "UTF-8", message.c_str(), root.get(), nparents,
                        parents) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot create a commit");
  return hex(&out);
}

void Remote::check_push() {
  with_retries(m_opt, limits::k_max_git_refs_bytes, [this](NetScope* scope) {
    RemotePtr remote;
    m_impl->open_remote(remote, m_opt);
    CallbackState st;
    st.opt = &m_opt;
    git_push_options po = GIT_PUSH_OPTIONS_INIT;
    set_callbacks(po.callbacks, po.proxy_opts, st);
    // The receive-pack advertisement is what a push starts with: the server
    // asks for push credentials there, and nothing is sent after it.
    int rc = git_remote_connect(remote.get(), GIT_DIRECTION_PUSH, &po.callbacks, &po.proxy_opts, nullptr);
    std::string where = quote(redact_url(m_opt.url));
    if (rc != 0) {
      if (st.auth_failed || rc == GIT_EAUTH) throw auth_error(m_opt, "push to");
      if (!st.untrusted_host.empty()) throw untrusted_error(st, "push to", where);
      std::string msg = last_error();
      if (msg.find("403") != std::string::npos)
        throw Error(ErrorKind::auth, "cannot push to " + where + ": the server refused (HTTP 403)",
                    "the git user needs write access to the repository");
      if (msg.find("404") != std::string::npos)
        throw Error(ErrorKind::not_found, "cannot push to " + where + ": no repository there (HTTP 404)");
      throw_net_failure(scope, "cannot reach the gitops repository " + where);
    }
    git_remote_disconnect(remote.get());
    return 0;
  });
}

PushResult Remote::push(const std::string& commit) {
  return with_retries(m_opt, limits::k_max_git_refs_bytes, [&](NetScope* scope) { return push_once(commit, scope); });
}

PushResult Remote::push_once(const std::string& commit, NetScope* scope) {
  auto* repo = m_impl->repo.get();
  // Push from a local ref that points at the new commit.
  const std::string& local = m_impl->push_ref;
  git_oid oid = parse_oid(commit);
  Reference ref;
  if (git_reference_create(ref.out(), repo, local.c_str(), &oid, 1, nullptr) != 0)
    throw m_impl->fail(ErrorKind::io, "cannot update the gitops cache");
  RemotePtr remote;
  m_impl->open_remote(remote, m_opt);
  CallbackState st;
  st.opt = &m_opt;
  git_push_options po;
  if (git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot set up a push");
  set_callbacks(po.callbacks, po.proxy_opts, st);
  std::string spec = local + ":refs/heads/" + m_opt.branch;
  char* specs[] = {spec.data()};
  git_strarray refspecs = {specs, 1};
  std::string where = quote(redact_url(m_opt.url));
  int rc = git_remote_push(remote.get(), &refspecs, &po);
  if (rc == GIT_ENONFASTFORWARD) return PushResult::non_fast_forward;
  if (rc != 0) {
    if (st.auth_failed || rc == GIT_EAUTH) throw auth_error(m_opt, "push to");
    if (!st.untrusted_host.empty()) throw untrusted_error(st, "push to", where);
    std::string msg = last_error();
    if (msg.find("non-fast") != std::string::npos || msg.find("fetch first") != std::string::npos)
      return PushResult::non_fast_forward;
    throw_net_failure(scope, "cannot push to " + where);
  }
  if (!st.rejected.empty()) {
    if (st.rejected.find("failed to lock") != std::string::npos)
      throw locked("cannot push to " + where + ": " + st.rejected);
    // The server refused the update: because the branch moved meanwhile (a
    // race; the server says "fetch first", "non-fast-forward" or "failed to
    // update ref") or because a hook said no. A moved branch is what a fetch
    // shows, so only that is worth a retry.
    std::string before = m_tip;
    if (fetch() != before) return PushResult::non_fast_forward;
    throw Error(ErrorKind::operational, "cannot push to " + where + ": the server refused " + st.rejected,
                "the repository's hooks or branch protection decide what may be pushed to " + quote(m_opt.branch));
  }
  m_tip = commit;
  return PushResult::pushed;
}

std::vector<Commit> Remote::log(const std::string& dir) {
  std::vector<Commit> out;
  if (m_tip.empty()) return out;
  auto* repo = m_impl->repo.get();
  Walk walk;
  if (git_revwalk_new(walk.out(), repo) != 0) throw m_impl->fail(ErrorKind::operational, "cannot read history");
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  git_oid tip = parse_oid(m_tip);
  git_revwalk_push(walk.get(), &tip);
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    CommitPtr c;
    if (git_commit_lookup(c.out(), repo, &oid) != 0) continue;
    Tree tree;
    git_commit_tree(tree.out(), c.get());
    std::string here = m_impl->subtree_id(tree.get(), dir);
    std::string before;
    if (git_commit_parentcount(c.get()) > 0) {
      CommitPtr p;
      if (git_commit_parent(p.out(), c.get(), 0) == 0) {
        Tree pt;
        git_commit_tree(pt.out(), p.get());
        before = m_impl->subtree_id(pt.get(), dir);
      }
    }
    if (!dir.empty() && here == before) continue;
    Commit e;
    e.id = hex(&oid);
    e.time = static_cast<std::int64_t>(git_commit_time(c.get()));
    const git_signature* author = git_commit_author(c.get());
    e.author = author && author->name ? author->name : "";
    e.message = git_commit_message(c.get()) ? git_commit_message(c.get()) : "";
    e.subject = e.message.substr(0, e.message.find('\n'));
    e.trailers = parse_trailers(e.message);
    out.push_back(std::move(e));
  }
  return out;
}

std::string Remote::diff(const std::string& from, const std::string& to, const std::string& dir) {
  Tree a, b;
  git_tree* ta = m_impl->tree_of(from, a);
  git_tree* tb = m_impl->tree_of(to, b);
  git_diff_options opts;
  if (git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot diff");
  std::string prefix = dir;
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();
  char* paths[] = {prefix.data()};
  if (!prefix.empty()) opts.pathspec = {paths, 1};
  Diff d;
  if (git_diff_tree_to_tree(d.out(), m_impl->repo.get(), ta, tb, &opts) != 0)
    throw m_impl->fail(ErrorKind::operational, "cannot diff");
  std::string text;
  git_diff_print(
      d.get(), GIT_DIFF_FORMAT_PATCH,
      [](const git_diff_delta*, const git_diff_hunk*, const git_diff_line* line, void* payload) noexcept -> int {
        auto* s = static_cast<std::string*>(payload);
        try {
          if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION ||
              line->origin == GIT_DIFF_LINE_DELETION)
            s->push_back(line->origin);
          s->append(line->content, line->content_len);
        } catch (...) {
          return GIT_EUSER;
        }
        return 0;
      },
      &text);
  return text;
}

} // namespace mlops::gitops
