// API keys: format, keyed hashing, constant-shape authentication, issue,
// list, revoke, rotate (auth.hpp).
#include <sodium.h>

#include <array>
#include <cstring>
#include <mutex>

#include "babysea/auth.hpp"
#include "babysea/ids.hpp"

namespace babysea {
namespace {

constexpr std::string_view kPrefix = "bye_";
constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kHashBytes = crypto_generichash_BYTES;  // 32
constexpr int kIssueAttempts = 4;

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// CRC-32 (IEEE, reflected), one table lookup per byte. Not a secret: it
// only catches typos in a pasted key.
constexpr std::array<std::uint32_t, 256> kCrcTable = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    t[i] = c;
  }
  return t;
}();

std::uint32_t crc32(std::string_view text) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char c : text) crc = (crc >> 8) ^ kCrcTable[(crc ^ c) & 0xffu];
  return ~crc;
}

// CRC-32 as 6 base62 digits, most significant first (62^6 > 2^32).
std::array<char, kApiKeyChecksumChars> checksum_of(std::string_view text) {
  std::uint64_t v = crc32(text);
  std::array<char, kApiKeyChecksumChars> out{};
  for (std::size_t i = kApiKeyChecksumChars; i-- > 0;) {
    out[i] = kBase62[v % 62];
    v /= 62;
  }
  return out;
}

std::string random_base62(std::size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    random_bytes(buf, sizeof buf);
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 4 * 62: keeps the draw uniform
      out += kBase62[b % 62];
      if (out.size() == n) break;
    }
  }
  sodium_memzero(buf, sizeof buf);
  return out;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

bool no_controls(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

std::string display_prefix(std::string_view id) { return std::string(kPrefix) + std::string(id) + "_..."; }

}  // namespace

bool parse_api_key(std::string_view key, ApiKeyParts& out) noexcept {
  if (key.size() != kApiKeyChars || key.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view id = key.substr(kPrefix.size(), kApiKeyIdChars);
  if (key[kPrefix.size() + kApiKeyIdChars] != '_') return false;
  std::string_view secret = key.substr(kPrefix.size() + kApiKeyIdChars + 1, kApiKeySecretChars);
  std::string_view check = key.substr(kApiKeyChars - kApiKeyChecksumChars);
  for (char c : id)
    if (!is_base62(c)) return false;
  for (char c : secret)
    if (!is_base62(c)) return false;
  auto expect = checksum_of(key.substr(0, kApiKeyChars - kApiKeyChecksumChars));
  if (std::string_view(expect.data(), expect.size()) != check) return false;
  out.id = id;
  out.secret = secret;
  return true;
}

Status invalid_api_key() { return Status(Code::unauthenticated, "invalid API key"); }

struct ApiKeyService::Impl {
  Store& store;
  const Clock& clock;
  ApiKeyOptions options;
  unsigned char hash_key[crypto_generichash_KEYBYTES];
  unsigned char dummy_hash[kHashBytes];

  Impl(Store& s, const Clock& c, ApiKeyOptions o) : store(s), clock(c), options(std::move(o)) {
    // The hashing key is derived from the pepper, so a pepper of any length
    // (>= 32 bytes) works and the raw pepper is never used directly.
    static constexpr std::string_view kContext = "babysea api key pepper v1";
    crypto_generichash(hash_key, sizeof hash_key, reinterpret_cast<const unsigned char*>(options.pepper.data()),
                       options.pepper.size(), reinterpret_cast<const unsigned char*>(kContext.data()),
                       kContext.size());
    random_bytes(dummy_hash, sizeof dummy_hash);
  }
  ~Impl() { sodium_memzero(hash_key, sizeof hash_key); }

  // BLAKE2b-256 keyed with the derived pepper over "<id>:<secret>".
  void hash_secret(std::string_view id, std::string_view secret, unsigned char out[kHashBytes]) const {
    crypto_generichash_state st;
    crypto_generichash_init(&st, hash_key, sizeof hash_key, kHashBytes);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(id.data()), id.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(":"), 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    crypto_generichash_final(&st, out, kHashBytes);
    sodium_memzero(&st, sizeof st);
  }

  std::string hash_hex(std::string_view id, std::string_view secret) const {
    unsigned char h[kHashBytes];
    hash_secret(id, secret, h);
    char hex[2 * kHashBytes + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return std::string(hex, 2 * kHashBytes);
  }

  // A fresh key and its row (not yet inserted).
  IssuedKey mint(const std::string& account, ScopeSet scopes, const std::string& name, std::int64_t expires_ms,
                 std::int64_t now, ApiKeyRow& row) const {
    std::string id = random_base62(kApiKeyIdChars);
    std::string secret = random_base62(kApiKeySecretChars);
    std::string body = std::string(kPrefix) + id + "_" + secret;
    auto check = checksum_of(body);
    IssuedKey out;
    out.key = body + std::string(check.data(), check.size());
    row = ApiKeyRow{};
    row.id = id;
    row.account = account;
    row.secret_hash = hash_hex(id, secret);
    row.scopes = format_scopes(scopes);
    row.region = options.region;
    row.name = name;
    row.created_ms = now;
    row.expires_ms = expires_ms;
    sodium_memzero(secret.data(), secret.size());
    sodium_memzero(body.data(), body.size());
    out.info = info_of(row, scopes);
    return out;
  }

  static ApiKeyInfo info_of(const ApiKeyRow& row, ScopeSet scopes) {
    ApiKeyInfo info;
    info.id = row.id;
    info.account = row.account;
    info.scopes = scopes;
    info.region = row.region;
    info.name = row.name;
    info.prefix = display_prefix(row.id);
    info.created_ms = row.created_ms;
    info.expires_ms = row.expires_ms;
    info.last_used_ms = row.last_used_ms;
    info.revoked_ms = row.revoked_ms;
    return info;
  }
};

ApiKeyService::ApiKeyService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiKeyService::~ApiKeyService() = default;

Result<std::unique_ptr<ApiKeyService>> ApiKeyService::create(Store& store, const Clock& clock,
                                                             ApiKeyOptions options) {
  if (options.region.empty() || options.region.size() > 32 || !printable_ascii(options.region))
    return Status(Code::invalid_request, "api keys: a deployment region is required");
  if (options.pepper.size() < 32) return Status(Code::invalid_request, "api keys: pepper must be at least 32 bytes");
  if (options.last_used_granularity_ms < 0)
    return Status(Code::invalid_request, "api keys: last_used_granularity_ms must be >= 0");
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");
  return std::unique_ptr<ApiKeyService>(
      new ApiKeyService(std::make_unique<Impl>(store, clock, std::move(options))));
}

const std::string& ApiKeyService::region() const { return impl_->options.region; }

Result<Principal> ApiKeyService::authenticate(std::string_view api_key) {
  Impl& m = *impl_;
  ApiKeyParts parts;
  const bool well_formed = parse_api_key(api_key, parts);
  ApiKeyRow row;
  bool found = false;
  if (well_formed) {
    std::string id(parts.id);
    Status s = m.store.read([&](UnitOfWork& uow) -> Status {
      Status g = uow.api_keys().get(id, row);
      if (g.ok()) {
        found = true;
        return {};
      }
      if (g.code() == Code::not_found) return {};
      return g;
    });
    if (!s.ok()) return Status(s.code() == Code::unavailable ? Code::unavailable : Code::storage_error,
                               "api key lookup failed");
  }

  // The same work on every path: one keyed hash, one constant-time compare.
  unsigned char computed[kHashBytes];
  m.hash_secret(well_formed ? parts.id : std::string_view("0000000000000000"),
                well_formed ? parts.secret : std::string_view("x"), computed);
  unsigned char stored[kHashBytes];
  std::memcpy(stored, m.dummy_hash, sizeof stored);
  std::size_t bin_len = 0;
  bool hash_ok = false;
  if (found && row.secret_hash.size() == 2 * kHashBytes) {
    unsigned char decoded[kHashBytes];
    hash_ok = sodium_hex2bin(decoded, sizeof decoded, row.secret_hash.data(), row.secret_hash.size(), nullptr,
                             &bin_len, nullptr) == 0 &&
              bin_len == kHashBytes;
    if (hash_ok) std::memcpy(stored, decoded, sizeof stored);
  }
  const bool equal = sodium_memcmp(computed, stored, kHashBytes) == 0;
  sodium_memzero(computed, sizeof computed);

  const std::int64_t now = m.clock.now_ms();
  const bool active = row.revoked_ms == 0;
  const bool fresh = row.expires_ms == 0 || now < row.expires_ms;
  const bool home = row.region == m.options.region;
  // Non-short-circuit combination: every condition is evaluated.
  const unsigned valid = static_cast<unsigned>(well_formed) & static_cast<unsigned>(found) &
                         static_cast<unsigned>(hash_ok) & static_cast<unsigned>(equal) &
                         static_cast<unsigned>(active) & static_cast<unsigned>(fresh) &
                         static_cast<unsigned>(home);
  if (valid == 0) return invalid_api_key();

  auto scopes = parse_scopes(row.scopes);
  if (!scopes.ok()) return Status(Code::corruption, "stored api key record is malformed");

  const std::int64_t granularity = m.options.last_used_granularity_ms;
  if (granularity == 0 || row.last_used_ms == 0 || now - row.last_used_ms >= granularity) {
    // Best effort: a failed touch must not fail an authenticated request.
    (void)m.store.transact([&](UnitOfWork& uow) { return uow.api_keys().touch(row.id, now); });
  }

  Principal p;
  p.account = row.account;
  p.key_id = row.id;
  p.scopes = *scopes;
  p.region = row.region;
  return p;
}

std::optional<std::string_view> bearer_credential(std::string_view authorization) noexcept {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!authorization.empty() && is_space(authorization.front())) authorization.remove_prefix(1);
  while (!authorization.empty() && is_space(authorization.back())) authorization.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  bool scheme_ok = authorization.size() > kScheme.size() && is_space(authorization[kScheme.size()]);
  for (std::size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    scheme_ok = c == kScheme[i];
  }
  if (!scheme_ok) return std::nullopt;
  std::string_view credential = authorization.substr(kScheme.size());
  while (!credential.empty() && is_space(credential.front())) credential.remove_prefix(1);
  if (credential.empty()) return std::nullopt;
  return credential;
}

Result<Principal> ApiKeyService::authenticate_bearer(std::string_view authorization) {
  // Another scheme does the same work and gets the same refusal as a bad key.
  return authenticate(bearer_credential(authorization).value_or(std::string_view()));
}

Result<IssuedKey> ApiKeyService::issue(const IssueKeyRequest& request) {
  Impl& m = *impl_;
  if (request.account.empty() || request.account.size() > 128 || !printable_ascii(request.account))
    return Status(Code::invalid_request, "api key account must be 1-128 printable ASCII characters");
  if (request.scopes.empty()) return Status(Code::invalid_request, "api key needs at least one scope");
  if (request.name.size() > 128 || !no_controls(request.name))
    return Status(Code::invalid_request, "api key name must be at most 128 bytes without control characters");
  const std::int64_t now = m.clock.now_ms();
  if (request.expires_ms != 0 && request.expires_ms <= now)
    return Status(Code::invalid_request, "api key expiry must be in the future");
  for (int attempt = 0;; ++attempt) {
    ApiKeyRow row;
    IssuedKey issued = m.mint(request.account, request.scopes, request.name, request.expires_ms, now, row);
    Status s = m.store.transact([&](UnitOfWork& uow) { return uow.api_keys().insert(row); });
    if (s.ok()) return issued;
    if (s.code() != Code::idempotency_conflict || attempt + 1 >= kIssueAttempts) return s;
  }
}

Result<std::vector<ApiKeyInfo>> ApiKeyService::list(std::string_view account) {
  std::vector<ApiKeyRow> rows;
  Status s = impl_->store.read([&](UnitOfWork& uow) { return uow.api_keys().list_for_account(account, rows); });
  if (!s.ok()) return s;
  std::vector<ApiKeyInfo> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    if (row.region != impl_->options.region) continue;  // other regions are not reachable here
    auto scopes = parse_scopes(row.scopes);
    if (!scopes.ok()) return Status(Code::corruption, "stored api key record is malformed");
    out.push_back(Impl::info_of(row, *scopes));
  }
  return out;
}

Status ApiKeyService::revoke(std::string_view account, std::string_view key_id) {
  const std::int64_t now = impl_->clock.now_ms();
  return impl_->store.transact([&](UnitOfWork& uow) -> Status {
    ApiKeyRow row;
    Status g = uow.api_keys().get(key_id, row);
    if (g.code() == Code::not_found || (g.ok() && (row.account != account || row.region != impl_->options.region)))
      return resource_not_found("api key");
    if (!g.ok()) return g;
    return uow.api_keys().revoke(key_id, now);
  });
}

Result<IssuedKey> ApiKeyService::rotate(std::string_view account, std::string_view key_id) {
  Impl& m = *impl_;
  const std::int64_t now = m.clock.now_ms();
  for (int attempt = 0;; ++attempt) {
    IssuedKey issued;
    Status s = m.store.transact([&](UnitOfWork& uow) -> Status {
      ApiKeyRow old;
      Status g = uow.api_keys().get(key_id, old);
      if (g.code() == Code::not_found || (g.ok() && (old.account != account || old.region != m.options.region)))
        return resource_not_found("api key");
      if (!g.ok()) return g;
      if (old.revoked_ms != 0) return Status(Code::invalid_state, "api key is revoked");
      if (old.expires_ms != 0 && now >= old.expires_ms) return Status(Code::invalid_state, "api key is expired");
      auto scopes = parse_scopes(old.scopes);
      if (!scopes.ok()) return Status(Code::corruption, "stored api key record is malformed");
      ApiKeyRow row;
      issued = m.mint(old.account, *scopes, old.name, old.expires_ms, now, row);
      BABYSEA_RETURN_IF_ERROR(uow.api_keys().insert(row));
      return uow.api_keys().revoke(old.id, now);
    });
    if (s.ok()) return issued;
    if (s.code() != Code::idempotency_conflict || attempt + 1 >= kIssueAttempts) return s;
  }
}

}  // namespace babysea
