// babysea/router.hpp — which providers to try for a generation, and in what order.
//
// The router learns from finished provider attempts (`record_attempt`; the
// record and its outcome are in attempt.hpp), keeps a bounded window of them
// per (region, model, provider), scores providers with the adaptive-island
// formula (see specs/router.md) and publishes the result as an immutable
// snapshot. `plan()` turns a requested order (explicit list or `fastest`)
// into an ordered provider chain from that snapshot and the circuit
// breakers, without locks or allocation (beyond a chain longer than
// ProviderChain::kInline). Circuit breakers per (provider, region) — or
// per (provider, region, model) — gate each attempt through `admit()`.
//
// The router never reads the wall clock: time comes from the injected Clock.
// It never blocks the request path: scoring runs in `refresh()`, which the
// host calls on a timer (e.g. every RouterOptions::refresh_hint) off the
// request path; each call publishes a new snapshot (RCU-style pointer swap,
// readers are wait-free and old snapshots are reclaimed once no reader can
// still see them).
//
// Persistence: attempts are written through `Store::transact` into
// `UnitOfWork::attempt_stats()` (de-duplicated by attempt id) and `restore()`
// reloads the window after a restart. Breakers are rebuilt by replaying the
// restored attempts; a Retry-After is not persisted.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/attempt.hpp"
#include "babysea/clock.hpp"
#include "babysea/errors.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

class Store;
class UnitOfWork;

// ------------------------------------------------------------------ scoring

// Scoring knobs. Defaults reproduce adaptive-island's weights; the three
// additions (min_samples, recency, cost) are babysea's.
struct ScoringOptions {
  double waste_weight = 0.5;    // score -= waste_weight * wasted_rate
  double latency_weight = 0.3;  // score -= latency_weight * p95 / slowest p95
  // Optional cost term: score -= cost_weight * mean_cost / highest mean cost
  // among the ranked providers. Default 0 (off: adaptive-island ignores cost).
  double cost_weight = 0.0;
  // Providers with fewer attempts in the window keep their static position in
  // `fastest` plans (they are scored but not ranked). Default 5; 1 reproduces
  // adaptive-island (one attempt is enough).
  std::size_t min_samples = 5;
  // Recency weighting: an attempt of age a weighs 2^(-a / half_life) in the
  // success, waste and cost rates and in a weighted nearest-rank p95.
  // Default 2 h; 0 disables it (every attempt in the window weighs the same,
  // as in adaptive-island).
  std::chrono::milliseconds recency_half_life{2 * 3'600'000};
  // Round scores to 6 decimals before ordering so ties are reproducible
  // (specs/router.md §2.4). Default true.
  bool round_scores = true;
};

// One attempt as the scorer sees it. `provider` is borrowed for the call.
struct ScoreSample {
  std::string_view provider;
  AttemptOutcome outcome = AttemptOutcome::used;
  std::int64_t latency_ms = 0;
  Micros cost = 0;
  std::int64_t finished_ms = 0;
};

struct ProviderScore {
  std::string provider;
  double score = 0;
  double success_rate = 0;
  double waste_rate = 0;
  std::int64_t p95_ms = 0;  // nearest-rank (weighted when recency is on)
  double mean_cost = 0;     // micros
  std::size_t samples = 0;  // attempts counted (unweighted)
  bool ranked = false;      // samples >= min_samples
};

// A computed ranking for one (model, region).
struct Ranking {
  // Ranked providers best first (score desc, p95 asc, name asc), then the
  // unranked ones (too few samples) in name order.
  std::vector<ProviderScore> providers;
  std::int64_t attempts_total = 0;  // attempts counted over all providers
  std::int64_t computed_ms = 0;
};

// Scores the samples of one (model, region) as of `now_ms`. Samples with
// finished_ms < now_ms - window are ignored (window <= 0: no cut-off).
// Pure function; no shared state.
Ranking compute_ranking(std::span<const ScoreSample> samples, const ScoringOptions& options,
                        std::int64_t now_ms, std::chrono::milliseconds window);

// ----------------------------------------------------------------- breakers

enum class BreakerState : int { closed = 0, open = 1, half_open = 2 };
std::string_view breaker_state_name(BreakerState s) noexcept;

// Circuit breaker knobs (Envoy-style growth, bounded half-open probes).
struct BreakerOptions {
  // Trip when, among the results of the last `rate_window_size` attempts that
  // finished within `rate_window`, at least `min_request_volume` exist and the
  // failure share is >= failure_rate_threshold. Defaults 0.5 / 10 / 20 / 60 s.
  double failure_rate_threshold = 0.5;
  std::uint32_t min_request_volume = 10;
  std::uint32_t rate_window_size = 20;
  std::chrono::milliseconds rate_window{60'000};
  // Trip after this many failures in a row regardless of volume. Default 5.
  std::uint32_t consecutive_failures = 5;
  // Trip at once on a failure that carries a Retry-After (the provider told
  // us to stop). Default true.
  bool trip_on_retry_after = true;
  // Open time after the n-th consecutive trip: base * multiplier^(n-1),
  // capped at max_open, and never shorter than the Retry-After (itself capped
  // at max_retry_after). Defaults 10 s, x2, 300 s, 1 h.
  std::chrono::milliseconds base_open{10'000};
  double open_multiplier = 2.0;
  std::chrono::milliseconds max_open{300'000};
  std::chrono::milliseconds max_retry_after{3'600'000};
  // The trip count (exponent) resets once the breaker has stayed closed this
  // long. Default 10 min.
  std::chrono::milliseconds trip_memory{600'000};
  // Half-open: at most this many probes in flight (default 1); close after
  // this many probe successes (default 2); any probe failure reopens. A probe
  // without a result after probe_timeout counts as failed (default 120 s).
  std::uint32_t half_open_max_probes = 1;
  std::uint32_t half_open_successes_to_close = 2;
  std::chrono::milliseconds probe_timeout{120'000};
  // Key breakers by (provider, region, model) instead of (provider, region).
  // Default false.
  bool per_model = false;
};

// Whether an attempt may go to a provider now (see Router::admit).
struct Admission {
  bool allowed = true;
  bool probe = false;              // allowed as a half-open probe
  std::int64_t retry_at_ms = 0;    // when denied: earliest time worth retrying (0 = unknown)
  BreakerState state = BreakerState::closed;
};

// A breaker open now (see Router::open_breakers): what an instance shares
// with the others of its deployment.
struct OpenBreaker {
  std::string provider;
  std::string region;
  std::string model;  // empty unless per-model breakers
  std::int64_t open_until_ms = 0;
};

struct BreakerInfo {
  BreakerState state = BreakerState::closed;  // open past its deadline reads half_open
  std::int64_t open_until_ms = 0;             // while open
  std::uint32_t trips = 0;                    // consecutive trips (the exponent)
  std::uint32_t probes_in_flight = 0;
  std::uint32_t probe_successes = 0;
};

// --------------------------------------------------------------- health API

// Provider health for GET /v1/health/inference/providers (specs/api.md §8.3).
enum class HealthState : int { healthy = 0, degraded = 1, recovering = 2, unknown = 3 };
std::string_view health_state_name(HealthState s) noexcept;

// One slice of the health window (oldest first).
struct HealthBucket {
  std::int64_t start_ms = 0;        // the slice is [start_ms, start_ms + window / buckets)
  std::int64_t successes = 0;
  std::int64_t failures = 0;
  std::int64_t latency_p95_ms = 0;  // of the slice's successes; 0 when none
};

struct ProviderHealth {
  std::string provider;
  HealthState status = HealthState::unknown;
  double failure_rate = 0;  // failures / total_attempts, 0 when none
  std::int64_t total_attempts = 0;  // successes + failures
  std::int64_t failures = 0;        // outcome failed
  std::int64_t successes = 0;       // outcome used
  std::int64_t duration_seconds = 0;
  // Submit-to-result latency of the successes in the window (nearest rank,
  // unweighted); 0 when there were none.
  std::int64_t latency_p50_ms = 0;
  std::int64_t latency_p95_ms = 0;
  std::vector<HealthBucket> series;  // the window in kHealthBuckets slices
};

inline constexpr int kHealthBuckets = 12;

// ----------------------------------------------------------------- planning

// A model's providers: the allow-list, in the static default order.
struct ModelRoute {
  std::string model;
  std::vector<std::string> providers;
};

// Where a plan's order came from.
enum class OrderSource : int { ranking = 0, fallback = 1, explicit_order = 2 };
// "ranking" | "fallback" | "explicit".
std::string_view order_source_name(OrderSource s) noexcept;

// Why a `fastest` plan fell back to the static order.
enum class FallbackReason : int {
  none = 0,
  no_ranking = 1,       // nothing ranked yet for this (model, region)
  stale_ranking = 2,    // ranking older than RouterOptions::max_ranking_age
  invalid_ranking = 3,  // an imported ranking failed validation
  no_overlap = 4,       // no ranked provider serves the model
  cache_unavailable = 5,  // shared rankings: the shared cache could not be read
};
std::string_view fallback_reason_name(FallbackReason r) noexcept;

// One entry of a plan. `provider` points into the router's interned names
// and stays valid for the router's lifetime.
struct PlannedProvider {
  std::string_view provider;
  bool breaker_open = false;  // moved to the end because its breaker is open
};

// An ordered provider chain with inline storage for kInline entries (no
// allocation for shorter chains). Value type.
class ProviderChain {
 public:
  static constexpr std::size_t kInline = 16;
  ProviderChain() = default;
  ProviderChain(const ProviderChain&) = default;
  ProviderChain& operator=(const ProviderChain&) = default;
  ProviderChain(ProviderChain&&) noexcept = default;
  ProviderChain& operator=(ProviderChain&&) noexcept = default;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const PlannedProvider& operator[](std::size_t i) const noexcept { return data()[i]; }
  const PlannedProvider* begin() const noexcept { return data(); }
  const PlannedProvider* end() const noexcept { return data() + size_; }
  void push_back(PlannedProvider p);
  void clear() noexcept { size_ = 0; heap_.clear(); }
  // The provider names as owned strings.
  std::vector<std::string> names() const;

 private:
  const PlannedProvider* data() const noexcept { return size_ <= kInline ? inline_.data() : heap_.data(); }
  std::array<PlannedProvider, kInline> inline_{};
  std::vector<PlannedProvider> heap_;
  std::size_t size_ = 0;
};

struct Plan {
  OrderSource source = OrderSource::fallback;
  FallbackReason fallback_reason = FallbackReason::none;
  ProviderChain chain;
};

// What the caller asked for: `fastest`, or an explicit order (providers
// borrowed for the call).
struct RequestedOrder {
  bool fastest = true;
  std::span<const std::string_view> providers;
  static RequestedOrder fastest_order() noexcept { return RequestedOrder{}; }
  static RequestedOrder explicit_order(std::span<const std::string_view> p) noexcept {
    return RequestedOrder{false, p};
  }
};

struct RouterOptions {
  ScoringOptions scoring;
  BreakerOptions breaker;
  // Sliding window for ranking, restore and pruning. Default 24 h.
  std::chrono::milliseconds window{24 * 3'600'000};
  // Attempts kept in memory per (region, model, provider); older ones are
  // dropped first. Default 1024.
  std::size_t max_samples_per_key = 1024;
  // Attempt ids remembered for de-duplication in memory (an attempt seen
  // twice, e.g. by a restore and live, counts once), the newest kept.
  // Default 65,536 (about 7 MiB): memory stays flat however many attempts
  // a long-running process has seen.
  std::size_t max_remembered_ids = 65'536;
  // A ranking older than this is stale and `fastest` falls back to the static
  // order. Default 15 min; 0 disables the check.
  std::chrono::milliseconds max_ranking_age{15 * 60'000};
  // Exploration: a provider with fewer than scoring.min_samples attempts in
  // the window, or whose newest attempt is older than explore_stale_after,
  // gets no fresh evidence while others lead. One in `explore_one_in`
  // ranking-based `fastest` plans (counted per thread, deterministic, no
  // randomness) puts such a provider first, rotating among them; its breaker
  // still gates it. Defaults 50 (2 % of plans) and 10 min; 0 disables.
  std::uint32_t explore_one_in = 50;
  std::chrono::milliseconds explore_stale_after{10 * 60'000};
  // How often the host should call refresh() (advice only). Default 5 s.
  std::chrono::milliseconds refresh_hint{5'000};
  // Window reported by health(). Default 1 h.
  std::chrono::milliseconds health_window{3'600'000};
  // Rows read per page by restore(). Default 5000.
  std::size_t restore_page = 5000;
};

// The router. Create with Router::create().
//
// Ownership: borrows the Clock and the (optional) Store, which must outlive
// it. Thread safety: safe for concurrent use; plan() is wait-free (no locks);
// record/admit/refresh serialise on internal locks.
// Codes: invalid_request (bad options, bad record, explicit order naming a
// provider that does not serve the model), model_not_found (no route for the
// model), storage_error and others from the Store.
class Router {
 public:
  // invalid_request when the options are inconsistent (negative weights, zero
  // windows, thresholds out of range).
  static Result<std::unique_ptr<Router>> create(const RouterOptions& options, const Clock& clock,
                                                Store* store = nullptr);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  const RouterOptions& options() const noexcept;

  // Replaces the model routes (allow-lists in static order) and publishes a
  // snapshot. invalid_request for an empty model or provider list, an empty
  // or duplicate provider name, or more than 64 providers.
  Status set_routes(std::span<const ModelRoute> routes);

  // The provider chain for one generation (see file comment). Wait-free;
  // reads the clock once. model_not_found when no route exists for `model`;
  // invalid_request for an empty explicit order or one naming a provider that
  // does not serve the model. Explicit orders keep their order (duplicates
  // dropped) with open-breaker providers moved to the end; `fastest` applies
  // the ranking (see compute_ranking; providers below min_samples keep their
  // static slot, providers absent from the ranking are appended in static
  // order) and moves open-breaker providers to the end; relative order is
  // kept inside each part.
  Result<Plan> plan(std::string_view model, std::string_view region, const RequestedOrder& order) const;
  Result<Plan> plan_at(std::string_view model, std::string_view region, const RequestedOrder& order,
                       std::int64_t now_ms) const;

  // Asks the breaker of (provider, region[, model]) whether an attempt may be
  // sent now. Closed: allowed (lock-free). Open before its deadline: denied
  // with retry_at_ms. Open past its deadline or half-open: allowed as a probe
  // if fewer than half_open_max_probes are in flight, recorded under
  // `attempt_id`, whose record_attempt() resolves the probe.
  // REQUIRES: attempt_id non-empty (it identifies the probe).
  Admission admit(std::string_view provider, std::string_view region, std::string_view model,
                  std::string_view attempt_id);
  // Breaker introspection.
  BreakerInfo breaker(std::string_view provider, std::string_view region, std::string_view model = {}) const;

  // Records a finished attempt: persists it through the Store (if any) in its
  // own unit of work, then applies it in memory (window + breaker). Returns
  // false when the attempt id was already recorded (nothing changes).
  // invalid_request for an empty id/region/model/provider or negative latency.
  Result<bool> record_attempt(const AttemptRecord& record);
  // For a host that records the attempt inside its own unit of work: writes
  // the row into `uow` (false = duplicate). Call observe_attempt() after the
  // unit commits.
  static Result<bool> persist_attempt(UnitOfWork& uow, const AttemptRecord& record);
  // Applies an already-persisted attempt in memory only; false = duplicate
  // (seen in memory). invalid_request as record_attempt.
  Result<bool> observe_attempt(const AttemptRecord& record);

  // Recomputes every ranking from the window as of now, reclaims expired
  // half-open probes and publishes a new snapshot. Off the request path.
  Status refresh();
  Status refresh_at(std::int64_t now_ms);

  // Reloads the window from the Store (attempts finished within `window` of
  // now), replays them through the breakers, then refreshes. Returns the
  // number of attempts applied. invalid_state without a Store.
  Result<std::size_t> restore();
  // The same for attempts finished at or after max(since_ms, now - window)
  // only (an instance catching up with the others' attempts; the ones it
  // already holds are skipped by id).
  Result<std::size_t> restore_since(std::int64_t since_ms);
  // Deletes persisted attempts older than the window. invalid_state without a Store.
  Result<std::size_t> prune_store();

  // Imports a ranking.v1 JSON document (adaptive-island cache value) for
  // (model, region), used when the router has ranked nothing itself for that
  // pair. Validation as specs/router.md §3.3 (strict RFC 3339 computed_at,
  // finite non-boolean scores for every key, every ranked provider scored,
  // duplicates de-duplicated). An invalid document replaces any previous
  // import with an invalid marker (plans fall back, reason invalid_ranking)
  // and returns invalid_request.
  Status import_ranking_json(std::string_view model, std::string_view region, std::string_view json);
  // The router's current ranking for (model, region) as ranking.v1 JSON
  // (computed_at with an explicit Z, scores rounded to 6 decimals).
  // not_found when nothing is ranked.
  Result<std::string> export_ranking_json(std::string_view model, std::string_view region) const;

  // Shared rankings (several instances, one shared cache): when on,
  // `fastest` plans use only imported rankings (import_ranking_json, e.g.
  // the leader's published ranking read from the cache), never this
  // router's own; a (model, region) without a valid import falls back to the
  // static order with the reason of its import marker (no_ranking when none
  // was imported). The router still computes its own rankings (for
  // export_ranking_json). Default off. Publishes a new snapshot.
  void set_shared_rankings(bool on);
  // Drops the imported ranking of (model, region); its plans fall back with
  // `why` (no_ranking: the key is absent; cache_unavailable: the cache could
  // not be read) until the next valid import.
  void forget_imported_ranking(std::string_view model, std::string_view region,
                               FallbackReason why = FallbackReason::no_ranking);
  // The (model, region) pairs this router has computed a ranking for (as of
  // the last refresh), sorted.
  std::vector<std::pair<std::string, std::string>> ranked_groups() const;

  // Breakers open now (not past their deadline), sorted by key.
  std::vector<OpenBreaker> open_breakers() const;
  // Opens the breaker of (provider, region[, model]) until `until_ms` (unix
  // ms) unless it is already open at least that long: an opening another
  // instance shared. Half-open probes after it stay local. The trip count
  // (exponent) is not changed. invalid_request for an empty provider or
  // region; a deadline not in the future changes nothing.
  Status open_breaker_until(std::string_view provider, std::string_view region, std::string_view model,
                            std::int64_t until_ms);

  // The last computed ranking for (model, region); not_found when none.
  Result<Ranking> ranking(std::string_view model, std::string_view region) const;

  // Health of every provider seen in `region` (attempts or breakers) and of
  // every provider named in `also` (reported unknown when unseen), sorted
  // by name: degraded = breaker open, recovering = half-open (or open past
  // its deadline), healthy = closed with attempts in the health window,
  // unknown = no attempts in the window. With per-model breakers the worst
  // breaker of the provider in the region counts.
  std::vector<ProviderHealth> health(std::string_view region, std::span<const std::string> also = {}) const;

 private:
  struct Impl;
  explicit Router(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea
