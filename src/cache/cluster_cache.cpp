// The shared cache of a deployment as one engine uses it (cluster_cache.hpp).
#include "cache/cluster_cache.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "babysea/ids.hpp"

namespace babysea {
namespace {

using cache::RedisReply;
using cache::RedisScript;

// KEYS[1] leader key; ARGV: instance id, ttl ms. Returns 1 when the caller
// holds the lock afterwards (taken or renewed), else 0.
const RedisScript& elect_script() {
  static const RedisScript s(R"lua(
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua");
  return s;
}

// KEYS[1] leader key; ARGV[1] instance id: deletes the lock if ours.
const RedisScript& resign_script() {
  static const RedisScript s(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");
  return s;
}

// KEYS[1] breaker key; ARGV: open-until ms, remaining ms. Keeps the later
// deadline. Returns 1 when written.
const RedisScript& breaker_publish_script() {
  static const RedisScript s(R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua");
  return s;
}

// KEYS: breaker keys. Returns the PTTL of each (-2 absent, -1 no expiry).
const RedisScript& pttl_script() {
  static const RedisScript s(R"lua(
local out = {}
for i, k in ipairs(KEYS) do out[i] = redis.call('PTTL', k) end
return out
)lua");
  return s;
}

// Attempts committed this late (or stamped by a clock this far behind) are
// still picked up by the leader's incremental reload.
constexpr std::int64_t kRestoreMarginMs = 120'000;

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  random_bytes(raw.data(), raw.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ClusterCache>> ClusterCache::create(ClusterCacheConfig config, Router& router,
                                                           RateLimiter& local_limiter, const Clock& clock) {
  if (config.cache.url.empty()) return Status(Code::invalid_request, "cache: url is required");
  if (config.instance_id.empty()) config.instance_id = "instance-" + random_hex(8);
  if (config.region.empty()) return Status(Code::invalid_request, "cache: region is required");
  if (config.cache.timeout.count() <= 0 || config.cache.ranking_ttl.count() <= 0 || config.leader_ttl.count() <= 0)
    return Status(Code::invalid_request, "cache: timeout, ranking_ttl and leader_ttl must be positive");
  cache::RedisOptions ro;
  ro.connect_timeout = config.cache.timeout;
  ro.command_timeout = config.cache.timeout;
  ro.initial_backoff = config.initial_backoff;
  ro.max_backoff = std::max(config.max_backoff, config.initial_backoff);
  auto limits = cache::RedisClient::create(config.cache.url, ro);
  if (!limits.ok()) return Status(limits.code(), "cache.url: " + std::string(limits.status().message()));
  auto sync = cache::RedisClient::create(config.cache.url, ro);
  if (!sync.ok()) return Status(sync.code(), "cache.url: " + std::string(sync.status().message()));
  std::unique_ptr<ClusterCache> c(new ClusterCache(std::move(config), router, local_limiter, clock,
                                                   std::move(limits).value(), std::move(sync).value()));
  router.set_shared_rankings(true);
  return c;
}

ClusterCache::ClusterCache(ClusterCacheConfig config, Router& router, RateLimiter& local, const Clock& clock,
                           std::unique_ptr<cache::RedisClient> limits_client,
                           std::unique_ptr<cache::RedisClient> sync_client)
    : config_(std::move(config)),
      router_(router),
      local_(local),
      clock_(clock),
      limits_client_(std::move(limits_client)),
      sync_client_(std::move(sync_client)),
      shared_(*limits_client_, config_.rate_limits, config_.cache.key_prefix + ":rl:") {}

ClusterCache::~ClusterCache() { resign(); }

std::string ClusterCache::ranking_key(std::string_view region, std::string_view model) const {
  std::string k = config_.cache.key_prefix;
  k.append(":ranking:").append(region).push_back(':');
  k.append(model);
  return k;
}

std::string ClusterCache::breaker_key(std::string_view provider, std::string_view region,
                                      std::string_view model) const {
  std::string k = config_.cache.key_prefix;
  k.append(":breaker:").append(provider).push_back(':');
  k.append(region);
  if (!model.empty()) k.append(":").append(model);
  return k;
}

std::string ClusterCache::leader_key() const { return config_.cache.key_prefix + ":ranking:leader"; }

void ClusterCache::failed(const Status& s) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu);
  healthy_ = false;
  error_ = std::string(s.message());
}

Status ClusterCache::acquire(const Principal& principal, RateInfo* info) {
  Status s = shared_.acquire(principal, info);
  if (s.ok() || s.code() == Code::rate_limited) {
    if (limits_local_.load(std::memory_order_relaxed)) {
      limits_local_.store(false, std::memory_order_relaxed);
      std::lock_guard lock(mu);
      healthy_ = true;
      error_.clear();
    }
    return s;
  }
  failed(s);
  if (!config_.cache.fail_open_limits) {
    if (info) *info = RateInfo{};
    return Status(Code::unavailable, "shared rate limits unavailable");
  }
  limits_local_.store(true, std::memory_order_relaxed);
  return local_.acquire(principal, info);
}

Status ClusterCache::elect() {
  auto r = sync_client_->eval(elect_script(), {leader_key()},
                              {config_.instance_id, std::to_string(config_.leader_ttl.count())});
  if (!r.ok()) {
    leader_.store(false);
    return r.status();
  }
  const bool now = r.value().type == RedisReply::Type::integer && r.value().integer == 1;
  leader_.store(now);
  return {};
}

Status ClusterCache::publish_rankings() {
  // The others' attempts since the last reload (all of the window the first
  // time), with a margin for commit lag and clock skew; restore refreshes.
  // Without a store: the local window.
  const std::int64_t now = clock_.now_ms();
  const std::int64_t since = restored_at_ms_ > 0 ? restored_at_ms_ - kRestoreMarginMs : 0;
  if (router_.restore_since(since).ok()) {
    restored_at_ms_ = now;
  } else {
    (void)router_.refresh();
  }
  const std::string px = std::to_string(config_.cache.ranking_ttl.count());
  for (const auto& [model, region] : router_.ranked_groups()) {
    auto json = router_.export_ranking_json(model, region);
    if (!json.ok()) continue;  // nothing ranked (below min_samples): the old key expires
    auto r = sync_client_->command({"SET", ranking_key(region, model), json.value(), "PX", px});
    if (!r.ok()) return r.status();
  }
  return {};
}

Status ClusterCache::read_rankings() {
  if (config_.models.empty()) return {};
  std::vector<std::string> args{"MGET"};
  for (const auto& m : config_.models) args.push_back(ranking_key(config_.region, m));
  auto r = sync_client_->command(args);
  if (!r.ok()) return r.status();
  const RedisReply& v = r.value();
  if (v.type != RedisReply::Type::array || v.elements.size() != config_.models.size())
    return Status(Code::storage_error, "redis MGET: unexpected reply");
  for (std::size_t i = 0; i < config_.models.size(); ++i) {
    const RedisReply& e = v.elements[i];
    if (e.type != RedisReply::Type::string || e.str.empty()) {
      router_.forget_imported_ranking(config_.models[i], config_.region, FallbackReason::no_ranking);
      continue;
    }
    (void)router_.import_ranking_json(config_.models[i], config_.region, e.str);  // invalid: marker kept
  }
  return {};
}

Status ClusterCache::share_breakers() {
  const std::int64_t now = clock_.now_ms();
  // Publish the local openings not yet known to the cache.
  for (const auto& b : router_.open_breakers()) {
    const std::string key = breaker_key(b.provider, b.region, b.model);
    const std::int64_t remaining = b.open_until_ms - now;
    if (remaining <= 0) continue;
    auto known = breaker_known_.find(key);
    if (known != breaker_known_.end() && known->second >= b.open_until_ms - 1'000) continue;  // adopted or sent
    auto r = sync_client_->eval(breaker_publish_script(), {key},
                                {std::to_string(b.open_until_ms), std::to_string(remaining)});
    if (!r.ok()) return r.status();
    breaker_known_[key] = b.open_until_ms;
  }
  std::erase_if(breaker_known_, [now](const auto& kv) { return kv.second <= now; });
  // Adopt the others' openings.
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> who;  // (provider, model)
  for (const auto& p : config_.providers) {
    if (config_.per_model_breakers) {
      for (const auto& m : config_.models) {
        keys.push_back(breaker_key(p, config_.region, m));
        who.emplace_back(p, m);
      }
    } else {
      keys.push_back(breaker_key(p, config_.region, {}));
      who.emplace_back(p, std::string());
    }
  }
  if (keys.empty()) return {};
  auto r = sync_client_->eval(pttl_script(), keys, {});
  if (!r.ok()) return r.status();
  const RedisReply& v = r.value();
  if (v.type != RedisReply::Type::array || v.elements.size() != keys.size())
    return Status(Code::storage_error, "redis breaker PTTL: unexpected reply");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::int64_t pttl = v.elements[i].type == RedisReply::Type::integer ? v.elements[i].integer : -2;
    if (pttl <= 0) continue;
    const std::int64_t until = now + pttl;
    auto known = breaker_known_.find(keys[i]);
    if (known != breaker_known_.end() && known->second >= until - 1'000) continue;
    (void)router_.open_breaker_until(who[i].first, config_.region, who[i].second, until);
    breaker_known_[keys[i]] = until;
  }
  return {};
}

void ClusterCache::sync() {
  auto rtt = sync_client_->ping();
  if (!rtt.ok()) {
    failed(rtt.status());
    leader_.store(false);
    restored_at_ms_ = 0;
    for (const auto& m : config_.models)
      router_.forget_imported_ranking(m, config_.region, FallbackReason::cache_unavailable);
    std::lock_guard lock(mu);
    pinged_ = true;
    rankings_shared_ = false;
    return;
  }
  {
    std::lock_guard lock(mu);
    pinged_ = true;
    healthy_ = true;
    error_.clear();
    latency_ms_ = static_cast<double>(rtt.value().count()) / 1000.0;
  }
  Status s = elect();
  if (!leader_.load()) restored_at_ms_ = 0;  // a new term reloads the whole window
  if (s.ok() && leader_.load()) s = publish_rankings();
  Status read = read_rankings();
  if (!read.ok()) {
    for (const auto& m : config_.models)
      router_.forget_imported_ranking(m, config_.region, FallbackReason::cache_unavailable);
    if (s.ok()) s = read;
  }
  {
    std::lock_guard lock(mu);
    rankings_shared_ = read.ok();
  }
  Status b = share_breakers();
  if (s.ok()) s = b;
  if (!s.ok()) failed(s);
}

void ClusterCache::resign() {
  if (!leader_.exchange(false)) return;
  (void)sync_client_->eval(resign_script(), {leader_key()}, {config_.instance_id});
}

CacheHealth ClusterCache::health() const {
  CacheHealth h;
  h.configured = true;
  std::lock_guard lock(mu);
  h.healthy = healthy_;
  h.latency_ms = latency_ms_;
  h.error = healthy_ ? std::string() : error_;
  h.limits = limits_local_.load() ? "local" : "shared";
  h.rankings = rankings_shared_ ? "shared" : "fallback";
  h.ranking_leader = leader_.load();
  return h;
}

void ClusterCache::render_metrics(std::string& out) const { render_metrics(out, health(), errors_.load()); }

void ClusterCache::render_metrics(std::string& out, const CacheHealth& h, std::int64_t errors_total) {
  char buf[64];
  out += "# HELP babysea_cache_up Whether the last round trip to the shared cache succeeded.\n"
         "# TYPE babysea_cache_up gauge\n";
  out += "babysea_cache_up " + std::string(h.healthy ? "1" : "0") + "\n";
  out += "# HELP babysea_cache_latency_ms Round trip of the last PING to the shared cache.\n"
         "# TYPE babysea_cache_latency_ms gauge\n";
  std::snprintf(buf, sizeof buf, "%.3f", h.latency_ms);
  out += "babysea_cache_latency_ms " + std::string(buf) + "\n";
  out += "# HELP babysea_rate_limit_mode Where rate limits are decided (1 for the current mode).\n"
         "# TYPE babysea_rate_limit_mode gauge\n";
  out += "babysea_rate_limit_mode{mode=\"shared\"} " + std::string(h.limits == "shared" ? "1" : "0") + "\n";
  out += "babysea_rate_limit_mode{mode=\"local\"} " + std::string(h.limits == "local" ? "1" : "0") + "\n";
  out += "# HELP babysea_cache_errors_total Failed round trips to the shared cache.\n"
         "# TYPE babysea_cache_errors_total counter\n";
  out += "babysea_cache_errors_total " + std::to_string(errors_total) + "\n";
}

}  // namespace babysea
