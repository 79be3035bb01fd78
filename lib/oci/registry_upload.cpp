// Blob uploads: mounts, monolithic and chunked (resumable) uploads, streamed
// uploads, manifests, and the parallel push of an image.
#include "oci/registry.hpp"

#include "core/cancel.hpp"
#include "core/digest.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/strings.hpp"
#include "core/thread_pool.hpp"

#include <condition_variable>
#include <cstring>
#include <random>
#include <thread>
#include <tuple>

namespace mlops::oci {

namespace {

constexpr std::size_t k_stream_queue = 16u << 20; // bytes a stream may hold while the network catches up

/// Sleeps `seconds` in short slices so that Ctrl-C is noticed.
void pause_for(double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    throw_if_cancelled();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// The wait before resume `n`: Retry-After when the registry gave one, else backoff with jitter.
double resume_wait(const http::Options& o, const http::Response& r, int n) {
  if (o.respect_retry_after) {
    if (auto ra = http::parse_retry_after(r.header("retry-after"), std::chrono::system_clock::now()))
      return std::min(*ra, o.backoff_max_s);
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  double jitter = o.backoff_jitter_s > 0 ? std::uniform_real_distribution<double>(0, o.backoff_jitter_s)(rng) : 0;
  return http::backoff_delay(o, n) + jitter;
}

std::string with_query(const std::string& url, const std::string& kv) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + kv;
}

/// Statuses with which a registry says it does not take chunks (or not this big).
bool refuses_chunks(long status) {
  return status == 400 || status == 405 || status == 413 || status == 416 || status == 501;
}

} // namespace

std::string Registry::start_upload(const std::string& query) {
  http::Request post;
  post.method = "POST";
  post.url = url("/v2/" + m_ref.repository + "/blobs/uploads/" + (query.empty() ? "" : "?" + query));
  http::Response r = send(post);
  if (r.status != 202) throw failure(r, "cannot start an upload");
  std::string location = r.header("location");
  if (location.empty())
    throw Error(ErrorKind::operational, "the registry " + quote(m_ref.registry) + " gave no upload location");
  return absolute(location);
}

void Registry::check_push() { cancel_upload(start_upload()); }

void Registry::cancel_upload(const std::string& location) noexcept {
  try {
    http::Request del;
    del.method = "DELETE";
    del.url = location;
    send(del);
  } catch (...) {
    // The registry expires abandoned sessions itself.
  }
}

bool Registry::mount_blob(const std::string& digest, const std::string& from_repository) {
  http::Request post;
  post.method = "POST";
  post.url = url("/v2/" + m_ref.repository + "/blobs/uploads/?mount=" + url_encode(digest) +
                 "&from=" + url_encode(from_repository));
  http::Response r = send(post, {repository_scope(from_repository, "pull")});
  if (r.status == 201) {
    m_log.debug(1, "mounted blob " + digest.substr(0, 19) + " from " + from_repository);
    return true;
  }
  if (r.status == 202 && !r.header("location").empty()) {
    // Not mounted: the registry opened an upload session instead; close it.
    cancel_upload(absolute(r.header("location")));
  }
  m_log.debug(1, "could not mount blob " + digest.substr(0, 19) + " from " + from_repository + " (HTTP " +
                     std::to_string(r.status) + ")");
  return false;
}

void Registry::commit_upload(const std::string& location, const std::string& digest) {
  http::Request put;
  put.method = "PUT";
  put.url = with_query(location, "digest=" + url_encode(digest));
  put.headers = {"Content-Type: application/octet-stream"};
  http::Response r = send(put);
  if (r.status == 201) return;
  // A commit that went through but whose answer was lost is retried into a
  // 404 for the finished session; the blob is there all the same.
  if (r.status == 404 && has_blob(digest)) return;
  throw failure(r, "cannot upload blob " + digest);
}

void Registry::upload_monolithic(const std::filesystem::path& file, const std::string& digest, std::uint64_t size) {
  for (int attempt = 1;; ++attempt) {
    std::string location = start_upload();
    http::Request put;
    put.method = "PUT";
    put.url = with_query(location, "digest=" + url_encode(digest));
    put.headers = {"Content-Type: application/octet-stream"};
    put.body_file = file.string();
    http::Response r = send(put);
    if (r.status == 201) return;
    bool again =
        (r.status == 400 || r.status == 404 || r.status == 416 || http::is_retryable_status(r.status)) && attempt < 3;
    if (!again) throw failure(r, "cannot upload blob " + digest + " (" + human_bytes(size) + ")");
    m_log.debug(1, "upload of " + digest.substr(0, 19) + " failed with HTTP " + std::to_string(r.status) +
                       "; starting it again");
  }
}

std::pair<std::string, std::uint64_t> Registry::resume_point(const std::string& location, const std::string& identity) {
  http::Request status;
  status.url = location;
  http::Response s = send(status);
  if (auto held = s.status == 204 ? parse_upload_range(s.header("range")) : std::nullopt) {
    std::string at = s.header("location").empty() ? location : absolute(s.header("location"));
    remember_session(identity, at);
    return {at, *held};
  }
  m_log.debug(1, "the upload session is gone (HTTP " + std::to_string(s.status) + "); starting over");
  std::string fresh = start_upload();
  remember_session(identity, fresh);
  return {fresh, 0};
}

std::filesystem::path Registry::session_file(const std::string& identity) const {
  if (m_upload.session_dir.empty() || identity.empty()) return {};
  return m_upload.session_dir /
         (sha256_hex(m_ref.registry + "\n" + m_ref.repository + "\n" + identity).substr(0, 32) + ".json");
}

void Registry::remember_session(const std::string& identity, const std::string& location) noexcept {
  auto file = session_file(identity);
  if (file.empty()) return;
  try {
    std::filesystem::create_directories(file.parent_path());
    nlohmann::json j = {
        {"registry", m_ref.registry}, {"repository", m_ref.repository}, {"identity", identity}, {"location", location}};
    fs::atomic_write(file, j.dump(), false);
  } catch (const std::exception&) {
    // Not remembered: a rerun uploads the blob whole, nothing worse.
  }
}

void Registry::forget_session(const std::string& identity) noexcept {
  auto file = session_file(identity);
  std::error_code ec;
  if (!file.empty()) std::filesystem::remove(file, ec);
}

std::pair<std::string, std::uint64_t> Registry::open_session(const std::string& identity) {
  std::string saved;
  auto file = session_file(identity);
  try {
    std::error_code ec;
    if (!file.empty() && std::filesystem::is_regular_file(file, ec)) {
      auto j = parse_json(fs::read_file(file), quote(file.string()), ErrorKind::operational, 64u << 10);
      // Only a session of this registry and repository, for the same bytes,
      // at this registry's own address (credentials go with the request).
      if (j.is_object() && j.value("registry", "") == m_ref.registry && j.value("repository", "") == m_ref.repository &&
          j.value("identity", "") == identity && j.value("location", "").rfind(url("/"), 0) == 0) {
        saved = j.value("location", "");
      }
    }
  } catch (const std::exception&) {
    // A damaged record: start a new session.
  }
  if (saved.empty()) {
    std::string fresh = start_upload();
    remember_session(identity, fresh);
    return {fresh, 0};
  }
  auto at = resume_point(saved, identity);
  if (at.second > 0) {
    m_log.debug(1, "continuing an earlier upload of " + identity.substr(0, 19) + ": the registry holds " +
                       std::to_string(at.second) + " bytes of it");
  }
  return at;
}

bool Registry::upload_chunked(const std::filesystem::path& file, const std::string& digest, std::uint64_t size) {
  auto [location, offset] = open_session(digest);
  if (offset > size) std::tie(location, offset) = std::pair{start_upload(), std::uint64_t{0}};
  int resumes = 0;
  bool first = true;
  while (offset < size) {
    std::uint64_t n = std::min(m_upload.chunk_size, size - offset);
    http::Request patch;
    patch.method = "PATCH";
    patch.url = location;
    patch.headers = {"Content-Type: application/octet-stream",
                     "Content-Range: " + std::to_string(offset) + "-" + std::to_string(offset + n - 1)};
    patch.body_file = file.string();
    patch.body_offset = offset;
    patch.body_length = n;
    patch.idempotent = false; // a chunk is never re-sent blindly: the registry says where to go on
    http::Response r;
    std::string why;
    try {
      r = send(patch);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::unavailable) throw;
      why = e.what();
    }
    if (r.status == 202) {
      location = absolute(r.header("location").empty() ? location : r.header("location"));
      auto held = parse_upload_range(r.header("range"));
      offset = held && *held > offset ? *held : offset + n;
      first = false;
      remember_session(digest, location);
      continue;
    }
    if (r.status == 401 || r.status == 403) throw failure(r, "cannot upload blob " + digest);
    if (first && refuses_chunks(r.status)) {
      m_log.debug(1, "the registry refused a chunk (HTTP " + std::to_string(r.status) + "); uploading " +
                         digest.substr(0, 19) + " in one piece");
      cancel_upload(location);
      forget_session(digest);
      return false;
    }
    if (++resumes > m_upload.max_resumes) {
      if (!why.empty()) throw Error(ErrorKind::unavailable, why);
      throw failure(r, "cannot upload blob " + digest);
    }
    double wait = resume_wait(m_http.options(), r, resumes);
    m_log.debug(1, "chunk at " + std::to_string(offset) + " failed (" +
                       (why.empty() ? "HTTP " + std::to_string(r.status) : why) +
                       "); asking the registry where to resume in " + std::to_string(wait).substr(0, 4) + " s");
    pause_for(wait);
    std::tie(location, offset) = resume_point(location, digest);
    m_log.debug(1, "resuming " + digest.substr(0, 19) + " at byte " + std::to_string(offset));
  }
  commit_upload(location, digest);
  forget_session(digest);
  return true;
}

void Registry::upload_blob(const std::filesystem::path& file, const std::string& digest) {
  std::uint64_t size = std::filesystem::file_size(file);
  if (m_upload.chunk_size > 0 && size > m_upload.chunk_size && upload_chunked(file, digest, size)) {
    m_log.debug(1, "uploaded blob " + digest.substr(0, 19) + " in chunks of " + human_bytes(m_upload.chunk_size));
    return;
  }
  upload_monolithic(file, digest, size);
  m_log.debug(1, "uploaded blob " + digest.substr(0, 19));
}

bool Registry::push_blob(const std::filesystem::path& file, const std::string& digest) {
  if (has_blob(digest)) {
    m_log.debug(1, "blob " + digest.substr(0, 19) + " is already in " + m_ref.repository);
    return false;
  }
  upload_blob(file, digest);
  return true;
}

void Registry::push_manifest(const std::string& bytes, const std::string& media_type, const std::string& reference) {
  http::Request put;
  put.method = "PUT";
  put.url = url("/v2/" + m_ref.repository + "/manifests/" + reference);
  put.headers = {"Content-Type: " + media_type};
  put.body = bytes;
  http::Response r = send(put);
  if (r.status != 201) throw failure(r, "cannot put the manifest " + quote(reference));
  std::string said = r.header("docker-content-digest");
  std::string ours = "sha256:" + sha256_hex(bytes);
  if (!said.empty() && said != ours) {
    throw Error(ErrorKind::operational,
                "the registry " + quote(m_ref.registry) + " stored the manifest as " + said + ", not " + ours);
  }
}

// ----------------------------------------------------------------------------- streamed uploads

struct Registry::Stream::State {
  Registry& registry;
  std::mutex mutex;
  std::condition_variable cv;
  // A fixed ring buffer: no allocation (and no page faults) per byte moved.
  std::vector<char> ring = std::vector<char>(k_stream_queue);
  std::size_t head = 0, queued = 0; // read position, bytes held
  // The writer's side, touched by the writer only: where it copies to, how
  // much free space it knows of, and bytes copied but not yet published.
  std::size_t w_tail = 0, w_avail = 0, w_pending = 0;
  bool closed = false, failed = false, committed = false;
  bool refused = false;   // the registry said no (not a lost connection): the session is not worth keeping
  std::string identity;   // the name of the remembered session; empty: not remembered
  std::uint64_t skip = 0; // bytes an earlier run's session holds: dropped from the stream's start
  std::string location, why;
  http::Response response;
  std::thread worker;

  explicit State(Registry& r) : registry(r) {}

  /// libcurl's read side: blocks until bytes or the end come; gives at most
  /// `quota` bytes (what is left of this request's chunk).
  std::size_t read(char* buf, std::size_t cap, std::uint64_t& quota) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return queued > 0 || closed; });
    std::size_t n = 0;
    while (n < cap && quota > 0 && queued > 0) {
      std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>({cap - n, queued, ring.size() - head, quota}));
      lock.unlock(); // the writer never touches held bytes
      std::memcpy(buf + n, ring.data() + head, take);
      lock.lock();
      n += take;
      quota -= take;
      head = (head + take) % ring.size();
      queued -= take;
    }
    cv.notify_all();
    return n;
  }

  /// Bytes left to send, or the end: false once closed and drained.
  bool more() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return queued > 0 || closed; });
    return queued > 0;
  }

  /// One PATCH per chunk (the chunk size bounds every request body, for
  /// registries and proxies that limit it), each sent as it is produced.
  void run() {
    std::uint64_t chunk = registry.m_upload.chunk_size ? registry.m_upload.chunk_size : UINT64_MAX;
    try {
      while (more()) {
        std::uint64_t quota = chunk;
        http::Request patch;
        patch.method = "PATCH";
        patch.url = location;
        patch.headers = {"Content-Type: application/octet-stream"};
        patch.body_reader = [this, &quota](char* buf, std::size_t cap) { return read(buf, cap, quota); };
        response = registry.send(patch, {}, false);
        if (response.status != 202) {
          why = registry.failure(response, "cannot stream a blob").what();
          refused = true;
          break;
        }
        if (!response.header("location").empty()) location = registry.absolute(response.header("location"));
        registry.remember_session(identity, location);
      }
    } catch (const std::exception& e) {
      why = e.what(); // no answer (a lost connection): the session may live on in the registry
    }
    std::lock_guard lock(mutex);
    if (!why.empty()) {
      failed = true;
      queued = 0;
    }
    cv.notify_all();
  }
};

Registry::Stream::Stream(Registry& registry, std::string identity) : m_state(std::make_unique<State>(registry)) {
  m_state->identity = std::move(identity);
  if (m_state->identity.empty())
    m_state->location = registry.start_upload();
  else
    std::tie(m_state->location, m_state->skip) = registry.open_session(m_state->identity);
  m_state->worker = std::thread([s = m_state.get()] { s->run(); });
}

Registry::Stream::~Stream() {
  if (m_state->worker.joinable()) {
    {
      std::lock_guard lock(m_state->mutex);
      m_state->closed = true;
    }
    m_state->cv.notify_all();
    m_state->worker.join();
  }
  // Refused, or abandoned without a name to resume it by: close the session.
  // One cut off by a lost registry stays for a rerun to continue.
  State& st = *m_state;
  if (!st.committed && !st.location.empty() && (st.refused || st.identity.empty())) {
    st.registry.cancel_upload(st.location);
    st.registry.forget_session(st.identity);
  }
}

void Registry::Stream::write(const char* data, std::size_t size) {
  // The tar writer hands over pieces of 512 bytes: they are copied straight
  // into free ring space (the reader never touches it) and published to the
  // reader once per MiB, so the lock is not taken per piece.
  State& st = *m_state;
  if (st.skip > 0) { // what the registry holds from an earlier run
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(st.skip, size));
    st.skip -= n;
    data += n;
    size -= n;
  }
  while (size > 0) {
    if (st.w_avail == 0) {
      publish();
      std::unique_lock lock(st.mutex);
      st.cv.wait(lock, [&] { return st.failed || st.queued < st.ring.size(); });
      if (st.failed || st.closed) return;
      st.w_tail = (st.head + st.queued) % st.ring.size();
      st.w_avail = std::min(st.ring.size() - st.queued, st.ring.size() - st.w_tail);
    }
    std::size_t take = std::min(size, st.w_avail);
    std::memcpy(st.ring.data() + st.w_tail, data, take);
    st.w_tail = (st.w_tail + take) % st.ring.size();
    st.w_avail -= take;
    st.w_pending += take;
    data += take;
    size -= take;
    if (st.w_pending >= (1u << 20)) publish();
  }
}

void Registry::Stream::publish() {
  State& st = *m_state;
  if (st.w_pending == 0) return;
  std::lock_guard lock(st.mutex);
  st.queued += st.w_pending;
  st.w_pending = 0;
  st.cv.notify_all();
}

bool Registry::Stream::finish(const std::string& digest, std::string& why) {
  publish();
  {
    std::lock_guard lock(m_state->mutex);
    m_state->closed = true;
  }
  m_state->cv.notify_all();
  m_state->worker.join();
  Registry& reg = m_state->registry;
  if (m_state->failed) {
    why = m_state->why;
    return false;
  }
  if (m_state->skip > 0) { // the stream was shorter than what the registry held: not the same bytes
    why = "the earlier upload session holds more than the layer";
    m_state->refused = true;
    return false;
  }
  try {
    reg.commit_upload(m_state->location, digest);
  } catch (const Error& e) {
    why = e.what();
    m_state->refused = e.kind() != ErrorKind::unavailable && e.kind() != ErrorKind::interrupted;
    return false;
  }
  m_state->committed = true;
  reg.forget_session(m_state->identity);
  return true;
}

// ----------------------------------------------------------------------------- push

PushStats push_image(Registry& registry, const Layout& layout, const Descriptor& manifest_desc,
                     const std::string& reference, const PushSources& sources) {
  nlohmann::json manifest = layout.read_json_blob(manifest_desc);
  std::vector<std::pair<std::string, std::uint64_t>> blobs;
  if (!manifest.is_object() || !manifest.contains("config") || !manifest.contains("layers") ||
      !manifest["layers"].is_array()) {
    throw Error(ErrorKind::operational, "the manifest " + manifest_desc.digest + " is not an image manifest");
  }
  Descriptor config = Descriptor::from_json(manifest["config"]);
  blobs.emplace_back(config.digest, config.size);
  for (const auto& l : manifest["layers"]) {
    Descriptor d = Descriptor::from_json(l);
    blobs.emplace_back(d.digest, d.size);
  }
  registry.ping();
  PushStats stats;
  std::mutex mutex; // guards stats
  auto account = [&](BlobOutcome o, std::uint64_t size) {
    std::lock_guard lock(mutex);
    if (o == BlobOutcome::uploaded) stats.uploaded += size, ++stats.blobs_uploaded;
    if (o == BlobOutcome::existed) stats.skipped += size, ++stats.blobs_skipped;
    if (o == BlobOutcome::mounted) stats.mounted += size, ++stats.blobs_mounted;
  };
  auto one = [&](const std::string& digest, std::uint64_t size) {
    if (auto it = sources.done.find(digest); it != sources.done.end()) return account(it->second, size);
    if (registry.has_blob(digest)) return account(BlobOutcome::existed, size);
    if (!sources.mount_from.empty() && sources.base_blobs.count(digest) &&
        registry.mount_blob(digest, sources.mount_from)) {
      return account(BlobOutcome::mounted, size);
    }
    if (!layout.has_blob(digest) && sources.fetch) sources.fetch(digest, size);
    registry.upload_blob(layout.blob_path(digest), digest);
    account(BlobOutcome::uploaded, size);
  };
  // After a failure no further blob starts; the first failure is thrown.
  ThreadPool pool(static_cast<unsigned>(std::max(1, std::min<int>(sources.jobs, static_cast<int>(blobs.size())))));
  FanOut done = pool.for_each(blobs.size(), [&](std::size_t i) { one(blobs[i].first, blobs[i].second); });
  if (done.first) std::rethrow_exception(done.first);
  registry.push_manifest(layout.read_blob(manifest_desc.digest, manifest_desc.size), manifest_desc.media_type,
                         reference);
  return stats;
}

} // namespace mlops::oci
