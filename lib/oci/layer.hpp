#pragma once

#include "core/sink.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mlops::oci {

/// How a layer's tar stream is stored. The values are part of a layer's
/// cache key (package.cpp): add new ones at the end.
enum class Compression { none, gzip, automatic, zstd };

/// Parses "none", "gzip", "zstd" or "auto"; throws Error(usage) otherwise.
Compression parse_compression(const std::string& text);

/// One entry of a layer, in archive order.
struct LayerEntry {
  enum class Type { directory, file, symlink };
  Type type = Type::file;
  std::string path;             ///< path in the archive, no leading '/', '/'-separated
  std::filesystem::path source; ///< file to read (Type::file)
  std::string link_target;      ///< Type::symlink
  bool executable = false;
};

/// A finished layer blob, written to a temporary file.
struct Layer {
  std::filesystem::path file; ///< the blob as it will be stored (empty when written to a sink)
  std::string media_type;     ///< application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]
  std::string digest;         ///< "sha256:..." of the stored bytes
  std::string diff_id;        ///< "sha256:..." of the uncompressed tar
  std::uint64_t size = 0;     ///< stored bytes
  std::uint64_t uncompressed_size = 0;
};

/// The entries that put every file below `dir` at `prefix` in the image
/// ("models" -> models/MLmodel, ...), parents first, sorted bytewise by
/// path, so the same tree always gives the same archive. Symbolic links are
/// kept when they stay inside `dir`; an escaping link is Error(operational).
/// Files named in `skip` (relative to dir) are left out.
std::vector<LayerEntry> entries_for_tree(const std::filesystem::path& dir, const std::string& prefix,
                                         const std::vector<std::string>& skip = {});

/// Writes a reproducible tar layer of `entries` into a new file in
/// `tmp_dir`, computing the diff_id, blob digest and sizes in the same
/// pass: uid/gid 0, no user/group names, modes 0644/0755, every time stamp
/// `mtime`, no atime/ctime, pax headers only where ustar cannot say it,
/// gzip headers without name or time. Memory does not grow with file size.
/// `automatic` stores data that does not compress (model weights) as-is and
/// gzips what does, judged from a sample. gzip and zstd run on every CPU
/// (see ParallelGzip, ZstdCompressor); the bytes do not depend on the number
/// of CPUs.
/// `also`, when given, receives every stored byte as well, in order, as the
/// file is written (e.g. to stream the layer to a registry while it is
/// built); it is not finished, and an error from it aborts the layer.
Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime,
                  const std::filesystem::path& tmp_dir, ByteSink* also = nullptr);

/// Like write_layer() above, but streams the stored bytes into `sink` (a
/// file, an upload, ...) and finishes it; the returned Layer has no `file`.
/// The sink is called from one thread at a time, but not always from the
/// caller's (writes come from the layer's writer thread). Errors from the
/// sink propagate unchanged, and nothing more is written after one.
Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime, ByteSink& sink);

} // namespace mlops::oci
