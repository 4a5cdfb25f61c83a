// Fuzz target: the bare "sha256=<hex>" HMAC header (BFL).
// Input: "<header>\n<body>". Properties: never crashes; refusals are
// invalid_signature or payload_too_large; our own header verifies.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/webhooks.hpp"

namespace {

const babysea::HmacHeaderVerifier& verifier() {
  static const auto v = [] {
    babysea::HmacHeaderOptions o;
    o.secrets = {"bfl-fuzz-secret", "bfl-fuzz-old"};
    o.max_body_bytes = 4096;
    auto r = babysea::HmacHeaderVerifier::create(o);
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  std::string_view header = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  auto r = verifier().verify(header, body);
  if (!r.ok() && r.code() != babysea::Code::invalid_signature && r.code() != babysea::Code::payload_too_large)
    std::abort();
  if (r.ok() && header != babysea::hmac_header_signature("bfl-fuzz-secret", body) &&
      header != babysea::hmac_header_signature("bfl-fuzz-old", body)) {
    // Only hex case may differ from our lowercase rendering.
    std::string lower(header);
    for (auto& c : lower)
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (lower != babysea::hmac_header_signature("bfl-fuzz-secret", body) &&
        lower != babysea::hmac_header_signature("bfl-fuzz-old", body))
      std::abort();
  }
  auto own = verifier().verify(babysea::hmac_header_signature("bfl-fuzz-old", body), body);
  if (own.ok() != (body.size() <= 4096)) std::abort();
  return 0;
}
