#include "cli/command.hpp"

#include <CLI/Version.hpp>
#include <archive.h>
#include <curl/curl.h>
#include <git2/common.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

#include <utility>
#include <vector>

#ifndef MLOPS_YAML_CPP_VERSION
#define MLOPS_YAML_CPP_VERSION "unknown"
#endif

namespace mlops::cli {

namespace {

/// The libraries mlops is linked with, name and version: from each library's
/// own runtime call where it has one (what is loaded now), else the version
/// its headers declared when mlops was built (header-only or no call).
std::vector<std::pair<std::string, std::string>> library_versions() {
  std::vector<std::pair<std::string, std::string>> v;
  v.emplace_back("libcurl", curl_version_info(CURLVERSION_NOW)->version);
  v.emplace_back("OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING));
  int major = 0, minor = 0, rev = 0;
  git_libgit2_version(&major, &minor, &rev);
  v.emplace_back("libgit2", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(rev));
  std::string archive = archive_version_string(); // "libarchive 3.6.2"
  v.emplace_back("libarchive", archive.substr(archive.find(' ') + 1));
  v.emplace_back("yaml-cpp", MLOPS_YAML_CPP_VERSION);
  v.emplace_back("libyaml", yaml_get_version_string());
  v.emplace_back("zlib", zlibVersion());
  v.emplace_back("libzstd", ZSTD_versionString());
  v.emplace_back("nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                      std::to_string(NLOHMANN_JSON_VERSION_PATCH));
  v.emplace_back("CLI11", CLI11_VERSION);
  return v;
}

} // namespace

Command version_command() {
  Command c;
  c.name = "version";
  c.summary = "print the version of mlops and of its libraries";
  c.description = "Prints the version of mlops and of the libraries it runs with: the version each library "
                  "reports at run time where it has such a call (libcurl, OpenSSL, libgit2, libarchive, libyaml, "
                  "zlib, libzstd), the one it was built against otherwise (yaml-cpp, nlohmann_json, CLI11). "
                  "'mlops --version' prints the first line only.";
  c.examples = "  mlops version\n  mlops version --json";
  c.needs.settings = false; // works next to a broken mlops.yaml
  c.setup = [](CLI::App&) -> Runner {
    return [](Context& ctx) {
      auto libs = library_versions();
      if (ctx.json()) {
        nlohmann::ordered_json j = {{"version", MLOPS_VERSION}, {"libraries", nlohmann::ordered_json::object()}};
        for (const auto& [name, version] : libs)
          j["libraries"][name] = version;
        ctx.out().json(j);
        return 0;
      }
      std::string text = std::string("mlops ") + MLOPS_VERSION + "\n";
      for (const auto& [name, version] : libs)
        text += "  " + name + std::string(name.size() < 14 ? 14 - name.size() : 1, ' ') + version + "\n";
      ctx.out().data(text);
      return 0;
    };
  };
  return c;
}

} // namespace mlops::cli
