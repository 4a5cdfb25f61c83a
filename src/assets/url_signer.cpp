// Expiring signed asset URLs (assets.hpp AssetUrlSigner): HMAC-SHA256 from
// libsodium over a versioned message of the URL's path and the expiry,
// carried as base64url without padding; Boost.URL edits the query.
#include <sodium.h>

#include <algorithm>
#include <boost/url/param.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cstring>

#include "babysea/assets.hpp"

namespace babysea {
namespace {

constexpr std::string_view kDomain = "babysea-asset-url-v1\n";
constexpr std::size_t kMaxExpiresDigits = 12;  // unix seconds up to year ~33658; * 1000 fits in int64
constexpr std::size_t kSignatureChars = 43;    // base64url of 32 bytes, no padding

// The signed message: a version tag, the path as encoded, the expiry digits.
// Unambiguous because the expiry (last) is digits only.
std::string message(std::string_view path, std::string_view expires) {
  std::string msg;
  msg.reserve(kDomain.size() + path.size() + 1 + expires.size());
  msg.append(kDomain).append(path).append(1, '\n').append(expires);
  return msg;
}

// 1-12 decimal digits, no sign, no leading zero: the one spelling sign() makes.
bool canonical_expires(std::string_view s) {
  if (s.empty() || s.size() > kMaxExpiresDigits || s.front() == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::int64_t to_int(std::string_view digits) {
  std::int64_t v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

AssetUrlSigner::AssetUrlSigner(std::span<const unsigned char, kKeyBytes> key, std::chrono::seconds lifetime)
    : lifetime_(std::clamp(lifetime, std::chrono::seconds(1), kMaxLifetime)) {
  // Idempotent; HMAC-SHA256 and base64 have no implementation to select,
  // so a failure (never seen in practice) cannot change their results.
  [[maybe_unused]] const int ready = sodium_init();
  std::memcpy(key_, key.data(), kKeyBytes);
}

AssetUrlSigner::~AssetUrlSigner() { sodium_memzero(key_, sizeof key_); }

std::string AssetUrlSigner::signature(std::string_view path, std::int64_t expires_s) const {
  unsigned char m[crypto_auth_hmacsha256_BYTES];
  const std::string msg = message(path, std::to_string(expires_s));
  crypto_auth_hmacsha256(m, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key_);
  constexpr int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(sizeof m, variant), '\0');
  sodium_bin2base64(out.data(), out.size(), m, sizeof m, variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

Result<std::string> AssetUrlSigner::sign(std::string_view url, std::int64_t now_ms) const {
  auto ref = boost::urls::parse_uri_reference(url);
  if (!ref) return Status(Code::invalid_request, "asset URL does not parse");
  boost::urls::url u(*ref);
  const std::int64_t expires = (now_ms >= 0 ? now_ms / 1000 : 0) + lifetime_.count();
  const std::string expires_text = std::to_string(expires);
  const std::string sig = signature(u.encoded_path(), expires);
  auto params = u.params();
  params.erase(kExpiresParam);
  params.erase(kSignatureParam);
  params.append(boost::urls::param_view(kExpiresParam, expires_text));
  params.append(boost::urls::param_view(kSignatureParam, sig));
  return std::string(u.buffer());
}

AssetUrlSigner::Check AssetUrlSigner::verify(std::string_view path, std::string_view expires,
                                             std::string_view signature, std::int64_t now_ms) const {
  // Shapes first (cheap, before any MAC work).
  if (path.size() > kMaxPathBytes || !canonical_expires(expires) || signature.size() != kSignatureChars)
    return Check::invalid;
  unsigned char presented[crypto_auth_hmacsha256_BYTES];
  std::size_t len = 0;
  if (sodium_base642bin(presented, sizeof presented, signature.data(), signature.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      len != sizeof presented)
    return Check::invalid;
  const std::string msg = message(path, expires);
  const bool ok = crypto_auth_hmacsha256_verify(presented, reinterpret_cast<const unsigned char*>(msg.data()),
                                                msg.size(), key_) == 0;
  if (!ok) return Check::invalid;
  return now_ms >= to_int(expires) * 1000 ? Check::expired : Check::valid;
}

}  // namespace babysea
