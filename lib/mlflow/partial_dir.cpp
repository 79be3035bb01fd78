#include "mlflow/partial_dir.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mlops::mlflow {

namespace {

/// The journal's name holds a backslash, which fs::confine_relative() refuses in listed
/// paths: no file of a model can overwrite it (or be removed with it).
constexpr const char* k_journal = ".mlops\\journal";

std::string header_line(const std::string& name, const std::string& version) {
  return nlohmann::json{{"name", name}, {"version", version}}.dump() + "\n";
}

/// One journal line, or nullopt when it is torn or not what record() writes (a journal is
/// our own file, but one a crash or a user may have damaged: bounded and type-checked).
std::optional<model::LockedFile> parse_journal_line(const std::string& line) {
  try {
    auto j = parse_json(line, "the pull journal", ErrorKind::io, 64 * 1024);
    if (!j.is_object()) return std::nullopt;
    auto path = j.find("path"), size = j.find("size"), sha = j.find("sha256");
    if (path == j.end() || !path->is_string() || size == j.end() || !size->is_number_unsigned() || sha == j.end() ||
        !sha->is_string() || sha->get_ref<const std::string&>().size() != 64) {
      return std::nullopt;
    }
    return model::LockedFile{path->get<std::string>(), size->get<std::uint64_t>(), sha->get<std::string>()};
  } catch (const Error&) {
    return std::nullopt;
  }
}

} // namespace

PartialDir::PartialDir(const std::filesystem::path& dest, const std::string& name, const std::string& version) {
  m_path = dest.parent_path() / ("." + dest.filename().string() + ".mlops-partial");
  std::error_code ec;
  std::filesystem::create_directories(m_path, ec);
  if (ec) throw Error(ErrorKind::io, "cannot create " + quote(m_path.string()) + ": " + ec.message());
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(m_path, ec))) {
    throw Error(ErrorKind::operational, quote(m_path.string()) + " is a symbolic link; refusing to write through it");
  }
  // The lock lives beside the destination, not in the directory that gets
  // renamed into place. After flock() we check that the file we locked is
  // still the one at that path: a pull that finished may have removed it.
  m_lock_path = dest.parent_path() / ("." + dest.filename().string() + ".mlops-lock");
  for (int attempt = 0;; ++attempt) {
    m_lock_fd.reset(::open(m_lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!m_lock_fd)
      throw Error(ErrorKind::io, "cannot create " + quote(m_lock_path.string()) + ": " + std::strerror(errno));
    if (::flock(m_lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
      m_lock_fd.reset();
      throw Error(ErrorKind::conflict, "another mlops pull is writing " + quote(dest.string()),
                  "wait for it to finish, or choose another directory with -o");
    }
    struct stat locked {
    }, current{};
    if (::fstat(m_lock_fd.get(), &locked) == 0 && ::stat(m_lock_path.c_str(), &current) == 0 &&
        locked.st_ino == current.st_ino && locked.st_dev == current.st_dev) {
      break;
    }
    m_lock_fd.reset();
    if (attempt > 100) throw Error(ErrorKind::conflict, "cannot lock " + quote(m_lock_path.string()));
  }

  // Load the journal of an interrupted pull of the same version; start over otherwise.
  auto journal_path = m_path / k_journal;
  std::string header = header_line(name, version);
  bool keep = false;
  if (std::filesystem::exists(journal_path, ec)) {
    std::istringstream in(fs::read_file(journal_path));
    std::string line;
    if (std::getline(in, line) && line + "\n" == header) {
      keep = true;
      while (std::getline(in, line)) {
        auto f = parse_journal_line(line);
        if (!f) break; // a torn last line from a killed process
        m_journal[f->path] = *f;
      }
    }
  }
  if (!keep) {
    for (auto& entry : std::filesystem::directory_iterator(m_path, ec)) {
      fs::remove_tree_quietly(entry.path());
    }
  }
  m_journal_fd.reset(::open(journal_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!m_journal_fd)
    throw Error(ErrorKind::io, "cannot write " + quote(journal_path.string()) + ": " + std::strerror(errno));
  if (!keep && ::write(m_journal_fd.get(), header.data(), header.size()) != static_cast<ssize_t>(header.size())) {
    throw Error(ErrorKind::io, "cannot write " + quote(journal_path.string()) + ": " + std::strerror(errno));
  }
}

PartialDir::~PartialDir() {
  m_journal_fd.reset();
  if (m_lock_fd) {
    ::unlink(m_lock_path.c_str()); // while still locked; see the constructor
    m_lock_fd.reset();
  }
}

std::optional<model::LockedFile> PartialDir::journal_entry(const std::string& rel) const {
  std::lock_guard lock(m_mutex);
  auto it = m_journal.find(rel);
  if (it == m_journal.end()) return std::nullopt;
  return it->second;
}

void PartialDir::record(const model::LockedFile& file) {
  std::string line = nlohmann::json{{"path", file.path}, {"size", file.size}, {"sha256", file.sha256}}.dump() + "\n";
  std::lock_guard lock(m_mutex);
  // One write() per line with O_APPEND: a kill leaves at most one torn line.
  if (::write(m_journal_fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw Error(ErrorKind::io,
                "cannot write the pull journal in " + quote(m_path.string()) + ": " + std::strerror(errno));
  }
  m_journal[file.path] = file;
}

void PartialDir::finish(const std::set<std::string>& expected, const std::string& lock_json) {
  std::error_code ec;
  std::vector<std::filesystem::path> stray;
  fs::walk_tree(m_path, [&](const fs::WalkEntry& e) { // an unreadable part fails, never hides strays
    if (std::filesystem::is_directory(e.status) || e.relative == k_journal) return;
    if (!expected.count(e.relative)) stray.push_back(e.path);
  });
  for (auto& p : stray)
    std::filesystem::remove(p, ec);
  fs::atomic_write(m_path / model::LockFile::k_file_name, lock_json);
  m_journal_fd.reset();
  std::filesystem::remove(m_path / k_journal, ec);
  fs::sync_directory(m_path);
}

void PartialDir::discard() {
  m_journal_fd.reset();
  fs::remove_tree_quietly(m_path);
}

} // namespace mlops::mlflow
