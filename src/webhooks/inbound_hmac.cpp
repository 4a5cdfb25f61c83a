// Bare "sha256=<hex>" HMAC header verification (BFL): webhooks.hpp.
#include <sodium.h>

#include "webhooks/inbound_common.hpp"

namespace babysea {
namespace {

constexpr std::string_view kScheme = "hmac signature";
constexpr std::size_t kMacBytes = crypto_auth_hmacsha256_BYTES;

void mac_of(std::string_view key, std::string_view body, unsigned char out[kMacBytes]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

HmacHeaderVerifier::~HmacHeaderVerifier() {
  for (auto& k : options_.secrets) sodium_memzero(k.data(), k.size());
}

Result<std::unique_ptr<HmacHeaderVerifier>> HmacHeaderVerifier::create(HmacHeaderOptions options) {
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");
  if (options.source.empty()) return Status(Code::invalid_request, "hmac header: source is required");
  if (options.prefix.size() > 64) return Status(Code::invalid_request, "hmac header: prefix too long");
  if (options.secrets.empty()) return Status(Code::invalid_request, "hmac header: at least one secret is required");
  for (const auto& s : options.secrets)
    if (s.empty()) return Status(Code::invalid_request, "hmac header: empty secret");
  std::unique_ptr<HmacHeaderVerifier> v(new HmacHeaderVerifier());
  v->options_ = std::move(options);
  return v;
}

Result<VerifiedCallback> HmacHeaderVerifier::verify(std::string_view header, std::string_view body) const {
  if (body.size() > options_.max_body_bytes) return inbound::body_too_large(options_.max_body_bytes);
  const std::string_view prefix = options_.prefix;
  if (header.size() != prefix.size() + 2 * kMacBytes || header.substr(0, prefix.size()) != prefix)
    return inbound::bad_signature(kScheme, "header is not " + std::string(prefix) + "<64 hex>");
  std::string_view hex = header.substr(prefix.size());
  unsigned char sig[kMacBytes];
  std::size_t len = 0;
  if (sodium_hex2bin(sig, sizeof sig, hex.data(), hex.size(), nullptr, &len, nullptr) != 0 || len != kMacBytes)
    return inbound::bad_signature(kScheme, "signature is not hex");
  bool match = false;
  unsigned char expected[kMacBytes];
  for (const auto& key : options_.secrets) {
    mac_of(key, body, expected);
    match |= sodium_memcmp(expected, sig, kMacBytes) == 0;
  }
  sodium_memzero(expected, sizeof expected);
  if (!match) return inbound::bad_signature(kScheme, "no signature matches");
  return VerifiedCallbackAccess::make(options_.source, "sha256:" + inbound::sha256_hex(body), 0);
}

std::string hmac_header_signature(std::string_view secret, std::string_view raw_body, std::string_view prefix) {
  if (sodium_init() < 0) return {};
  unsigned char mac[kMacBytes];
  mac_of(secret, raw_body, mac);
  char hex[2 * kMacBytes + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return std::string(prefix) + hex;
}

}  // namespace babysea
