// The cluster cache (src/cache/cluster_cache.hpp): shared limits, ranking
// leader election and publication, shared breaker openings, fail-open, on a
// real Redis. Runs in redis_test (scripts/with_redis.sh: BABYSEA_TEST_REDIS
// and BABYSEA_TEST_REDIS_CTL).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "babysea/auth.hpp"
#include "babysea/clock.hpp"
#include "babysea/router.hpp"
#include "babysea/runtime.hpp"
#include "cache/cluster_cache.hpp"
#include "cache/redis_client.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace std::chrono_literals;

namespace {

std::string redis_url() {
  const char* url = std::getenv("BABYSEA_TEST_REDIS");
  INFO("BABYSEA_TEST_REDIS is not set: run through scripts/with_redis.sh");
  REQUIRE(url != nullptr);
  return url;
}

void ctl(const std::string& what) {
  const char* c = std::getenv("BABYSEA_TEST_REDIS_CTL");
  REQUIRE(c != nullptr);
  const std::string cmd = std::string("\"") + c + "\" " + what;
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::string fresh_prefix(std::string_view test) {
  static std::atomic<int> n{0};
  return "cc:" + std::string(test) + ":" + std::to_string(n++) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

const std::string kModel = "demo/model";

// One instance's worth: clock, router, local limiter, cluster cache.
struct Instance {
  ManualClock clock{std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()};
  std::unique_ptr<Router> router;
  std::unique_ptr<RateLimiter> local;
  std::unique_ptr<ClusterCache> cache;

  Instance(const std::string& prefix, std::string id, RateLimitOptions limits = {}, bool fail_open = true,
           std::chrono::milliseconds leader_ttl = 10s) {
    RouterOptions ro;
    ro.scoring.min_samples = 1;
    ro.explore_one_in = 0;
    ro.breaker.base_open = 20s;
    ro.breaker.max_open = 60s;
    auto r = Router::create(ro, clock);
    REQUIRE(r.ok());
    router = std::move(r).value();
    std::vector<ModelRoute> routes{{kModel, {"a", "b", "c"}}};
    REQUIRE(router->set_routes(routes).ok());
    local = std::make_unique<RateLimiter>(clock, limits);
    ClusterCacheConfig cc;
    cc.cache.url = redis_url();
    cc.cache.key_prefix = prefix;
    cc.cache.timeout = 300ms;
    cc.cache.fail_open_limits = fail_open;
    cc.cache.ranking_ttl = 5s;
    cc.instance_id = std::move(id);
    cc.region = "us";
    cc.models = {kModel};
    cc.providers = {"a", "b", "c"};
    cc.rate_limits = limits;
    cc.leader_ttl = leader_ttl;
    cc.initial_backoff = 10ms;
    cc.max_backoff = 50ms;
    auto c = ClusterCache::create(std::move(cc), *router, *local, clock);
    REQUIRE(c.ok());
    cache = std::move(c).value();
  }

  Plan fastest() {
    auto p = router->plan(kModel, "us", RequestedOrder::fastest_order());
    REQUIRE(p.ok());
    return p.value();
  }

  void record(std::string id, std::string provider, AttemptOutcome outcome, std::int64_t latency_ms,
              std::int64_t retry_after_ms = 0) {
    AttemptRecord r;
    r.attempt_id = std::move(id);
    r.region = "us";
    r.model = kModel;
    r.provider = std::move(provider);
    r.outcome = outcome;
    r.error = outcome == AttemptOutcome::failed ? ErrorKind::provider_unavailable : ErrorKind::none;
    r.latency_ms = latency_ms;
    r.finished_ms = clock.now_ms();
    r.retry_after_ms = retry_after_ms;
    REQUIRE(router->record_attempt(r).ok());
  }
};

Principal who(std::string account, std::string key) { return Principal{std::move(account), std::move(key), kFullAccess, "us"}; }

std::unique_ptr<cache::RedisClient> raw_client() {
  auto c = cache::RedisClient::create(redis_url());
  REQUIRE(c.ok());
  return std::move(c).value();
}

}  // namespace

TEST_CASE("cluster cache: bad urls are create errors") {
  ManualClock clock;
  auto router = Router::create(RouterOptions{}, clock);
  REQUIRE(router.ok());
  RateLimiter local(clock, RateLimitOptions{});
  ClusterCacheConfig cc;
  cc.region = "us";
  cc.cache.url = "rediss://cache.example:6380";
  CHECK(ClusterCache::create(cc, **router, local, clock).code() == Code::unsupported);
  cc.cache.url = "http://cache.example";
  CHECK(ClusterCache::create(cc, **router, local, clock).code() == Code::invalid_request);
  cc.cache.url = "redis://cache.example";
  auto ok = ClusterCache::create(cc, **router, local, clock);
  REQUIRE(ok.ok());
  CHECK_FALSE(ok.value()->instance_id().empty());  // random when not given
  CHECK(ok.value()->ranking_key("us", "black-forest-labs/flux-schnell") == "babysea:ranking:us:black-forest-labs/flux-schnell");
  CHECK(ok.value()->breaker_key("fal", "us", "") == "babysea:breaker:fal:us");
  CHECK(ok.value()->breaker_key("fal", "us", "m/x") == "babysea:breaker:fal:us:m/x");
  CHECK(ok.value()->leader_key() == "babysea:ranking:leader");
}

TEST_CASE("cluster cache: two instances share one limit") {
  RateLimitOptions limits;
  limits.per_key = {5, 60'000};
  limits.per_account = {0, 60'000};
  const std::string prefix = fresh_prefix("limits");
  Instance one(prefix, "one", limits), two(prefix, "two", limits);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) {
    Instance& inst = i % 2 ? two : one;
    RateInfo info;
    Status s = inst.cache->acquire(who("acct", "key"), &info);
    if (s.ok()) ++admitted;
    else CHECK(s.code() == Code::rate_limited);
    CHECK(info.limit == 5);
  }
  CHECK(admitted == 5);
  one.cache->sync();
  const CacheHealth h = one.cache->health();
  CHECK(h.configured);
  CHECK(h.healthy);
  CHECK(h.limits == "shared");
  CHECK(h.rankings == "shared");
  CHECK(h.error.empty());
  std::string metrics;
  one.cache->render_metrics(metrics);
  CHECK(metrics.find("babysea_cache_up 1") != std::string::npos);
  CHECK(metrics.find("babysea_rate_limit_mode{mode=\"shared\"} 1") != std::string::npos);
  CHECK(metrics.find("babysea_cache_errors_total 0") != std::string::npos);
}

TEST_CASE("cluster cache: leader election and takeover") {
  const std::string prefix = fresh_prefix("leader");
  Instance one(prefix, "one", {}, true, 300ms), two(prefix, "two", {}, true, 300ms);
  one.cache->sync();
  two.cache->sync();
  CHECK(one.cache->health().ranking_leader != two.cache->health().ranking_leader);
  Instance& holder = one.cache->health().ranking_leader ? one : two;
  Instance& other = one.cache->health().ranking_leader ? two : one;
  // Renewals keep it.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(150ms);
    holder.cache->sync();
    other.cache->sync();
    CHECK(holder.cache->health().ranking_leader);
    CHECK_FALSE(other.cache->health().ranking_leader);
  }
  // The holder stops renewing: the other takes over once the lock lapses.
  std::this_thread::sleep_for(400ms);
  other.cache->sync();
  CHECK(other.cache->health().ranking_leader);
  holder.cache->sync();
  CHECK_FALSE(holder.cache->health().ranking_leader);
  // Resigning hands over at once.
  other.cache->resign();
  holder.cache->sync();
  CHECK(holder.cache->health().ranking_leader);
}

TEST_CASE("cluster cache: the leader's ranking is read and planned with; a missing key falls back") {
  const std::string prefix = fresh_prefix("ranking");
  Instance one(prefix, "one"), two(prefix, "two");
  // Before anything is published: the catalog's order.
  two.cache->sync();
  Plan p = two.fastest();
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::no_ranking);
  CHECK(p.chain.names() == std::vector<std::string>{"a", "b", "c"});

  REQUIRE(two.cache->health().ranking_leader);  // the first to sync took the lock
  Instance& leader = two;
  Instance& reader = one;
  // Only the leader has seen attempts: c fast and good, a slow, b failing.
  for (int i = 0; i < 3; ++i) {
    leader.record("a" + std::to_string(i), "a", AttemptOutcome::used, 9'000);
    leader.record("c" + std::to_string(i), "c", AttemptOutcome::used, 1'000);
  }
  leader.record("b0", "b", AttemptOutcome::used, 5'000);
  leader.record("b1", "b", AttemptOutcome::discarded, 5'000);
  leader.cache->sync();
  reader.cache->sync();
  REQUIRE(leader.cache->health().ranking_leader);
  auto raw = raw_client();
  auto v = raw->command({"GET", prefix + ":ranking:us:" + kModel});
  REQUIRE(v.ok());
  REQUIRE(v.value().type == cache::RedisReply::Type::string);
  CHECK(v.value().str.find("\"providers_ranked\"") != std::string::npos);
  auto ttl = raw->command({"PTTL", prefix + ":ranking:us:" + kModel});
  REQUIRE(ttl.ok());
  CHECK(ttl.value().integer > 0);
  CHECK(ttl.value().integer <= 5'000);

  for (Instance* inst : {&leader, &reader}) {
    p = inst->fastest();
    CHECK(p.source == OrderSource::ranking);
    CHECK(p.chain.names() == std::vector<std::string>{"c", "a", "b"});
    CHECK(inst->cache->health().rankings == "shared");
  }

  // An invalid value: fallback, invalid_ranking.
  REQUIRE(raw->command({"SET", prefix + ":ranking:us:" + kModel, "{not-json", "PX", "5000"}).ok());
  reader.cache->sync();
  p = reader.fastest();
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::invalid_ranking);

  // The key gone (expired, flushed): fallback, no_ranking.
  REQUIRE(raw->command({"DEL", prefix + ":ranking:us:" + kModel}).ok());
  reader.cache->sync();
  p = reader.fastest();
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::no_ranking);
  CHECK(p.chain.names() == std::vector<std::string>{"a", "b", "c"});

  // A published ranking older than max_ranking_age: stale.
  leader.cache->sync();
  reader.cache->sync();
  CHECK(reader.fastest().source == OrderSource::ranking);
  reader.clock.advance(16min);
  p = reader.fastest();
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::stale_ranking);
}

TEST_CASE("cluster cache: a breaker opening is shared") {
  const std::string prefix = fresh_prefix("breaker");
  Instance one(prefix, "one"), two(prefix, "two");
  // a answers with a Retry-After on instance one: its breaker opens there.
  one.record("x1", "a", AttemptOutcome::failed, 100, 30'000);
  REQUIRE(one.router->breaker("a", "us").state == BreakerState::open);
  CHECK(two.router->breaker("a", "us").state == BreakerState::closed);
  one.cache->sync();
  auto raw = raw_client();
  auto ttl = raw->command({"PTTL", prefix + ":breaker:a:us"});
  REQUIRE(ttl.ok());
  CHECK(ttl.value().integer > 25'000);
  CHECK(ttl.value().integer <= 30'000);

  two.cache->sync();
  const BreakerInfo b = two.router->breaker("a", "us");
  CHECK(b.state == BreakerState::open);
  CHECK(b.open_until_ms > two.clock.now_ms() + 25'000);
  Plan p = two.fastest();
  REQUIRE(p.chain.size() == 3);
  CHECK(p.chain[2].provider == "a");
  CHECK(p.chain[2].breaker_open);
  // The adopted opening is not sent back (nothing changes in the cache), and
  // past its deadline the local breaker goes half-open (local probes).
  two.cache->sync();
  two.clock.advance(31s);
  CHECK(two.router->breaker("a", "us").state == BreakerState::half_open);
  CHECK(two.router->admit("a", "us", kModel, "probe-1").probe);
}

TEST_CASE("cluster cache: redis down fails open to local limits and fallback order; recovers") {
  RateLimitOptions limits;
  limits.per_key = {100, 60'000};
  limits.per_account = {0, 60'000};
  const std::string prefix = fresh_prefix("down");
  Instance open_inst(prefix, "open", limits, true), closed_inst(prefix, "closed", limits, false);
  open_inst.cache->sync();
  REQUIRE(open_inst.cache->acquire(who("acct", "k")).ok());
  REQUIRE(closed_inst.cache->acquire(who("acct", "k")).ok());
  CHECK(open_inst.cache->health().limits == "shared");

  ctl("stop");
  RateInfo info;
  CHECK(open_inst.cache->acquire(who("acct", "k"), &info).ok());  // the local limiter decided
  CHECK(info.limit == 100);
  CHECK(closed_inst.cache->acquire(who("acct", "k")).code() == Code::unavailable);
  CacheHealth h = open_inst.cache->health();
  CHECK(h.limits == "local");
  CHECK_FALSE(h.healthy);
  CHECK_FALSE(h.error.empty());
  CHECK(h.error.find("redis") != std::string::npos);
  open_inst.cache->sync();
  h = open_inst.cache->health();
  CHECK(h.rankings == "fallback");
  CHECK_FALSE(h.ranking_leader);
  Plan p = open_inst.fastest();
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::cache_unavailable);
  CHECK(open_inst.cache->errors_total() >= 2);
  std::string metrics;
  open_inst.cache->render_metrics(metrics);
  CHECK(metrics.find("babysea_cache_up 0") != std::string::npos);
  CHECK(metrics.find("babysea_rate_limit_mode{mode=\"local\"} 1") != std::string::npos);

  ctl("start");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && open_inst.cache->health().limits != "shared") {
    (void)open_inst.cache->acquire(who("acct", "k"));
    std::this_thread::sleep_for(20ms);
  }
  h = open_inst.cache->health();
  CHECK(h.limits == "shared");
  CHECK(h.healthy);
  open_inst.cache->sync();
  h = open_inst.cache->health();
  CHECK(h.healthy);
  CHECK(h.rankings == "shared");
  CHECK(h.error.empty());
  CHECK(open_inst.fastest().fallback_reason == FallbackReason::no_ranking);
}

TEST_CASE("cluster cache: two engines (runtime config) share limits through Redis; health says so") {
  babysea::testing::TempDir dir;
  const std::string prefix = fresh_prefix("engine");
  auto config = [&](const std::string& id) {
    return std::string(R"({
      "region": "us",
      "api_key_pepper": "0123456789abcdef0123456789abcdef-pepper",
      "database": {"engine": "memory"},
      "assets": {"directory": ")") + dir.file("assets-" + id) + R"(", "public_base_url": "http://127.0.0.1:1/assets"},
      "engine": {"threads": 1, "start_workers": false},
      "webhooks": {"enabled": false},
      "rate_limits": {"per_key": {"limit": 3, "window_ms": 60000}, "per_account": {"limit": 0, "window_ms": 60000}},
      "cache": {"url": ")" + redis_url() + R"(", "key_prefix": ")" + prefix + R"(", "timeout_ms": 500},
      "cluster": {"instance_id": ")" + id + R"("}
    })";
  };
  auto one = Runtime::open(config("node-1"));
  INFO(one.status().to_string());
  REQUIRE(one.ok());
  auto two = Runtime::open(config("node-2"));
  REQUIRE(two.ok());
  Engine& e1 = (*one)->engine();
  Engine& e2 = (*two)->engine();
  const Principal p{"acct", "key", kFullAccess, "us"};
  int admitted = 0;
  for (int i = 0; i < 6; ++i)
    if ((i % 2 ? e2 : e1).acquire(p).ok()) ++admitted;
  CHECK(admitted == 3);
  const EngineHealth h1 = e1.health(), h2 = e2.health();
  CHECK(h1.instance_id == "node-1");
  CHECK(h2.instance_id == "node-2");
  for (const EngineHealth* h : {&h1, &h2}) {
    CHECK(h->cache.configured);
    CHECK(h->cache.healthy);
    CHECK(h->cache.error.empty());
    CHECK(h->cache.limits == "shared");
    CHECK(h->cache.rankings == "shared");
  }
  CHECK(h1.cache.ranking_leader);  // created (and synced) first
  CHECK_FALSE(h2.cache.ranking_leader);
  const std::string m = e1.metrics_text();
  CHECK(m.find("babysea_cache_up 1") != std::string::npos);
  CHECK(m.find("babysea_rate_limit_mode{mode=\"shared\"} 1") != std::string::npos);
}
