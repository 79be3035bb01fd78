#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace mlops::oci {

/// How a layer's tar stream is stored.
enum class Compression { none, gzip, automatic };

/// Parses "none", "gzip" or "auto"; throws Error(usage) otherwise.
Compression parse_compression(const std::string& text);

/// One entry of a layer, in archive order.
struct LayerEntry {
  enum class Type { directory, file, symlink };
  Type type = Type::file;
  std::string path;                ///< path in the archive, no leading '/', '/'-separated
  std::filesystem::path source;    ///< file to read (Type::file)
  std::string link_target;         ///< Type::symlink
  bool executable = false;
};

/// A finished layer blob, written to a temporary file.
struct Layer {
  std::filesystem::path file;      ///< the blob as it will be stored
  std::string media_type;          ///< application/vnd.oci.image.layer.v1.tar[+gzip]
  std::string digest;              ///< "sha256:..." of the stored bytes
  std::string diff_id;             ///< "sha256:..." of the uncompressed tar
  std::uint64_t size = 0;          ///< stored bytes
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
/// gzips what does, judged from a sample. `tee`, when set, also receives
/// every stored byte in order as it is written (to stream the layer to a
/// registry while it is built); it may throw, which aborts the layer. With
/// an empty `tmp_dir` no file is written (Layer::file stays empty): the
/// bytes go to `tee` only.
using LayerTee = std::function<void(const char* data, std::size_t size)>;
Layer write_layer(const std::vector<LayerEntry>& entries, Compression compression, std::int64_t mtime,
                  const std::filesystem::path& tmp_dir, const LayerTee& tee = {});

} // namespace mlops::oci
