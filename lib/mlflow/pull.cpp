#include "mlflow/pull.hpp"

#include "core/cancel.hpp"
#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "core/thread_pool.hpp"
#include "core/time.hpp"
#include "http/ranged.hpp"
#include "mlflow/partial_dir.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace mlops::mlflow {

namespace {

/// Appended to a file's name while it downloads. Not producible by a listing: the
/// backslash is refused in remote paths.
constexpr const char* k_part_suffix = "\\mlops-part";

std::int64_t to_int(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

/// Writes a downloaded body to a temporary file while hashing and counting.
class FileSink final : public http::BodySink {
public:
  FileSink(std::filesystem::path path, const std::atomic<bool>& abort) : m_path(std::move(path)), m_abort(abort) {}

  void reset() override {
    m_fd.reset(); // the previous attempt's file is closed before it is truncated
    m_fd.reset(::open(m_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!m_fd) {
      throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    }
    m_hash = Sha256();
    m_bytes = 0;
  }

  void write(const char* data, std::size_t size) override {
    if (m_abort.load(std::memory_order_relaxed)) throw Error(ErrorKind::interrupted, "stopped");
    if (!m_fd) reset();
    m_hash.update(data, size);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(m_fd.get(), data + done, size - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    m_bytes += size;
  }

  /// Closes the file and returns its sha256.
  std::string finish() {
    if (!m_fd) reset(); // an empty body never calls write()
    if (!m_fd.close()) {
      throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    }
    return m_hash.hex_digest();
  }

  std::uint64_t bytes() const { return m_bytes; }

private:
  std::filesystem::path m_path;
  const std::atomic<bool>& m_abort;
  UniqueFd m_fd;
  Sha256 m_hash;
  std::uint64_t m_bytes = 0;
};

/// One file of the remote version and what to do about it.
struct Task {
  std::string path;
  std::optional<std::uint64_t> size;
};

/// Shared state of one pull's workers.
struct Job {
  Client& client;
  const PullOptions& opts;
  LogSink& log;
  ProgressSink& progress;
  PartialDir& partial;
  const ArtifactLocation& loc;
  const std::optional<model::LockFile>& previous; // lock of an existing dest
  std::filesystem::path dest;
  std::atomic<bool> abort{false};
  std::mutex mutex{};
  std::exception_ptr error{};
  std::vector<model::LockedFile> done{};
  std::uint64_t files_downloaded = 0, bytes_downloaded = 0, files_reused = 0, bytes_reused = 0;
};

bool same_file(const std::filesystem::path& p, std::uint64_t size, const std::string& sha) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (static_cast<std::uint64_t>(st.st_size) != size) return false;
  return sha256_file(p) == sha;
}

/// Tries to satisfy a task from bytes already on disk: the partial
/// directory of an interrupted pull, or the previous pull in dest.
std::optional<model::LockedFile> try_reuse(Job& job, const Task& t, const std::filesystem::path& target) {
  // A listing without a size (MLflow omits file_size for empty files) still
  // allows reuse: the recorded sha256 decides.
  auto size_fits = [&](std::uint64_t recorded) { return !t.size || *t.size == recorded; };
  if (auto j = job.partial.journal_entry(t.path); j && size_fits(j->size)) {
    if (same_file(target, j->size, j->sha256)) return *j;
  }
  if (job.previous) {
    for (const auto& f : job.previous->files) {
      if (f.path != t.path || !size_fits(f.size)) continue;
      auto old = fs::safe_join(job.dest, f.path);
      if (!same_file(old, f.size, f.sha256)) return std::nullopt;
      std::filesystem::create_directories(target.parent_path());
      std::error_code ec;
      std::filesystem::remove(target, ec);
      if (::link(old.c_str(), target.c_str()) != 0) {
        std::filesystem::copy_file(old, target, std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) return std::nullopt;
      }
      return f;
    }
  }
  return std::nullopt;
}

/// One try at a file: the final answer, the bytes written to `part` and their sha256.
struct Fetched {
  http::Response response;
  std::uint64_t bytes = 0;
  std::string sha256;
};

/// Fetches a file into `part` in one stream.
Fetched fetch_stream(Job& job, const http::Request& req, const std::filesystem::path& part,
                     const http::ProgressFn& on_progress) {
  FileSink sink(part, job.abort);
  http::Response resp = job.client.transport(job.loc).download(req, sink, on_progress);
  if (resp.status < 200 || resp.status >= 300) return {std::move(resp), 0, {}};
  std::string sha = sink.finish();
  return {std::move(resp), sink.bytes(), std::move(sha)};
}

/// Fetches a big file into `part` as parallel ranges (one stream where Range is ignored).
Fetched fetch_ranged(Job& job, const http::Request& req, const Task& t, const std::filesystem::path& part,
                     const http::ProgressFn& on_progress) {
  http::RangedOptions ro;
  ro.abort = &job.abort;
  job.log.debug(1, "ranged download of " + quote(t.path) + " (" + human_bytes(*t.size) + ")");
  auto got = http::download_ranged(job.client.transport(job.loc), req, *t.size, part, on_progress, job.log, ro);
  return {std::move(got.response), got.bytes, std::move(got.sha256)};
}

model::LockedFile download(Job& job, const Task& t, const std::filesystem::path& target) {
  // The temporary name holds a backslash, which fs::confine_relative() refuses in every
  // listed path: no listed file can be named like it ("w" and "w.mlops-part" both fit).
  auto part = target;
  part += k_part_suffix;
  http::Request req = job.client.file_request(job.loc, t.path);
  req.expected_size = t.size; // more bytes than listed: aborted at once, not retried
  bool ranged = t.size && *t.size >= limits::k_ranged_min_bytes;
  std::string last_problem;
  for (int attempt = 1; attempt <= std::max(1, job.opts.file_attempts); ++attempt) {
    std::atomic<std::int64_t> reported{0}; // ranges report from several threads
    auto on_progress = [&](std::int64_t d) {
      reported += d;
      job.progress.advance(d);
    };
    Fetched got;
    try {
      got = ranged ? fetch_ranged(job, req, t, part, on_progress) : fetch_stream(job, req, part, on_progress);
    } catch (const Error& e) {
      // The HTTP client has retried what is worth retrying (and spent its time budget
      // doing so): a failure here is final, for this file and for the pull.
      job.progress.advance(-reported);
      std::error_code ec;
      std::filesystem::remove(part, ec);
      if (e.kind() == ErrorKind::interrupted) throw;
      throw e.with_context("cannot download " + quote(t.path));
    }
    if (got.response.status < 200 || got.response.status >= 300) {
      job.progress.advance(-reported);
      std::error_code ec;
      std::filesystem::remove(part, ec);
      throw job.client.download_error(job.loc, got.response, "cannot download " + quote(t.path));
    }
    if (t.size && got.bytes != *t.size) {
      // Shorter than listed without a transport error (no Content-Length): retried.
      job.progress.advance(-reported);
      last_problem = "received " + std::to_string(got.bytes) + " bytes, the listing says " + std::to_string(*t.size);
      job.log.warn("retrying " + quote(t.path) + ": " + last_problem);
      continue;
    }
    job.progress.advance(static_cast<std::int64_t>(got.bytes) - reported);
    if (::rename(part.c_str(), target.c_str()) != 0) {
      throw Error(ErrorKind::io, "cannot write " + quote(target.string()) + ": " + std::strerror(errno));
    }
    return model::LockedFile{t.path, got.bytes, got.sha256};
  }
  std::error_code ec;
  std::filesystem::remove(part, ec);
  throw Error(ErrorKind::unavailable, "cannot download " + quote(t.path) + ": " + last_problem + " (after " +
                                          std::to_string(job.opts.file_attempts) + " attempts)");
}

void run_task(Job& job, const Task& t) {
  auto target = fs::safe_join(job.partial.path(), t.path);
  std::error_code ec;
  std::filesystem::create_directories(target.parent_path(), ec);
  if (ec) throw Error(ErrorKind::io, "cannot create " + quote(target.parent_path().string()) + ": " + ec.message());
  fs::safe_join(job.partial.path(), t.path); // re-check after creating parents
  if (auto reused = try_reuse(job, t, target)) {
    job.progress.advance(static_cast<std::int64_t>(reused->size));
    job.partial.record(*reused);
    std::lock_guard lock(job.mutex);
    job.done.push_back(*reused);
    ++job.files_reused;
    job.bytes_reused += reused->size;
  } else {
    auto got = download(job, t, target);
    job.partial.record(got);
    std::lock_guard lock(job.mutex);
    job.done.push_back(got);
    ++job.files_downloaded;
    job.bytes_downloaded += got.size;
  }
  job.progress.file_done();
}

void run_all(Job& job, std::vector<Task>& tasks, int jobs) {
  // Largest first, so one big file does not start last and run alone.
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.size.value_or(0) > b.size.value_or(0); });
  std::size_t threads =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, jobs)), std::max<std::size_t>(tasks.size(), 1));
  ThreadPool pool(static_cast<unsigned>(threads));
  pool.for_each(tasks.size(), [&](std::size_t i) {
    if (job.abort.load() || cancel_requested()) return; // another file failed, or Ctrl-C: start no more
    try {
      run_task(job, tasks[i]);
    } catch (...) {
      // Recorded before the others are told to stop, so their "stopped" never wins.
      std::lock_guard lock(job.mutex);
      if (!job.error) job.error = std::current_exception();
      job.abort.store(true);
      throw;
    }
  });
  if (job.error) {
    // Prefer the first real failure over the "stopped" of the others.
    std::rethrow_exception(job.error);
  }
  throw_if_cancelled();
}

/// Moves the finished partial directory into place.
void install(const std::filesystem::path& partial, const std::filesystem::path& dest) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(dest, ec))) {
    if (::rename(partial.c_str(), dest.c_str()) != 0) {
      throw Error(ErrorKind::io, "cannot move the model into " + quote(dest.string()) + ": " + std::strerror(errno));
    }
  } else if (fs::exchange_paths(partial, dest)) {
    fs::remove_tree_quietly(partial); // now holds the old contents
  } else {
    auto old = dest;
    old += ".mlops-old";
    fs::remove_tree_quietly(old);
    if (::rename(dest.c_str(), old.c_str()) != 0 || ::rename(partial.c_str(), dest.c_str()) != 0) {
      throw Error(ErrorKind::io, "cannot move the model into " + quote(dest.string()) + ": " + std::strerror(errno));
    }
    fs::remove_tree_quietly(old);
  }
  fs::sync_directory(dest.parent_path());
}

/// A version that answers another question than the one asked (another model, another
/// version, another stage) is refused: its name and number would decide where files land.
void check_answer_matches(const Client& client, const ModelUri& uri, const ModelVersion& v) {
  auto refuse = [&](const char* field, const std::string& got, const std::string& expected) {
    return Error(ErrorKind::operational, "malformed answer from " + quote(redact_url(client.tracking_uri())) + ": " +
                                             quote(std::string("model_version.") + field) + " is " + quote(got) +
                                             ", expected " + quote(expected));
  };
  // Registries on case-insensitive databases return the stored spelling of a name.
  if (!iequals(v.name, uri.name)) throw refuse("name", v.name, uri.name);
  auto number = [](std::string_view n) {
    while (n.size() > 1 && n.front() == '0')
      n.remove_prefix(1);
    return std::string(n);
  };
  if (uri.kind == ModelUri::Kind::version && number(v.version) != number(uri.reference)) {
    throw refuse("version", v.version, uri.reference);
  }
  if (uri.kind == ModelUri::Kind::stage && !iequals(v.current_stage, uri.reference)) {
    throw refuse("current_stage", v.current_stage, uri.reference);
  }
}

} // namespace

std::filesystem::path default_dest(const std::string& name, const std::string& version) {
  auto safe = [](const std::string& text) {
    std::string out;
    for (char c : text) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
                (static_cast<unsigned char>(c) >= 0x80);
      out += ok ? c : '_';
    }
    return out;
  };
  std::string base = safe(name);
  if (base.empty() || base == "." || base == "..") base = "model";
  // The version is checked to be decimal where it is read; a caller passing anything
  // else still gets one file name ("x_.._PWNED"), never a path.
  return base + "-v" + safe(version);
}

ModelVersion resolve_version(Client& client, const ModelUri& uri) {
  ModelVersion v;
  try {
    switch (uri.kind) {
    case ModelUri::Kind::version:
      v = client.get_model_version(uri.name, uri.reference);
      break;
    case ModelUri::Kind::alias:
      v = client.get_version_by_alias(uri.name, uri.reference);
      break;
    case ModelUri::Kind::stage:
    case ModelUri::Kind::latest: {
      std::vector<std::string> stages;
      if (uri.kind == ModelUri::Kind::stage) stages.push_back(uri.reference);
      auto versions = client.get_latest_versions(uri.name, stages);
      if (versions.empty()) {
        throw Error(ErrorKind::not_found,
                    uri.kind == ModelUri::Kind::stage
                        ? "no version of model " + quote(uri.name) + " is in stage " + quote(uri.reference)
                        : "model " + quote(uri.name) + " has no versions");
      }
      v = *std::max_element(versions.begin(), versions.end(),
                            [](const auto& a, const auto& b) { return to_int(a.version) < to_int(b.version); });
      break;
    }
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    // Say which part is missing: the model, or the version/alias in it.
    try {
      client.get_registered_model(uri.name);
    } catch (const Error& inner) {
      if (inner.kind() == ErrorKind::not_found) {
        throw Error(ErrorKind::not_found, "model " + quote(uri.name) + " not found",
                    "'mlops models list' shows the registered models");
      }
      throw;
    }
    if (uri.kind == ModelUri::Kind::version) {
      throw Error(ErrorKind::not_found,
                  "version " + quote(uri.reference) + " of model " + quote(uri.name) + " not found",
                  "'mlops models show " + uri.name + "' lists its versions");
    }
    if (uri.kind == ModelUri::Kind::alias) {
      throw Error(ErrorKind::not_found, "alias " + quote(uri.reference) + " not found for model " + quote(uri.name),
                  "'mlops models show " + uri.name + "' lists its aliases");
    }
    throw;
  }
  check_answer_matches(client, uri, v);
  if (v.status != "READY" && !v.status.empty()) {
    // The status and its message are the server's words: printed without control characters.
    throw Error(ErrorKind::operational, "version " + quote(v.version) + " of model " + quote(v.name) + " is " +
                                            printable(v.status, 40) +
                                            (v.status_message.empty() ? "" : ": " + printable(v.status_message, 300)));
  }
  return v;
}

namespace {

/// The absolute destination directory: -o, or the default for the version.
std::filesystem::path destination_dir(const PullOptions& opts, const ModelVersion& v) {
  std::filesystem::path dest = opts.dest.empty() ? default_dest(v.name, v.version) : opts.dest;
  dest = std::filesystem::absolute(dest).lexically_normal();
  if (dest.filename().empty()) dest = dest.parent_path();
  return dest;
}

/// Checks that the pull may write `dest`; returns the lock of a pull of this
/// very version from this server already there, whose files may be reused.
std::optional<model::LockFile> prepare_destination(const Client& client, const PullOptions& opts, const ModelVersion& v,
                                                   const std::filesystem::path& dest) {
  std::error_code ec;
  auto st = std::filesystem::symlink_status(dest, ec);
  std::optional<model::LockFile> previous;
  if (std::filesystem::exists(st)) {
    if (!std::filesystem::is_directory(st)) {
      throw Error(ErrorKind::operational, "output path " + quote(dest.string()) + " exists and is not a directory");
    }
    try {
      previous = model::LockFile::load(dest);
    } catch (const Error&) {
      previous.reset();
    }
    bool ours = previous && previous->name == v.name;
    if (!ours && !fs::is_missing_or_empty(dest) && !opts.force) {
      throw Error(ErrorKind::operational,
                  "output directory " + quote(dest.string()) + " is not empty and holds no pull of model " +
                      quote(v.name),
                  "pass --force to replace its contents, or choose another directory with -o");
    }
    // Files are reused only from a pull of this very version from this
    // server: another version's file of the same path and size is not the
    // same file.
    if (!ours || previous->version != v.version || previous->tracking_uri != client.tracking_uri()) previous.reset();
  }
  fs::require_writable_dir(dest.parent_path());
  return previous;
}

/// The files of a version and where they are.
struct Listing {
  std::string download_uri;
  ArtifactLocation loc;
  std::vector<Task> tasks;        ///< one per file
  std::set<std::string> expected; ///< their paths, relative to the destination
  std::uint64_t total = 0;        ///< their listed bytes
};

/// Lists the files of version `v`, each path confined to the destination.
Listing list_version(Client& client, const ModelVersion& v, LogSink& log) {
  Listing l;
  l.download_uri = client.get_download_uri(v.name, v.version);
  l.loc = client.resolve_location(l.download_uri);
  log.debug(1, "download URI " + l.download_uri);
  std::vector<FileInfo> listing = client.list_files(l.loc);
  if (listing.empty()) {
    throw Error(ErrorKind::not_found, "version " + quote(v.version) + " of model " + quote(v.name) +
                                          " has no files at " + quote(l.download_uri));
  }
  for (const auto& f : listing) {
    std::string rel = fs::confine_relative(f.path);
    if (rel == model::LockFile::k_file_name) {
      throw Error(ErrorKind::operational, "the model has a file named " + quote(rel) + ", which mlops writes itself");
    }
    if (!l.expected.insert(rel).second) continue;
    l.tasks.push_back(Task{rel, f.file_size});
    l.total += f.file_size.value_or(0);
  }
  return l;
}

/// Downloads (or reuses) every listed file into `partial`; the counts go into `result`,
/// the files pulled are returned.
std::vector<model::LockedFile> download_all(Client& client, const PullOptions& opts, LogSink& log,
                                            ProgressSink& progress, PartialDir& partial, Listing& listing,
                                            const std::optional<model::LockFile>& previous,
                                            const std::filesystem::path& dest, PullResult& result) {
  Job job{client, opts, log, progress, partial, listing.loc, previous, dest};
  int jobs = opts.jobs > 0 ? opts.jobs : 8;
  run_all(job, listing.tasks, jobs);
  result.files_downloaded = job.files_downloaded;
  result.bytes_downloaded = job.bytes_downloaded;
  result.files_reused = job.files_reused;
  result.bytes_reused = job.bytes_reused;
  return std::move(job.done);
}

/// The lock file of the pull of `v` that got `files`.
model::LockFile make_lock(const Client& client, const PullOptions& opts, const ModelVersion& v,
                          const std::string& download_uri, std::vector<model::LockedFile> files) {
  model::LockFile lock;
  lock.tool = opts.tool;
  lock.tracking_uri = client.tracking_uri();
  lock.name = v.name;
  lock.version = v.version;
  lock.requested_uri = opts.uri.text;
  if (opts.uri.kind == ModelUri::Kind::alias) lock.alias = opts.uri.reference;
  if (opts.uri.kind == ModelUri::Kind::stage) lock.stage = opts.uri.reference;
  lock.run_id = v.run_id;
  lock.source = v.source;
  lock.download_uri = download_uri;
  lock.creation_timestamp = v.creation_timestamp;
  lock.pulled_at = now_iso();
  lock.files = std::move(files);
  std::sort(lock.files.begin(), lock.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
  lock.digest = model::LockFile::compute_digest(lock.files);
  return lock;
}

/// Puts the pull in place: only the lock is rewritten when the destination already holds
/// these very files (returns true), else the partial directory replaces the destination.
bool install_pull(PartialDir& partial, const std::filesystem::path& dest,
                  const std::optional<model::LockFile>& previous, const std::set<std::string>& expected,
                  const model::LockFile& lock) {
  if (previous && previous->version == lock.version && previous->files == lock.files &&
      model::verify_dir(dest, *previous).ok()) {
    // Nothing changed: refresh the lock's request fields, leave files alone.
    fs::atomic_write(dest / model::LockFile::k_file_name, lock.to_json());
    partial.discard();
    return true;
  }
  partial.finish(expected, lock.to_json());
  install(partial.path(), dest);
  return false;
}

} // namespace

PullResult pull(Client& client, const PullOptions& opts, LogSink& log, ProgressSink& progress) {
  ModelVersion v = resolve_version(client, opts.uri);
  std::filesystem::path dest = destination_dir(opts, v);
  log.debug(1, "resolved " + opts.uri.text + " to " + v.name + " version " + v.version);
  std::optional<model::LockFile> previous = prepare_destination(client, opts, v, dest);
  Listing listing = list_version(client, v, log);

  PartialDir partial(dest, v.name, v.version);
  progress.begin(v.name + " v" + v.version, listing.tasks.size(), listing.total);
  struct EndProgress {
    ProgressSink& p;
    ~EndProgress() { p.end(); }
  } end_progress{progress};

  PullResult result;
  result.dir = dest;
  auto files = download_all(client, opts, log, progress, partial, listing, previous, dest, result);
  result.lock = make_lock(client, opts, v, listing.download_uri, std::move(files));
  result.unchanged = install_pull(partial, dest, previous, listing.expected, result.lock);
  return result;
}

} // namespace mlops::mlflow
