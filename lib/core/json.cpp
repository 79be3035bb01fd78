#include "core/json.hpp"

#include "core/limits.hpp"

#include <string>

namespace mlops {

std::size_t json_depth(std::string_view text, std::size_t stop_at) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
    case '"':
      in_string = true;
      break;
    case '[':
    case '{':
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stop_at) return deepest;
      }
      break;
    case ']':
    case '}':
      if (depth) --depth;
      break;
    default:
      break;
    }
  }
  return deepest;
}

std::string json_error_text(const nlohmann::json::exception& e) {
  // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
  std::string why = e.what();
  if (auto close = why.find("] "); why.rfind("[json.exception", 0) == 0 && close != std::string::npos) {
    why.erase(0, close + 2);
  }
  return why;
}

namespace {

template <class Json>
Json parse_bounded(std::string_view text, std::string_view what, ErrorKind kind, std::size_t max_bytes) {
  if (max_bytes == 0) max_bytes = limits::k_max_json_bytes;
  if (text.size() > max_bytes) {
    throw Error(kind, std::string(what) + " is too large: " + std::to_string(text.size()) + " bytes, the limit is " +
                          std::to_string(max_bytes));
  }
  if (json_depth(text, limits::k_max_json_depth) > limits::k_max_json_depth) {
    throw Error(kind,
                std::string(what) + " is nested deeper than " + std::to_string(limits::k_max_json_depth) + " levels");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw Error(kind, std::string(what) + " is not valid JSON: " + json_error_text(e));
  }
}

} // namespace

nlohmann::json parse_json(std::string_view text, std::string_view what, ErrorKind kind, std::size_t max_bytes) {
  return parse_bounded<nlohmann::json>(text, what, kind, max_bytes);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view what, ErrorKind kind,
                                          std::size_t max_bytes) {
  return parse_bounded<nlohmann::ordered_json>(text, what, kind, max_bytes);
}

} // namespace mlops
