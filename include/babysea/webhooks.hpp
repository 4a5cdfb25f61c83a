// babysea/webhooks.hpp — verification of inbound provider callbacks.
//
// Three schemes (security.md §3.1-3.3, providers.md):
//   - StandardWebhookVerifier: Standard Webhooks v1 (Replicate, OpenAI):
//     `webhook-id`, `webhook-timestamp`, `webhook-signature`; HMAC-SHA256 over
//     "<id>.<timestamp>.<raw body>" keyed with the base64-decoded `whsec_`
//     secret; space-separated `v1,<base64>` entries (other versions skipped,
//     one match is enough); several secrets for rotation; digits-only
//     timestamp within ±tolerance (inclusive: now-300 and now+300 pass).
//   - FalVerifier: Ed25519 over "<request id>\n<user id>\n<timestamp>\n<hex
//     sha256(raw body)>", 128-hex-char signature, public keys from a JWKS
//     (OKP/Ed25519, base64url `x`) fetched through a JwksFetcher and cached at
//     most `cache_ttl_ms`; fails closed (unavailable, retryable) when no key
//     is available; the user id is pinned to ours; the body's top-level
//     `request_id` must equal the header's.
//   - HmacHeaderVerifier: a bare `sha256=<hex>` header with HMAC-SHA256 over
//     the raw body keyed with the secret text as is (BFL `X-BFL-Signature`).
// Every verifier checks the body and header size caps before any hashing or
// parsing and compares MACs in constant time (libsodium).
//
// A successful verification yields a `VerifiedCallback`, which only these
// verifiers can construct. `commit_callback` is the only way to record it:
// in one unit of work it inserts (source, message id) into the seen table and
// runs the caller's state change; a duplicate is an OK no-op, and a refused
// callback never reaches storage at all (security.md I8).
//
// Codes: invalid_signature (any verification failure), payload_too_large
// (body over the cap), unavailable (fal: no signing key could be obtained;
// retryable), invalid_request (bad verifier configuration), plus store codes.
//
// Thread safety: verifiers are safe for concurrent use (FalVerifier
// serialises JWKS fetches internally); the fetcher and clock they borrow must
// outlive them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

inline constexpr std::size_t kCallbackMaxBodyBytes = 1u << 20;   // 1 MiB
inline constexpr std::size_t kCallbackMaxHeaderBytes = 4096;     // any one header value
inline constexpr std::int64_t kCallbackToleranceS = 300;

// A callback whose signature verified. Opaque outside the verifiers.
class VerifiedCallback {
 public:
  const std::string& source() const { return source_; }          // "replicate", "fal", "bfl", ...
  const std::string& message_id() const { return message_id_; }  // dedupe key within the source
  std::int64_t timestamp_s() const { return timestamp_s_; }       // signed time; 0 if the scheme has none

 private:
  friend struct VerifiedCallbackAccess;
  VerifiedCallback() = default;
  std::string source_;
  std::string message_id_;
  std::int64_t timestamp_s_ = 0;
};

enum class CallbackOutcome { applied, duplicate };

// Records `callback` as seen and runs `apply` in the same unit of work. If
// (source, message id) was already seen, `apply` does not run and the result
// is `duplicate` (nothing written). If `apply` fails, nothing is written and
// its Status is returned.
Result<CallbackOutcome> commit_callback(Store& store, const VerifiedCallback& callback, std::int64_t now_ms,
                                        Work apply);

// --------------------------------------------------------- Standard Webhooks

struct StandardWebhookHeaders {
  std::string_view id;         // webhook-id
  std::string_view timestamp;  // webhook-timestamp
  std::string_view signature;  // webhook-signature
};

struct StandardWebhookOptions {
  std::string source = "replicate";  // seen-table namespace
  // Current and, during rotation, previous secrets, each "whsec_<base64>" (or
  // the bare base64); each must decode to 24..64 bytes.
  std::vector<std::string> secrets;
  std::int64_t tolerance_s = kCallbackToleranceS;
  std::size_t max_body_bytes = kCallbackMaxBodyBytes;
};

class StandardWebhookVerifier {
 public:
  // invalid_request when no secret is given, one does not decode, or the
  // source is empty.
  static Result<std::unique_ptr<StandardWebhookVerifier>> create(StandardWebhookOptions options);
  ~StandardWebhookVerifier();
  StandardWebhookVerifier(const StandardWebhookVerifier&) = delete;
  StandardWebhookVerifier& operator=(const StandardWebhookVerifier&) = delete;

  // The message id is webhook-id (at most 256 bytes, printable ASCII, no '.').
  Result<VerifiedCallback> verify(const StandardWebhookHeaders& headers, std::string_view raw_body,
                                  std::int64_t now_s) const;

 private:
  StandardWebhookVerifier() = default;
  StandardWebhookOptions options_;
  std::vector<std::string> keys_;  // decoded secrets
};

// The `webhook-signature` entry "v1,<base64>" for a delivery; empty if the
// secret does not decode. For tests, emulators and forwarding hosts.
std::string standard_webhook_signature(std::string_view whsec_secret, std::string_view msg_id,
                                       std::int64_t timestamp_s, std::string_view raw_body);

// ---------------------------------------------------------------------- fal

// Where the verifier gets the JWKS document. The engine implements it over
// the Transport (with its SSRF guard, deadlines and size cap); tests serve it
// on loopback. Returns the body of a 2xx answer, else an error.
class JwksFetcher {
 public:
  virtual ~JwksFetcher() = default;
  virtual Result<std::string> fetch(std::string_view url) = 0;
};

struct FalHeaders {
  std::string_view request_id;  // X-Fal-Webhook-Request-Id
  std::string_view user_id;     // X-Fal-Webhook-User-Id
  std::string_view timestamp;   // X-Fal-Webhook-Timestamp
  std::string_view signature;   // X-Fal-Webhook-Signature
};

struct FalOptions {
  std::string source = "fal";
  std::string jwks_url = "https://rest.fal.ai/.well-known/jwks.json";
  std::string user_id;  // our fal account's user id; required
  std::int64_t tolerance_s = kCallbackToleranceS;
  std::size_t max_body_bytes = kCallbackMaxBodyBytes;
  // Keys are used at most this long after they were fetched (<= 24 h).
  std::int64_t cache_ttl_ms = 24 * 3600 * 1000;
  // At most one JWKS fetch per this interval (after a failed fetch, or to
  // pick up a rotated key when no cached key verifies).
  std::int64_t min_fetch_interval_ms = 60'000;
  std::size_t max_jwks_bytes = 64 * 1024;
  std::size_t max_keys = 16;
};

class FalVerifier {
 public:
  // invalid_request when user_id or jwks_url is empty, or cache_ttl_ms is not
  // in (0, 24 h].
  static Result<std::unique_ptr<FalVerifier>> create(JwksFetcher& fetcher, const Clock& clock, FalOptions options);
  ~FalVerifier();
  FalVerifier(const FalVerifier&) = delete;
  FalVerifier& operator=(const FalVerifier&) = delete;

  // The message id is the request id. Uses the clock for the tolerance check
  // and the cache.
  Result<VerifiedCallback> verify(const FalHeaders& headers, std::string_view raw_body);

  // How many JWKS fetches were attempted (for tests and metrics).
  std::uint64_t fetch_count() const;

 private:
  struct Impl;
  explicit FalVerifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses a JWKS document and returns the 32-byte Ed25519 public keys of its
// OKP/Ed25519 entries (others skipped). invalid_request on malformed JSON,
// duplicate keys, or no usable key.
Result<std::vector<std::string>> parse_ed25519_jwks(std::string_view jwks_json, std::size_t max_keys = 16);

// ----------------------------------------------------- generic HMAC header

struct HmacHeaderOptions {
  std::string source = "bfl";
  std::string prefix = "sha256=";    // the header is prefix + 64 lowercase/uppercase hex
  std::vector<std::string> secrets;  // used as is (not decoded); rotation: several
  std::size_t max_body_bytes = kCallbackMaxBodyBytes;
};

class HmacHeaderVerifier {
 public:
  // invalid_request when no secret or an empty secret is given.
  static Result<std::unique_ptr<HmacHeaderVerifier>> create(HmacHeaderOptions options);
  ~HmacHeaderVerifier();
  HmacHeaderVerifier(const HmacHeaderVerifier&) = delete;
  HmacHeaderVerifier& operator=(const HmacHeaderVerifier&) = delete;

  // The scheme has no message id or timestamp: the message id is
  // "sha256:<hex of the body>", so byte-identical replays are duplicates.
  Result<VerifiedCallback> verify(std::string_view signature_header, std::string_view raw_body) const;

 private:
  HmacHeaderVerifier() = default;
  HmacHeaderOptions options_;
};

// "sha256=<hex>" for a body: for tests and emulators.
std::string hmac_header_signature(std::string_view secret, std::string_view raw_body,
                                  std::string_view prefix = "sha256=");

}  // namespace babysea
