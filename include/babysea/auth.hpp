// babysea/auth.hpp — API keys, scopes, regions, the account boundary, rate limits.
//
// Identity comes only from a verified API key (security.md I1-I5). A key is
// `bye_<id>_<secret><checksum>`:
//   - id: 16 base62 characters, public, used for lookup and shown in listings;
//   - secret: 43 base62 characters (about 256 bits from libsodium);
//   - checksum: CRC-32 of everything before it, as 6 base62 characters, so
//     scanners and `parse_api_key` reject lookalikes without a lookup.
// The store keeps only a keyed BLAKE2b hash (crypto_generichash keyed with the
// deployment pepper) of (id, secret); the secret is shown once, at issue or
// rotation, and never stored, logged or echoed in an error.
//
// `ApiKeyService::authenticate` answers an unknown id, a wrong secret, a
// revoked key, an expired key, a key of another region and a malformed key
// with the same Status (`Code::unauthenticated`, message "invalid API key"),
// and does the same work in every case (a dummy hash compare when the id is
// unknown; sodium_memcmp for the comparison). The returned `Principal` is the
// only way engine calls learn who is calling.
//
// Codes: unauthenticated, forbidden (missing scope), not_found (resource of
// another account, byte-identical to a missing one), invalid_request (bad
// issue/rotate arguments), rate_limited, plus store codes (storage_error).
//
// Thread safety: ApiKeyService and RateLimiter are safe for concurrent use;
// the Store and Clock they borrow must outlive them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

// ------------------------------------------------------------------- scopes

// The six customer scopes of specs/api.md §7.2. There is deliberately no admin
// scope: admin and recovery operations (orphan sweep, catalog reload, key
// issue for another account) are host calls that take no Principal, so no
// customer key can reach them.
enum class Scope : std::uint32_t {
  generation_write = 1u << 0,   // "generation:write"
  generation_read = 1u << 1,    // "generation:read"
  generation_delete = 1u << 2,  // "generation:delete" (includes cancel)
  account_read = 1u << 3,       // "account:read"
  health_read = 1u << 4,        // "health:read"
  library_read = 1u << 5,       // "library:read"
};

// A set of scopes (a value type; bit i set = scope 1<<i granted).
class ScopeSet {
 public:
  constexpr ScopeSet() = default;
  constexpr ScopeSet(std::initializer_list<Scope> scopes) {
    for (Scope s : scopes) bits_ |= static_cast<std::uint32_t>(s);
  }
  static constexpr ScopeSet from_bits(std::uint32_t bits) {
    ScopeSet s;
    s.bits_ = bits & kAllBits;
    return s;
  }
  constexpr bool has(Scope s) const { return (bits_ & static_cast<std::uint32_t>(s)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint32_t bits() const { return bits_; }
  constexpr ScopeSet& add(Scope s) {
    bits_ |= static_cast<std::uint32_t>(s);
    return *this;
  }
  constexpr bool operator==(const ScopeSet&) const = default;

  static constexpr std::uint32_t kAllBits = 0x3f;

 private:
  std::uint32_t bits_ = 0;
};

// Presets of specs/api.md §7.2.
inline constexpr ScopeSet kFullAccess = ScopeSet::from_bits(ScopeSet::kAllBits);
inline constexpr ScopeSet kGenerateOnly{Scope::generation_write, Scope::generation_read, Scope::library_read};
inline constexpr ScopeSet kReadOnly{Scope::generation_read, Scope::account_read, Scope::health_read,
                                    Scope::library_read};
inline constexpr ScopeSet kMonitorOnly{Scope::health_read, Scope::library_read};

// "generation:write", ...
std::string_view scope_name(Scope scope) noexcept;

// Parses a comma-separated list of scope names and preset names
// ("full_access", "generate_only", "read_only", "monitor_only"); spaces around
// items are ignored. invalid_request on an unknown name or an empty list.
Result<ScopeSet> parse_scopes(std::string_view text);

// The canonical comma list, in enum order ("generation:write,generation:read").
std::string format_scopes(ScopeSet scopes);

// ---------------------------------------------------------------- principal

// Who is calling: produced only by ApiKeyService::authenticate.
struct Principal {
  std::string account;
  std::string key_id;
  ScopeSet scopes;
  std::string region;

  bool has(Scope scope) const { return scopes.has(scope); }
};

// OK if the principal holds `scope`, else forbidden ("API key lacks scope
// generation:write"). Call before touching any state.
Status require_scope(const Principal& principal, Scope scope);

// The one canonical not_found for a resource kind ("generation"): the same
// bytes whether the resource is missing or belongs to another account. The
// caller-supplied id is deliberately not echoed.
Status resource_not_found(std::string_view kind);

// OK if `owner_account` is the principal's account, else resource_not_found(kind).
Status check_owner(const Principal& principal, std::string_view owner_account, std::string_view kind);

// -------------------------------------------------------------- key format

inline constexpr std::size_t kApiKeyIdChars = 16;
inline constexpr std::size_t kApiKeySecretChars = 43;
inline constexpr std::size_t kApiKeyChecksumChars = 6;
inline constexpr std::size_t kApiKeyChars = 4 + kApiKeyIdChars + 1 + kApiKeySecretChars + kApiKeyChecksumChars;

// The parts of a well-formed key; views into the parsed text.
struct ApiKeyParts {
  std::string_view id;
  std::string_view secret;
};

// Whether `key` has the exact shape and a correct checksum; fills `out`.
// Does no lookup and reads no secret state.
bool parse_api_key(std::string_view key, ApiKeyParts& out) noexcept;

// ------------------------------------------------------------- key service

// A key as listed (never its secret).
struct ApiKeyInfo {
  std::string id;
  std::string account;
  ScopeSet scopes;
  std::string region;
  std::string name;
  std::string prefix;  // display form, "bye_<id>_..."
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;    // 0 = never
  std::int64_t last_used_ms = 0;  // 0 = never used
  std::int64_t revoked_ms = 0;    // 0 = active
};

// A freshly issued key: `key` is the full text, shown to the user once.
struct IssuedKey {
  std::string key;
  ApiKeyInfo info;
};

struct IssueKeyRequest {
  std::string account;        // 1..128 printable ASCII characters
  ScopeSet scopes;            // at least one scope
  std::string name;           // 0..128 bytes, no control characters
  std::int64_t expires_ms = 0;  // absolute unix ms; 0 = never; must be in the future
};

struct ApiKeyOptions {
  // This deployment's region ("us", "eu", "jp"); keys of other regions fail
  // exactly like invalid keys. Required.
  std::string region;
  // Server-side key for the secret hash: at least 32 bytes, secret, the same
  // for every instance of the deployment. Required. A leaked database alone
  // does not allow checking guessed secrets.
  std::string pepper;
  // last_used_ms is written at most this often per key (0 = on every use).
  std::int64_t last_used_granularity_ms = 60'000;
};

class ApiKeyService {
 public:
  // invalid_request when region is empty or longer than 32 bytes, or the
  // pepper is shorter than 32 bytes.
  static Result<std::unique_ptr<ApiKeyService>> create(Store& store, const Clock& clock, ApiKeyOptions options);

  ApiKeyService(const ApiKeyService&) = delete;
  ApiKeyService& operator=(const ApiKeyService&) = delete;
  ~ApiKeyService();

  // The key text itself (no "Bearer "). unauthenticated (always the same
  // message) for any key that does not verify here; storage_error if the
  // store fails. Updates last_used_ms (at most once per granularity, best
  // effort: a failed touch does not fail the call).
  Result<Principal> authenticate(std::string_view api_key);
  // An Authorization header value: "Bearer <key>" (scheme case-insensitive).
  Result<Principal> authenticate_bearer(std::string_view authorization);

  // Issues a key in this deployment's region. invalid_request on bad arguments.
  Result<IssuedKey> issue(const IssueKeyRequest& request);
  // Keys of one account in this region, oldest first (including revoked and
  // expired ones).
  Result<std::vector<ApiKeyInfo>> list(std::string_view account);
  // Revokes a key of `account`; resource_not_found("api key") when the key
  // does not exist, belongs to another account or to another region.
  // Revoking twice is OK (the first revocation time stays).
  Status revoke(std::string_view account, std::string_view key_id);
  // Issues a replacement (same account, scopes, name and expiry) and revokes
  // the old key, in one unit of work (no grace period). not_found as for
  // revoke; invalid_state for a revoked or expired key.
  Result<IssuedKey> rotate(std::string_view account, std::string_view key_id);

  const std::string& region() const;

 private:
  struct Impl;
  explicit ApiKeyService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The one refusal every authentication failure returns.
Status invalid_api_key();

// ------------------------------------------------------------- rate limits

// A token bucket: `limit` requests per `window_ms`, refilled continuously,
// bursting up to `limit`. limit 0 disables the bucket.
struct RateLimit {
  std::int64_t limit = 0;
  std::int64_t window_ms = 60'000;
};

struct RateLimitOptions {
  RateLimit per_key{600, 60'000};
  RateLimit per_account{1200, 60'000};
  // Buckets kept in memory at most. When full, refilled (idle) buckets are
  // dropped first, then the least recently used one.
  std::size_t max_buckets = 100'000;
};

// What a decision reports, for X-RateLimit-* and Retry-After headers (from the
// tighter of the two buckets).
struct RateInfo {
  std::int64_t limit = 0;
  std::int64_t remaining = 0;
  std::int64_t reset_unix_s = 0;     // when the bucket is full again
  std::int64_t retry_after_s = 0;    // > 0 only when refused
};

// Per-key and per-account token buckets. Not durable (counters are excluded
// from the no-state-change invariant). A refused request consumes from
// neither bucket, so call acquire() before any other work: it creates nothing.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, RateLimitOptions options);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // OK and one token taken from both buckets, or rate_limited ("rate limit
  // exceeded; retry after N s", retryable) with nothing taken. `info` may be null.
  Status acquire(const Principal& principal, RateInfo* info = nullptr);

  std::size_t bucket_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The credential of an Authorization header value "Bearer <credential>"
// (scheme case-insensitive, spaces or tabs around the parts tolerated);
// nullopt for another scheme or an empty credential. Pure; thread-safe.
std::optional<std::string_view> bearer_credential(std::string_view authorization) noexcept;

}  // namespace babysea
