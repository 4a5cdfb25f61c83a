// Shared rate limits on Redis: the same per-key and per-account token buckets
// as the in-process RateLimiter (babysea/auth.hpp, src/auth/rate_limit.cpp),
// kept in Redis so that every instance of a deployment draws from one pair of
// buckets (DESIGN.md §8, issue 18). Not yet wired into the engine.
//
// Semantics match RateLimiter::acquire exactly: a bucket holds up to `limit`
// tokens, refilled continuously at limit per window_ms (integer
// "token-milliseconds", no drift), a request takes one token from both
// buckets or, if either is empty, from neither; limit 0 disables a bucket;
// RateInfo reports the tighter bucket. One Lua script reads, decides and
// writes both buckets atomically, with the server's clock (TIME), so
// instances with skewed clocks still agree. Buckets are Redis hashes that
// expire once they would be full again (an absent bucket is a full one).
// Keys: <prefix>{<account>}:a and <prefix>{<account>}:k:<key id>: the hash
// tag keeps both in one Redis Cluster slot.
//
// Errors: rate_limited (as RateLimiter: "rate limit exceeded; retry after N
// s", nothing taken), or the client's unavailable/storage_error when Redis
// cannot decide: the caller then falls back to its local limiter (fail-open
// is the caller's policy, not this class's).
//
// Thread safety: as the RedisClient it uses (safe from any thread).
#pragma once

#include <string>

#include "babysea/auth.hpp"
#include "cache/redis_client.hpp"

namespace babysea::cache {

class SharedRateLimiter {
 public:
  // `client` must outlive this object.
  SharedRateLimiter(RedisClient& client, RateLimitOptions options, std::string key_prefix = "babysea:rl:");

  Status acquire(const Principal& principal, RateInfo* info = nullptr);

  // The Redis keys of a principal's two buckets (for tests and operators).
  std::string key_bucket(const Principal& principal) const;
  std::string account_bucket(const Principal& principal) const;

 private:
  RedisClient& client_;
  RateLimitOptions options_;
  std::string prefix_;
};

}  // namespace babysea::cache
