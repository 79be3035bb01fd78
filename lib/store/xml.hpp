#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::store {

/// One object of a listing page: its full key and size.
struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
};

/// One page of an S3 ListObjectsV2 answer.
struct ListPage {
  std::vector<ListedObject> objects;
  bool truncated = false;         ///< IsTruncated: more pages follow
  std::string continuation_token; ///< NextContinuationToken (set when truncated)
};

/// The Code and Message of an S3-style XML error body (both empty when it is none).
struct XmlError {
  std::string code;
  std::string message;
};

/// Parses a ListObjectsV2 answer with expat: bounded (limits::k_max_xml_bytes,
/// k_max_xml_depth, k_max_xml_text_bytes), no DOCTYPE or entities of its own. Throws
/// Error(operational, "<what>: ...") for anything else than a well-formed ListBucketResult
/// with numeric sizes; `what` names the answer ("malformed answer from '...'").
ListPage parse_list_objects(std::string_view xml, const std::string& what);

/// The Code and Message of an error body; empty fields when the body is not such XML
/// (never throws: an error body is only used for words in a message).
XmlError parse_xml_error(std::string_view xml);

} // namespace mlops::store
