// Internal: the shared cache of a deployment (DESIGN.md §8) as one engine
// uses it. Owned by the engine when EngineOptions::cache.url is set.
//
// Rate limits: acquire() draws from the shared token buckets
// (SharedRateLimiter, keys <prefix>:rl:...). When Redis cannot decide and
// CacheOptions::fail_open_limits is set, the engine's local RateLimiter
// decides instead and limits read "local" in health/metrics until Redis
// answers again; otherwise the request fails with Code::unavailable. A down
// Redis is not hammered: the client fails fast while it backs off between
// reconnects (RedisOptions::initial_backoff doubling to max_backoff), and
// only a call after the backoff tries the server again.
//
// Rankings (specs/router.md §1.3, §1.4, §3): one instance is the leader, by
// a Redis lock  SET <prefix>:ranking:leader <instance id> NX PX <ttl>,
// renewed by its holder with a compare-and-pexpire script. On every sync()
// the leader reloads the shared attempt window (Router::restore_since():
// the whole window the first time, then what finished since its last
// reload minus a margin; de-duplicated by attempt id; it refreshes) and
// publishes, for every
// (model, region) it has ranked, Router::export_ranking_json with
//   SET <prefix>:ranking:<region>:<model> <ranking.v1> PX <ranking_ttl>
// (adaptive-island's key layout with the prefix "<key_prefix>:ranking").
// Every instance, the leader included, then reads the keys of its region
// for every catalog model (one MGET) and plans with them: the router is put
// in shared-rankings mode, so a missing key plans with the catalog's
// fallback order (reason no_ranking), an invalid one with reason
// invalid_ranking, an old one (computed_at past RouterOptions::
// max_ranking_age) stale_ranking, and an unreadable cache cache_unavailable.
//
// Breakers: every sync() publishes the breakers open locally as
//   <prefix>:breaker:<provider>:<region>[:<model>] = <open until, unix ms>
// with PX = the remaining open time (a script keeps the later deadline),
// then reads the keys of every configured provider (and model, with
// per-model breakers) in its region and force-opens the local breaker until
// now + the key's PTTL (Router::open_breaker_until). Half-open probes stay
// local. An opening is shared at the next sync (every router_refresh).
//
// Health: sync() PINGs; health() reports the last round trip (no I/O).
//
// Thread safety: acquire() and health() may be called from any thread;
// sync() from one thread at a time (the engine's housekeeping). Limits and
// sync use separate connections, so a slow sync never delays a request.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "babysea/auth.hpp"
#include "babysea/clock.hpp"
#include "babysea/engine.hpp"
#include "babysea/router.hpp"
#include "cache/redis_client.hpp"
#include "cache/shared_rate_limit.hpp"

namespace babysea {

struct ClusterCacheConfig {
  CacheOptions cache;         // url required
  std::string instance_id;    // the leader lock's value; empty: a random one
  std::string region;         // this instance's region (ranking and breaker keys read)
  std::vector<std::string> models;     // ranking keys read (catalog models)
  std::vector<std::string> providers;  // breaker keys read (configured providers)
  RateLimitOptions rate_limits;
  // The leader lock's lifetime; its holder renews it on every sync(), so it
  // must exceed the sync period (the engine uses max(instance_ttl,
  // 3 x router_refresh)).
  std::chrono::milliseconds leader_ttl{15'000};
  bool per_model_breakers = false;
  // Client reconnect backoff (tests shorten it).
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{1'000};
};

class ClusterCache {
 public:
  // invalid_request for a malformed URL, an empty region, or
  // non-positive durations; unsupported for rediss://. Does not connect.
  // Puts `router` in shared-rankings mode. `router`, `local_limiter` and
  // `clock` must outlive the cache.
  static Result<std::unique_ptr<ClusterCache>> create(ClusterCacheConfig config, Router& router,
                                                      RateLimiter& local_limiter, const Clock& clock);
  ~ClusterCache();
  ClusterCache(const ClusterCache&) = delete;
  ClusterCache& operator=(const ClusterCache&) = delete;

  // One token for the principal: shared buckets, or (see the top) local.
  Status acquire(const Principal& principal, RateInfo* info = nullptr);

  // PING, leader election, publishing (leader), reading rankings and
  // breakers. Never fails: errors show in health() and metrics.
  void sync();

  // Gives up the leader lock if held (DEL if it is still ours). Called by
  // the destructor; tests call it to hand over at once.
  void resign();

  CacheHealth health() const;
  // Prometheus text: babysea_cache_up, babysea_cache_latency_ms,
  // babysea_rate_limit_mode{mode}, babysea_cache_errors_total.
  void render_metrics(std::string& out) const;
  // The same series from any CacheHealth (an engine without a cache renders
  // its "not configured" health with it).
  static void render_metrics(std::string& out, const CacheHealth& h, std::int64_t errors_total);

  std::int64_t errors_total() const { return errors_.load(); }
  const std::string& instance_id() const { return config_.instance_id; }
  // Keys (for tests and operators).
  std::string ranking_key(std::string_view region, std::string_view model) const;
  std::string breaker_key(std::string_view provider, std::string_view region, std::string_view model) const;
  std::string leader_key() const;

 private:
  ClusterCache(ClusterCacheConfig config, Router& router, RateLimiter& local, const Clock& clock,
               std::unique_ptr<cache::RedisClient> limits_client, std::unique_ptr<cache::RedisClient> sync_client);
  void failed(const Status& s);
  Status elect();
  Status publish_rankings();
  Status read_rankings();
  Status share_breakers();

  ClusterCacheConfig config_;
  Router& router_;
  RateLimiter& local_;
  const Clock& clock_;
  std::unique_ptr<cache::RedisClient> limits_client_;
  std::unique_ptr<cache::RedisClient> sync_client_;
  cache::SharedRateLimiter shared_;

  std::atomic<bool> limits_local_{false};
  std::atomic<bool> leader_{false};
  std::atomic<std::int64_t> errors_{0};

  mutable std::mutex mu;  // guards the health fields below
  bool healthy_ = false;
  bool pinged_ = false;
  double latency_ms_ = 0;
  std::string error_ = "not yet contacted";
  bool rankings_shared_ = false;

  // sync() only: the deadlines already published or adopted, by key.
  std::map<std::string, std::int64_t> breaker_known_;
  // sync() only: when the leader last reloaded the shared window (0: never).
  std::int64_t restored_at_ms_ = 0;
};

}  // namespace babysea
