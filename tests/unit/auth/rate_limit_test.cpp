// Token buckets per key and per account: limits, refill, refusals that take
// nothing, namespacing by account, bounded memory.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "babysea/auth.hpp"

using namespace babysea;
using std::chrono::milliseconds;

namespace {
Principal who(std::string account, std::string key) { return Principal{std::move(account), std::move(key), kFullAccess, "us"}; }
}  // namespace

TEST_CASE("rate limit: per key bucket, refill and retry-after") {
  ManualClock clock;
  RateLimitOptions o;
  o.per_key = {3, 3000};  // 3 per 3 s: one token per second
  o.per_account = {0, 1000};
  RateLimiter rl(clock, o);
  auto p = who("a", "k1");
  RateInfo info;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(rl.acquire(p, &info).ok());
    CHECK(info.limit == 3);
    CHECK(info.remaining == 2 - i);
    CHECK(info.retry_after_s == 0);
  }
  Status s = rl.acquire(p, &info);
  CHECK(s.code() == Code::rate_limited);
  CHECK(s.retryable());
  CHECK(info.retry_after_s == 1);
  CHECK(info.remaining == 0);
  CHECK(info.reset_unix_s == (clock.now_ms() + 3000) / 1000);
  clock.advance(milliseconds(999));
  CHECK(rl.acquire(p).code() == Code::rate_limited);
  clock.advance(milliseconds(1));
  CHECK(rl.acquire(p).ok());
  CHECK(rl.acquire(p).code() == Code::rate_limited);
  clock.advance(milliseconds(60'000));  // long idle: refills to the burst, not beyond
  for (int i = 0; i < 3; ++i) CHECK(rl.acquire(p).ok());
  CHECK(rl.acquire(p).code() == Code::rate_limited);
}

TEST_CASE("rate limit: a refused request takes nothing from either bucket") {
  ManualClock clock;
  RateLimitOptions o;
  o.per_key = {2, 1000};
  o.per_account = {3, 1000};
  RateLimiter rl(clock, o);
  auto k1 = who("a", "k1"), k2 = who("a", "k2"), other = who("b", "k3");
  CHECK(rl.acquire(k1).ok());
  CHECK(rl.acquire(k1).ok());
  for (int i = 0; i < 5; ++i) CHECK(rl.acquire(k1).code() == Code::rate_limited);  // key empty
  // The refusals above did not drain the account: one account token is left.
  CHECK(rl.acquire(k2).ok());
  RateInfo info;
  CHECK(rl.acquire(k2, &info).code() == Code::rate_limited);  // the account is empty now
  CHECK(info.limit == 3);                                    // the tighter bucket is reported
  CHECK(info.retry_after_s == 1);
  // Another account is independent (buckets are namespaced by account).
  CHECK(rl.acquire(other).ok());
  CHECK(rl.acquire(other).ok());
}

TEST_CASE("rate limit: disabled limits always pass; memory stays bounded") {
  ManualClock clock;
  RateLimitOptions off;
  off.per_key = {0, 1000};
  off.per_account = {0, 1000};
  RateLimiter free_for_all(clock, off);
  for (int i = 0; i < 1000; ++i) REQUIRE(free_for_all.acquire(who("a", "k")).ok());
  CHECK(free_for_all.bucket_count() == 0);

  RateLimitOptions o;
  o.per_key = {2, 1000};
  o.per_account = {100, 1000};
  o.max_buckets = 16;
  RateLimiter rl(clock, o);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(rl.acquire(who("acct" + std::to_string(i % 50), "key" + std::to_string(i))).ok());
    CHECK(rl.bucket_count() <= 16);
  }
  // Idle (refilled) buckets are dropped before a busy one.
  clock.advance(milliseconds(2000));  // every bucket so far refills and becomes idle
  auto hot = who("hot", "hotkey");
  CHECK(rl.acquire(hot).ok());
  CHECK(rl.acquire(hot).ok());
  CHECK(rl.acquire(hot).code() == Code::rate_limited);
  for (int i = 0; i < 10; ++i) REQUIRE(rl.acquire(who("x", "cold" + std::to_string(i))).ok());
  CHECK(rl.bucket_count() <= 16);
  CHECK(rl.acquire(hot).code() == Code::rate_limited);  // still drained: not forgotten
}

TEST_CASE("rate limit: concurrent callers never get more than the limit") {
  ManualClock clock;
  RateLimitOptions o;
  o.per_key = {0, 60'000};
  o.per_account = {100, 60'000};
  RateLimiter rl(clock, o);
  std::atomic<int> granted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Status s = rl.acquire(who("acct", "key" + std::to_string(t)));
        (s.ok() ? granted : refused)++;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(granted == 100);
  CHECK(refused == 300);
}
