// fal.ai callback verification: Ed25519 over a fixed layout, keys from a
// cached JWKS (webhooks.hpp).
#include <sodium.h>

#include <atomic>
#include <limits>
#include <mutex>

#include "json/json.hpp"
#include "webhooks/inbound_common.hpp"

namespace babysea {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kScheme = "fal signature";
constexpr std::size_t kMaxIdBytes = 256;
constexpr std::size_t kSigBytes = crypto_sign_BYTES;          // 64
constexpr std::size_t kKeyBytes = crypto_sign_PUBLICKEYBYTES;  // 32
constexpr std::int64_t kMaxTtlMs = 24LL * 3600 * 1000;

using KeySet = std::vector<std::string>;

// One JWKS entry's interesting members; duplicates refused.
simdjson::error_code read_jwk(od::value v, std::string& kty, std::string& crv, std::string& x, std::string& use,
                              bool& ok) {
  od::object obj;
  if (auto e = v.get_object().get(obj)) return e;
  int seen_kty = 0, seen_crv = 0, seen_x = 0, seen_use = 0;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    std::string* dst = nullptr;
    int* count = nullptr;
    if (key == "kty") dst = &kty, count = &seen_kty;
    else if (key == "crv") dst = &crv, count = &seen_crv;
    else if (key == "x") dst = &x, count = &seen_x;
    else if (key == "use") dst = &use, count = &seen_use;
    if (!dst) continue;
    if (++*count > 1) return simdjson::TAPE_ERROR;  // duplicate member
    std::string_view s;
    if (field.value().get_string().get(s) != simdjson::SUCCESS) {
      ok = false;  // a non-string member makes this entry unusable, not the document
      continue;
    }
    dst->assign(s);
  }
  return simdjson::SUCCESS;
}

}  // namespace

Result<std::vector<std::string>> parse_ed25519_jwks(std::string_view text, std::size_t max_keys) {
  if (text.size() > json::kMaxDocumentBytes) return Status(Code::invalid_request, "jwks: document too large");
  auto padded = json::pad(text);
  od::document doc;
  const Status bad(Code::invalid_request, "jwks: malformed document");
  if (json::thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS) return bad;
  od::object top;
  if (doc.get_object().get(top) != simdjson::SUCCESS) return bad;
  KeySet keys;
  int seen_keys = 0;
  for (auto field : top) {
    std::string_view name;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) return bad;
    if (name != "keys") continue;
    if (++seen_keys > 1) return bad;
    od::array arr;
    if (field.value().get_array().get(arr) != simdjson::SUCCESS) return bad;
    for (auto item : arr) {
      od::value v;
      if (item.get(v) != simdjson::SUCCESS) return bad;
      std::string kty, crv, x, use;
      bool ok = true;
      if (read_jwk(v, kty, crv, x, use, ok) != simdjson::SUCCESS) return bad;
      if (!ok || kty != "OKP" || crv != "Ed25519" || (!use.empty() && use != "sig")) continue;
      unsigned char pk[kKeyBytes];
      std::size_t len = 0;
      if (x.size() != 43 || sodium_base642bin(pk, sizeof pk, x.data(), x.size(), nullptr, &len, nullptr,
                                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
          len != kKeyBytes)
        continue;
      if (keys.size() < max_keys) keys.emplace_back(reinterpret_cast<const char*>(pk), kKeyBytes);
    }
  }
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) return bad;  // content after the document
  if (seen_keys == 0) return bad;
  if (keys.empty()) return Status(Code::invalid_request, "jwks: no Ed25519 key");
  return keys;
}

struct FalVerifier::Impl {
  Impl(JwksFetcher& f, const Clock& c, FalOptions o) : fetcher(f), clock(c), options(std::move(o)) {}

  JwksFetcher& fetcher;
  const Clock& clock;
  FalOptions options;

  std::mutex mu;  // guards the cache fields below
  std::shared_ptr<const KeySet> keys;
  std::int64_t fetched_ms = 0;
  std::int64_t last_attempt_ms = std::numeric_limits<std::int64_t>::min();
  std::mutex fetch_mu;  // one fetch at a time
  std::atomic<std::uint64_t> fetches{0};

  bool fresh_locked(std::int64_t now) const {
    return keys && now >= fetched_ms && now - fetched_ms < options.cache_ttl_ms;
  }

  // Cached keys if fresh; otherwise (or when `refresh` asks for keys newer
  // than `stale`) one fetch, at most once per min_fetch_interval_ms. Null
  // when no fresh key is available: the caller fails closed.
  std::shared_ptr<const KeySet> get(bool refresh, const KeySet* stale) {
    std::int64_t now = clock.now_ms();
    {
      std::lock_guard lock(mu);
      if (fresh_locked(now) && !refresh) return keys;
    }
    std::lock_guard fetch_lock(fetch_mu);
    now = clock.now_ms();
    {
      std::lock_guard lock(mu);
      const bool fresh = fresh_locked(now);
      if (fresh && (!refresh || keys.get() != stale)) return keys;  // another thread refreshed
      if (last_attempt_ms != std::numeric_limits<std::int64_t>::min() &&
          now - last_attempt_ms < options.min_fetch_interval_ms)
        return fresh ? keys : nullptr;
      last_attempt_ms = now;
    }
    fetches.fetch_add(1, std::memory_order_relaxed);
    auto body = fetcher.fetch(options.jwks_url);
    std::shared_ptr<const KeySet> parsed;
    if (body.ok() && body->size() <= options.max_jwks_bytes) {
      auto k = parse_ed25519_jwks(*body, options.max_keys);
      if (k.ok()) parsed = std::make_shared<const KeySet>(std::move(*k));
    }
    std::lock_guard lock(mu);
    if (parsed) {
      keys = std::move(parsed);
      fetched_ms = now;
    }
    return fresh_locked(now) ? keys : nullptr;
  }
};

FalVerifier::FalVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FalVerifier::~FalVerifier() = default;

Result<std::unique_ptr<FalVerifier>> FalVerifier::create(JwksFetcher& fetcher, const Clock& clock,
                                                         FalOptions options) {
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");
  if (options.source.empty()) return Status(Code::invalid_request, "fal: source is required");
  if (!inbound::is_token(options.user_id, kMaxIdBytes)) return Status(Code::invalid_request, "fal: user_id is required");
  if (options.jwks_url.empty()) return Status(Code::invalid_request, "fal: jwks_url is required");
  if (options.cache_ttl_ms <= 0 || options.cache_ttl_ms > kMaxTtlMs)
    return Status(Code::invalid_request, "fal: cache_ttl_ms must be in (0, 24 h]");
  if (options.tolerance_s < 0 || options.min_fetch_interval_ms < 0 || options.max_keys == 0)
    return Status(Code::invalid_request, "fal: bad tolerance, fetch interval or key count");
  return std::unique_ptr<FalVerifier>(new FalVerifier(std::make_unique<Impl>(fetcher, clock, std::move(options))));
}

std::uint64_t FalVerifier::fetch_count() const { return impl_->fetches.load(std::memory_order_relaxed); }

Result<VerifiedCallback> FalVerifier::verify(const FalHeaders& h, std::string_view body) {
  Impl& m = *impl_;
  const FalOptions& o = m.options;
  if (body.size() > o.max_body_bytes) return inbound::body_too_large(o.max_body_bytes);
  if (!inbound::is_token(h.request_id, kMaxIdBytes)) return inbound::bad_signature(kScheme, "request id missing or malformed");
  if (!inbound::is_token(h.user_id, kMaxIdBytes)) return inbound::bad_signature(kScheme, "user id missing or malformed");
  std::int64_t t = 0;
  if (!inbound::parse_unix_seconds(h.timestamp, t)) return inbound::bad_signature(kScheme, "timestamp is not a unix time");
  unsigned char sig[kSigBytes];
  std::size_t len = 0;
  if (h.signature.size() != 2 * kSigBytes ||
      sodium_hex2bin(sig, sizeof sig, h.signature.data(), h.signature.size(), nullptr, &len, nullptr) != 0 ||
      len != kSigBytes)
    return inbound::bad_signature(kScheme, "signature is not 128 hex characters");
  // One platform key signs for every fal customer: only our account counts.
  if (h.user_id != o.user_id) return inbound::bad_signature(kScheme, "user id is not ours");
  const std::int64_t now_s = m.clock.now_ms() / 1000;
  if (t < now_s - o.tolerance_s) return inbound::bad_signature(kScheme, "timestamp is too old");
  if (t > now_s + o.tolerance_s) return inbound::bad_signature(kScheme, "timestamp is in the future");

  std::string message;
  message.reserve(h.request_id.size() + h.user_id.size() + h.timestamp.size() + 3 + 64);
  message.append(h.request_id).append("\n").append(h.user_id).append("\n").append(h.timestamp).append("\n");
  message.append(inbound::sha256_hex(body));

  auto try_keys = [&](const KeySet& keys) {
    bool ok = false;
    for (const auto& pk : keys)
      ok |= crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                        reinterpret_cast<const unsigned char*>(pk.data())) == 0;
    return ok;
  };
  auto keys = m.get(false, nullptr);
  if (!keys) return Status(Code::unavailable, "fal: no signing key available; retry later");
  bool verified = try_keys(*keys);
  if (!verified) {
    // Perhaps fal rotated its key: refetch (rate-limited) and try once more.
    auto newer = m.get(true, keys.get());
    if (newer && newer != keys) verified = try_keys(*newer);
  }
  if (!verified) return inbound::bad_signature(kScheme, "no key verifies the signature");

  // The signed header must name the job the body is about.
  auto padded = json::pad(body);
  od::document doc;
  od::object obj;
  const Status mismatch = inbound::bad_signature(kScheme, "body request_id does not match the header");
  if (json::thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS)
    return mismatch;
  int seen = 0;
  bool equal = false;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return mismatch;
    if (key != "request_id") continue;
    std::string_view v;
    if (++seen > 1 || field.value().get_string().get(v) != simdjson::SUCCESS) return mismatch;
    equal = v == h.request_id;
  }
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS || seen != 1 || !equal) return mismatch;
  return VerifiedCallbackAccess::make(o.source, std::string(h.request_id), t);
}

}  // namespace babysea
