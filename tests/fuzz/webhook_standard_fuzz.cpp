// Fuzz target: Standard Webhooks header parsing and verification.
// Input: "<webhook-id>\n<webhook-timestamp>\n<webhook-signature>\n<body>".
// Properties: never crashes; a refusal is invalid_signature or
// payload_too_large; what standard_webhook_signature signs for a well-formed
// id verifies.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/webhooks.hpp"

namespace {

constexpr std::int64_t kNow = 1'760'000'000;
const char* const kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

std::string_view next_line(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

const babysea::StandardWebhookVerifier& verifier() {
  static const auto v = [] {
    babysea::StandardWebhookOptions o;
    o.secrets = {kSecret, "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};
    o.max_body_bytes = 4096;
    auto r = babysea::StandardWebhookVerifier::create(o);
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view id = next_line(rest);
  std::string_view ts = next_line(rest);
  std::string_view sig = next_line(rest);
  std::string_view body = rest;
  auto r = verifier().verify({id, ts, sig}, body, kNow);
  if (!r.ok() && r.code() != babysea::Code::invalid_signature && r.code() != babysea::Code::payload_too_large)
    std::abort();

  // Round trip: our own signature over this id and body verifies when the id
  // is well formed (printable, no '.', at most 256 bytes) and the body fits.
  bool id_ok = !id.empty() && id.size() <= 256;
  for (unsigned char c : id) id_ok = id_ok && c >= 0x21 && c <= 0x7e && c != '.';
  const std::string own = babysea::standard_webhook_signature(kSecret, id, kNow, body);
  auto mine = verifier().verify({id, std::to_string(kNow), std::string(sig) + " " + own}, body, kNow);
  const bool should = id_ok && body.size() <= 4096 && sig.size() + 1 + own.size() <= 4096;
  // With the fuzzed entries first, up to 16 well-formed v1 entries may hide ours.
  if (mine.ok() && !should) std::abort();
  if (should && !mine.ok()) {
    auto alone = verifier().verify({id, std::to_string(kNow), own}, body, kNow);
    if (!alone.ok()) std::abort();
  }
  return 0;
}
