// babysea/errors.hpp — how a provider failure is handled, shared by the
// lifecycle (retry / fail over / stop) and the router (breakers, telemetry).
//
// A provider adapter maps whatever the provider said (HTTP status, error body,
// transport error, our own deadline) to one `ErrorKind`. `classify()` turns the
// kind into one `ErrorClass`:
//   retry_same — transient at this provider (429, 500/502/504, connection
//                reset): retry the same provider after `retry_after_ms`, a
//                bounded number of times, then fail over;
//   fail_over  — this provider cannot serve it now (503, silent until our
//                deadline, breaker open, malformed answer, model missing at
//                the provider): try the next provider in the chain;
//   fail_fast  — trying elsewhere cannot help or must not happen (moderation,
//                invalid input, our own account problems at the provider):
//                the generation fails; never fail over.
// `counts_against_provider` tells the router whether the failure says
// something about the provider's health (moderation and invalid input do not;
// a local breaker rejection does not either).
//
// Thread safety: free functions and value types, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace babysea {

enum class ErrorClass : int { none = 0, retry_same = 1, fail_over = 2, fail_fast = 3 };

// What went wrong, as a provider adapter reports it. Numeric values are
// stable (persisted by name, exposed by number in the C ABI).
enum class ErrorKind : int {
  none = 0,                  // no error
  rate_limited = 1,          // 429 / provider throttling
  server_error = 2,          // 500, 502, 504, other 5xx
  connection = 3,            // connect refused/reset, TLS or DNS failure
  timeout = 4,               // our deadline passed (silent provider), 408
  provider_unavailable = 5,  // 503, 529, maintenance, queue full
  breaker_open = 6,          // refused locally by the router's breaker
  malformed_response = 7,    // answer we cannot parse or that breaks protocol
  model_unavailable = 8,     // provider does not (or no longer) serve the model, 404
  moderation = 9,            // content refused by a safety filter
  invalid_input = 10,        // request refused as invalid (400, 413, 422, other 4xx)
  provider_auth = 11,        // our credentials refused by the provider (401, 403)
  provider_quota = 12,       // our account at the provider is out of credit (402)
  unknown = 13,              // anything else
};

struct ErrorClassification {
  ErrorKind kind = ErrorKind::none;
  ErrorClass error_class = ErrorClass::none;
  // Milliseconds the provider asked us to wait (Retry-After), 0 when none.
  std::int64_t retry_after_ms = 0;
  // Whether this failure should move the provider's breaker and ranking.
  bool counts_against_provider = false;
};

// Stable snake_case names ("retry_same", "rate_limited"); "unknown" for
// values outside the enums.
std::string_view error_class_name(ErrorClass c) noexcept;
std::string_view error_kind_name(ErrorKind k) noexcept;
// Inverse of error_kind_name(); std::nullopt for unknown text.
std::optional<ErrorKind> parse_error_kind(std::string_view name) noexcept;

// The class of a kind (see the table at the top of this file).
ErrorClass error_class_of(ErrorKind k) noexcept;
// Whether a failure of this kind says something about the provider's health.
bool counts_against_provider(ErrorKind k) noexcept;

// Classifies a failure; `retry_after_ms` (clamped to >= 0) is carried along.
ErrorClassification classify(ErrorKind kind, std::int64_t retry_after_ms = 0) noexcept;

// Maps an HTTP status from a provider to a kind: 2xx/3xx → none, 400/413/422
// and other 4xx → invalid_input, 401/403 → provider_auth, 402 →
// provider_quota, 404/410 → model_unavailable, 408 → timeout, 429 →
// rate_limited, 503/529 → provider_unavailable, other 5xx → server_error,
// anything else → unknown.
ErrorKind error_kind_from_http_status(int status) noexcept;

// Parses a Retry-After header value: delta-seconds ("120") or an IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT", interpreted against `now_ms`). Returns the
// delay in milliseconds, clamped to [0, 86'400'000]; std::nullopt when the
// value is neither form.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms) noexcept;

}  // namespace babysea
