#include "prometheus/condition.hpp"

#include "core/error.hpp"

#include <array>
#include <cctype>
#include <cstdlib>

namespace mlops::prometheus {

namespace {

struct MeasureRow {
  Measure measure;
  std::string_view name;
  bool latency; ///< takes ms / s
  bool share;   ///< takes %
};

constexpr std::array<MeasureRow, 9> k_measures = {{
    {Measure::reward, "reward", false, true},
    {Measure::error_rate, "error_rate", false, true},
    {Measure::requests, "requests", false, false},
    {Measure::rate, "rate", false, false},
    {Measure::p50, "p50", true, false},
    {Measure::p95, "p95", true, false},
    {Measure::p99, "p99", true, false},
    {Measure::latency_mean, "latency_mean", true, false},
    {Measure::feedback, "feedback", false, false},
}};

struct OpRow {
  Compare op;
  std::string_view text;
};
// Two-character operators first, so "<=" is not read as "<".
constexpr std::array<OpRow, 6> k_ops = {{{Compare::le, "<="},
                                         {Compare::ge, ">="},
                                         {Compare::eq, "=="},
                                         {Compare::ne, "!="},
                                         {Compare::lt, "<"},
                                         {Compare::gt, ">"}}};

std::string measure_list() {
  std::string out;
  for (const auto& m : k_measures)
    out += (out.empty() ? "" : ", ") + std::string(m.name);
  return out;
}

struct Parser {
  const std::string& text;
  std::size_t i = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::usage, "invalid --fail-if " + quote(text) + ": column " + std::to_string(i + 1) + ": " + why,
                "write METRIC OP NUMBER, e.g. 'reward < 0.8', 'error_rate > 1%', 'p95 > 250ms' (METRIC: " +
                    measure_list() + ")");
  }
  void spaces() {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
  }
  const MeasureRow& measure() {
    spaces();
    std::size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
      ++i;
    std::string word = text.substr(start, i - start);
    for (const auto& m : k_measures)
      if (m.name == word) return m;
    i = start;
    fail(word.empty() ? "expected a metric (" + measure_list() + ")"
                      : "unknown metric " + quote(word) + " (known: " + measure_list() + ")");
  }
  Compare op() {
    spaces();
    for (const auto& o : k_ops)
      if (text.compare(i, o.text.size(), o.text) == 0) {
        i += o.text.size();
        return o.op;
      }
    fail("expected an operator (<, <=, >, >=, ==, !=)");
  }
  double number() {
    spaces();
    std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
                               ((text[i] == '-' || text[i] == '+') && i == start)))
      ++i;
    std::string word = text.substr(start, i - start);
    char* end = nullptr;
    double d = word.empty() ? 0 : std::strtod(word.c_str(), &end);
    if (word.empty() || end != word.c_str() + word.size() || word.size() > 32) {
      i = start;
      fail("expected a number");
    }
    return d;
  }
  double unit(const MeasureRow& m) {
    spaces();
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    std::string u = text.substr(start, i - start);
    if (u.empty()) return 1;
    if (u == "%" && m.share) return 0.01;
    if (u == "ms" && m.latency) return 0.001;
    if (u == "s" && m.latency) return 1;
    i = start;
    fail("unit " + quote(u) + " does not fit " + quote(m.name) +
         (m.latency ? " (ms or s)"
          : m.share ? " (%)"
                    : " (a plain number)"));
  }
};

} // namespace

Condition parse_condition(const std::string& text) {
  Parser p{text};
  Condition c;
  c.text = text;
  const MeasureRow& m = p.measure();
  c.measure = m.measure;
  c.op = p.op();
  c.threshold = p.number();
  c.threshold *= p.unit(m);
  p.spaces();
  if (p.i != text.size()) p.fail("unexpected " + quote(text.substr(p.i)));
  return c;
}

std::optional<double> measure_of(Measure m, const VariantStatus& v, double window_s) {
  switch (m) {
  case Measure::reward:
    return v.mean_reward;
  case Measure::error_rate:
    return v.error_rate();
  case Measure::requests:
    return v.requests;
  case Measure::rate:
    return v.rate(window_s);
  case Measure::p50:
    return v.p50;
  case Measure::p95:
    return v.p95;
  case Measure::p99:
    return v.p99;
  case Measure::latency_mean:
    return v.mean_latency;
  case Measure::feedback:
    return v.feedback ? v.feedback : v.rewarded;
  }
  return std::nullopt;
}

bool holds(const Condition& c, double x) {
  switch (c.op) {
  case Compare::lt:
    return x < c.threshold;
  case Compare::le:
    return x <= c.threshold;
  case Compare::gt:
    return x > c.threshold;
  case Compare::ge:
    return x >= c.threshold;
  case Compare::eq:
    return x == c.threshold;
  case Compare::ne:
    return x != c.threshold;
  }
  return false;
}

std::string measure_name(Measure m) {
  for (const auto& r : k_measures)
    if (r.measure == m) return std::string(r.name);
  return "?";
}

} // namespace mlops::prometheus
