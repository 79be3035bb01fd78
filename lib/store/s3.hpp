#pragma once

#include "store/store.hpp"

#include <map>
#include <string>
#include <string_view>

namespace mlops::store {

/// Where an S3 (or S3-compatible) location is and how to sign for it.
struct S3Settings {
  std::string endpoint;      ///< MLFLOW_S3_ENDPOINT_URL (path-style); empty: AWS, virtual-hosted
  std::string region;        ///< AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1
  std::string key_id;        ///< the access key id
  std::string secret;        ///< the secret access key (never shown)
  std::string session_token; ///< AWS_SESSION_TOKEN / aws_session_token (may be empty)
  /// Where the credentials came from, for errors: "AWS_ACCESS_KEY_ID" or
  /// "AWS_PROFILE 'prod' in '/home/u/.aws/credentials'".
  std::string credential_source;
  bool verify_tls = true; ///< false with MLFLOW_S3_IGNORE_TLS=true
};

/// Finds the settings as MLflow's boto3 client does: AWS_ACCESS_KEY_ID /
/// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the AWS_PROFILE (default "default")
/// section of AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) or of AWS_CONFIG_FILE
/// (~/.aws/config, "[profile NAME]"); the region from AWS_REGION, AWS_DEFAULT_REGION or the
/// profile in the config file. Throws Error(auth) when no credentials are found,
/// Error(usage) for an unreadable file or a bad MLFLOW_S3_ENDPOINT_URL.
S3Settings s3_settings(const Getenv& getenv);

/// The sections of an AWS INI file (credentials or config): section -> key -> value, keys
/// lowercased, values trimmed. Bounded by limits::k_max_config_bytes; throws Error(usage)
/// naming `origin` and the line for a line that is neither a section, a key = value, a
/// comment nor blank.
std::map<std::string, std::map<std::string, std::string>> parse_aws_ini(std::string_view text,
                                                                        const std::string& origin);

/// An S3 location: s3://BUCKET/PREFIX.
struct S3Location {
  std::string bucket;
  std::string prefix; ///< without leading or trailing '/'
};

/// Parses s3://BUCKET[/PREFIX]; throws Error(usage) for anything else.
S3Location parse_s3_uri(const std::string& uri);

/// The S3 reader of one location.
std::shared_ptr<Store> open_s3(const std::string& uri, const S3Settings& settings, const http::Options& base,
                               LogSink& log);

} // namespace mlops::store
