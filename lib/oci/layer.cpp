#include "oci/layer.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <locale.h>
#include <map>
#include <set>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mlops::oci {

namespace {

constexpr int k_gzip_level = 1;  // fixed: part of what makes a layer reproducible
constexpr std::size_t k_chunk = 1 << 20;

/// Receives the tar stream: hashes it, optionally gzips it, writes the blob.
class BlobSink {
public:
  BlobSink(const std::filesystem::path& file, bool gzip, const LayerTee& tee) : m_gzip(gzip), m_path(file), m_tee(tee) {
    // No O_TRUNC: the file is new and empty, and ext4 flushes a truncated-then-written
    // file on close (auto_da_alloc), which cost ~75 ms per 64 MiB here.
    // An empty path: no file, the bytes go to the tee only.
    if (!file.empty()) m_fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0 && !file.empty()) throw Error(ErrorKind::io, "cannot write " + quote(file.string()) + ": " + std::strerror(errno));
    if (m_gzip) {
      std::memset(&m_z, 0, sizeof m_z);
      // windowBits 31 = gzip wrapper with no file name and mtime 0.
      if (deflateInit2(&m_z, k_gzip_level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw Error(ErrorKind::operational, "cannot initialise gzip");
      }
    }
  }
  ~BlobSink() {
    if (m_gzip) deflateEnd(&m_z);
    if (m_fd >= 0) ::close(m_fd);
  }

  void write(const void* data, std::size_t len) {
    m_tar_hash.update(data, len);
    m_tar_bytes += len;
    if (!m_gzip) return emit(data, len);
    m_z.next_in = static_cast<Bytef*>(const_cast<void*>(data));
    m_z.avail_in = static_cast<uInt>(len);
    deflate_all(Z_NO_FLUSH);
  }

  /// Flushes the compressor, closes the file and fixes both digests.
  void finish() {
    if (m_gzip) deflate_all(Z_FINISH);
    m_tar_digest = "sha256:" + m_tar_hash.hex_digest();
    m_blob_digest = m_gzip ? "sha256:" + m_blob_hash.hex_digest() : m_tar_digest;
    // No fsync: a blob is named by its digest and checked when read, and
    // syncing a GiB-sized layer costs more than building it (measured in
    // bench/package.sh). The index that makes a blob reachable is synced.
    if (m_fd >= 0 && ::close(m_fd) != 0) {
      m_fd = -1;
      throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
    }
    m_fd = -1;
  }

  const std::string& tar_digest() const { return m_tar_digest; }
  const std::string& blob_digest() const { return m_blob_digest; }
  bool gzip() const { return m_gzip; }
  std::uint64_t tar_bytes() const { return m_tar_bytes; }
  std::uint64_t blob_bytes() const { return m_gzip ? m_blob_bytes : m_tar_bytes; }

private:
  void deflate_all(int flush) {
    std::array<unsigned char, 1 << 16> out{};
    int rc;
    do {
      m_z.next_out = out.data();
      m_z.avail_out = static_cast<uInt>(out.size());
      rc = deflate(&m_z, flush);
      if (rc == Z_STREAM_ERROR) throw Error(ErrorKind::operational, "gzip failed");
      std::size_t produced = out.size() - m_z.avail_out;
      if (produced) {
        m_blob_hash.update(out.data(), produced);
        m_blob_bytes += produced;
        emit(out.data(), produced);
      }
    } while (m_z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }

  void emit(const void* data, std::size_t len) {
    const char* p = static_cast<const char*>(data);
    if (m_tee) m_tee(p, len);
    if (m_fd < 0) return;
    while (len) {
      ssize_t n = ::write(m_fd, p, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorKind::io, "cannot write " + quote(m_path.string()) + ": " + std::strerror(errno));
      }
      p += n;
      len -= static_cast<std::size_t>(n);
    }
  }

  bool m_gzip;
  std::filesystem::path m_path;
  const LayerTee& m_tee;
  int m_fd = -1;
  z_stream m_z{};
  Sha256 m_tar_hash, m_blob_hash;
  std::string m_tar_digest, m_blob_digest;
  std::uint64_t m_tar_bytes = 0, m_blob_bytes = 0;
};

/// libarchive callback payload; exceptions are stored, never thrown through C.
struct WriteContext {
  BlobSink* sink;
  std::exception_ptr error;
};

la_ssize_t on_write(struct archive*, void* self, const void* buf, size_t len) {
  auto* ctx = static_cast<WriteContext*>(self);
  try {
    ctx->sink->write(buf, len);
  } catch (...) {
    ctx->error = std::current_exception();
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

/// Decides `automatic`: gzip only if a sample of the biggest files shrinks by 10 % or more.
bool worth_compressing(const std::vector<LayerEntry>& entries) {
  std::vector<std::pair<std::uintmax_t, const LayerEntry*>> files;
  for (const auto& e : entries) {
    if (e.type != LayerEntry::Type::file) continue;
    std::error_code ec;
    files.emplace_back(std::filesystem::file_size(e.source, ec), &e);
  }
  std::sort(files.begin(), files.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string sample;
  constexpr std::size_t k_sample = 4 << 20;
  for (const auto& [size, e] : files) {
    int fd = ::open(e->source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string buf(std::min<std::size_t>(k_sample - sample.size(), 1 << 20), '\0');
    ssize_t n = ::read(fd, buf.data(), buf.size());
    ::close(fd);
    if (n > 0) sample.append(buf.data(), static_cast<std::size_t>(n));
    if (sample.size() >= k_sample) break;
  }
  if (sample.size() < 512) return true;  // tiny text-like layers: gzip costs nothing
  uLongf bound = compressBound(static_cast<uLong>(sample.size()));
  std::string out(bound, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &bound, reinterpret_cast<const Bytef*>(sample.data()),
                static_cast<uLong>(sample.size()), k_gzip_level) != Z_OK) {
    return false;
  }
  return static_cast<double>(bound) < 0.9 * static_cast<double>(sample.size());
}

void write_file_data(struct archive* a, const LayerEntry& e, std::uint64_t expected, WriteContext& ctx) {
  auto changed = [&] { return Error(ErrorKind::operational, quote(e.source.string()) + " changed while it was being packaged"); };
  std::uint64_t total = 0;
  fs::read_chunks(e.source, k_chunk, [&](const char* data, std::size_t n) {
    total += n;
    if (total > expected) throw changed();
    if (archive_write_data(a, data, n) < 0) {
      if (ctx.error) std::rethrow_exception(ctx.error);
      throw changed();
    }
  });
  if (total != expected) throw changed();
}

} // namespace

Compression parse_compression(const std::string& text) {
  if (text == "none") return Compression::none;
  if (text == "gzip") return Compression::gzip;
  if (text == "auto") return Compression::automatic;
  throw Error(ErrorKind::usage, "unknown compression " + quote(text), "use none, gzip or auto");
}

std::vector<LayerEntry> entries_for_tree(const std::filesystem::path& dir, const std::string& prefix,
                                         const std::vector<std::string>& skip) {
  std::map<std::string, LayerEntry> out;  // sorted bytewise by archive path
  auto add_parents = [&](const std::string& path) {
    for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      if (!out.count(parent)) out[parent] = LayerEntry{LayerEntry::Type::directory, parent, {}, {}, false};
    }
  };
  auto archive_path = [&](const std::string& rel) { return prefix.empty() ? rel : prefix + "/" + rel; };
  if (!prefix.empty()) add_parents(prefix + "/x");
  std::filesystem::path root = std::filesystem::canonical(dir);
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) throw Error(ErrorKind::io, "cannot read " + quote(dir.string()) + ": " + ec.message());
    // lexically: std::filesystem::relative would follow the link being judged.
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (std::find(skip.begin(), skip.end(), rel) != skip.end()) continue;
    std::string path = archive_path(rel);
    auto st = it->symlink_status();
    LayerEntry e;
    e.path = path;
    if (std::filesystem::is_symlink(st)) {
      auto target = std::filesystem::read_symlink(it->path());
      auto resolved = std::filesystem::weakly_canonical(it->path().parent_path() / target);
      auto r = resolved.lexically_relative(root);
      if (target.is_absolute() || r.empty() || r.native().rfind("..", 0) == 0) {
        throw Error(ErrorKind::operational, "symbolic link " + quote(rel) + " points outside the model directory (" +
                                                target.string() + ")");
      }
      e.type = LayerEntry::Type::symlink;
      e.link_target = target.generic_string();
    } else if (std::filesystem::is_directory(st)) {
      e.type = LayerEntry::Type::directory;
    } else if (std::filesystem::is_regular_file(st)) {
      e.type = LayerEntry::Type::file;
      e.source = it->path();
      e.executable = (st.permissions() & std::filesystem::perms::owner_exec) != std::filesystem::perms::none;
    } else {
      throw Error(ErrorKind::operational, quote(rel) + " is neither a file, a directory nor a symbolic link");
    }
    add_parents(path);
    out[path] = std::move(e);
  }
  std::vector<LayerEntry> v;
  v.reserve(out.size());
  for (auto& [k, e] : out) v.push_back(std::move(e));
  return v;
}

Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime,
                  const std::filesystem::path& tmp_dir, const LayerTee& tee) {
  bool gzip = compression == Compression::gzip || (compression == Compression::automatic && worth_compressing(entries));
  Layer layer;  // no tmp_dir: no file, the bytes go to `tee` only
  if (!tmp_dir.empty()) {
    std::string tmpl = (tmp_dir / ".layer-XXXXXX").string();
    int tfd = ::mkstemp(tmpl.data());
    if (tfd < 0) throw Error(ErrorKind::io, "cannot create a file in " + quote(tmp_dir.string()) + ": " + std::strerror(errno));
    ::fchmod(tfd, 0644);  // blobs are readable like the rest of the layout
    ::close(tfd);
    layer.file = tmpl;
  }
  // libarchive converts names through the current locale; pin it to UTF-8
  // for this thread so non-ASCII names work, and the bytes do not depend on
  // the user's locale (reproducible).
  struct UtfLocale {
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    locale_t old = loc ? uselocale(loc) : static_cast<locale_t>(nullptr);
    ~UtfLocale() {
      if (loc) {
        uselocale(old);
        freelocale(loc);
      }
    }
  } utf_locale;
  if (!utf_locale.loc) throw Error(ErrorKind::operational, "the C.UTF-8 locale is not available");
  BlobSink sink(layer.file, gzip, tee);
  WriteContext ctx{&sink, nullptr};
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 512);  // no padding to 10 KiB records
  if (archive_write_open(a, &ctx, nullptr, on_write, nullptr) != ARCHIVE_OK) {
    archive_write_free(a);
    throw Error(ErrorKind::operational, "cannot start a tar stream");
  }
  try {
    for (const auto& e : entries) {
      struct archive_entry* ae = archive_entry_new();
      archive_entry_set_pathname_utf8(ae, e.path.c_str());
      archive_entry_set_uid(ae, 0);
      archive_entry_set_gid(ae, 0);
      archive_entry_set_mtime(ae, mtime, 0);
      archive_entry_unset_atime(ae);
      archive_entry_unset_ctime(ae);
      archive_entry_unset_birthtime(ae);
      std::uint64_t size = 0;
      switch (e.type) {
      case LayerEntry::Type::directory:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, 0755);
        break;
      case LayerEntry::Type::symlink:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink_utf8(ae, e.link_target.c_str());
        break;
      case LayerEntry::Type::file: {
        std::error_code ec;
        size = std::filesystem::file_size(e.source, ec);
        if (ec) throw Error(ErrorKind::io, "cannot read " + quote(e.source.string()) + ": " + ec.message());
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, e.executable ? 0755 : 0644);
        archive_entry_set_size(ae, static_cast<la_int64_t>(size));
        break;
      }
      }
      int rc = archive_write_header(a, ae);
      archive_entry_free(ae);
      if (rc != ARCHIVE_OK) {
        if (ctx.error) std::rethrow_exception(ctx.error);
        throw Error(ErrorKind::operational, "cannot write tar entry " + quote(e.path) + ": " + archive_error_string(a));
      }
      if (e.type == LayerEntry::Type::file) write_file_data(a, e, size, ctx);
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
      if (ctx.error) std::rethrow_exception(ctx.error);
      throw Error(ErrorKind::operational, std::string("cannot finish the tar stream: ") + archive_error_string(a));
    }
    archive_write_free(a);
    sink.finish();
  } catch (...) {
    archive_write_free(a);
    std::error_code ec;
    if (!layer.file.empty()) std::filesystem::remove(layer.file, ec);
    throw;
  }
  layer.diff_id = sink.tar_digest();
  layer.digest = sink.blob_digest();
  layer.size = sink.blob_bytes();
  layer.uncompressed_size = sink.tar_bytes();
  layer.media_type = gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar";
  return layer;
}

} // namespace mlops::oci
