// Internal helpers shared by the inbound verifiers (webhooks.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "babysea/webhooks.hpp"

namespace babysea {

// The verifiers' key to VerifiedCallback's private constructor.
struct VerifiedCallbackAccess {
  static VerifiedCallback make(std::string source, std::string message_id, std::int64_t timestamp_s) {
    VerifiedCallback cb;
    cb.source_ = std::move(source);
    cb.message_id_ = std::move(message_id);
    cb.timestamp_s_ = timestamp_s;
    return cb;
  }
};

namespace inbound {

// 1..12 ASCII digits -> value; false otherwise.
bool parse_unix_seconds(std::string_view text, std::int64_t& out) noexcept;

// Printable ASCII (0x21..0x7e) only, 1..max_len bytes.
bool is_token(std::string_view text, std::size_t max_len) noexcept;

// Lowercase hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

// |now - t| <= tolerance (inclusive bound).
inline bool within_tolerance(std::int64_t t, std::int64_t now_s, std::int64_t tolerance_s) noexcept {
  return t >= now_s - tolerance_s && t <= now_s + tolerance_s;
}

Status bad_signature(std::string_view scheme, std::string_view why);
Status body_too_large(std::size_t cap);

}  // namespace inbound
}  // namespace babysea
