#include "store/xml.hpp"

#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <expat.h>

#include <charconv>
#include <functional>
#include <memory>

namespace mlops::store {

namespace {

/// Walks a small XML document with expat and hands every element's text to `on_end` with
/// its path ("ListBucketResult/Contents/Key"). Bounded by the limits in core/limits.hpp;
/// a DOCTYPE (and so any entity of the document's own) is refused.
class Walker {
public:
  using OnEnd = std::function<void(const std::string& path, const std::string& text)>;

  explicit Walker(OnEnd on_end) : m_on_end(std::move(on_end)) {}

  /// Empty when the document is well-formed and within bounds, else why not.
  std::string walk(std::string_view xml) {
    if (xml.size() > limits::k_max_xml_bytes) {
      return "larger than " + std::to_string(limits::k_max_xml_bytes) + " bytes";
    }
    std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> p(XML_ParserCreate("UTF-8"), &XML_ParserFree);
    if (!p) return "out of memory";
    XML_SetUserData(p.get(), this);
    XML_SetElementHandler(p.get(), &Walker::start, &Walker::end);
    XML_SetCharacterDataHandler(p.get(), &Walker::text);
    XML_SetStartDoctypeDeclHandler(p.get(), &Walker::doctype);
    m_parser = p.get();
    if (XML_Parse(p.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE) != XML_STATUS_OK) {
      if (!m_why.empty()) return m_why;
      return std::string("not XML: ") + XML_ErrorString(XML_GetErrorCode(p.get())) + " at line " +
             std::to_string(XML_GetCurrentLineNumber(p.get()));
    }
    return m_why;
  }

private:
  void stop(std::string why) {
    if (m_why.empty()) m_why = std::move(why);
    XML_StopParser(m_parser, XML_FALSE);
  }

  static void start(void* self, const XML_Char* name, const XML_Char**) {
    auto* w = static_cast<Walker*>(self);
    if (!w->m_why.empty()) return;
    if (++w->m_depth > limits::k_max_xml_depth) {
      return w->stop("nested deeper than " + std::to_string(limits::k_max_xml_depth) + " elements");
    }
    w->m_lengths.push_back(w->m_path.size());
    if (!w->m_path.empty()) w->m_path += '/';
    std::string_view n(name);
    if (auto colon = n.rfind(':'); colon != std::string_view::npos) n.remove_prefix(colon + 1); // a prefix
    w->m_path += n;
    w->m_text.clear();
  }

  static void end(void* self, const XML_Char*) {
    auto* w = static_cast<Walker*>(self);
    if (!w->m_why.empty()) return;
    try {
      w->m_on_end(w->m_path, w->m_text);
    } catch (const Error& e) {
      return w->stop(e.what());
    }
    w->m_text.clear();
    w->m_path.resize(w->m_lengths.back());
    w->m_lengths.pop_back();
    --w->m_depth;
  }

  static void text(void* self, const XML_Char* s, int len) {
    auto* w = static_cast<Walker*>(self);
    if (!w->m_why.empty()) return;
    if (w->m_text.size() + static_cast<std::size_t>(len) > limits::k_max_xml_text_bytes) {
      return w->stop("an element's text is longer than " + std::to_string(limits::k_max_xml_text_bytes) + " bytes");
    }
    w->m_text.append(s, static_cast<std::size_t>(len));
  }

  static void doctype(void* self, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<Walker*>(self)->stop("a DOCTYPE is not expected");
  }

  OnEnd m_on_end;
  XML_Parser m_parser = nullptr;
  std::string m_path, m_text, m_why;
  std::vector<std::size_t> m_lengths;
  std::size_t m_depth = 0;
};

std::optional<std::uint64_t> parse_size(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

} // namespace

ListPage parse_list_objects(std::string_view xml, const std::string& what) {
  ListPage page;
  bool root = false, has_key = false, has_size = false;
  ListedObject current;
  auto bad = [&](const std::string& why) { return Error(ErrorKind::operational, what + ": " + why); };
  Walker w([&](const std::string& path, const std::string& text) {
    if (path == "ListBucketResult") {
      root = true;
    } else if (path == "ListBucketResult/Contents/Key") {
      current.key = text;
      has_key = true;
    } else if (path == "ListBucketResult/Contents/Size") {
      auto size = parse_size(text);
      if (!size || *size > limits::k_max_artifact_file_bytes) {
        throw bad("'Size' of an object is " + quote(printable(text, 40)));
      }
      current.size = *size;
      has_size = true;
    } else if (path == "ListBucketResult/Contents") {
      if (!has_key || !has_size) throw bad("an object without 'Key' or 'Size'");
      if (page.objects.size() >= limits::k_max_listing_entries) {
        throw bad("more than " + std::to_string(limits::k_max_listing_entries) + " objects in one page");
      }
      page.objects.push_back(std::move(current));
      current = {};
      has_key = has_size = false;
    } else if (path == "ListBucketResult/IsTruncated") {
      std::string t = lower_ascii(trim(text));
      if (t != "true" && t != "false") throw bad("'IsTruncated' is " + quote(printable(text, 40)));
      page.truncated = t == "true";
    } else if (path == "ListBucketResult/NextContinuationToken") {
      page.continuation_token = text;
    }
  });
  if (std::string why = w.walk(xml); !why.empty()) {
    if (why.rfind(what, 0) == 0) throw Error(ErrorKind::operational, why); // thrown by the callback
    throw bad(why);
  }
  if (!root) throw bad("no 'ListBucketResult'");
  if (page.truncated && page.continuation_token.empty()) throw bad("'IsTruncated' without 'NextContinuationToken'");
  return page;
}

XmlError parse_xml_error(std::string_view xml) {
  XmlError e;
  Walker w([&](const std::string& path, const std::string& text) {
    if (path == "Error/Code") e.code = std::string(trim(text));
    if (path == "Error/Message") e.message = std::string(trim(text));
  });
  if (!w.walk(xml).empty()) return {};
  return e;
}

} // namespace mlops::store
