// Shared token buckets on Redis (shared_rate_limit.hpp).
#include "cache/shared_rate_limit.hpp"

#include <algorithm>

#include "auth/rate_limit_bounds.hpp"

namespace babysea::cache {
namespace {

using rate_limit_detail::sanitize;

// KEYS: key bucket, account bucket. ARGV: key limit, key window ms, account
// limit, account window ms. Returns {allowed 0|1, limit, remaining,
// ms until the reported bucket is full, retry ms, server unix ms}.
// Levels are token-milliseconds (capacity limit*window <= 8.64e13 < 2^53, so
// Lua's doubles hold them exactly); the arithmetic mirrors rate_limit.cpp.
const RedisScript& script() {
  static const RedisScript s(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function load(key, limit, window)
  if limit <= 0 then return nil end
  local cap = limit * window
  local v = redis.call('HMGET', key, 'l', 't')
  local level, last = tonumber(v[1]), tonumber(v[2])
  if level == nil or last == nil then
    level, last = cap, now
  elseif now > last then
    level = math.min(cap, level + math.min(now - last, window) * limit)
    last = now
  end
  return {key = key, limit = limit, window = window, cap = cap, level = level, last = last}
end
local bk = load(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local ba = load(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
local key_ok = (bk == nil) or bk.level >= bk.window
local account_ok = (ba == nil) or ba.level >= ba.window
local retry = 0
if key_ok and account_ok then
  if bk then bk.level = bk.level - bk.window end
  if ba then ba.level = ba.level - ba.window end
else
  if not key_ok then retry = math.max(retry, math.floor((bk.window - bk.level + bk.limit - 1) / bk.limit)) end
  if not account_ok then retry = math.max(retry, math.floor((ba.window - ba.level + ba.limit - 1) / ba.limit)) end
end
local function to_full(b) return math.floor((b.cap - b.level + b.limit - 1) / b.limit) end
for _, b in ipairs({bk or false, ba or false}) do
  if b then
    local ttl = to_full(b)
    if ttl <= 0 then
      redis.call('DEL', b.key)
    else
      redis.call('HSET', b.key, 'l', b.level, 't', b.last)
      redis.call('PEXPIRE', b.key, ttl)
    end
  end
end
local tb = bk
if ba and (not tb or math.floor(ba.level / ba.window) < math.floor(tb.level / tb.window)) then tb = ba end
local allowed = 0
if retry == 0 then allowed = 1 end
if not tb then return {allowed, 0, 0, 0, retry, now} end
return {allowed, tb.limit, math.floor(tb.level / tb.window), to_full(tb), retry, now}
)lua");
  return s;
}

}  // namespace

SharedRateLimiter::SharedRateLimiter(RedisClient& client, RateLimitOptions options, std::string key_prefix)
    : client_(client), options_(options), prefix_(std::move(key_prefix)) {
  options_.per_key = sanitize(options.per_key);
  options_.per_account = sanitize(options.per_account);
}

std::string SharedRateLimiter::key_bucket(const Principal& p) const {
  return prefix_ + "{" + p.account + "}:k:" + p.key_id;
}

std::string SharedRateLimiter::account_bucket(const Principal& p) const { return prefix_ + "{" + p.account + "}:a"; }

Status SharedRateLimiter::acquire(const Principal& principal, RateInfo* info) {
  if (info) *info = RateInfo{};
  const RateLimit& rk = options_.per_key;
  const RateLimit& ra = options_.per_account;
  if (rk.limit == 0 && ra.limit == 0) return {};
  auto r = client_.eval(script(), {key_bucket(principal), account_bucket(principal)},
                        {std::to_string(rk.limit), std::to_string(rk.window_ms), std::to_string(ra.limit),
                         std::to_string(ra.window_ms)});
  if (!r.ok()) return r.status();
  const RedisReply& v = r.value();
  if (v.type != RedisReply::Type::array || v.elements.size() != 6 ||
      !std::all_of(v.elements.begin(), v.elements.end(),
                   [](const RedisReply& e) { return e.type == RedisReply::Type::integer; }))
    return Status(Code::storage_error, "redis rate limit script: unexpected reply");
  const bool allowed = v.elements[0].integer == 1;
  const std::int64_t retry_ms = v.elements[4].integer;
  if (info) {
    info->limit = v.elements[1].integer;
    info->remaining = v.elements[2].integer;
    if (info->limit > 0) info->reset_unix_s = (v.elements[5].integer + v.elements[3].integer + 999) / 1000;
    info->retry_after_s = retry_ms > 0 ? (retry_ms + 999) / 1000 : 0;
  }
  if (!allowed)
    return Status(Code::rate_limited,
                  "rate limit exceeded; retry after " + std::to_string((std::max<std::int64_t>(retry_ms, 1) + 999) / 1000) + " s");
  return {};
}

}  // namespace babysea::cache
