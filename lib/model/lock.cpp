#include "model/lock.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>

namespace mlops::model {

using nlohmann::ordered_json;

namespace {

std::string opt(const ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}

ordered_json nullable(const std::string& s) { return s.empty() ? ordered_json(nullptr) : ordered_json(s); }

} // namespace

std::string LockFile::compute_digest(const std::vector<LockedFile>& files) {
  std::vector<const LockedFile*> sorted;
  for (const auto& f : files)
    sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->path < b->path; });
  Sha256 h;
  for (const auto* f : sorted) {
    h.update(f->sha256 + " " + std::to_string(f->size) + " " + f->path + "\n");
  }
  return "sha256:" + h.hex_digest();
}

std::string LockFile::to_json() const {
  std::vector<LockedFile> sorted = files;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.path < b.path; });
  ordered_json j;
  j["schema_version"] = k_schema_version;
  j["tool"] = tool;
  j["tracking_uri"] = tracking_uri;
  ordered_json m;
  m["name"] = name;
  m["version"] = version;
  m["requested_uri"] = requested_uri;
  m["alias"] = nullable(alias);
  m["stage"] = nullable(stage);
  m["run_id"] = nullable(run_id);
  m["source"] = source;
  m["download_uri"] = download_uri;
  m["creation_timestamp"] = creation_timestamp;
  m["created"] = iso8601_utc_ms(creation_timestamp);
  j["model"] = m;
  j["pulled_at"] = pulled_at;
  ordered_json arr = ordered_json::array();
  std::uint64_t total = 0;
  for (const auto& f : sorted) {
    arr.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    total += f.size;
  }
  j["file_count"] = sorted.size();
  j["total_size"] = total;
  j["files"] = arr;
  j["digest"] = compute_digest(sorted);
  return j.dump(2) + "\n";
}

LockFile LockFile::from_json(const std::string& text, const std::string& origin) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::operational, "invalid lock file " + quote(origin) + ": " + why);
  };
  ordered_json j;
  try {
    j = ordered_json::parse(text);
  } catch (const ordered_json::exception& e) {
    throw bad(std::string("not JSON: ") + e.what());
  }
  try {
    if (j.value("schema_version", 0) != k_schema_version) throw bad("unsupported schema_version");
    LockFile l;
    l.tool = opt(j, "tool");
    l.tracking_uri = opt(j, "tracking_uri");
    l.pulled_at = opt(j, "pulled_at");
    const auto& m = j.at("model");
    l.name = m.at("name").get<std::string>();
    l.version = m.at("version").get<std::string>();
    l.requested_uri = opt(m, "requested_uri");
    l.alias = opt(m, "alias");
    l.stage = opt(m, "stage");
    l.run_id = opt(m, "run_id");
    l.source = opt(m, "source");
    l.download_uri = opt(m, "download_uri");
    l.creation_timestamp = m.value("creation_timestamp", std::int64_t{0});
    std::set<std::string> seen;
    for (const auto& f : j.at("files")) {
      LockedFile lf{f.at("path").get<std::string>(), f.at("size").get<std::uint64_t>(),
                    f.at("sha256").get<std::string>()};
      fs::confine_relative(lf.path);
      if (lf.sha256.size() != 64) throw bad("file " + quote(lf.path) + " has no valid sha256");
      if (!seen.insert(lf.path).second) throw bad("file " + quote(lf.path) + " is listed twice");
      l.files.push_back(std::move(lf));
    }
    l.digest = j.at("digest").get<std::string>();
    if (l.digest != compute_digest(l.files)) throw bad("digest does not match the file list");
    return l;
  } catch (const ordered_json::exception& e) {
    throw bad(e.what());
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("invalid lock file", 0) == 0) throw;
    throw bad(e.what());
  }
}

std::optional<LockFile> LockFile::load(const std::filesystem::path& dir) {
  auto path = dir / k_file_name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return from_json(fs::read_file(path), path.string());
}

VerifyReport verify_dir(const std::filesystem::path& dir, const LockFile& lock) {
  VerifyReport r;
  std::set<std::string> expected;
  for (const auto& f : lock.files) {
    expected.insert(f.path);
    std::filesystem::path p;
    try {
      p = fs::safe_join(dir, f.path); // refuses a symlinked parent: the bytes would live elsewhere
    } catch (const Error&) {
      r.modified.push_back(f.path);
      continue;
    }
    std::error_code ec;
    auto st = std::filesystem::symlink_status(p, ec);
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      throw Error(ErrorKind::io, "cannot read " + quote(p.string()) + ": " + ec.message());
    }
    if (ec || !std::filesystem::exists(st)) {
      r.missing.push_back(f.path);
      continue;
    }
    if (!std::filesystem::is_regular_file(st) || std::filesystem::file_size(p, ec) != f.size ||
        sha256_file(p) != f.sha256) {
      r.modified.push_back(f.path);
    }
  }
  // A directory that cannot be read fails the check (Error io): it would hide
  // files, and "matches its lock file" would be a lie.
  fs::walk_tree(dir, [&](const fs::WalkEntry& e) {
    if (std::filesystem::is_directory(e.status)) return; // real directories only: links are not followed
    if (e.relative == LockFile::k_file_name) return;
    // A link named like a locked file was already reported as modified above.
    if (!expected.count(e.relative)) r.unexpected.push_back(e.relative);
  });
  std::sort(r.unexpected.begin(), r.unexpected.end());
  return r;
}

} // namespace mlops::model
