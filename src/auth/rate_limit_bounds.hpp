// The bounds every rate limiter applies to its configured limits (the
// in-process RateLimiter and the shared one on Redis). Internal.
#pragma once

#include <algorithm>
#include <cstdint>

#include "babysea/auth.hpp"

namespace babysea::rate_limit_detail {

inline constexpr std::int64_t kMaxLimit = 1'000'000;
inline constexpr std::int64_t kMaxWindowMs = 86'400'000;

// Limits clamped to 0..kMaxLimit tokens per 1..kMaxWindowMs ms.
inline RateLimit sanitize(RateLimit r) {
  r.limit = std::clamp<std::int64_t>(r.limit, 0, kMaxLimit);
  r.window_ms = std::clamp<std::int64_t>(r.window_ms, 1, kMaxWindowMs);
  return r;
}

}  // namespace babysea::rate_limit_detail
