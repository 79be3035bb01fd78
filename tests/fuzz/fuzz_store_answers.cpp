// What a storage service or the user's AWS files hand mlops (lib/store): S3 ListObjectsV2
// pages and XML error bodies (expat, bounded), and ~/.aws/credentials / config files.
#include "fuzz.hpp"
#include "store/s3.hpp"
#include "store/xml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    auto page = mlops::store::parse_list_objects(text, "malformed answer from 'fuzz'");
    if (page.truncated && page.continuation_token.empty()) __builtin_trap(); // refused, never returned
  });
  (void)mlops::store::parse_xml_error(text); // never throws
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::store::parse_aws_ini(text, "fuzz"); });
  return 0;
}
