#pragma once

#include "core/fd.hpp"
#include "model/lock.hpp"

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace mlops::mlflow {

/// The directory a pull downloads into before it is moved into place:
/// `.<dest name>.mlops-partial` beside the destination. It holds a journal
/// of verified files so that an interrupted pull resumes. An flock on
/// `.<dest name>.mlops-lock` beside it keeps two pulls from writing the same
/// destination at once; the lock file is removed when the pull ends.
class PartialDir {
public:
  /// Opens (or creates) the partial directory for `dest`; a journal left by
  /// a pull of another model version is discarded. Throws Error(conflict)
  /// when another process holds it, Error(io) when it cannot be created.
  PartialDir(const std::filesystem::path& dest, const std::string& name, const std::string& version);
  ~PartialDir();
  PartialDir(const PartialDir&) = delete;
  PartialDir& operator=(const PartialDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }

  /// The journal's record of a file verified by an earlier, interrupted pull.
  std::optional<model::LockedFile> journal_entry(const std::string& rel) const;

  /// Appends a verified file to the journal (thread-safe, flushed at once).
  void record(const model::LockedFile& file);

  /// Removes files not in `expected`, writes the lock file, and removes the
  /// journal and the lock, leaving a directory ready to be moved into place.
  void finish(const std::set<std::string>& expected, const std::string& lock_json);

  /// Removes the whole partial directory.
  void discard();

private:
  std::filesystem::path m_path;
  std::filesystem::path m_lock_path;
  UniqueFd m_lock_fd;
  UniqueFd m_journal_fd;
  std::map<std::string, model::LockedFile> m_journal;
  mutable std::mutex m_mutex;
};

} // namespace mlops::mlflow
