// Internal: the engine's state shared by engine.cpp (submit, events,
// effects, workers) and views.cpp (views, usage, health, metrics, JSON).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "babysea/engine.hpp"
#include "cache/cluster_cache.hpp"

namespace babysea {

// Fixed-bucket latency histogram (milliseconds), lock-free counters.
class LatencyHistogram {
 public:
  static constexpr double kBoundsMs[] = {1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 60000, 300000};
  static constexpr std::size_t kBuckets = sizeof(kBoundsMs) / sizeof(kBoundsMs[0]);
  void observe(double ms) {
    for (std::size_t i = 0; i < kBuckets; ++i)
      if (ms <= kBoundsMs[i]) counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::int64_t>(ms * 1000.0), std::memory_order_relaxed);
  }
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::atomic<std::int64_t> counts_[kBuckets] = {};
  std::atomic<std::int64_t> count_{0};
  std::atomic<std::int64_t> sum_us_{0};
};

// One unit of provider work produced by a step: the effect plus a snapshot
// of the generation it belongs to (read-only).
struct Task {
  std::string generation_id;
  Effect effect;
  std::shared_ptr<const Generation> generation;
  std::int64_t epoch = 0;  // Impl::epoch when made (see still_owner)
};

struct Engine::Impl {
  EngineConfig config;
  const Clock* clock = nullptr;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<Router> router;
  std::unique_ptr<ApiKeyService> keys;
  std::unique_ptr<RateLimiter> limiter;
  std::unique_ptr<ClusterCache> cache;  // shared cache (options.cache.url set)
  std::map<std::string, std::shared_ptr<Provider>, std::less<>> providers;
  std::map<std::string, ProviderPolicy, std::less<>> provider_policies;
  LifecyclePolicy policy;

  // Workers (own io_context) or the host's executor.
  std::unique_ptr<boost::asio::io_context> io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_guard;
  std::vector<std::thread> threads;
  std::thread scheduler;
  std::atomic<bool> stopping{false};

  // Inline mode (no workers): tasks wait here for run_due().
  std::mutex queue_mu;
  std::deque<Task> queue;

  // Work accounting for drain().
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  std::int64_t in_flight = 0;

  // Scheduler wake-up and timer de-duplication.
  std::mutex sched_mu;
  std::condition_variable sched_cv;
  std::unordered_set<std::string> timers_queued;

  // This engine's instance id (ClusterOptions) and the registry's state.
  std::string instance_id;
  bool registry = false;            // the store keeps an instance registry
  std::mutex sweep_mu;              // one heartbeat_and_sweep() at a time
  std::int64_t last_heartbeat = 0;  // under sweep_mu
  std::int64_t last_sweep = 0;      // under sweep_mu
  std::atomic<std::int64_t> recovered_from_dead{0};  // generations taken over
  std::atomic<std::int64_t> reregistered{0};         // heartbeats that found our row gone
  std::atomic<std::int64_t> submits_skipped{0};      // submits of generations taken over meanwhile
  // Bumped each time a heartbeat finds this instance declared dead; tasks
  // made before are checked against the store before they send.
  std::atomic<std::int64_t> epoch{0};
  std::atomic<std::int64_t> last_beat_ok{0};  // clock ms of the last successful heartbeat

  // In-flight idempotent submits (account + '\n' + key).
  std::mutex idem_mu;
  std::unordered_set<std::string> idem_in_flight;

  // Waiters for the first acknowledgement of a generation.
  std::mutex ack_mu;
  std::condition_variable ack_cv;
  std::unordered_map<std::string, int> ack_waiters;  // generation id -> waiters
  std::unordered_set<std::string> acked;             // acknowledged while waited for

  std::mutex callback_mu;
  std::shared_ptr<EventCallback> event_callback;

  // Metrics.
  std::mutex metrics_mu;
  std::map<std::pair<std::string, std::string>, std::int64_t> attempts_by_outcome;  // (provider, outcome)
  std::map<std::string, std::int64_t> submits_by_provider;
  std::map<std::string, std::int64_t> submit_errors_by_kind;
  std::atomic<std::int64_t> steps_applied{0};
  std::atomic<std::int64_t> cas_retries{0};
  std::atomic<std::int64_t> callbacks_duplicate{0};
  std::atomic<std::int64_t> effect_failures{0};
  LatencyHistogram submit_latency;      // engine submit() call
  LatencyHistogram generation_latency;  // acceptance -> terminal
  LatencyHistogram provider_latency;    // provider call durations

  std::int64_t now() const { return clock->now_ms(); }
  ProviderPolicy policy_of(std::string_view provider) const;
  Provider* provider(std::string_view id) const;

  // Applies `event` to generation `id` in one unit of work (with `extra`
  // run first in the same unit; returning false from it skips the step).
  // Dispatches the resulting provider effects after commit. Returns whether
  // the state changed (or the extra hook's veto).
  Result<bool> apply(std::string_view id, const Event& event,
                     const std::function<Result<bool>(UnitOfWork&)>& extra = {},
                     Status* step_status = nullptr);
  // Money, telemetry and outbox effects inside the step's unit.
  Status apply_in_unit(UnitOfWork& uow, const Generation& g, const Effect& e,
                       std::vector<AttemptRecord>& records, std::vector<LifecycleEvent>& events);
  void after_commit(const Generation& g, std::vector<Effect> effects, std::vector<AttemptRecord> records,
                    std::vector<LifecycleEvent> events);
  void dispatch(Task task);
  void run_task(const Task& task);
  std::optional<Event> execute(const Task& task);
  Event do_submit(const Generation& g, const Effect& e);
  // False when another instance has taken the generation over (shared stores).
  bool still_owner(const Task& task);
  void beat();  // the heartbeat, when due (under sweep_mu or at start)
  void work_started();
  void work_finished();

  Status recover();
  // Instances: register at start, beat, and recover the in-flight work of
  // instances whose heartbeat lapsed (and of our own previous incarnation).
  Status register_instance();
  void heartbeat_and_sweep();
  Status recover_owned_by(const std::string& owner);
  void scheduler_loop();
  std::size_t fire_due(bool inline_mode);
  void housekeeping();

  Result<Generation> load(std::string_view id);
  Result<Generation> load_owned(const Principal& p, std::string_view id);
  void emit_to_host(const LifecycleEvent& ev);
};

// Shared helpers.
// Output URLs go through `assets.client_url` at `now_ms` (signed links are
// rendered fresh, never stored in the generation).
GenerationView make_view(const Generation& g, const AssetStore& assets, std::int64_t now_ms);
std::string webhook_data_json(const Generation& g, const AssetStore& assets, std::int64_t now_ms);
std::string create_response_json(const Generation& g);
std::string rfc3339_ms(std::int64_t unix_ms);

}  // namespace babysea
