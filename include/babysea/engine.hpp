// babysea/engine.hpp — the execution control plane: one object that owns a
// generation from "a user asked" to "the result is stored and the credits are
// settled".
//
// submit(): scope check, idempotency, normalize, estimate, plan, reserve, and
// one storage unit of work holding the generation, its first attempt intent,
// the hold, the idempotency record and the outbox rows; it returns only after
// that unit committed. Provider work starts after the commit on the engine's
// workers (or the host's executor) and every answer (submit ack, poll,
// verified callback, stored assets, deadline, cancel) goes back through the
// pure lifecycle machine (lifecycle.hpp) in its own unit of work, together
// with the money it moves (settle / release), the router statistics and the
// customer webhooks (outbox). Nothing is kept only in memory: destroying the
// engine at any point loses nothing, and the next engine on the same store
// recovers (specs/lifecycle.md §4) before it admits new work.
//
// Ownership: the engine borrows the Store, Clock, providers, asset store and
// executor given in EngineConfig (they must outlive it) and owns its Ledger,
// Router and ApiKeyService.
//
// Thread safety: every public method is safe to call concurrently. The event
// callback runs on engine worker threads (never under an engine lock).
//
// Codes: unauthenticated, forbidden (scope), rate_limited, model_not_found,
// invalid_request (with issues), payload_too_large, url_forbidden,
// insufficient_credits, idempotency_conflict, idempotency_in_progress,
// not_found (also for another account's generation, byte-identical),
// invalid_state (cancel/delete in the wrong state), invalid_signature
// (callbacks), providers_failed, unavailable (engine stopping), plus store codes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/auth.hpp"
#include "babysea/catalog.hpp"
#include "babysea/clock.hpp"
#include "babysea/ledger.hpp"
#include "babysea/lifecycle.hpp"
#include "babysea/money.hpp"
#include "babysea/provider.hpp"
#include "babysea/router.hpp"
#include "babysea/schema.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

// An executor lent by the host (wrap your Asio executor or thread pool). The
// engine only posts work to it; it never runs or stops it.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void post(std::function<void()> work) = 0;
};

// Several engines on one shared database (Store::shared()) form one
// deployment: each registers an instance id with a heartbeat; due work is
// claimed with a lease; a living instance recovers the in-flight work of one
// whose heartbeat lapsed (specs/lifecycle.md §4 rules, unchanged).
struct ClusterOptions {
  // Unique among the engines on one database. Empty: "local" on a store that
  // is not shared (a restart recovers everything at once), a fresh random id
  // per engine on a shared one (a restarted instance's old work is recovered
  // once its heartbeat lapses, by whichever instance sees it first).
  std::string instance_id;
  // Heartbeat period, and the silence after which an instance is dead.
  std::chrono::milliseconds heartbeat{1'000};
  std::chrono::milliseconds instance_ttl{10'000};
  // A claimed due item (timer, poll, retry, delivery) falls due again this
  // long after its claim if the claimer dies before finishing it.
  std::chrono::milliseconds lease{15'000};
};

// The shared cache (Redis) of a deployment: rate-limit windows, published
// router rankings and breaker openings. Nothing durable lives there.
struct CacheOptions {
  // "redis://[user:password@]host[:port][/db]" or
  // "redis+unix://[:password@]/path/to.sock[?db=N]"; empty: no shared cache
  // (limits, rankings and breakers are per instance). "rediss://" (TLS) is
  // refused with Code::unsupported: the bundled hiredis has no TLS.
  std::string url;
  std::string key_prefix = "babysea";
  // Connect and command timeout (fail-open beyond it).
  std::chrono::milliseconds timeout{500};
  // Redis unreachable: true = limits fall back to this instance's local
  // limiter (admits up to N times the limit over N instances; health and
  // metrics say so); false = requests fail with Code::unavailable.
  bool fail_open_limits = true;
  // Lifetime of a published ranking; a reader whose key vanished (leader
  // gone, Redis flushed) plans with the catalog's fallback order.
  std::chrono::milliseconds ranking_ttl{60'000};
};

struct EngineOptions {
  std::string region = "us";  // this deployment's region (router stats, API keys)
  // Worker threads when no executor is lent. Provider calls block a worker
  // for their duration, so size this for the expected concurrent I/O.
  int threads = 4;
  // Callback URLs handed to providers: callback_base_url + "/" + provider id.
  // Empty: providers are not asked to call back (polling only).
  std::string callback_base_url;
  // Whole-generation deadline, counted from acceptance.
  std::chrono::milliseconds generation_deadline{3'600'000};
  // The hold's own deadline is generation_deadline + hold_grace (a safety net
  // that ledger.expire_due() enforces if the engine was down).
  std::chrono::milliseconds hold_grace{600'000};
  // Scheduler: longest sleep between scans of due work.
  std::chrono::milliseconds tick{200};
  // Router refresh period.
  std::chrono::milliseconds router_refresh{5'000};
  // Idempotency records live this long.
  std::chrono::milliseconds idempotency_ttl{24 * 3'600'000};
  // Asset copy: tries before the attempt fails over.
  int max_asset_tries = 3;
  // Retry delay for asset copies and provider cancels.
  std::chrono::milliseconds retry_delay{2'000};
  // Provider cancels are retried this many times before giving up (the
  // generation is already canceled; this only bounds the calls).
  int max_cancel_tries = 10;
  // Normalizer limits and the URL policy (SSRF guard) for input URLs.
  NormalizeOptions normalize;
  // API keys: the key service needs a pepper (auth.hpp).
  std::string api_key_pepper;
  RateLimitOptions rate_limits;
  RouterOptions router;
  LedgerOptions ledger;
  ClusterOptions cluster;
  CacheOptions cache;
  // Start worker threads and the scheduler (false: the host drives the
  // engine with run_due(), as tests with a manual clock do).
  bool start_workers = true;
};

struct EngineConfig {
  Store* store = nullptr;        // required
  const Clock* clock = nullptr;  // default: SystemClock
  std::shared_ptr<const Catalog> catalog;  // required
  std::vector<std::shared_ptr<Provider>> providers;  // by id(); models route only to these
  AssetStore* assets = nullptr;  // required
  Executor* executor = nullptr;  // optional: run provider work here instead of own threads
  EngineOptions options;
};

// --- views --------------------------------------------------------------------

struct AttemptView {
  std::string id;
  int order = 0;  // 1-based
  std::string provider;
  std::string state;    // intent | submitted | running | succeeded | failed | canceled | timed_out | discarded
  std::string outcome;  // used | failed | cancelled | discarded, or empty while open
  std::string job_id;
  std::string error_kind;  // errors.hpp name, empty when none
  std::string error_message;
  int submits = 0;  // times sent to the provider (> 1 only across retries or the crash window)
  bool resubmitted = false;  // re-sent after a crash between send and durable ack (possible duplicate job)
};

struct GenerationView {
  std::string id;
  std::string account;
  std::string model;
  ModelType type = ModelType::image;
  GenerationStatus status = GenerationStatus::pending;
  std::vector<std::string> provider_order;
  std::string provider_initialized;  // first provider tried
  std::string provider_used;         // only once succeeded
  std::string prediction_id;         // first provider job id, empty until known
  std::string params_json;           // canonical normalized request
  // Output URLs as the client receives them (succeeded, not removed): the
  // asset store's client_url() at the time of the call, e.g. signed links
  // that expire (fresh on every get/list); the stored rows keep plain URLs.
  std::vector<std::string> outputs;
  std::string error;
  std::string error_code;  // BSE code, e.g. BSE4001
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;    // 0 = not started
  std::int64_t completed_ms = 0;  // 0 = not terminal
  std::int64_t predict_ms = -1;   // provider compute time when known
  bool removed = false;
  bool credits_refunded = false;
  Micros held = 0;
  Micros cost = 0;  // settled amount (succeeded)
  std::vector<AttemptView> attempts;
};

struct SubmitOptions {
  std::optional<ModelType> expected_type;  // route check (image vs video route)
  // Wait up to this long for the first provider's acknowledgement so the
  // result can carry prediction_id (the create route's bounded wait).
  std::chrono::milliseconds wait_for_ack{0};
  // Hand the Idempotency-Key's in-flight claim to the caller
  // (SubmitOutcome::key_claim) instead of releasing it when submit returns.
  bool keep_key_claim = false;
};

// What Engine::watch waits for.
enum class Milestone {
  acknowledged,  // the first provider's job id is known, or the generation is terminal
  terminal,      // succeeded, failed or canceled
};

// Engine::watch's callback: the generation when it reached the milestone or
// when the wait ended first (tell by its status), or an error.
using WatchCallback = std::function<void(Result<GenerationView>)>;
// A pending watch (Engine::unwatch); 0 is no watch.
using WatchId = std::uint64_t;

struct SubmitOutcome {
  GenerationView generation;
  bool replayed = false;  // an earlier identical request's result
  // With SubmitOptions::keep_key_claim, the Idempotency-Key's in-flight
  // claim (empty without a key and on a replay): while it is held, a
  // concurrent submit of the same account and key is refused with
  // idempotency_in_progress. A caller that answers later (after a wait for
  // the generation) keeps it until its answer is out, so the request counts
  // as executing until then; releasing the last copy ends the claim.
  std::shared_ptr<void> key_claim;
};

struct GenerationPage {
  std::vector<GenerationView> generations;
  std::int64_t total = 0;
  std::int64_t limit = 0;
  std::int64_t offset = 0;
};

struct CancelReceipt {
  std::string generation_id;
  bool provider_cancel_sent = false;
  bool credits_refunded = false;
};

struct DeleteReceipt {
  std::string generation_id;
  std::size_t files_deleted = 0;
};

struct UsageCounts {
  std::int64_t requests = 0;   // generations
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;  // note the spelling (specs/api.md §8.5)
  std::int64_t pending = 0;
  Micros credits_used = 0;     // settled
};

struct ProviderUsage {
  std::string provider;
  std::int64_t attempts = 0;
  std::int64_t used = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t discarded = 0;
  Micros estimated_cost = 0;  // catalog cost of every attempt a provider accepted
  Micros wasted_cost = 0;     // the part of it whose output was not used
};

struct Usage {
  std::int64_t days = 30;
  UsageCounts total;  // generations
  // API requests from the usage log (storage.hpp RequestLogTable): every
  // route together (route empty, error codes summed), then per route template.
  RouteRequestCounts requests;
  std::vector<RouteRequestCounts> by_endpoint;
  std::vector<std::pair<std::string, UsageCounts>> by_model;
  std::vector<ProviderUsage> by_provider;
};

struct ModelAvailability {
  std::string model;
  std::string type;                 // "image" | "video"
  std::optional<Micros> flat_price; // per-generation price when flat
  std::vector<std::pair<std::string, std::string>> providers;  // (provider, native model id)
  bool available = false;  // at least one of its providers is configured and not open
  std::vector<std::string> providers_available;
};

// The shared cache as this instance sees it.
struct CacheHealth {
  bool configured = false;  // a cache URL is set
  bool healthy = false;     // the last round trip succeeded
  double latency_ms = 0;    // that round trip
  std::string error;        // why not healthy (secret-free)
  std::string limits = "local";    // "shared" | "local" (no cache, or failed open)
  std::string rankings = "local";  // "shared" (published by the leader) | "fallback" | "local"
  bool ranking_leader = false;     // this instance publishes the rankings
};

struct EngineHealth {
  CacheHealth cache;
  std::string instance_id;
  std::vector<ProviderHealth> providers;
  std::vector<std::pair<std::string, BreakerInfo>> breakers;  // by provider
  std::vector<ModelAvailability> models;
  bool healthy = true;
};

// A lifecycle event as delivered to the host callback (and, as webhook_data,
// to customer webhooks): generation.started / completed / failed / canceled.
// Output URLs in data_json are the asset store's client_url() at the time the
// event was rendered (signed links expire, retried deliveries included): a
// receiver whose link has expired fetches the generation again (get) for
// fresh ones.
struct LifecycleEvent {
  std::string type;
  std::string generation_id;
  std::string account;
  GenerationStatus status = GenerationStatus::pending;
  std::string data_json;  // webhook_data (specs/api.md §6.3)
};

using EventCallback = std::function<void(const LifecycleEvent&)>;

struct CallbackResult {
  bool applied = false;    // false: a duplicate (already seen) or stale message
  std::string generation_id;
};

class Engine {
 public:
  // Validates the config, initialises the ledger, restores the router, runs
  // recovery, then starts workers. invalid_request for a bad config.
  static Result<std::unique_ptr<Engine>> create(EngineConfig config);
  // Stops accepting work, waits for in-flight provider calls, stops the
  // workers. Durable state is untouched: a new engine picks up from it.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- identity -----------------------------------------------------------
  Result<Principal> authenticate(std::string_view api_key);
  // Takes one token for the principal (rate_limited when exhausted).
  Status acquire(const Principal& principal, RateInfo* info = nullptr);

  // --- generations --------------------------------------------------------
  Result<SubmitOutcome> submit(const Principal& principal, std::string_view model,
                               std::string_view params_json, std::string_view idempotency_key,
                               const SubmitOptions& options = {});
  Result<GenerationView> get(const Principal& principal, std::string_view generation_id);
  // Calls `done` exactly once: with the generation as committed by the step
  // that made it reach `milestone` (at once, on this thread, when it already
  // has), or as it stands when `timeout` passes first, or with an error:
  // what get() refuses with, or unavailable when the engine stops first.
  // `done` runs on the thread that committed the step (a worker, or the
  // caller of handle_provider_callback / cancel / run_due) or on the
  // watches' timer thread; it must not block for long, and may call the
  // engine. No thread waits meanwhile: a watch costs memory only. Returns
  // the watch's id, or 0 when `done` has run already.
  WatchId watch(const Principal& principal, std::string_view generation_id, Milestone milestone,
                std::chrono::milliseconds timeout, WatchCallback done);
  // Takes out a pending watch: true when it had not fired (`done` will not
  // run), false when it fired or is firing now.
  bool unwatch(WatchId id);
  // Whether provider work runs in the background (engine workers or the
  // host's executor); false when the host drives it with run_due(), so
  // nothing acknowledges a generation while the caller waits.
  bool works_in_background() const;
  // Newest first. limit 1..100, offset >= 0 (invalid_request otherwise).
  Result<GenerationPage> list(const Principal& principal, std::int64_t limit, std::int64_t offset);
  Result<CancelReceipt> cancel(const Principal& principal, std::string_view generation_id);
  Result<DeleteReceipt> remove(const Principal& principal, std::string_view generation_id);
  Result<Estimate> estimate(const Principal& principal, std::string_view model, EstimateParams params);

  // Verifies (through the provider adapter) and applies a provider callback.
  // invalid_signature / invalid_request / not_found (unknown provider or job).
  Result<CallbackResult> handle_provider_callback(std::string_view provider,
                                                  std::span<const CallbackHeader> headers,
                                                  std::string_view raw_body);

  Result<Usage> usage(const Principal& principal, std::int64_t days);
  EngineHealth health() const;
  // Prometheus text exposition (version 0.0.4).
  std::string metrics_text();

  // The host callback for lifecycle events (replaces any previous one).
  void set_event_callback(EventCallback callback);

  // --- driving (tests, simulations, hosts without workers) -----------------
  // Processes everything due now: timers (deadlines, polls, retries) and the
  // provider work they cause, synchronously on the calling thread, until
  // nothing more is due. Returns the number of lifecycle steps applied.
  Result<std::size_t> run_due();
  // Waits until no provider work is queued or running (workers mode).
  void drain();

  Ledger& ledger();
  Router& router();
  ApiKeyService& api_keys();
  const std::shared_ptr<const Catalog>& catalog() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea
