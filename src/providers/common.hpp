// Plumbing shared by the provider adapters (providers.hpp): the HTTP client
// bound to one configured origin, error mapping (transport, HTTP status,
// provider error bodies, Retry-After), JSON reading and body merging, and
// small text helpers. Nothing here knows a particular provider; the
// submit / poll / cancel flow built on it is JsonHttpAdapter
// (json_http_adapter.hpp).
//
// Thread safety: HttpClient is safe for concurrent use (the resolved address
// is cached under a mutex); the free functions are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "json/strict.hpp"
#include "webhooks/inbound_common.hpp"

namespace babysea::providers {

// scheme://host[:port] plus an optional path prefix, from a configured URL.
struct Origin {
  std::string scheme;     // "http" or "https"
  std::string host;       // lowercase, no brackets
  std::uint16_t port = 0; // effective port
  std::string prefix;     // base path without a trailing '/', may be empty
  std::string origin;     // "scheme://host[:port]" (port only when not the default)

  // invalid_request: not an absolute http(s) URL, userinfo, query or fragment.
  static Result<Origin> parse(std::string_view url);
  // Whether `url` is an absolute URL on this scheme, host and port.
  bool same_origin(std::string_view url) const;
};

// Sends requests to one configured origin (and only there).
class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> create(const ProviderHttpOptions& options, std::string_view base_url);
  ~HttpClient();

  // base URL + path ("/v1/x?y" appended to the configured prefix).
  std::string url(std::string_view path) const { return origin_.origin + origin_.prefix + std::string(path); }
  const Origin& origin() const { return origin_; }
  const Clock& clock() const { return *clock_; }
  std::int64_t now_ms() const { return clock_->now_ms(); }

  // Sends `method url` (which must be on the configured origin) with the
  // headers and body. Codes: those of Transport, invalid_request for a URL
  // off the origin, unavailable when the host cannot be resolved.
  Result<HttpResponse> send(std::string_view method, std::string url, std::vector<HttpHeader> headers,
                            std::string body = {}, std::optional<std::chrono::milliseconds> timeout = {}) const;

 private:
  HttpClient() = default;
  Result<ConnectTarget> target() const;

  Origin origin_;
  Transport* transport_ = nullptr;
  Resolver* resolver_ = nullptr;
  std::unique_ptr<Resolver> owned_resolver_;
  const Clock* clock_ = nullptr;
  std::chrono::milliseconds dns_ttl_{60'000};
  std::chrono::milliseconds connect_timeout_{5'000};
  std::chrono::milliseconds request_timeout_{30'000};
  std::size_t max_response_bytes_ = 4u << 20;
  std::optional<IpAddress> numeric_;  // the host is an IP literal

  mutable std::mutex mu_;
  mutable std::optional<IpAddress> cached_;
  mutable std::int64_t cached_at_ns_ = 0;
};

// The outcome of one JSON exchange (see call_json).
struct Answer {
  ProviderError error;      // none: a 2xx whose body parsed (or a raw 2xx, see call_json)
  bool sent = false;        // an HTTP response arrived (response is meaningful)
  HttpResponse response;
  json::Value body;         // the parsed 2xx body (null for a raw answer)
};

// Sends the request and reads a JSON answer: transport failure ->
// transport_error; non-2xx -> http_error (response kept so the caller can
// look at the status); a 2xx body that does not parse (or is empty when
// `body_required`) -> malformed_response. With `accept_raw`, a 2xx whose
// Content-Type is present and not JSON (is_json_content_type) is returned
// unparsed: no error, body null, the bytes in response.body (empty bytes
// when `body_required` -> malformed_response).
Answer call_json(const HttpClient& http, std::string_view method, std::string url, std::vector<HttpHeader> headers,
                 std::string body = {}, std::size_t max_json_bytes = 4u << 20, bool body_required = true,
                 bool accept_raw = false);

// Whether a Content-Type names JSON: application/json or any "+json" type
// (its media type as assets::media_type reads it).
bool is_json_content_type(std::string_view content_type);

// A JwksFetcher over an HttpClient of its own (the JWKS URL is configuration).
class HttpJwksFetcher final : public JwksFetcher {
 public:
  static Result<std::unique_ptr<HttpJwksFetcher>> create(const ProviderHttpOptions& options, std::string_view url);
  Result<std::string> fetch(std::string_view url) override;

 private:
  std::unique_ptr<HttpClient> http_;
};

// ------------------------------------------------------------ errors

ProviderError make_error(ErrorKind kind, std::string code, std::string message, std::int64_t retry_after_ms = 0);
// A transport failure: timeout -> timeout, unavailable/canceled -> connection,
// payload_too_large -> malformed_response, anything else -> unknown.
ProviderError transport_error(const Status& status);
// Retry-After of a response in ms (0 when absent or unparsable).
std::int64_t retry_after_ms(const HttpResponse& response, std::int64_t now_ms);

// The code and message an error body carries, in any of the common shapes:
// {"error":{"code"|"type","message"}}, {"error":"..."}, {"detail":"..."},
// {"detail":[{"type","msg"}]}, {"title","detail"}, {"message"}, and a
// top-level "error_type" / "code" / "failureCode".
struct ErrorBody {
  std::string code;
  std::string message;
  std::string error_type;            // a top-level "error_type" (fal request errors)
  std::vector<std::string> detail_types;  // "type" of each {"detail":[...]} entry
};
ErrorBody read_error_body(std::string_view body);

// A non-2xx answer: kind from the status (error_kind_from_http_status; 1xx
// and 3xx are malformed_response), Retry-After, code and message from the
// body. Adapters refine the kind from the code afterwards.
ProviderError http_error(const HttpResponse& response, std::int64_t now_ms);
inline bool is_2xx(int status) { return status >= 200 && status < 300; }

// ------------------------------------------------------------ JSON

// Parses a provider answer (strict: duplicate keys, trailing bytes refused).
// `max_bytes` bounds the document and each string in it.
Result<json::Value> parse_json(std::string_view body, std::size_t max_bytes = 4u << 20);
// Top-level member of an object or nullptr.
const json::Value* member(const json::Value& object, std::string_view key);
// String member or empty.
std::string_view string_member(const json::Value& object, std::string_view key);

json::Value json_string(std::string_view s);
json::Value json_array(std::vector<json::Value> items);

// `object_json` (a JSON object) with `extra` members added, replacing any
// member of the same name. invalid_request when it is not an object.
Result<std::string> merge_members(std::string_view object_json, std::vector<json::Member> extra);

// Collects http(s) URLs found in `value`: a string, an array of them, or
// objects with a "url" member (and "content_type"), searching nested
// objects and arrays up to `depth` levels.
void collect_url_outputs(const json::Value& value, std::vector<ProviderOutput>& out, int depth = 4);
bool is_http_url(std::string_view s);

// ------------------------------------------------------------ text

// Printable ASCII, control bytes replaced, at most `cap` bytes: safe to keep
// in an error message.
std::string clip(std::string_view text, std::size_t cap = 200);
// Lowercase ASCII copy.
std::string lower(std::string_view text);
bool contains_ci(std::string_view haystack, std::string_view needle);
bool starts_with(std::string_view s, std::string_view prefix);
// RFC 3986 percent-encoding of everything but unreserved characters.
std::string percent_encode(std::string_view s);
// Whether `id` is safe as one path segment (letters, digits, '-', '_', '.', ':' ; 1..256 bytes).
bool is_path_segment(std::string_view id);

// The value of the one header called `name` (case-insensitive). nullopt
// when absent; `duplicate` is set when it appears more than once.
std::optional<std::string_view> callback_header(std::span<const CallbackHeader> headers, std::string_view name,
                                                bool* duplicate = nullptr);

// Decodes standard base64 (with padding, whitespace ignored) with
// libsodium. nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
// Lowercase hex SHA-256 (the inbound verifiers' helper).
using inbound::sha256_hex;

}  // namespace babysea::providers
