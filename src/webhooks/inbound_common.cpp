// Shared inbound-callback helpers and commit_callback (webhooks.hpp).
#include "webhooks/inbound_common.hpp"

#include <sodium.h>

namespace babysea {
namespace inbound {

bool parse_unix_seconds(std::string_view text, std::int64_t& out) noexcept {
  if (text.empty() || text.size() > 12) return false;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool is_token(std::string_view text, std::size_t max_len) noexcept {
  if (text.empty() || text.size() > max_len) return false;
  for (unsigned char c : text)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, 2 * crypto_hash_sha256_BYTES);
}

Status bad_signature(std::string_view scheme, std::string_view why) {
  return Status(Code::invalid_signature, std::string(scheme) + ": " + std::string(why));
}

Status body_too_large(std::size_t cap) {
  return Status(Code::payload_too_large, "callback body exceeds " + std::to_string(cap) + " bytes");
}

}  // namespace inbound

Result<CallbackOutcome> commit_callback(Store& store, const VerifiedCallback& callback, std::int64_t now_ms,
                                        Work apply) {
  if (callback.source().empty() || callback.message_id().empty())
    return Status(Code::internal, "verified callback without source or message id");
  CallbackOutcome outcome = CallbackOutcome::applied;
  Status s = store.transact([&](UnitOfWork& uow) -> Status {
    auto fresh = uow.seen().insert_if_absent(callback.source(), callback.message_id(), now_ms);
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) {
      outcome = CallbackOutcome::duplicate;
      return {};
    }
    outcome = CallbackOutcome::applied;
    return apply(uow);
  });
  if (!s.ok()) return s;
  return outcome;
}

}  // namespace babysea
