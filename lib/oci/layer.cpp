#include "oci/layer.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/fs.hpp"
#include "core/pipeline.hpp"
#include "oci/gzip.hpp"
#include "oci/zstd.hpp"

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
#include <memory>
#include <optional>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mlops::oci {

namespace {

constexpr int k_gzip_level = ParallelGzip::k_default_level; // fixed: part of what makes a layer reproducible
constexpr std::size_t k_chunk = 1 << 20;                    // tar stream buffers: large reads and writes, few syscalls
constexpr std::size_t k_buffers = 6;                        // in flight between the reader, hasher and writer threads

[[noreturn]] void throw_io(const std::string& what, const std::filesystem::path& path) {
  throw Error(ErrorKind::io, what + " " + quote(path.string()) + ": " + std::strerror(errno));
}

/// Hashes and counts what passes through to `next` (the blob digest of a
/// compressed layer).
class HashingSink final : public ByteSink {
public:
  explicit HashingSink(ByteSink& next) : m_next(next) {}
  void write(const void* data, std::size_t size) override {
    m_hash.update(data, size);
    m_bytes += size;
    m_next.write(data, size);
  }
  void finish() override { m_next.finish(); }
  std::string digest() { return "sha256:" + m_hash.hex_digest(); }
  std::uint64_t bytes() const { return m_bytes; }

private:
  ByteSink& m_next;
  Sha256 m_hash;
  std::uint64_t m_bytes = 0;
};

/// The layer's tar stream, built in the pipeline's chunks: tar headers come
/// from libarchive, file data is read straight into the chunk (no copy
/// through libarchive). Full chunks go to the pipeline's threads.
class TarStream {
public:
  explicit TarStream(ChunkPipeline& pipe) : m_pipe(pipe), m_chunk(pipe.first()) {}

  void append(const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size) {
      std::size_t n = std::min(size, room());
      std::memcpy(m_chunk.data.get() + m_chunk.size, p, n);
      m_chunk.size += n;
      p += n;
      size -= n;
      if (room() == 0) hand_on();
    }
  }

  /// Appends exactly `expected` bytes of `source` plus the tar padding;
  /// Error(operational) when the file's size differs from `expected`.
  void append_file(const std::filesystem::path& source, std::uint64_t expected) {
    UniqueFd file(::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file) throw_io("cannot read", source);
    const int fd = file.get();
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    auto changed = [&] {
      return Error(ErrorKind::operational, quote(source.string()) + " changed while it was being packaged");
    };
    std::uint64_t left = expected;
    for (;;) {
      if (room() == 0) hand_on();
      // At the end, one more byte than expected shows a file that grew.
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left ? left : 1, room()));
      ssize_t n = ::read(fd, m_chunk.data.get() + m_chunk.size, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_io("cannot read", source);
      if (left == 0 && n == 0) break;
      if (left == 0 || n == 0) throw changed();
      m_chunk.size += static_cast<std::size_t>(n);
      left -= static_cast<std::uint64_t>(n);
    }
    static constexpr std::array<char, 512> k_zeros{};
    append(k_zeros.data(), (512 - expected % 512) % 512);
  }

  /// Hands on the last chunk, waits for the pipeline and returns the tar size.
  std::uint64_t finish() {
    m_bytes += m_chunk.size;
    m_pipe.finish(std::move(m_chunk));
    return m_bytes;
  }

private:
  std::size_t room() const { return m_pipe.capacity() - m_chunk.size; }
  void hand_on() {
    m_bytes += m_chunk.size;
    m_chunk = m_pipe.exchange(std::move(m_chunk));
  }

  ChunkPipeline& m_pipe;
  Chunk m_chunk;
  std::uint64_t m_bytes = 0;
};

/// libarchive callback payload for one header; nothing here can throw.
la_ssize_t collect_header(struct archive*, void* self, const void* buf, size_t len) {
  static_cast<std::string*>(self)->append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}

/// Decides `automatic`: gzip only if samples spread over the biggest files
/// shrink by 10 % or more. 16 pieces of 16 KiB from across a big file (not
/// only its header): deflating 256 KiB of random data takes 5-15 ms here,
/// where the 4 MiB sampled before took 60-220 ms (bench/README.md).
bool worth_compressing(const std::vector<LayerEntry>& entries) {
  std::vector<std::pair<std::uintmax_t, const LayerEntry*>> files;
  for (const auto& e : entries) {
    if (e.type != LayerEntry::Type::file) continue;
    std::error_code ec;
    files.emplace_back(std::filesystem::file_size(e.source, ec), &e);
  }
  std::sort(files.begin(), files.end(), [](auto& a, auto& b) { return a.first > b.first; });
  constexpr std::size_t k_piece = 16 << 10, k_pieces = 16;
  std::string sample;
  std::vector<char> buf(k_piece);
  std::size_t pieces = 0;
  for (const auto& [size, e] : files) {
    if (pieces == k_pieces) break;
    UniqueFd fd(::open(e->source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    std::size_t here = std::clamp<std::size_t>(size / k_piece, 1, k_pieces - pieces);
    for (std::size_t i = 0; i < here; ++i, ++pieces) {
      auto at = static_cast<off_t>(size / here * i);
      ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), at);
      if (n > 0) sample.append(buf.data(), static_cast<std::size_t>(n));
    }
  }
  if (sample.size() < 512) return true; // tiny text-like layers: gzip costs nothing
  uLongf bound = compressBound(static_cast<uLong>(sample.size()));
  std::string out(bound, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &bound, reinterpret_cast<const Bytef*>(sample.data()),
                static_cast<uLong>(sample.size()), k_gzip_level) != Z_OK) {
    return false;
  }
  return static_cast<double>(bound) < 0.9 * static_cast<double>(sample.size());
}

constexpr std::uint64_t k_ustar_max_size = 077777777777; // 11 octal digits: 8 GiB - 1

/// Sets the size field of the ustar header that ends `header` and its
/// checksum, as libarchive formats them (11 octal digits; 6 digits, NUL, space).
void set_ustar_size(std::string& header, std::uint64_t size) {
  char* h = header.data() + header.size() - 512;
  for (int i = 10; i >= 0; --i, size >>= 3)
    h[124 + i] = static_cast<char>('0' + (size & 7));
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i)
    sum += static_cast<unsigned char>(h[i]);
  for (int i = 5; i >= 0; --i, sum >>= 3)
    h[148 + i] = static_cast<char>('0' + (sum & 7));
  h[154] = '\0';
}

/// The tar header of one entry (a pax header first where ustar cannot say
/// it), made by libarchive on an archive of its own, so that file data need
/// not pass through libarchive. libarchive is told size 0, so that closing
/// that archive writes no data, and the size is set afterwards. Only a file
/// of 8 GiB or more, whose size needs libarchive's pax record, is told its
/// size; its archive is abandoned instead (closing would write the data as
/// zeros), which leaks libarchive's 544-byte client buffer once per such file.
std::string tar_header(const LayerEntry& e, std::uint64_t size, std::int64_t mtime) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 512); // no padding to 10 KiB records
  if (archive_write_open(a, &out, nullptr, collect_header, nullptr) != ARCHIVE_OK) {
    archive_write_free(a);
    throw Error(ErrorKind::operational, "cannot start a tar stream");
  }
  struct archive_entry* ae = archive_entry_new();
  archive_entry_set_pathname_utf8(ae, e.path.c_str());
  archive_entry_set_uid(ae, 0);
  archive_entry_set_gid(ae, 0);
  archive_entry_set_mtime(ae, mtime, 0);
  archive_entry_unset_atime(ae);
  archive_entry_unset_ctime(ae);
  archive_entry_unset_birthtime(ae);
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
  case LayerEntry::Type::file:
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, e.executable ? 0755 : 0644);
    archive_entry_set_size(ae, static_cast<la_int64_t>(size > k_ustar_max_size ? size : 0));
    break;
  }
  int rc = archive_write_header(a, ae);
  archive_entry_free(ae);
  std::string why = rc == ARCHIVE_OK ? "" : archive_error_string(a);
  std::size_t header_size = out.size();
  if (size > k_ustar_max_size) {
    archive_write_fail(a);
  } else if (archive_write_close(a) != ARCHIVE_OK && rc == ARCHIVE_OK) {
    rc = ARCHIVE_FATAL;
    why = archive_error_string(a);
  }
  archive_write_free(a);
  if (rc != ARCHIVE_OK) throw Error(ErrorKind::operational, "cannot write tar entry " + quote(e.path) + ": " + why);
  out.resize(header_size); // without the end-of-archive blocks that closing wrote
  if (e.type == LayerEntry::Type::file && size <= k_ustar_max_size) set_ustar_size(out, size);
  return out;
}

/// The compressor for `stored_as` (gzip or zstd) that writes into `out`.
std::unique_ptr<ByteSink> compressor(Compression stored_as, ByteSink& out) {
  if (stored_as == Compression::zstd) return std::make_unique<ZstdCompressor>(out);
  return std::make_unique<ParallelGzip>(out);
}

/// Streams the tar of `entries` into `sink`, stored as-is, gzipped or in
/// zstd (`stored_as`): this thread reads, one thread hashes the tar
/// (diff_id), one writes it to the sink or feeds the compressor, whose
/// workers use every CPU.
Layer stream_layer(const std::vector<LayerEntry>& entries, Compression stored_as, std::int64_t mtime, ByteSink& sink) {
  std::optional<HashingSink> blob;
  std::unique_ptr<ByteSink> packer;
  if (stored_as != Compression::none) {
    blob.emplace(sink);
    packer = compressor(stored_as, *blob);
  }
  ByteSink& tar_out = packer ? *packer : sink;
  Sha256 tar_hash;
  std::vector<ChunkPipeline::Stage> stages;
  stages.emplace_back([&](const char* p, std::size_t n) { tar_hash.update(p, n); });
  stages.emplace_back([&](const char* p, std::size_t n) { tar_out.write(p, n); });
  ChunkPipeline pipe(std::move(stages), k_buffers, k_chunk);
  TarStream tar(pipe);
  for (const auto& e : entries) {
    std::uint64_t size = 0;
    if (e.type == LayerEntry::Type::file) {
      std::error_code ec;
      size = std::filesystem::file_size(e.source, ec);
      if (ec) throw Error(ErrorKind::io, "cannot read " + quote(e.source.string()) + ": " + ec.message());
    }
    std::string header = tar_header(e, size, mtime);
    tar.append(header.data(), header.size());
    if (e.type == LayerEntry::Type::file) tar.append_file(e.source, size);
  }
  static constexpr std::array<char, 1024> k_end{}; // two zero records end a tar
  tar.append(k_end.data(), k_end.size());
  Layer layer;
  layer.uncompressed_size = tar.finish();
  layer.diff_id = "sha256:" + tar_hash.hex_digest();
  tar_out.finish();
  layer.media_type = "application/vnd.oci.image.layer.v1.tar";
  if (packer) {
    layer.digest = blob->digest();
    layer.size = blob->bytes();
    layer.media_type += stored_as == Compression::zstd ? "+zstd" : "+gzip";
  } else {
    layer.digest = layer.diff_id; // stored as-is: one hash serves both
    layer.size = layer.uncompressed_size;
  }
  return layer;
}

} // namespace

Compression parse_compression(const std::string& text) {
  if (text == "none") return Compression::none;
  if (text == "gzip") return Compression::gzip;
  if (text == "zstd") return Compression::zstd;
  if (text == "auto") return Compression::automatic;
  throw Error(ErrorKind::usage, "unknown compression " + quote(text), "use none, gzip, zstd or auto");
}

std::vector<LayerEntry> entries_for_tree(const std::filesystem::path& dir, const std::string& prefix,
                                         const std::vector<std::string>& skip) {
  std::map<std::string, LayerEntry> out; // sorted bytewise by archive path
  auto add_parents = [&](const std::string& path) {
    for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      if (!out.count(parent)) out[parent] = LayerEntry{LayerEntry::Type::directory, parent, {}, {}, false};
    }
  };
  auto archive_path = [&](const std::string& rel) { return prefix.empty() ? rel : prefix + "/" + rel; };
  if (!prefix.empty()) add_parents(prefix + "/x");
  // One rule for package and validate (fs::check_tree_entry): UTF-8 names,
  // links that stay inside; and a part that cannot be read fails the walk.
  fs::walk_tree(dir, [&](const fs::WalkEntry& w) {
    if (std::find(skip.begin(), skip.end(), w.relative) != skip.end()) return;
    fs::check_tree_entry(dir, w);
    std::string path = archive_path(w.relative);
    LayerEntry e;
    e.path = path;
    if (std::filesystem::is_symlink(w.status)) {
      e.type = LayerEntry::Type::symlink;
      e.link_target = std::filesystem::read_symlink(w.path).generic_string();
    } else if (std::filesystem::is_directory(w.status)) {
      e.type = LayerEntry::Type::directory;
    } else {
      e.type = LayerEntry::Type::file;
      e.source = w.path;
      e.executable = (w.status.permissions() & std::filesystem::perms::owner_exec) != std::filesystem::perms::none;
    }
    add_parents(path);
    out[path] = std::move(e);
  });
  std::vector<LayerEntry> v;
  v.reserve(out.size());
  for (auto& [k, e] : out)
    v.push_back(std::move(e));
  return v;
}

Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime, ByteSink& sink) {
  Compression stored_as = compression;
  if (compression == Compression::automatic)
    stored_as = worth_compressing(entries) ? Compression::gzip : Compression::none;
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
  return stream_layer(entries, stored_as, mtime, sink);
}

Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime,
                  const std::filesystem::path& tmp_dir, ByteSink* also) {
  std::string tmpl = (tmp_dir / ".layer-XXXXXX").string();
  {
    UniqueFd tfd(::mkstemp(tmpl.data()));
    if (!tfd) throw_io("cannot create a file in", tmp_dir);
    ::fchmod(tfd.get(), 0644); // blobs are readable like the rest of the layout
  }
  try {
    FileSink file(tmpl);
    // The file, and a copy of every byte to `also`.
    struct Tee final : ByteSink {
      FileSink& file;
      ByteSink* also;
      Tee(FileSink& f, ByteSink* a) : file(f), also(a) {}
      void write(const void* data, std::size_t size) override {
        file.write(data, size);
        if (also) also->write(data, size);
      }
      void finish() override { file.finish(); }
    } tee(file, also);
    Layer layer = write_layer(entries, compression, mtime, tee);
    layer.file = tmpl;
    return layer;
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmpl, ec);
    throw;
  }
}

} // namespace mlops::oci
