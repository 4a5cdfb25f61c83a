// Per-key and per-account token buckets (auth.hpp RateLimiter).
//
// Integer arithmetic: a bucket's level is kept in "token-milliseconds", one
// token = window_ms units, capacity = limit * window_ms, and every elapsed
// millisecond adds `limit` units. So `limit` tokens refill per window exactly,
// with no floating point drift.
#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/rate_limit_bounds.hpp"
#include "babysea/auth.hpp"

namespace babysea {
namespace {

using rate_limit_detail::sanitize;

struct Bucket {
  std::int64_t level = 0;    // token-milliseconds
  std::int64_t last_ms = 0;  // monotonic ms of the last refill
};

}  // namespace

struct RateLimiter::Impl {
  Impl(const Clock& c, RateLimitOptions o) : clock(c), options(o) {}
  const Clock& clock;
  RateLimitOptions options;
  mutable std::mutex mu;
  std::unordered_map<std::string, Bucket> buckets;

  static std::int64_t capacity(const RateLimit& r) { return r.limit * r.window_ms; }

  static void refill(Bucket& b, const RateLimit& r, std::int64_t now) {
    if (now > b.last_ms) {
      const std::int64_t elapsed = std::min(now - b.last_ms, r.window_ms);  // a full window refills everything
      b.level = std::min(capacity(r), b.level + elapsed * r.limit);
      b.last_ms = now;
    }
  }

  const RateLimit& limit_for(const std::string& name) const {
    return name[0] == 'k' ? options.per_key : options.per_account;
  }

  // Drops idle (full) buckets; if none was idle, the least recently used one.
  // Never drops the buckets named in `keep`.
  void make_room(std::int64_t now, const std::string& keep_a, const std::string& keep_b) {
    for (auto it = buckets.begin(); it != buckets.end();) {
      Bucket& b = it->second;
      const RateLimit& r = limit_for(it->first);
      refill(b, r, now);
      if (b.level >= capacity(r) && it->first != keep_a && it->first != keep_b)
        it = buckets.erase(it);
      else
        ++it;
    }
    while (buckets.size() >= options.max_buckets && !buckets.empty()) {
      auto victim = buckets.end();
      for (auto it = buckets.begin(); it != buckets.end(); ++it) {
        if (it->first == keep_a || it->first == keep_b) continue;
        if (victim == buckets.end() || it->second.last_ms < victim->second.last_ms) victim = it;
      }
      if (victim == buckets.end()) break;
      buckets.erase(victim);
    }
  }

  Bucket& bucket(const std::string& name, const RateLimit& r, std::int64_t now, const std::string& other) {
    auto it = buckets.find(name);
    if (it != buckets.end()) {
      refill(it->second, r, now);
      return it->second;
    }
    if (buckets.size() >= options.max_buckets) make_room(now, name, other);
    Bucket& b = buckets[name];
    b.level = capacity(r);
    b.last_ms = now;
    return b;
  }
};

RateLimiter::RateLimiter(const Clock& clock, RateLimitOptions options)
    : impl_(std::make_unique<Impl>(clock, options)) {
  impl_->options.per_key = sanitize(options.per_key);
  impl_->options.per_account = sanitize(options.per_account);
  impl_->options.max_buckets = std::max<std::size_t>(options.max_buckets, 2);
}

RateLimiter::~RateLimiter() = default;

std::size_t RateLimiter::bucket_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->buckets.size();
}

Status RateLimiter::acquire(const Principal& principal, RateInfo* info) {
  Impl& m = *impl_;
  const RateLimit& rk = m.options.per_key;
  const RateLimit& ra = m.options.per_account;
  // Namespaced: "k:" + key id, "a:" + account (I4: buckets are per account).
  const std::string key_name = "k:" + principal.key_id;
  const std::string account_name = "a:" + principal.account;
  const std::int64_t now_unix_ms = m.clock.now_ms();

  std::lock_guard lock(m.mu);
  const std::int64_t now = m.clock.monotonic_ns() / 1'000'000;
  Bucket* bk = rk.limit > 0 ? &m.bucket(key_name, rk, now, account_name) : nullptr;
  Bucket* ba = ra.limit > 0 ? &m.bucket(account_name, ra, now, key_name) : nullptr;

  const bool key_ok = !bk || bk->level >= rk.window_ms;
  const bool account_ok = !ba || ba->level >= ra.window_ms;
  std::int64_t retry_ms = 0;
  if (key_ok && account_ok) {
    if (bk) bk->level -= rk.window_ms;
    if (ba) ba->level -= ra.window_ms;
  } else {
    if (!key_ok) retry_ms = std::max(retry_ms, (rk.window_ms - bk->level + rk.limit - 1) / rk.limit);
    if (!account_ok) retry_ms = std::max(retry_ms, (ra.window_ms - ba->level + ra.limit - 1) / ra.limit);
  }

  if (info) {
    *info = RateInfo{};
    // Report the tighter bucket: the one with fewer whole tokens left.
    const Bucket* tb = nullptr;
    const RateLimit* tr = nullptr;
    if (bk) tb = bk, tr = &rk;
    if (ba && (!tb || ba->level / ra.window_ms < tb->level / tr->window_ms)) tb = ba, tr = &ra;
    if (tb) {
      info->limit = tr->limit;
      info->remaining = tb->level / tr->window_ms;
      const std::int64_t to_full_ms = (Impl::capacity(*tr) - tb->level + tr->limit - 1) / tr->limit;
      info->reset_unix_s = (now_unix_ms + to_full_ms + 999) / 1000;
    }
    info->retry_after_s = retry_ms > 0 ? (retry_ms + 999) / 1000 : 0;
  }
  if (retry_ms > 0) {
    Status s(Code::rate_limited, "rate limit exceeded; retry after " + std::to_string((retry_ms + 999) / 1000) + " s");
    return s;
  }
  return {};
}

}  // namespace babysea
