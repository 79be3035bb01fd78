#include "mlflow/model_uri.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <cctype>

namespace mlops::mlflow {

namespace {

Error bad(std::string_view uri, const std::string& why) {
  return Error(ErrorKind::usage, "invalid model URI " + quote(uri) + ": " + why,
               "use models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/STAGE or models:/NAME/latest");
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

} // namespace

std::string canonical_stage(std::string_view word) {
  for (const char* s : {"None", "Staging", "Production", "Archived"}) {
    if (iequals(word, s)) return s;
  }
  return {};
}

std::string ModelUri::str() const {
  switch (kind) {
  case Kind::alias:
    return "models:/" + name + "@" + reference;
  case Kind::latest:
    return "models:/" + name + "/latest";
  default:
    return "models:/" + name + "/" + reference;
  }
}

ModelUri parse_model_uri(std::string_view uri) {
  constexpr std::string_view k_prefix = "models:/";
  if (uri.substr(0, k_prefix.size()) != k_prefix) throw bad(uri, "must start with 'models:/'");
  std::string_view rest = uri.substr(k_prefix.size());
  while (!rest.empty() && rest.front() == '/')
    rest.remove_prefix(1); // models:///x is models:/x
  if (rest.empty()) throw bad(uri, "no model name");
  ModelUri out;
  out.text = std::string(uri);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) {
      if (rest.rfind("m-", 0) == 0) throw bad(uri, "logged model ids are not registered versions");
      throw bad(uri, "no version, alias or stage");
    }
    out.kind = ModelUri::Kind::alias;
    out.name = std::string(rest.substr(0, at));
    out.reference = std::string(rest.substr(at + 1));
    if (out.name.empty()) throw bad(uri, "no model name");
    if (out.reference.empty()) throw bad(uri, "empty alias");
    return out;
  }
  out.name = std::string(rest.substr(0, slash));
  std::string_view ref = rest.substr(slash + 1);
  if (out.name.empty()) throw bad(uri, "no model name");
  if (out.name.find('@') != std::string::npos) throw bad(uri, "both an alias and a version");
  if (ref.empty()) throw bad(uri, "no version, alias or stage");
  if (ref.find('/') != std::string_view::npos) throw bad(uri, "too many path parts");
  if (all_digits(ref)) {
    out.kind = ModelUri::Kind::version;
    out.reference = std::string(ref);
    if (out.reference.find_first_not_of('0') == std::string::npos) throw bad(uri, "versions start at 1");
  } else if (iequals(ref, "latest")) {
    out.kind = ModelUri::Kind::latest;
    out.reference = "latest";
  } else if (auto stage = canonical_stage(ref); !stage.empty()) {
    out.kind = ModelUri::Kind::stage;
    out.reference = stage;
  } else {
    throw bad(uri, quote(ref) + " is not a version number, stage or 'latest'");
  }
  return out;
}

} // namespace mlops::mlflow
