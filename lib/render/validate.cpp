#include "render/validate.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/input_file.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"
#include "render/assets.hpp"
#include "render/spec.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <regex>
#include <set>

namespace mlops::render {

namespace {

using nlohmann::json;

std::string type_of(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

bool type_matches(const json& v, const std::string& t) {
  std::string actual = type_of(v);
  return actual == t || (t == "number" && actual == "integer");
}

std::string at(const std::string& path) { return path.empty() ? "(document)" : path; }

/// A built-in schema by file name ("metadata.schema.json"), parsed once.
const json& builtin_schema(const std::string& file) {
  static std::mutex lock;
  static std::map<std::string, json> cache; // entries never move or go away
  std::lock_guard<std::mutex> hold(lock);
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  const std::string* text = builtin_asset("schemas/render/" + file);
  if (!text) throw Error(ErrorKind::operational, "no built-in schema " + quote(file));
  return cache.emplace(file, json::parse(*text)).first->second;
}

/// A schema pattern, compiled once (compiling dominates validating a batch).
const std::regex& compiled(const std::string& pattern) {
  static std::mutex lock;
  static std::map<std::string, std::regex> cache; // entries never move or go away
  std::lock_guard<std::mutex> hold(lock);
  auto it = cache.find(pattern);
  return it != cache.end() ? it->second : cache.emplace(pattern, std::regex(pattern)).first->second;
}

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/// ^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$ (a label name).
bool has_label_name_shape(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

/// ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ (a DNS subdomain).
bool has_dns_subdomain_shape(std::string_view s) {
  for (std::size_t b = 0;;) {
    std::size_t e = s.find('.', b);
    if (!has_dns_label_shape(s.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b))) return false;
    if (e == std::string_view::npos) return true;
    b = e + 1;
  }
}

} // namespace

bool schema_pattern_matches(const std::string& pattern, const std::string& s) {
  // The patterns most of every document is checked against, written out
  // (std::regex dominated validating a batch); test_render_template checks
  // that each agrees with std::regex.
  if (pattern == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$") return has_dns_label_shape(s);
  if (pattern == "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$") return s.empty() || has_label_name_shape(s);
  if (pattern == "^/") return !s.empty() && s[0] == '/';
  if (pattern == "^[a-z][a-z0-9+.-]*://\\S+$") return looks_like_uri(s);
  // std::regex recurses per character: longer values are not run through it (a finding).
  return s.size() <= limits::k_max_regex_subject_bytes && std::regex_search(s, compiled(pattern));
}

namespace {

/// The keyword `name` of schema `s`, or nullptr (one lookup, no string built).
const json* kw(const json& s, const char* name) {
  auto it = s.find(name);
  return it == s.end() ? nullptr : &*it;
}

void check(const json& v, const json& s, const std::string& path, std::vector<std::string>& out) {
  if (const json* ref = kw(s, "$ref")) {
    // Only references to sibling schema files, which is all ours use.
    check(v, builtin_schema(ref->get_ref<const std::string&>()), path, out);
    return;
  }
  if (const json* t = kw(s, "type")) {
    bool ok = t->is_string() ? type_matches(v, *t)
                             : std::any_of(t->begin(), t->end(), [&](const json& x) { return type_matches(v, x); });
    if (!ok) {
      out.push_back(at(path) + ": expected " + (t->is_string() ? t->get<std::string>() : t->dump()) + ", got " +
                    type_of(v));
      return;
    }
  }
  if (const json* c = kw(s, "const"); c && v != *c) out.push_back(at(path) + ": must be " + c->dump());
  if (const json* e = kw(s, "enum"); e && std::find(e->begin(), e->end(), v) == e->end())
    out.push_back(at(path) + ": " + v.dump() + " is not one of " + e->dump());
  if (v.is_string()) {
    const auto& str = v.get_ref<const std::string&>();
    if (const json* n = kw(s, "maxLength"); n && str.size() > n->get<std::size_t>())
      out.push_back(at(path) + ": " + quote(str) + " is longer than " + n->dump() + " characters");
    if (const json* n = kw(s, "minLength"); n && str.size() < n->get<std::size_t>())
      out.push_back(at(path) + ": shorter than " + n->dump() + " characters");
    if (const json* p = kw(s, "pattern"); p && !schema_pattern_matches(p->get_ref<const std::string&>(), str))
      out.push_back(at(path) + ": " + quote(str) + " does not match " + p->get<std::string>());
  }
  if (v.is_number()) {
    if (const json* n = kw(s, "minimum"); n && v.get<double>() < n->get<double>())
      out.push_back(at(path) + ": " + v.dump() + " is below " + n->dump());
    if (const json* n = kw(s, "maximum"); n && v.get<double>() > n->get<double>())
      out.push_back(at(path) + ": " + v.dump() + " is above " + n->dump());
  }
  if (v.is_array()) {
    if (const json* n = kw(s, "minItems"); n && v.size() < n->get<std::size_t>())
      out.push_back(at(path) + ": needs at least " + n->dump() + " items");
    if (const json* n = kw(s, "maxItems"); n && v.size() > n->get<std::size_t>())
      out.push_back(at(path) + ": takes at most " + n->dump() + " items");
    if (const json* items = kw(s, "items"))
      for (std::size_t i = 0; i < v.size(); ++i)
        check(v[i], *items, path + "[" + std::to_string(i) + "]", out);
  }
  if (v.is_object()) {
    std::string prefix = path.empty() ? "" : path + ".";
    if (const json* n = kw(s, "minProperties"); n && v.size() < n->get<std::size_t>())
      out.push_back(at(path) + ": needs at least " + n->dump() + " entries");
    if (const json* required = kw(s, "required"))
      for (const auto& r : *required)
        if (!v.contains(r.get_ref<const std::string&>())) out.push_back(prefix + r.get<std::string>() + ": required");
    const json* props = kw(s, "properties");
    const json* ap = kw(s, "additionalProperties");
    for (const auto& [k, item] : v.items()) {
      const json* prop = props ? kw(*props, k.c_str()) : nullptr;
      if (prop)
        check(item, *prop, prefix + k, out);
      else if (ap && ap->is_boolean() && !ap->get<bool>())
        out.push_back(prefix + k + ": unknown field");
      else if (ap && ap->is_object())
        check(item, *ap, prefix + k, out);
    }
  }
}

/// Label keys: an optional DNS-subdomain prefix (at most 253) and a name of at most 63.
void check_label_keys(const json& doc, std::vector<std::string>& out) {
  if (!doc.contains("metadata") || !doc["metadata"].is_object() || !doc["metadata"].contains("labels")) return;
  const json& labels = doc["metadata"]["labels"];
  if (!labels.is_object()) return;
  for (const auto& [key, _] : labels.items()) {
    auto slash = key.find('/');
    std::string_view prefix = slash == std::string::npos ? "" : std::string_view(key).substr(0, slash);
    std::string_view name =
        slash == std::string::npos ? std::string_view(key) : std::string_view(key).substr(slash + 1);
    bool ok = name.size() <= 63 && has_label_name_shape(name) &&
              (slash == std::string::npos || (prefix.size() <= 253 && has_dns_subdomain_shape(prefix)));
    if (!ok) out.push_back("metadata.labels: " + quote(key) + " is not a valid label key");
  }
}

/// Seldon's webhook rules: without shadows, one predictor takes 100 (when
/// set), several must all have a share and sum to 100.
void check_traffic(const json& spec, std::vector<std::string>& out) {
  if (!spec.contains("predictors") || !spec["predictors"].is_array()) return;
  std::vector<const json*> live;
  std::set<std::string> names;
  for (const auto& p : spec["predictors"]) {
    if (!p.is_object()) continue;
    if (p.contains("name") && !names.insert(p["name"].dump()).second)
      out.push_back("spec.predictors: predictor " + p["name"].dump() + " is named twice");
    if (p.value("shadow", false) != true) live.push_back(&p);
  }
  if (live.size() == 1) {
    if (live[0]->contains("traffic") && (*live[0])["traffic"] != 100)
      out.push_back("spec.predictors: the only non-shadow predictor must take traffic 100");
    return;
  }
  int sum = 0;
  for (const json* p : live) {
    if (!p->contains("traffic") || !(*p)["traffic"].is_number_integer()) {
      out.push_back("spec.predictors: predictor " + p->value("name", json("?")).dump() + " has no traffic share");
      return;
    }
    sum += (*p)["traffic"].get<int>();
  }
  if (!live.empty() && sum != 100)
    out.push_back("spec.predictors: traffic of the non-shadow predictors sums to " + std::to_string(sum) + ", not 100");
}

void check_experiment(const json& spec, std::vector<std::string>& out) {
  std::set<std::string> names;
  for (const auto& c : spec.value("candidates", json::array()))
    if (c.is_object() && c.contains("name") && !names.insert(c["name"].dump()).second)
      out.push_back("spec.candidates: candidate " + c["name"].dump() + " is listed twice");
  if (spec.contains("default") && !names.count(spec["default"].dump()))
    out.push_back("spec.default: " + spec["default"].dump() + " is not one of the candidates");
}

/// KServe's webhook rules (v0.20): spec.canary only in Standard mode, with
/// distinct names and shares summing to at most 100; canaryTrafficPercent is
/// the Knative mechanism, so not in Standard mode.
void check_inference_service(const json& doc, const json& spec, std::vector<std::string>& out) {
  std::string mode;
  if (doc.contains("metadata") && doc["metadata"].is_object() && doc["metadata"].contains("annotations") &&
      doc["metadata"]["annotations"].is_object())
    mode = doc["metadata"]["annotations"].value("serving.kserve.io/deploymentMode", "");
  bool standard = mode == "Standard" || mode == "RawDeployment";
  if (spec.contains("canary")) {
    if (mode != "Standard")
      out.push_back("spec.canary: KServe accepts it only with annotation serving.kserve.io/deploymentMode: Standard");
    std::set<std::string> names;
    int sum = 0;
    for (const auto& c : spec["canary"]) {
      if (!c.is_object()) continue;
      if (c.contains("trafficPercent") && c["trafficPercent"].is_number_integer())
        sum += c["trafficPercent"].get<int>();
      if (c.contains("predictor") && c["predictor"].is_object() && c["predictor"].contains("name") &&
          !names.insert(c["predictor"]["name"].dump()).second)
        out.push_back("spec.canary: predictor " + c["predictor"]["name"].dump() + " is named twice");
    }
    if (sum > 100) out.push_back("spec.canary: traffic shares sum to " + std::to_string(sum) + ", more than 100");
  }
  if (standard && spec.contains("predictor") && spec["predictor"].is_object() &&
      spec["predictor"].contains("canaryTrafficPercent"))
    out.push_back("spec.predictor.canaryTrafficPercent: a Knative mechanism, ignored in " + mode +
                  " mode (use spec.canary)");
}

/// A Grafana dashboard ConfigMap: each entry a JSON dashboard with panels.
void check_dashboard(const json& doc, std::vector<std::string>& out) {
  const json& m = doc.value("metadata", json::object());
  if (!m.is_object() || !m.contains("labels") || !m["labels"].is_object() || !m["labels"].contains("grafana_dashboard"))
    return;
  const json data = doc.value("data", json::object());
  if (!data.is_object()) return;
  for (const auto& [k, v] : data.items()) {
    json d = v.is_string() ? json::parse(v.get<std::string>(), nullptr, false) : json();
    if (d.is_discarded() || !d.is_object() || !d.contains("panels") || !d["panels"].is_array())
      out.push_back("data." + k + ": not a Grafana dashboard (a JSON object with panels)");
  }
}

/// Pipeline steps have distinct names and the output names steps.
void check_pipeline(const json& spec, std::vector<std::string>& out) {
  std::set<std::string> steps;
  for (const auto& s : spec.value("steps", json::array()))
    if (s.is_object() && s.contains("name") && s["name"].is_string() &&
        !steps.insert(s["name"].get<std::string>()).second)
      out.push_back("spec.steps: step " + s["name"].dump() + " is listed twice");
  const json output = spec.value("output", json::object());
  for (const auto& o : output.is_object() ? output.value("steps", json::array()) : json::array()) {
    if (!o.is_string()) continue;
    std::string step = o.get<std::string>().substr(0, o.get<std::string>().find('.'));
    if (!steps.count(step)) out.push_back("spec.output.steps: " + o.dump() + " names no step");
  }
}

/// Every image and oci:// URI anywhere in the document must carry a digest.
void check_digests(const json& v, const std::string& path, std::vector<std::string>& out) {
  if (v.is_object()) {
    for (const auto& [k, item] : v.items()) {
      std::string p = path.empty() ? k : path + "." + k;
      if (item.is_string()) {
        const auto& s = item.get_ref<const std::string&>();
        if (k == "image" && !is_pinned(s)) out.push_back(p + ": image " + quote(s) + " is not pinned by digest (prod)");
        if ((k == "storageUri" || k == "modelUri") && s.rfind("oci://", 0) == 0 && !is_pinned(s.substr(6)))
          out.push_back(p + ": " + quote(s) + " is not pinned by digest (prod)");
      } else
        check_digests(item, p, out);
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      check_digests(v[i], path + "[" + std::to_string(i) + "]", out);
  }
}

} // namespace

std::vector<std::string> check_schema(const json& doc, const json& schema) {
  std::vector<std::string> out;
  check(doc, schema, "", out);
  return out;
}

std::vector<std::string> check_document(const json& doc, bool prod_digests) {
  if (!doc.is_object() || !doc.contains("kind") || !doc["kind"].is_string())
    return {"not a Kubernetes resource (no 'kind')"};
  std::string kind = doc["kind"];
  std::string file = lower_ascii(kind) + ".schema.json";
  if (kind.empty() || kind.find('/') != std::string::npos) return {"no schema for kind " + quote(kind)};
  if (!builtin_asset("schemas/render/" + file)) return {"no schema for kind " + quote(kind)};
  std::vector<std::string> out = check_schema(doc, builtin_schema(file));
  check_label_keys(doc, out);
  const json spec = doc.value("spec", json::object());
  // The cross-field rules read fields the schema check may already have found of the wrong
  // type (anyone may edit a manifest): a type the rules did not expect is a finding too.
  try {
    if (spec.is_object()) {
      if (kind == "SeldonDeployment") check_traffic(spec, out);
      if (kind == "Experiment") check_experiment(spec, out);
      if (kind == "InferenceService") check_inference_service(doc, spec, out);
      if (kind == "Pipeline") check_pipeline(spec, out);
    }
    if (kind == "ConfigMap") check_dashboard(doc, out);
    if (prod_digests) check_digests(doc, "", out);
  } catch (const json::exception& e) {
    out.push_back(json_error_text(e));
  }
  return out;
}

namespace {

/// The .yaml/.yml files under `dir`, sorted. A walk that cannot read a directory fails
/// naming it (the iterator's error, not an early end that would skip files silently);
/// a file whose status cannot be read (a link loop) is listed, so reading it names why.
std::vector<std::filesystem::path> manifest_files(const std::filesystem::path& dir) {
  // The one tree walker: a part that cannot be read stops the check naming it. A .yaml
  // entry that is a link is kept when it leads to a file, or when its target cannot be
  // stat'ed (a loop): reading it then gives a finding naming the reason.
  std::vector<std::filesystem::path> files;
  fs::walk_tree(dir, [&](const fs::WalkEntry& e) {
    auto ext = e.path.extension();
    if (ext != ".yaml" && ext != ".yml") return;
    std::error_code status_ec;
    if (std::filesystem::is_regular_file(e.path, status_ec) || status_ec) files.push_back(e.path);
  });
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

std::vector<Finding> check_dir(const std::filesystem::path& dir, bool prod_digests, int& checked) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(ErrorKind::not_found, "cannot check " + quote(dir.string()) + ": not a directory");
  std::vector<Finding> found;
  checked = 0;
  for (const auto& f : manifest_files(dir)) {
    std::string rel = f.lexically_relative(dir).string();
    std::vector<json> docs;
    try {
      docs = parse_documents(read_input_file(f, limits::k_max_checked_manifest_bytes, "manifest", ErrorKind::usage));
    } catch (const Error& e) {
      std::string why = e.what();
      found.push_back({rel, why.rfind("cannot read", 0) == 0 ? why : "invalid YAML: " + why});
      continue;
    }
    // Fields read with their type checked: `kind: 5` is a finding, not a type_error.
    auto text_of = [](const json& obj, const char* key) {
      auto it = obj.is_object() ? obj.find(key) : obj.end();
      return obj.is_object() && it != obj.end() && it->is_string() ? it->get<std::string>() : std::string("?");
    };
    for (const auto& d : docs) {
      if (text_of(d, "kind") == "Kustomization") continue;
      ++checked;
      std::string who =
          d.is_object() ? text_of(d, "kind") + " " + quote(text_of(d.value("metadata", json()), "name")) : "document";
      try {
        for (const auto& p : check_document(d, prod_digests))
          found.push_back({rel, who + ": " + p});
      } catch (const json::exception& e) { // a field of an unexpected type deep in a cross-field rule
        found.push_back({rel, who + ": " + json_error_text(e)});
      }
    }
  }
  return found;
}

} // namespace mlops::render
