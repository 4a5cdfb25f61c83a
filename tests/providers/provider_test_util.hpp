// Helpers shared by the provider adapter tests.
#pragma once

#include <sodium.h>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "json/strict.hpp"
#include "support/fake_transport.hpp"

namespace babysea::provider_tests {

inline constexpr std::int64_t kStartMs = 1'760'000'000'000;
inline const std::string kBase = "http://127.0.0.1:9";
inline const std::string kCallback = "https://hooks.example.com/cb/att_1?x=1";

inline NativePayload payload(std::string provider, std::string model, std::string endpoint, std::string json) {
  NativePayload p;
  p.provider = std::move(provider);
  p.native_model = std::move(model);
  p.endpoint = std::move(endpoint);
  p.json = std::move(json);
  return p;
}

inline SubmitRequest submit_request(const NativePayload& p, std::string callback = kCallback) {
  SubmitRequest r;
  r.generation_id = "gen_1";
  r.attempt_id = "att_1";
  r.payload = &p;
  r.callback_url = std::move(callback);
  return r;
}

// Standard (padded) base64 of `bytes`.
inline std::string b64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

// Runs fn(thread index) on `n` threads and joins them.
inline void on_threads(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
  for (auto& th : threads) th.join();
}

inline json::Value parse(std::string_view text) {
  auto v = json::parse_strict(text);
  REQUIRE(v.ok());
  return std::move(v).value();
}

inline std::string str(const json::Value& v, std::string_view key) {
  const json::Value* m = v.find(key);
  return m && m->is_string() ? m->string : std::string("<absent>");
}

// One row of the HTTP / transport error matrix every adapter must map.
struct ErrorCase {
  const char* name;
  int status;  // 0: a transport failure with `code`
  Code code;
  const char* body;
  const char* retry_after;  // header value or nullptr
  ErrorKind expected;
  std::int64_t expected_retry_ms;
};

inline std::vector<ErrorCase> error_matrix() {
  return {
      {"429 + Retry-After", 429, Code::ok, R"({"error":"slow down"})", "7", ErrorKind::rate_limited, 7000},
      {"500", 500, Code::ok, R"({"detail":"boom"})", nullptr, ErrorKind::server_error, 0},
      {"502", 502, Code::ok, "<html>bad gateway</html>", nullptr, ErrorKind::server_error, 0},
      {"503 + Retry-After", 503, Code::ok, R"({"detail":"busy"})", "2", ErrorKind::provider_unavailable, 2000},
      {"401", 401, Code::ok, R"({"detail":"bad key"})", nullptr, ErrorKind::provider_auth, 0},
      {"403", 403, Code::ok, R"({"detail":"forbidden"})", nullptr, ErrorKind::provider_auth, 0},
      {"402", 402, Code::ok, R"({"detail":"no credit"})", nullptr, ErrorKind::provider_quota, 0},
      {"404 on submit", 404, Code::ok, R"({"detail":"no such model"})", nullptr, ErrorKind::model_unavailable, 0},
      {"422", 422, Code::ok, R"({"detail":"prompt too long"})", nullptr, ErrorKind::invalid_input, 0},
      {"200 malformed JSON", 200, Code::ok, R"({"id":"x","status":)", nullptr, ErrorKind::malformed_response, 0},
      {"200 empty body", 200, Code::ok, "", nullptr, ErrorKind::malformed_response, 0},
      {"transport timeout", 0, Code::timeout, "", nullptr, ErrorKind::timeout, 0},
      {"transport reset", 0, Code::unavailable, "", nullptr, ErrorKind::connection, 0},
  };
}

inline void script(testing::FakeTransport& t, const ErrorCase& c) {
  if (c.status == 0) {
    t.fail(c.code);
    return;
  }
  std::vector<HttpHeader> h{{"Content-Type", "application/json"}};
  if (c.retry_after) h.push_back({"Retry-After", c.retry_after});
  t.respond(c.status, c.body, std::move(h));
}

// Ed25519 signing for fal callbacks, as fal's platform key would.
struct FalSigner {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  FalSigner() {
    REQUIRE(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
  }
  std::string jwks() const {
    char x[64];
    sodium_bin2base64(x, sizeof x, pk, sizeof pk, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return std::string(R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":")") + x + R"(","use":"sig"}]})";
  }
  std::string sign(std::string_view request_id, std::string_view user_id, std::string_view ts,
                   std::string_view body) const {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(body.data()), body.size());
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    std::string msg = std::string(request_id) + "\n" + std::string(user_id) + "\n" + std::string(ts) + "\n" + hex;
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), sk);
    char sig_hex[2 * crypto_sign_BYTES + 1];
    sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
    return sig_hex;
  }
};

inline std::string sha256_hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

class StaticJwks final : public JwksFetcher {
 public:
  explicit StaticJwks(std::string doc) : doc_(std::move(doc)) {}
  Result<std::string> fetch(std::string_view) override {
    ++fetches;
    return doc_;
  }
  int fetches = 0;

 private:
  std::string doc_;
};

}  // namespace babysea::provider_tests
