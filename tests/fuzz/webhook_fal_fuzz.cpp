// Fuzz target: fal header parsing, the body request-id check, and JWKS parsing.
// Input: "<request-id>\n<user-id>\n<timestamp>\n<signature>\n<body>"; the
// whole input is also parsed as a JWKS document. The JWKS is served from
// memory with a fixed Ed25519 key. Properties: never crashes; refusals are
// invalid_signature or payload_too_large (keys are always available); a
// delivery we sign correctly verifies.
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/webhooks.hpp"

namespace {

struct Key {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Key() {
    if (sodium_init() < 0) std::abort();
    unsigned char seed[crypto_sign_SEEDBYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
    crypto_sign_seed_keypair(pk, sk, seed);
  }
  std::string jwks() const {
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return std::string(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":")") + b64 +
           R"("}]})";
  }
};

const Key& key() {
  static const Key k;
  return k;
}

class MemoryFetcher final : public babysea::JwksFetcher {
 public:
  babysea::Result<std::string> fetch(std::string_view) override { return key().jwks(); }
};

struct Env {
  MemoryFetcher fetcher;
  babysea::ManualClock clock{1'760'000'000'000};
  std::unique_ptr<babysea::FalVerifier> verifier;
  Env() {
    babysea::FalOptions o;
    o.user_id = "fal-user-ours";
    o.jwks_url = "memory://jwks";
    o.max_body_bytes = 4096;
    auto r = babysea::FalVerifier::create(fetcher, clock, o);
    if (!r.ok()) std::abort();
    verifier = std::move(r).value();
  }
};

Env& env() {
  static Env e;
  return e;
}

std::string_view next_line(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

std::string sign(std::string_view rid, std::string_view uid, std::string_view ts, std::string_view body) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, d, sizeof d);
  std::string msg = std::string(rid) + "\n" + std::string(uid) + "\n" + std::string(ts) + "\n" + hex;
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key().sk);
  char sig_hex[2 * crypto_sign_BYTES + 1];
  sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
  return sig_hex;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  (void)babysea::parse_ed25519_jwks(all);

  std::string_view rest = all;
  std::string_view rid = next_line(rest);
  std::string_view uid = next_line(rest);
  std::string_view ts = next_line(rest);
  std::string_view sig = next_line(rest);
  std::string_view body = rest;
  auto r = env().verifier->verify({rid, uid, ts, sig}, body);
  if (!r.ok() && r.code() != babysea::Code::invalid_signature && r.code() != babysea::Code::payload_too_large)
    std::abort();

  // A correctly signed delivery for a simple request id verifies.
  bool simple = !rid.empty() && rid.size() <= 64;
  for (char c : rid) simple = simple && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (simple) {
    const std::string b = R"({"status":"OK","request_id":")" + std::string(rid) + R"(","payload":null})";
    const std::string now = std::to_string(env().clock.now_ms() / 1000);
    auto good = env().verifier->verify({rid, "fal-user-ours", now, sign(rid, "fal-user-ours", now, b)}, b);
    if (!good.ok() || good->message_id() != rid) std::abort();
  }
  return 0;
}
