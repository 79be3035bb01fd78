#include "gates/gates.hpp"

#include "core/strings.hpp"

#include <sstream>

namespace mlops::gates {

namespace {

std::string xml_escape(const std::string& raw) {
  std::string s = valid_utf8(raw);
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      // XML 1.0 forbids most control characters, even escaped.
      if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
        out += "?";
      else
        out += static_cast<char>(c);
    }
  }
  return out;
}

std::string seconds(double s) { return format_double(s, std::chars_format::fixed, 3); }

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

} // namespace

nlohmann::ordered_json report_json(const Report& r) {
  nlohmann::ordered_json gates = nlohmann::ordered_json::array();
  for (const auto& g : r.gates) {
    nlohmann::ordered_json j = {{"name", g.name},
                                {"status", status_name(g.status)},
                                {"reason", g.reason},
                                {"details", g.details},
                                {"duration_s", g.seconds}};
    if (g.name == "tests" || !g.output.empty()) j["output"] = g.output;
    gates.push_back(std::move(j));
  }
  const Target& t = r.target;
  return {
      {"target", !t.label.empty() ? t.label : t.dir.string()},
      {"model",
       {{"name", t.name.empty() ? nullptr : nlohmann::ordered_json(t.name)},
        {"version", t.version.empty() ? nullptr : nlohmann::ordered_json(t.version)},
        {"dir", t.dir.string()}}},
      {"verdict", r.passed() ? "pass" : "fail"},
      {"gates", gates},
      {"summary",
       {{"passed", r.count(Status::pass)}, {"failed", r.count(Status::fail)}, {"skipped", r.count(Status::skip)}}},
      {"lock_digest", t.lock ? nlohmann::ordered_json(t.lock->digest) : nlohmann::ordered_json(nullptr)},
      {"policy_digest", r.policy_digest},
  };
}

std::string report_junit(const Report& r) {
  double total = 0;
  for (const auto& g : r.gates)
    total += g.seconds;
  std::string suite = "mlops validate";
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o << "<testsuites name=\"mlops\" tests=\"" << r.gates.size() << "\" failures=\"" << r.count(Status::fail)
    << "\" errors=\"0\" skipped=\"" << r.count(Status::skip) << "\" time=\"" << seconds(total) << "\">\n";
  o << "  <testsuite name=\"" << xml_escape(suite) << "\" tests=\"" << r.gates.size() << "\" failures=\""
    << r.count(Status::fail) << "\" errors=\"0\" skipped=\"" << r.count(Status::skip) << "\" time=\"" << seconds(total)
    << "\">\n";
  o << "    <properties>\n";
  auto prop = [&](const std::string& k, const std::string& v) {
    o << "      <property name=\"" << xml_escape(k) << "\" value=\"" << xml_escape(v) << "\"/>\n";
  };
  prop("model", r.target.name);
  prop("version", r.target.version);
  prop("target", !r.target.label.empty() ? r.target.label : r.target.dir.string());
  if (r.target.lock) prop("lock_digest", r.target.lock->digest);
  prop("policy_digest", r.policy_digest);
  o << "    </properties>\n";
  for (const auto& g : r.gates) {
    o << "    <testcase classname=\"mlops.validate\" name=\"" << xml_escape(g.name) << "\" time=\""
      << seconds(g.seconds) << "\">\n";
    if (g.status == Status::fail) {
      o << "      <failure message=\"" << xml_escape(g.reason) << "\" type=\"gate\">" << xml_escape(joined(g.details))
        << "</failure>\n";
    } else if (g.status == Status::skip) {
      o << "      <skipped message=\"" << xml_escape(g.reason) << "\"/>\n";
    }
    std::string out = g.output.empty() ? g.reason + "\n" + joined(g.details) : g.output;
    o << "      <system-out>" << xml_escape(out) << "</system-out>\n";
    o << "    </testcase>\n";
  }
  o << "  </testsuite>\n</testsuites>\n";
  return o.str();
}

} // namespace mlops::gates
