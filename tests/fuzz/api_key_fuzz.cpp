// Fuzz target: Authorization header and API key parsing.
// Input: an Authorization header value. Properties: never crashes; a key that
// parses has the documented shape; anything but the one issued key is refused
// with exactly the canonical unauthenticated Status; the issued key verifies.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/auth.hpp"

namespace {

struct Env {
  std::unique_ptr<babysea::Store> store = babysea::open_memory_store();
  babysea::ManualClock clock;
  std::unique_ptr<babysea::ApiKeyService> keys;
  std::string issued;
  Env() {
    babysea::ApiKeyOptions o;
    o.region = "us";
    o.pepper = "fuzz pepper, at least thirty-two bytes long";
    o.last_used_granularity_ms = 0;
    auto s = babysea::ApiKeyService::create(*store, clock, o);
    if (!s.ok()) std::abort();
    keys = std::move(s).value();
    babysea::IssueKeyRequest r;
    r.account = "acct_fuzz";
    r.scopes = babysea::kReadOnly;
    auto k = keys->issue(r);
    if (!k.ok()) std::abort();
    issued = k->key;
  }
};

Env& env() {
  static Env e;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  babysea::ApiKeyParts parts;
  if (babysea::parse_api_key(in, parts)) {
    if (in.size() != babysea::kApiKeyChars || in.substr(0, 4) != "bye_" || parts.id.size() != babysea::kApiKeyIdChars ||
        parts.secret.size() != babysea::kApiKeySecretChars)
      std::abort();
  }
  static const babysea::Status canonical = babysea::invalid_api_key();
  for (auto r : {env().keys->authenticate(in), env().keys->authenticate_bearer(in)}) {
    if (r.ok()) {
      if (r->account != "acct_fuzz" || in.find(env().issued) == std::string_view::npos) std::abort();
    } else if (r.status().to_string() != canonical.to_string()) {
      std::abort();
    }
  }
  if (!env().keys->authenticate_bearer("Bearer " + env().issued).ok()) std::abort();
  return 0;
}
