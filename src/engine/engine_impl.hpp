// Internal: the engine's state shared by engine.cpp (submit, events,
// effects, workers) and views.cpp (views, usage, health, metrics, JSON).
// Engine::Impl holds the engine's parts (config, ledger, router, keys,
// providers) and, as named members, the work runner, the idempotency gate,
// the acknowledgement waiters and the metrics.
#pragma once

#include <atomic>
#include <chrono>
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
#include <boost/asio/post.hpp>

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

// A monotonic event counter (relaxed increments).
class Counter {
 public:
  void add() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  std::int64_t load() const noexcept { return n_.load(); }

 private:
  std::atomic<std::int64_t> n_{0};
};

// One unit of provider work produced by a step: the effect plus a snapshot
// of the generation it belongs to (read-only).
struct Task {
  std::string generation_id;
  Effect effect;
  std::shared_ptr<const Generation> generation;
  std::int64_t epoch = 0;  // Impl::epoch when made (see still_owner)
};

// Runs the engine's provider work and timer steps, and counts what is in
// flight so drain() and shutdown can wait for it. Work runs on the host's
// executor when one is lent (never run or stopped here), else on worker
// threads of an own io_context, else nowhere: in inline mode tasks wait in
// a queue for Engine::run_due(). Also owns the scheduler thread, its
// wake-up, and the de-duplication of timer steps (one queued per
// generation at a time).
//
// Thread safety: safe for concurrent use, except start(),
// start_scheduler() and shutdown(), which the engine calls once each from
// the thread that creates or destroys it.
class WorkRunner {
 public:
  // Where posted work runs: on `host` when given (borrowed), else on
  // `threads` own worker threads when threads > 0, else inline mode.
  void start(Executor* host, int threads);
  // Runs `loop` on the scheduler thread (until it returns after stopping()).
  void start_scheduler(std::function<void()> loop);
  // Stops: no new work runs, the scheduler is woken and joined, work in
  // flight is waited for, then the own threads (if any) are joined.
  void shutdown();

  // Set by shutdown(); nothing new starts once it is.
  bool stopping() const noexcept { return stopping_.load(); }
  // No workers and no executor: tasks are queued for run_due().
  bool inline_mode() const noexcept { return host_ == nullptr && !io_; }

  // Runs `fn` on a worker (unless stopping by then), counted as in flight
  // until it returns. REQUIRES: !inline_mode().
  template <class Fn>
  void post(Fn fn) {
    post_counted([this, fn = std::move(fn)]() mutable {
      if (!stopping()) fn();
    });
  }
  // The same for the timer step `fn` of generation `id`, unless one is
  // already queued or running for it (then false, nothing posted).
  // REQUIRES: !inline_mode().
  template <class Fn>
  bool post_timer(const std::string& id, Fn fn) {
    {
      std::lock_guard lock(sched_mu_);
      if (!timers_queued_.insert(id).second) return false;
    }
    post_counted([this, id, fn = std::move(fn)]() mutable {
      if (!stopping()) fn();
      std::lock_guard lock(sched_mu_);
      timers_queued_.erase(id);
    });
    return true;
  }

  // Inline mode: queues a task for run_due(), and hands the queue over.
  void enqueue(Task task);
  std::deque<Task> take_queued();
  bool queue_empty();

  // Blocks until no posted work is queued or running.
  void wait_idle();
  // The scheduler's pause between rounds: `tick`, or until shutdown().
  void wait_tick(std::chrono::milliseconds tick);

 private:
  // Runs `fn` on the host's executor or an own worker, counted as in
  // flight until it returns.
  template <class Fn>
  void post_counted(Fn fn) {
    started();
    auto run = [this, fn = std::move(fn)]() mutable {
      fn();
      finished();
    };
    if (host_ != nullptr)
      host_->post(std::move(run));
    else
      boost::asio::post(*io_, std::move(run));
  }
  void started();
  void finished();

  Executor* host_ = nullptr;
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_guard_;
  std::vector<std::thread> threads_;
  std::thread scheduler_;
  std::atomic<bool> stopping_{false};

  std::mutex queue_mu_;  // inline mode
  std::deque<Task> queue_;

  std::mutex drain_mu_;  // work accounting
  std::condition_variable drain_cv_;
  std::int64_t in_flight_ = 0;

  std::mutex sched_mu_;  // scheduler wake-up and timer de-duplication
  std::condition_variable sched_cv_;
  std::unordered_set<std::string> timers_queued_;
};

// In-process claims on (account, Idempotency-Key) while a keyed submit is in
// flight, so a concurrent duplicate gets idempotency_in_progress instead of
// racing the original into the store. The key's durable record stays the
// authority (checked atomically in the submit's unit of work); the gate only
// covers one process's window before that unit commits.
// Thread safety: safe for concurrent use.
class IdempotencyGate {
 public:
  // A held claim; released when destroyed. Empty for a submit without a key.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class IdempotencyGate;
    IdempotencyGate* gate_ = nullptr;
    std::string name_;
  };

  // Claims (account, key); an empty key claims nothing. Codes:
  // idempotency_in_progress while another submit holds the same claim.
  Result<Slot> enter(std::string_view account, std::string_view key);

 private:
  std::mutex mu_;
  std::unordered_set<std::string> in_flight_;  // account + '\n' + key
};

// Callers waiting for a generation to reach a Milestone (Engine::watch and
// the submit's bounded wait for the acknowledgement): a callback per
// watcher, no thread per watcher. Committed steps report through reached()
// and fire the watchers whose milestone the generation has reached, on the
// committing thread, with the generation as committed; the watchers' own
// timer thread (started by the first add) fires the ones whose deadline
// passes first, with nullptr. Each watcher fires exactly once, unless
// remove() takes it out first.
// Thread safety: safe for concurrent use; a Fire runs with no lock held.
class Watchers {
 public:
  using Clock = std::chrono::steady_clock;
  // `g`: the generation at its milestone; nullptr: the deadline passed, or
  // the engine is stopping (Watchers::stopping() tells which).
  using Fire = std::function<void(const Generation* g)>;

  ~Watchers();  // shutdown()
  // Registers `fire` for generation `id`; returns its token (never 0).
  std::uint64_t add(std::string id, Milestone milestone, Clock::time_point deadline, Fire fire);
  // Takes watcher `token` out if it has not fired: then true, and it never
  // fires; false when it has fired (or is firing) already.
  bool remove(std::uint64_t token);
  // A step of `g` has committed: fires the watchers of g.id whose
  // milestone `g` has reached.
  void reached(const Generation& g);
  // Fires every watcher left with nullptr and stops the timer; later adds
  // fire at once with nullptr.
  void shutdown();
  bool stopping() const noexcept { return stopping_.load(); }

  static bool has_reached(const Generation& g, Milestone m);

 private:
  struct Watcher {
    std::string id;
    Milestone milestone;
    Clock::time_point deadline;
    Fire fire;
  };
  void timer_loop();
  // Takes watcher `token` out (under mu_) and hands over its Fire.
  Fire take(std::uint64_t token);

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, Watcher> watchers_;
  std::unordered_multimap<std::string, std::uint64_t> by_generation_;
  std::multimap<Clock::time_point, std::uint64_t> by_deadline_;
  std::uint64_t next_token_ = 1;
  std::thread timer_;
  std::atomic<bool> stopping_{false};
};

// The engine's counters and latency histograms, rendered by
// Engine::metrics() (views.cpp).
// Thread safety: counters and histograms are atomic; the labelled maps are
// read and written under `mu`.
struct EngineMetrics {
  std::mutex mu;
  std::map<std::pair<std::string, std::string>, std::int64_t> attempts_by_outcome;  // (provider, outcome)
  std::map<std::string, std::int64_t> submits_by_provider;
  std::map<std::string, std::int64_t> submit_errors_by_kind;

  Counter steps_applied;        // lifecycle steps that changed a generation
  Counter cas_retries;          // steps re-run after losing a version race
  Counter callbacks_duplicate;  // provider callbacks already seen
  Counter effect_failures;      // steps or provider effects that failed
  Counter recovered_from_dead;  // generations taken over from dead instances
  Counter reregistered;         // heartbeats that found our instance row gone
  Counter submits_skipped;      // submits of generations taken over meanwhile

  LatencyHistogram submit_latency;      // engine submit() call
  LatencyHistogram generation_latency;  // acceptance -> terminal
  LatencyHistogram provider_latency;    // provider call durations

  void count_attempt(const AttemptRecord& rec);
  void count_submit(const std::string& provider);
  void count_submit_error(ErrorKind kind);
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

  WorkRunner work;              // provider work, timer steps, the scheduler
  IdempotencyGate idempotency;  // keyed submits in flight in this process
  Watchers watchers;            // callers waiting for a generation's milestone
  EngineMetrics metrics;        // counters and histograms

  // This engine's instance id (ClusterOptions) and the registry's state.
  std::string instance_id;
  bool registry = false;            // the store keeps an instance registry
  std::mutex sweep_mu;              // one heartbeat_and_sweep() at a time
  std::int64_t last_heartbeat = 0;  // under sweep_mu
  std::int64_t last_sweep = 0;      // under sweep_mu
  // Bumped each time a heartbeat finds this instance declared dead; tasks
  // made before are checked against the store before they send.
  std::atomic<std::int64_t> epoch{0};
  std::atomic<std::int64_t> last_beat_ok{0};  // clock ms of the last successful heartbeat

  std::mutex callback_mu;
  std::shared_ptr<EventCallback> event_callback;

  std::int64_t now() const { return clock->now_ms(); }
  ProviderPolicy policy_of(std::string_view provider) const;
  Provider* provider(std::string_view id) const;

  // What a step's unit writes beside the generation row, prepared before
  // the unit (outside the store's writer): the attempt records and the
  // lifecycle events, rendered.
  struct UnitWrites {
    std::vector<AttemptRecord> records;
    std::vector<LifecycleEvent> events;
  };
  // The optional inputs of apply().
  struct StepInput {
    // Run first in the step's unit; returning false skips the step (a
    // duplicate callback, a generation another instance recovered).
    const std::function<Result<bool>(UnitOfWork&)>* extra = nullptr;
    Status* refused = nullptr;                // the step's own refusal (cancel of a terminal one)
    std::shared_ptr<const Generation> known;  // the generation as the caller saw it committed
    std::optional<Event> then;                // the outputs' arrival, copied before the step
  };
  // Applies `event` to generation `id`: computes the step, then commits it
  // in one unit of work, only when it changes something (or `extra` has
  // writes). Dispatches the resulting provider effects after commit.
  // Returns whether the state changed (false also for the extra's veto).
  Result<bool> apply(std::string_view id, const Event& event, StepInput in);
  Result<bool> apply(std::string_view id, const Event& event);
  // The step's attempt records and events, before its unit.
  void prepare(const Generation& g, const std::vector<Effect>& effects, UnitWrites& out);
  // The step's money, telemetry and outbox writes inside its unit.
  Status write(UnitOfWork& uow, const Generation& g, const std::vector<Effect>& effects, const UnitWrites& w);
  void after_commit(const Generation& g, std::vector<Effect> effects, std::vector<AttemptRecord> records,
                    std::vector<LifecycleEvent> events);
  void dispatch(Task task);
  void run_task(const Task& task);
  std::optional<Event> execute(const Task& task);
  // The outputs of a synchronous provider's answer `ev` to the submit of
  // `g`'s only attempt, copied now, before its step, as the event of their
  // arrival (stored or failed); nullopt for any other event.
  std::optional<Event> copy_outputs(const Generation& g, const Event& ev);
  // Copies `outputs` into the asset store: assets_stored or assets_failed.
  Event store_outputs(const Generation& g, const std::string& attempt_id, const std::vector<ProviderOutput>& outputs);
  Event do_submit(const Generation& g, const Effect& e);
  // False when another instance has taken the generation over (shared stores).
  bool still_owner(const Task& task);
  void beat();  // the heartbeat, when due (under sweep_mu or at start)

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

}  // namespace babysea
