// Standard Webhooks v1 verification (Replicate): webhooks.hpp.
#include <sodium.h>

#include <array>

#include "webhooks/inbound_common.hpp"

namespace babysea {
namespace {

constexpr std::string_view kScheme = "webhook-signature";
constexpr std::size_t kMaxIdBytes = 256;
constexpr std::size_t kMaxEntries = 16;
constexpr std::size_t kMacBytes = crypto_auth_hmacsha256_BYTES;
constexpr std::string_view kSecretPrefix = "whsec_";

// "whsec_<base64>" (or bare base64) -> key bytes; false if it does not decode
// to 24..64 bytes.
bool decode_secret(std::string_view secret, std::string& out) {
  if (secret.substr(0, kSecretPrefix.size()) == kSecretPrefix) secret.remove_prefix(kSecretPrefix.size());
  if (secret.empty() || secret.size() > 128) return false;
  unsigned char buf[96];
  std::size_t len = 0;
  bool ok = false;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
    if (sodium_base642bin(buf, sizeof buf, secret.data(), secret.size(), nullptr, &len, nullptr, variant) == 0) {
      ok = true;
      break;
    }
  }
  ok = ok && len >= 24 && len <= 64;
  if (ok) out.assign(reinterpret_cast<const char*>(buf), len);
  sodium_memzero(buf, sizeof buf);
  return ok;
}

void sign(std::string_view key, std::string_view id, std::string_view ts, std::string_view body,
          unsigned char out[kMacBytes]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  auto feed = [&](std::string_view part) {
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  feed(id);
  feed(".");
  feed(ts);
  feed(".");
  feed(body);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

StandardWebhookVerifier::~StandardWebhookVerifier() {
  for (auto& k : keys_) sodium_memzero(k.data(), k.size());
}

Result<std::unique_ptr<StandardWebhookVerifier>> StandardWebhookVerifier::create(StandardWebhookOptions options) {
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");
  if (options.source.empty()) return Status(Code::invalid_request, "standard webhooks: source is required");
  if (options.secrets.empty()) return Status(Code::invalid_request, "standard webhooks: at least one secret is required");
  if (options.tolerance_s < 0) return Status(Code::invalid_request, "standard webhooks: tolerance must be >= 0");
  std::unique_ptr<StandardWebhookVerifier> v(new StandardWebhookVerifier());
  for (const auto& s : options.secrets) {
    std::string key;
    if (!decode_secret(s, key))
      return Status(Code::invalid_request, "standard webhooks: a secret is not whsec_<base64 of 24..64 bytes>");
    v->keys_.push_back(std::move(key));
  }
  for (auto& s : options.secrets) sodium_memzero(s.data(), s.size());
  options.secrets.clear();
  v->options_ = std::move(options);
  return v;
}

Result<VerifiedCallback> StandardWebhookVerifier::verify(const StandardWebhookHeaders& h, std::string_view body,
                                                         std::int64_t now_s) const {
  // Caps first: nothing below hashes or scans more than these bounds.
  if (body.size() > options_.max_body_bytes) return inbound::body_too_large(options_.max_body_bytes);
  if (h.signature.size() > kCallbackMaxHeaderBytes) return inbound::bad_signature(kScheme, "header too long");
  if (!inbound::is_token(h.id, kMaxIdBytes) || h.id.find('.') != std::string_view::npos)
    return inbound::bad_signature(kScheme, "webhook-id missing or malformed");
  std::int64_t t = 0;
  if (!inbound::parse_unix_seconds(h.timestamp, t))
    return inbound::bad_signature(kScheme, "webhook-timestamp is not a unix time");

  std::array<std::array<unsigned char, kMacBytes>, kMaxEntries> sigs{};
  std::size_t n = 0;
  std::string_view rest = h.signature;
  while (!rest.empty() && n < kMaxEntries) {
    auto sp = rest.find(' ');
    std::string_view entry = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    auto comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") continue;  // other versions skipped
    std::string_view b64 = entry.substr(comma + 1);
    std::size_t len = 0;
    if (b64.size() != 44 || sodium_base642bin(sigs[n].data(), kMacBytes, b64.data(), b64.size(), nullptr, &len,
                                              nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != kMacBytes)
      continue;  // a malformed entry cannot match; another may
    ++n;
  }
  if (n == 0) return inbound::bad_signature(kScheme, "no v1 signature");
  if (t < now_s - options_.tolerance_s) return inbound::bad_signature(kScheme, "timestamp is too old");
  if (t > now_s + options_.tolerance_s) return inbound::bad_signature(kScheme, "timestamp is in the future");

  bool match = false;
  unsigned char expected[kMacBytes];
  for (const auto& key : keys_) {
    sign(key, h.id, h.timestamp, body, expected);
    for (std::size_t i = 0; i < n; ++i) match |= sodium_memcmp(expected, sigs[i].data(), kMacBytes) == 0;
  }
  sodium_memzero(expected, sizeof expected);
  if (!match) return inbound::bad_signature(kScheme, "no signature matches");
  return VerifiedCallbackAccess::make(options_.source, std::string(h.id), t);
}

std::string standard_webhook_signature(std::string_view whsec_secret, std::string_view msg_id,
                                       std::int64_t timestamp_s, std::string_view raw_body) {
  if (sodium_init() < 0) return {};
  std::string key;
  if (!decode_secret(whsec_secret, key)) return {};
  unsigned char mac[kMacBytes];
  sign(key, msg_id, std::to_string(timestamp_s), raw_body, mac);
  sodium_memzero(key.data(), key.size());
  char b64[sodium_base64_ENCODED_LEN(kMacBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
  return "v1," + std::string(b64);
}

}  // namespace babysea
