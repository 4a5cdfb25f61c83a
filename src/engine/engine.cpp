// The engine: submit, the event loop over the lifecycle machine, provider
// effects, recovery and the scheduler (engine.hpp). Views, usage, health,
// metrics and JSON renderings are in views.cpp.
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <utility>

#include <boost/asio/post.hpp>

#include "babysea/ids.hpp"
#include "babysea/webhook_delivery.hpp"
#include "engine/engine_impl.hpp"
#include "service/render.hpp"

namespace babysea {

namespace {

constexpr int kMaxApplyTries = 8;
constexpr std::size_t kDueBatch = 512;
constexpr std::int64_t kPruneEveryMs = 60'000;

// The text a request fingerprint covers: method + path (with the model) +
// canonical normalized body.
std::string fingerprint_text(ModelType type, std::string_view model, std::string_view canonical) {
  std::string text = "POST /v1/generate/";
  text += model_type_name(type);
  text += '/';
  text += model;
  text += '\n';
  text += canonical;
  return text;
}

// "b2:" + hex BLAKE2b-256 of fingerprint_text (several times cheaper than
// SHA-256 in software, and it sits on every keyed submit).
std::string request_fingerprint(ModelType type, std::string_view model, std::string_view canonical) {
  const std::string text = fingerprint_text(type, model, canonical);
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(text.data()), text.size(), nullptr,
                     0);
  char hex[crypto_generichash_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return "b2:" + std::string(hex, crypto_generichash_BYTES * 2);
}

// Whether a stored fingerprint is this request's. Records written before the
// "b2:" form hold a bare hex SHA-256 of the same text; they are checked the
// old way (only on a replay, so the cost is off the hot path).
bool same_request(std::string_view stored, std::string_view fingerprint, ModelType type, std::string_view model,
                  std::string_view canonical) {
  if (stored.substr(0, 3) == "b2:") return stored == fingerprint;
  const std::string text = fingerprint_text(type, model, canonical);
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return stored == std::string_view(hex, crypto_hash_sha256_BYTES * 2);
}

bool is_money_or_log(EffectKind k) {
  return k == EffectKind::settle || k == EffectKind::release || k == EffectKind::record_outcome ||
         k == EffectKind::emit;
}

GenerationRow row_of(const Generation& g) {
  GenerationRow row;
  row.id = g.id;
  row.account = g.account;
  row.status = static_cast<int>(g.status);
  row.created_ms = g.created_ms;
  row.wake_ms = wake_ms(g);
  row.version = g.version;
  row.doc = encode_generation(g);
  return row;
}

}  // namespace

// ------------------------------------------------------------ WorkRunner

void WorkRunner::start(Executor* host, int threads) {
  host_ = host;
  if (host_ != nullptr || threads <= 0) return;
  io_ = std::make_unique<boost::asio::io_context>(threads);
  work_guard_.emplace(io_->get_executor());
  for (int i = 0; i < threads; ++i) threads_.emplace_back([io = io_.get()] { io->run(); });
}

void WorkRunner::start_scheduler(std::function<void()> loop) { scheduler_ = std::thread(std::move(loop)); }

void WorkRunner::shutdown() {
  stopping_ = true;
  sched_cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  wait_idle();
  if (io_) {
    work_guard_.reset();
    io_->stop();
    for (auto& t : threads_) t.join();
  }
}

void WorkRunner::enqueue(Task task) {
  std::lock_guard lock(queue_mu_);
  queue_.push_back(std::move(task));
}

std::deque<Task> WorkRunner::take_queued() {
  std::deque<Task> batch;
  std::lock_guard lock(queue_mu_);
  batch.swap(queue_);
  return batch;
}

bool WorkRunner::queue_empty() {
  std::lock_guard lock(queue_mu_);
  return queue_.empty();
}

void WorkRunner::wait_idle() {
  std::unique_lock lock(drain_mu_);
  drain_cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void WorkRunner::wait_tick(std::chrono::milliseconds tick) {
  std::unique_lock lock(sched_mu_);
  sched_cv_.wait_for(lock, tick, [this] { return stopping(); });
}

void WorkRunner::started() {
  std::lock_guard lock(drain_mu_);
  ++in_flight_;
}

void WorkRunner::finished() {
  std::lock_guard lock(drain_mu_);
  if (--in_flight_ == 0) drain_cv_.notify_all();
}

// ------------------------------------------------------- IdempotencyGate

IdempotencyGate::Slot::Slot(Slot&& other) noexcept
    : gate_(std::exchange(other.gate_, nullptr)), name_(std::move(other.name_)) {}

IdempotencyGate::Slot::~Slot() {
  if (gate_ == nullptr) return;
  std::lock_guard lock(gate_->mu_);
  gate_->in_flight_.erase(name_);
}

Result<IdempotencyGate::Slot> IdempotencyGate::enter(std::string_view account, std::string_view key) {
  Slot slot;
  if (key.empty()) return slot;
  slot.name_ = std::string(account);
  slot.name_ += '\n';
  slot.name_ += key;
  std::lock_guard lock(mu_);
  if (!in_flight_.insert(slot.name_).second)
    return Status(Code::idempotency_in_progress, "the original request with this Idempotency-Key is still in flight");
  slot.gate_ = this;
  return slot;
}

// -------------------------------------------------------------- Watchers

Watchers::~Watchers() { shutdown(); }

bool Watchers::has_reached(const Generation& g, Milestone m) {
  if (is_terminal(g.status)) return true;
  return m == Milestone::acknowledged && !g.prediction_id.empty();
}

std::uint64_t Watchers::add(std::string id, Milestone milestone, Clock::time_point deadline, Fire fire) {
  std::unique_lock lock(mu_);
  if (stopping_.load()) {
    lock.unlock();
    fire(nullptr);
    return 0;
  }
  if (!timer_.joinable()) timer_ = std::thread([this] { timer_loop(); });
  const std::uint64_t token = next_token_++;
  by_generation_.emplace(id, token);
  const bool earliest = by_deadline_.empty() || deadline < by_deadline_.begin()->first;
  by_deadline_.emplace(deadline, token);
  watchers_.emplace(token, Watcher{std::move(id), milestone, deadline, std::move(fire)});
  if (earliest) cv_.notify_one();
  return token;
}

Watchers::Fire Watchers::take(std::uint64_t token) {
  auto it = watchers_.find(token);
  if (it == watchers_.end()) return nullptr;
  Watcher w = std::move(it->second);
  watchers_.erase(it);
  for (auto [a, b] = by_generation_.equal_range(w.id); a != b; ++a)
    if (a->second == token) {
      by_generation_.erase(a);
      break;
    }
  for (auto [a, b] = by_deadline_.equal_range(w.deadline); a != b; ++a)
    if (a->second == token) {
      by_deadline_.erase(a);
      break;
    }
  return std::move(w.fire);
}

bool Watchers::remove(std::uint64_t token) {
  std::lock_guard lock(mu_);
  return take(token) != nullptr;
}

void Watchers::reached(const Generation& g) {
  std::vector<Fire> due;
  {
    std::lock_guard lock(mu_);
    if (watchers_.empty()) return;
    std::vector<std::uint64_t> tokens;
    for (auto [a, b] = by_generation_.equal_range(g.id); a != b; ++a)
      if (has_reached(g, watchers_.at(a->second).milestone)) tokens.push_back(a->second);
    for (auto t : tokens) due.push_back(take(t));
  }
  for (auto& f : due) f(&g);
}

void Watchers::timer_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_.load()) {
    if (by_deadline_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto next = by_deadline_.begin()->first;
    if (Clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    Fire f = take(by_deadline_.begin()->second);
    lock.unlock();
    f(nullptr);
    lock.lock();
  }
}

void Watchers::shutdown() {
  std::vector<Fire> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_.exchange(true)) return;
    for (auto& [token, w] : watchers_) left.push_back(std::move(w.fire));
    watchers_.clear();
    by_generation_.clear();
    by_deadline_.clear();
    cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  for (auto& f : left) f(nullptr);
}

// --------------------------------------------------------- EngineMetrics

void EngineMetrics::count_attempt(const AttemptRecord& rec) {
  std::lock_guard lock(mu);
  ++attempts_by_outcome[{rec.provider, std::string(attempt_outcome_name(rec.outcome))}];
}

void EngineMetrics::count_submit(const std::string& provider) {
  std::lock_guard lock(mu);
  ++submits_by_provider[provider];
}

void EngineMetrics::count_submit_error(ErrorKind kind) {
  std::lock_guard lock(mu);
  ++submit_errors_by_kind[std::string(error_kind_name(kind))];
}

// ------------------------------------------------------------------ Impl

ProviderPolicy Engine::Impl::policy_of(std::string_view provider_id) const {
  auto it = provider_policies.find(provider_id);
  return it == provider_policies.end() ? ProviderPolicy{} : it->second;
}

Provider* Engine::Impl::provider(std::string_view id) const {
  auto it = providers.find(id);
  return it == providers.end() ? nullptr : it->second.get();
}

Result<Generation> Engine::Impl::load(std::string_view id) {
  GenerationRow row;
  Status st = config.store->read([&](UnitOfWork& uow) { return uow.generations().get(id, row); });
  if (!st.ok()) return st;
  auto g = decode_generation(row.doc);
  if (!g.ok()) return g.status();
  g->version = row.version;
  return g;
}

Result<Generation> Engine::Impl::load_owned(const Principal& p, std::string_view id) {
  auto g = load(id);
  if (!g.ok()) {
    if (g.code() == Code::not_found) return resource_not_found("generation");
    return g.status();
  }
  BABYSEA_RETURN_IF_ERROR(check_owner(p, g->account, "generation"));
  return g;
}

void Engine::Impl::prepare(const Generation& g, const std::vector<Effect>& effects, UnitWrites& out) {
  out.records.clear();
  out.events.clear();
  for (const auto& e : effects) {
    if (e.kind == EffectKind::record_outcome) {
      const Attempt* a = g.find_attempt(e.attempt_id);
      if (a == nullptr) continue;
      AttemptRecord rec;
      rec.attempt_id = a->id;
      rec.region = g.region;
      rec.model = g.model;
      rec.provider = a->provider;
      rec.outcome = e.outcome;
      rec.error = e.outcome == AttemptOutcome::used ? ErrorKind::none : a->error;
      const std::int64_t from = a->submitted_ms > 0 ? a->submitted_ms : a->created_ms;
      const std::int64_t to = a->finished_ms > 0 ? a->finished_ms : now();
      rec.latency_ms = std::max<std::int64_t>(0, to - from);
      auto cost = checked_mul(g.cost_per_output, std::max<std::int64_t>(g.max_outputs, 1));
      rec.cost = cost.ok() ? *cost : g.held;
      rec.finished_ms = to;
      out.records.push_back(std::move(rec));
    } else if (e.kind == EffectKind::emit) {
      LifecycleEvent ev;
      ev.type = e.event_type;
      ev.generation_id = g.id;
      ev.account = g.account;
      ev.status = g.status;
      ev.data_json = render::webhook_data(g, *config.assets, now());
      out.events.push_back(std::move(ev));
    }
  }
}

Status Engine::Impl::write(UnitOfWork& uow, const Generation& g, const std::vector<Effect>& effects,
                           const UnitWrites& w) {
  for (const auto& e : effects) {
    if (e.kind != EffectKind::settle && e.kind != EffectKind::release) continue;
    if (g.hold_id.empty()) continue;
    const bool settle = e.kind == EffectKind::settle && e.amount > 0;
    auto r = settle ? ledger->settle(uow, g.hold_id, e.amount) : ledger->release(uow, g.hold_id);
    // A hold the ledger already expired (the engine was down past the
    // hold's grace) is resolved; anything else is a real failure.
    if (!r.ok() && r.code() != Code::invalid_state) return r.status();
  }
  for (const auto& rec : w.records) {
    auto ok = Router::persist_attempt(uow, rec);
    if (!ok.ok()) return ok.status();
  }
  // The outbox carries an event only to an account with an endpoint that
  // wants it: nothing else would ever read the row.
  for (const auto& ev : w.events) {
    auto wanted = webhook_event_wanted(uow, ev.account, ev.type);
    if (!wanted.ok()) return wanted.status();
    if (!*wanted) continue;
    auto id = enqueue_webhook_event(uow, ev.account, ev.type, ev.data_json, now());
    if (!id.ok()) return id.status();
  }
  return {};
}

Result<bool> Engine::Impl::apply(std::string_view id, const Event& event) { return apply(id, event, StepInput()); }

Result<bool> Engine::Impl::apply(std::string_view id, const Event& event, StepInput in) {
  std::shared_ptr<const Generation> known = std::move(in.known);
  for (int attempt = 0; attempt < kMaxApplyTries; ++attempt) {
    // The step is computed outside the unit, from the generation as last
    // committed (the caller's copy, else a read); the unit holds only the
    // writes, and the version compare-and-set turns a stale copy into a
    // retry from a fresh read.
    Generation g;
    std::string owner;
    const bool from_copy = known != nullptr;
    if (from_copy) {
      g = *known;
      owner = instance_id;  // a task's copy: its step sent work, so this instance owned it
      known.reset();
    } else {
      GenerationRow row;
      Status rd = config.store->read([&](UnitOfWork& uow) { return uow.generations().get(id, row); });
      if (!rd.ok()) return rd;
      auto dec = decode_generation(row.doc);
      if (!dec.ok()) return dec.status();
      g = std::move(*dec);
      g.version = row.version;
      owner = std::move(row.owner);
    }
    StepResult r = step(g, event, now(), policy);
    if (!r.status.ok()) {
      if (in.refused != nullptr) *in.refused = r.status;
      return false;  // nothing changes
    }
    if (in.then) {
      // Outputs copied before the step (the provider answered with them):
      // their arrival joins this unit instead of a fetch and a unit of its own.
      const std::string& att = in.then->attempt_id;
      const auto fetch = std::find_if(r.effects.begin(), r.effects.end(), [&](const Effect& e) {
        return e.kind == EffectKind::fetch_assets && e.attempt_id == att;
      });
      if (fetch != r.effects.end()) r.effects.erase(fetch);
      StepResult r2 = step(g, *in.then, now(), policy);
      if (r2.status.ok()) {
        r.changed = r.changed || r2.changed;
        for (auto& e : r2.effects) r.effects.push_back(std::move(e));
      }
    }
    if (!r.changed && !in.extra) {
      // Nothing to write: only a fresh read may say so (the copy may be
      // older than the event's news; a changing step is caught by the
      // compare-and-set instead). Rare, and measured as free in the e2e bench.
      if (from_copy) continue;
      if (r.effects.empty()) return false;
      std::vector<Effect> io_effects;
      for (auto& e : r.effects)
        if (!is_money_or_log(e.kind)) io_effects.push_back(std::move(e));
      after_commit(g, std::move(io_effects), {}, {});
      return false;
    }
    UnitWrites writes;
    if (r.changed) prepare(g, r.effects, writes);
    const std::int64_t expected = g.version;
    GenerationRow next;
    if (r.changed) {
      g.version = expected + 1;
      next = row_of(g);
      // The instance that sends the step's provider work owns the generation
      // until another sends some (recovery always takes it over).
      const bool sends = std::any_of(r.effects.begin(), r.effects.end(),
                                     [](const Effect& e) { return !is_money_or_log(e.kind); });
      next.owner = sends || event.kind == EventKind::recovered ? instance_id : owner;
    }
    bool vetoed = false;
    Status st = config.store->transact([&](UnitOfWork& uow) -> Status {
      vetoed = false;
      if (in.extra) {
        auto go = (*in.extra)(uow);
        if (!go.ok()) return go.status();
        if (!*go) {
          vetoed = true;
          return {};
        }
      }
      if (!r.changed) return {};
      BABYSEA_RETURN_IF_ERROR(write(uow, g, r.effects, writes));
      if (event.kind == EventKind::submit_ok && !event.job.job_id.empty()) {
        if (const Attempt* a = g.find_attempt(event.attempt_id); a != nullptr)
          BABYSEA_RETURN_IF_ERROR(uow.generations().put_job(a->provider, event.job.job_id, g.id, a->id));
      }
      return uow.generations().update(next, expected);
    });
    if (!st.ok()) {
      const bool retry = st.code() == Code::invalid_state || st.code() == Code::unavailable;
      if (retry && attempt + 1 < kMaxApplyTries && !(st.code() == Code::unavailable && work.stopping())) {
        metrics.cas_retries.add();
        continue;
      }
      metrics.effect_failures.add();
      return st;
    }
    if (vetoed) return false;
    if (!r.changed && r.effects.empty()) return false;
    if (r.changed) metrics.steps_applied.add();
    std::vector<Effect> io_effects;
    for (auto& e : r.effects)
      if (!is_money_or_log(e.kind)) io_effects.push_back(std::move(e));
    const bool changed = r.changed;
    after_commit(g, std::move(io_effects), std::move(writes.records), std::move(writes.events));
    return changed;
  }
  return Status(Code::unavailable, "generation is contended; try again");
}

void Engine::Impl::after_commit(const Generation& g, std::vector<Effect> effects, std::vector<AttemptRecord> records,
                                std::vector<LifecycleEvent> events) {
  for (const auto& rec : records) {
    (void)router->observe_attempt(rec);
    metrics.count_attempt(rec);
  }
  for (const auto& ev : events) {
    if (ev.type != "generation.started")
      metrics.generation_latency.observe(static_cast<double>(std::max<std::int64_t>(0, g.completed_ms - g.created_ms)));
    emit_to_host(ev);
  }
  watchers.reached(g);
  if (effects.empty()) return;
  auto snapshot = std::make_shared<const Generation>(g);
  const std::int64_t made_in = epoch.load(std::memory_order_relaxed);
  for (auto& e : effects) dispatch(Task{g.id, std::move(e), snapshot, made_in});
}

void Engine::Impl::emit_to_host(const LifecycleEvent& ev) {
  std::shared_ptr<EventCallback> cb;
  {
    std::lock_guard lock(callback_mu);
    cb = event_callback;
  }
  if (!cb || !*cb) return;
  try {
    (*cb)(ev);
  } catch (...) {
    // The host's callback must not take the engine down.
  }
}

void Engine::Impl::dispatch(Task task) {
  if (work.stopping()) return;  // durable state has it; the next engine's recovery redoes it
  if (work.inline_mode()) {
    work.enqueue(std::move(task));
    return;
  }
  work.post([this, t = std::move(task)] { run_task(t); });
}

void Engine::Impl::run_task(const Task& task) {
  std::optional<Event> ev;
  try {
    ev = execute(task);
  } catch (const std::exception& ex) {
    metrics.effect_failures.add();
    ProviderError err{ErrorKind::unknown, 0, {}, std::string("provider adapter threw: ") + ex.what()};
    Event e;
    e.attempt_id = task.effect.attempt_id;
    e.error = err;
    if (task.effect.kind == EffectKind::submit) e.kind = EventKind::submit_error;
    else if (task.effect.kind == EffectKind::poll) e.kind = EventKind::poll_error;
    else if (task.effect.kind == EffectKind::fetch_assets) e.kind = EventKind::assets_failed;
    else if (task.effect.kind == EffectKind::cancel) e.kind = EventKind::provider_cancel_ack;
    else return;
    ev = std::move(e);
  }
  if (!ev) return;
  StepInput in;
  in.known = task.generation;
  in.then = copy_outputs(*task.generation, *ev);
  auto r = apply(task.generation_id, *ev, std::move(in));
  if (!r.ok()) metrics.effect_failures.add();
}

std::optional<Event> Engine::Impl::copy_outputs(const Generation& g, const Event& ev) {
  // A synchronous provider's answer to the submit of a generation's only
  // attempt: nothing else can be copying outputs into this generation's
  // files (no other attempt, no callback or poll of this one), so the copy
  // can run before the step and its arrival join the step's unit. Every
  // other success goes through the step first (which decides whether its
  // outputs are used) and a fetch of its own.
  if (ev.kind != EventKind::submit_ok || !ev.status || ev.status->kind != ProviderStatusKind::succeeded ||
      ev.status->outputs.empty() || g.attempts.size() != 1 || is_terminal(g.status))
    return std::nullopt;
  const Attempt& a = g.attempts.front();
  Provider* p = provider(a.provider);
  if (a.id != ev.attempt_id || a.status != AttemptStatus::intent || p == nullptr ||
      p->delivery() != DeliveryMode::synchronous)
    return std::nullopt;
  return store_outputs(g, ev.attempt_id, ev.status->outputs);
}

Event Engine::Impl::store_outputs(const Generation& g, const std::string& attempt_id,
                                  const std::vector<ProviderOutput>& outputs) {
  Event ev;
  ev.attempt_id = attempt_id;
  auto urls = config.assets->store(g.id, outputs);
  if (urls.ok()) {
    ev.kind = EventKind::assets_stored;
    ev.urls = std::move(*urls);
    return ev;
  }
  ev.kind = EventKind::assets_failed;
  const Status& st = urls.status();
  bool expired = false;
  for (const auto& issue : st.issues())
    if (issue.code == "expired") expired = true;
  // An expired or refused output will not come back by retrying.
  ev.retryable = !expired && st.code() != Code::invalid_request && st.code() != Code::payload_too_large &&
                 st.code() != Code::url_forbidden && st.code() != Code::unsupported_media_type;
  ev.error = ProviderError{expired || st.code() == Code::unavailable ? ErrorKind::provider_unavailable
                                                                    : ErrorKind::malformed_response,
                           0, std::string(code_name(st.code())), std::string(st.message())};
  return ev;
}

bool Engine::Impl::still_owner(const Task& task) {
  // Only with several instances: a shared store, or ids set by the host.
  if (!registry || (!config.store->shared() && config.options.cluster.instance_id.empty())) return true;
  // Nobody takes over an instance whose heartbeat is fresh: with one beaten
  // within half of instance_ttl (the rest is room for clock skew between
  // hosts) and no "declared dead" since the task was made, skip the read.
  if (task.epoch == epoch.load(std::memory_order_relaxed) &&
      now() - last_beat_ok.load(std::memory_order_relaxed) < config.options.cluster.instance_ttl.count() / 2)
    return true;
  GenerationRow row;
  Status st = config.store->read([&](UnitOfWork& uow) { return uow.generations().get(task.generation_id, row); });
  return !st.ok() || row.owner == instance_id;  // unreadable: the step after the call decides
}

Event Engine::Impl::do_submit(const Generation& g, const Effect& e) {
  Event ev;
  ev.attempt_id = e.attempt_id;
  const Attempt* a = g.find_attempt(e.attempt_id);
  auto fail = [&](ErrorKind kind, std::string message, std::int64_t retry_after = 0) {
    ev.kind = EventKind::submit_error;
    ev.error = ProviderError{kind, retry_after, {}, std::move(message)};
    metrics.count_submit_error(kind);
    return ev;
  };
  if (a == nullptr) return fail(ErrorKind::unknown, "attempt not found");
  Provider* p = provider(a->provider);
  if (p == nullptr) return fail(ErrorKind::provider_unavailable, "provider " + a->provider + " is not configured");
  const Admission adm = router->admit(a->provider, g.region, g.model, a->id);
  if (!adm.allowed) {
    const std::int64_t wait = adm.retry_at_ms > now() ? adm.retry_at_ms - now() : 0;
    return fail(ErrorKind::breaker_open, "circuit breaker of " + a->provider + " is open", wait);
  }
  if (e.resubmit) {
    // The crash window: the provider may already have this attempt's job.
    auto found = p->find_job(a->id);
    if (found.ok() && found->has_value()) {
      ev.kind = EventKind::submit_ok;
      ev.job = **found;
      return ev;
    }
  }
  NormalizeOptions no;
  no.payloads = PayloadMode::none;
  no.max_body_bytes = std::max<std::size_t>(config.options.normalize.max_body_bytes, g.params_json.size());
  auto req = normalize(config.catalog, g.model, g.params_json, no);
  if (!req.ok()) return fail(ErrorKind::invalid_input, "stored request no longer valid: " + req.status().to_string());
  auto payload = render_native_payload(*req, a->provider);
  if (!payload.ok()) return fail(ErrorKind::model_unavailable, payload.status().to_string());
  SubmitRequest sr;
  sr.generation_id = g.id;
  sr.attempt_id = a->id;
  sr.model = &req->model();
  sr.payload = &*payload;
  if (!config.options.callback_base_url.empty() && p->delivery() == DeliveryMode::webhook) {
    sr.callback_url = config.options.callback_base_url;
    if (sr.callback_url.back() != '/') sr.callback_url += '/';
    sr.callback_url += a->provider;
  }
  sr.deadline_ms = g.deadline_ms;
  const std::int64_t t0 = clock->monotonic_ns();
  SubmitResult res = p->submit(sr);
  metrics.provider_latency.observe(static_cast<double>(clock->monotonic_ns() - t0) / 1e6);
  metrics.count_submit(a->provider);
  if (!res.error.ok()) {
    ev.kind = EventKind::submit_error;
    ev.error = std::move(res.error);
    metrics.count_submit_error(ev.error.kind);
    return ev;
  }
  ev.kind = EventKind::submit_ok;
  ev.job = std::move(res.job);
  ev.status = std::move(res.status);
  return ev;
}

std::optional<Event> Engine::Impl::execute(const Task& task) {
  const Generation& g = *task.generation;
  const Effect& e = task.effect;
  Event ev;
  ev.attempt_id = e.attempt_id;
  switch (e.kind) {
    case EffectKind::submit:
      if (!still_owner(task)) {
        // Declared dead during a stall and taken over: the new owner sends
        // it (or has failed it over); sending it here too would be a
        // duplicate job.
        metrics.submits_skipped.add();
        return std::nullopt;
      }
      return do_submit(g, e);
    case EffectKind::poll: {
      const Attempt* a = g.find_attempt(e.attempt_id);
      Provider* p = a ? provider(a->provider) : nullptr;
      if (a == nullptr || p == nullptr) {
        ev.kind = EventKind::poll_error;
        ev.error = ProviderError{ErrorKind::provider_unavailable, 0, {}, "provider is not configured"};
        return ev;
      }
      const std::int64_t t0 = clock->monotonic_ns();
      PollResult pr = p->poll(a->job);
      metrics.provider_latency.observe(static_cast<double>(clock->monotonic_ns() - t0) / 1e6);
      if (!pr.error.ok()) {
        ev.kind = EventKind::poll_error;
        ev.error = std::move(pr.error);
      } else {
        ev.kind = EventKind::provider_status;
        ev.status = std::move(pr.status);
      }
      return ev;
    }
    case EffectKind::cancel: {
      const Attempt* a = g.find_attempt(e.attempt_id);
      Provider* p = a ? provider(a->provider) : nullptr;
      ev.kind = EventKind::provider_cancel_ack;
      if (a == nullptr || p == nullptr) {
        ev.cancel = CancelOutcome::unsupported;
        return ev;
      }
      CancelResult cr = p->cancel(a->job);
      ev.error = std::move(cr.error);
      ev.cancel = cr.outcome;
      return ev;
    }
    case EffectKind::fetch_assets:
      return store_outputs(g, e.attempt_id, e.outputs);
    case EffectKind::remove_assets: {
      // Copies that no generation uses (the generation did not succeed).
      if (g.status != GenerationStatus::succeeded) (void)config.assets->remove(g.id);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::size_t Engine::Impl::fire_due(bool inline_mode) {
  std::vector<GenerationRow> rows;
  const std::int64_t t = now();
  Status st = config.store->read([&](UnitOfWork& uow) { return uow.generations().due(t, kDueBatch, rows); });
  if (!st.ok() || rows.empty()) return 0;
  if (!inline_mode && config.store->shared()) {
    // Other instances scan the same rows: claim them (a lease that the step's
    // own update ends) so one instance works each; the version
    // compare-and-set stays the last line of defence. On a store of one
    // process the in-process de-duplication below is the claim.
    const std::int64_t lease_until = t + config.options.cluster.lease.count();
    st = config.store->transact([&](UnitOfWork& uow) {
      rows.clear();
      return uow.generations().claim_due(t, kDueBatch, lease_until, rows);
    });
    if (!st.ok()) return 0;
  }
  std::size_t fired = 0;
  for (const auto& row : rows) {
    if (work.stopping()) break;
    Event timer;
    timer.kind = EventKind::timer;
    if (inline_mode) {
      auto r = apply(row.id, timer);
      if (r.ok() && *r) ++fired;
      continue;
    }
    if (work.post_timer(row.id, [this, id = row.id, timer] { (void)apply(id, timer); })) ++fired;
  }
  return fired;
}

void Engine::Impl::housekeeping() {
  (void)router->refresh();
  if (cache) cache->sync();
  (void)ledger->expire_due(now());
}

void Engine::Impl::scheduler_loop() {
  std::int64_t last_refresh = 0;
  std::int64_t last_prune = 0;
  while (!work.stopping()) {
    heartbeat_and_sweep();
    fire_due(false);
    const std::int64_t t = now();
    if (t - last_refresh >= config.options.router_refresh.count()) {
      housekeeping();
      last_refresh = t;
    }
    if (t - last_prune >= kPruneEveryMs) {
      (void)config.store->transact([&](UnitOfWork& uow) -> Status {
        auto n = uow.generations().prune_idempotency(t);
        return n.ok() ? Status() : n.status();
      });
      last_prune = t;
    }
    work.wait_tick(config.options.tick);
  }
}

Status Engine::Impl::recover() {
  if (registry) {
    // Our previous incarnation's work (same id), rows written before
    // owners were recorded, then any instance already dead.
    BABYSEA_RETURN_IF_ERROR(recover_owned_by(instance_id));
    BABYSEA_RETURN_IF_ERROR(recover_owned_by(""));
    last_heartbeat = now();
    heartbeat_and_sweep();
    return {};
  }
  std::vector<std::string> ids;
  BABYSEA_RETURN_IF_ERROR(config.store->read([&](UnitOfWork& uow) { return uow.generations().unfinished(ids); }));
  Event ev;
  ev.kind = EventKind::recovered;
  for (const auto& id : ids) {
    auto r = apply(id, ev);
    if (!r.ok() && r.code() != Code::not_found) return r.status();
  }
  return {};
}

Status Engine::Impl::recover_owned_by(const std::string& owner) {
  std::vector<std::string> ids;
  BABYSEA_RETURN_IF_ERROR(
      config.store->read([&](UnitOfWork& uow) { return uow.generations().unfinished_owned_by(owner, ids); }));
  Event ev;
  ev.kind = EventKind::recovered;
  for (const auto& id : ids) {
    if (work.stopping()) break;
    beat();  // a long takeover must not let our own heartbeat lapse
    // Recovered once: only while `owner` still owns it (two living instances
    // sweeping the same dead one race on the version compare-and-set; the
    // loser's retry sees the new owner and stands down).
    bool taken = false;
    const std::function<Result<bool>(UnitOfWork&)> still_theirs = [&](UnitOfWork& uow) -> Result<bool> {
      GenerationRow row;
      BABYSEA_RETURN_IF_ERROR(uow.generations().get(id, row));
      taken = row.owner == owner;
      return taken;
    };
    StepInput in;
    in.extra = &still_theirs;
    auto r = apply(id, ev, std::move(in));
    if (!r.ok() && r.code() != Code::not_found) return r.status();
    if (r.ok() && taken && owner != instance_id) metrics.recovered_from_dead.add();
  }
  return {};
}

Status Engine::Impl::register_instance() {
  InstanceRow row;
  row.id = instance_id;
  row.started_ms = now();
  row.heartbeat_ms = row.started_ms;
  row.info = "pid " + std::to_string(static_cast<long long>(::getpid()));
  Status st = config.store->transact([&](UnitOfWork& uow) { return uow.instances().upsert(row); });
  if (st.code() == Code::unsupported) {
    registry = false;
    return {};
  }
  BABYSEA_RETURN_IF_ERROR(st);
  registry = true;
  last_beat_ok.store(row.heartbeat_ms, std::memory_order_relaxed);
  return {};
}

void Engine::Impl::beat() {
  const std::int64_t t = now();
  if (t - last_heartbeat < config.options.cluster.heartbeat.count()) return;
  Status st = config.store->transact([&](UnitOfWork& uow) { return uow.instances().heartbeat(instance_id, t); });
  if (st.code() == Code::not_found) {
    // Declared dead while alive (a stall longer than instance_ttl): the
    // others took our in-flight work over; register again and go on, and
    // check the tasks made before against the store (still_owner).
    epoch.fetch_add(1, std::memory_order_relaxed);
    metrics.reregistered.add();
    (void)register_instance();
  } else if (st.ok()) {
    last_beat_ok.store(t, std::memory_order_relaxed);
  }
  last_heartbeat = t;
}

void Engine::Impl::heartbeat_and_sweep() {
  if (!registry) return;
  std::unique_lock busy(sweep_mu, std::try_to_lock);
  if (!busy.owns_lock()) return;  // another thread is at it
  beat();
  const std::int64_t t = now();
  if (t - last_sweep < config.options.cluster.heartbeat.count()) return;
  last_sweep = t;
  std::vector<InstanceRow> all;
  if (!config.store->read([&](UnitOfWork& uow) { return uow.instances().list(all); }).ok()) return;
  const std::int64_t stale_before = t - config.options.cluster.instance_ttl.count();
  for (const auto& inst : all) {
    if (work.stopping()) return;
    if (inst.id == instance_id || inst.heartbeat_ms >= stale_before) continue;
    if (!recover_owned_by(inst.id).ok()) continue;
    std::vector<std::string> left;
    if (!config.store->read([&](UnitOfWork& uow) { return uow.generations().unfinished_owned_by(inst.id, left); }).ok() ||
        !left.empty())
      continue;
    // Everything it owned is taken over: drop it from the registry (unless
    // it came back meanwhile).
    (void)config.store->transact([&](UnitOfWork& uow) -> Status {
      auto gone = uow.instances().remove_if_stale(inst.id, stale_before);
      return gone.ok() ? Status() : gone.status();
    });
  }
}

// ---------------------------------------------------------------- Engine

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  Impl& I = *impl_;
  I.work.shutdown();
  I.watchers.shutdown();  // no step commits any more: what waits is answered now
  if (I.registry) {
    // Work not sent before the stop stays durable: mark this instance dead
    // now so a living one takes it over without waiting for instance_ttl.
    (void)I.config.store->transact([&](UnitOfWork& uow) { return uow.instances().heartbeat(I.instance_id, 0); });
  }
}

Result<std::unique_ptr<Engine>> Engine::create(EngineConfig config) {
  if (config.store == nullptr) return Status(Code::invalid_request, "engine config: store is required");
  if (!config.catalog) return Status(Code::invalid_request, "engine config: catalog is required");
  if (config.assets == nullptr) return Status(Code::invalid_request, "engine config: asset store is required");
  const EngineOptions& o = config.options;
  if (o.region.empty()) return Status(Code::invalid_request, "engine config: region is required");
  if (o.start_workers && config.executor == nullptr && (o.threads < 1 || o.threads > 256))
    return Status(Code::invalid_request, "engine config: threads must be 1..256");
  if (o.generation_deadline.count() <= 0 || o.hold_grace.count() < 0 || o.tick.count() <= 0 ||
      o.router_refresh.count() <= 0 || o.idempotency_ttl.count() <= 0 || o.retry_delay.count() <= 0 ||
      o.max_asset_tries < 1 || o.max_cancel_tries < 1)
    return Status(Code::invalid_request, "engine config: durations and tries must be positive");
  if (o.cluster.heartbeat.count() <= 0 || o.cluster.instance_ttl <= o.cluster.heartbeat || o.cluster.lease.count() <= 0)
    return Status(Code::invalid_request,
                  "engine config: cluster heartbeat and lease must be positive, instance_ttl longer than heartbeat");
  if (!o.cluster.instance_id.empty() && !valid_instance_id(o.cluster.instance_id))
    return Status(Code::invalid_request, "engine config: cluster.instance_id must be 1-64 characters of [A-Za-z0-9_.:-]",
                  {FieldIssue{"cluster.instance_id", "invalid_format", "must match ^[A-Za-z0-9_.:-]{1,64}$"}});
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");

  auto impl = std::make_unique<Impl>();
  Impl& I = *impl;
  I.config = std::move(config);
  I.clock = I.config.clock != nullptr ? I.config.clock : &SystemClock::instance();
  I.instance_id = I.config.options.cluster.instance_id;
  if (I.instance_id.empty()) {
    if (I.config.store->shared()) {
      unsigned char raw[8];
      randombytes_buf(raw, sizeof raw);
      static const char* kHex = "0123456789abcdef";
      I.instance_id = "i-";
      for (unsigned char c : raw) {
        I.instance_id += kHex[c >> 4];
        I.instance_id += kHex[c & 15];
      }
    } else {
      I.instance_id = "local";
    }
  }
  for (const auto& p : I.config.providers) {
    if (!p) return Status(Code::invalid_request, "engine config: null provider");
    std::string id(p->id());
    if (I.providers.count(id) != 0) return Status(Code::invalid_request, "engine config: provider " + id + " given twice");
    ProviderPolicy pol;
    pol.delivery = p->delivery();
    // Without a callback URL no provider is asked to call back: webhook
    // providers are then polled at their normal interval.
    if (pol.delivery == DeliveryMode::webhook && I.config.options.callback_base_url.empty())
      pol.delivery = DeliveryMode::polling;
    pol.can_cancel = p->can_cancel();
    pol.timing = p->timing();
    I.provider_policies.emplace(id, pol);
    I.providers.emplace(std::move(id), p);
  }
  I.policy.provider = [impl = &I](std::string_view id) { return impl->policy_of(id); };
  I.policy.max_asset_tries = I.config.options.max_asset_tries;
  I.policy.retry_delay_ms = I.config.options.retry_delay.count();
  I.policy.max_cancel_tries = I.config.options.max_cancel_tries;

  I.ledger = std::make_unique<Ledger>(*I.config.store, *I.clock, I.config.options.ledger);
  BABYSEA_RETURN_IF_ERROR(I.ledger->init());
  auto router = Router::create(I.config.options.router, *I.clock, I.config.store);
  if (!router.ok()) return router.status();
  I.router = std::move(*router);
  std::vector<ModelRoute> routes;
  for (const auto& m : I.config.catalog->models()) {
    ModelRoute r;
    r.model = m.identifier;
    const auto& order = m.default_provider_order.empty() ? m.providers : m.default_provider_order;
    for (const auto& p : order)
      if (I.providers.count(p) != 0) r.providers.push_back(p);
    if (!r.providers.empty()) routes.push_back(std::move(r));
  }
  if (!routes.empty()) BABYSEA_RETURN_IF_ERROR(I.router->set_routes(routes));
  (void)I.router->restore();

  ApiKeyOptions ko;
  ko.region = I.config.options.region;
  ko.pepper = I.config.options.api_key_pepper;
  auto keys = ApiKeyService::create(*I.config.store, *I.clock, ko);
  if (!keys.ok()) return keys.status();
  I.keys = std::move(*keys);
  I.limiter = std::make_unique<RateLimiter>(*I.clock, I.config.options.rate_limits);
  if (!I.config.options.cache.url.empty()) {
    ClusterCacheConfig cc;
    cc.cache = I.config.options.cache;
    // "local" (no id, store not shared) is not unique: the cache draws a random one.
    if (I.instance_id != "local") cc.instance_id = I.instance_id;
    cc.region = I.config.options.region;
    for (const auto& m : I.config.catalog->models()) cc.models.push_back(m.identifier);
    for (const auto& kv : I.providers) cc.providers.push_back(kv.first);
    cc.rate_limits = I.config.options.rate_limits;
    cc.leader_ttl = std::max(I.config.options.cluster.instance_ttl, 3 * I.config.options.router_refresh);
    cc.per_model_breakers = I.config.options.router.breaker.per_model;
    auto made = ClusterCache::create(std::move(cc), *I.router, *I.limiter, *I.clock);
    if (!made.ok()) return made.status();
    I.cache = std::move(*made);
    I.cache->sync();  // rankings and breakers before the first plan (fails open)
  }

  I.work.start(I.config.executor, I.config.options.start_workers ? I.config.options.threads : 0);
  std::unique_ptr<Engine> engine(new Engine(std::move(impl)));
  Impl& E = *engine->impl_;
  if (Status st = E.register_instance(); !st.ok()) return st;
  // Recovery before any new work is admitted (the engine is not yet returned).
  if (Status st = E.recover(); !st.ok()) return st;
  if (E.config.options.start_workers) E.work.start_scheduler([&E] { E.scheduler_loop(); });
  return engine;
}

Result<Principal> Engine::authenticate(std::string_view api_key) { return impl_->keys->authenticate(api_key); }

Status Engine::acquire(const Principal& principal, RateInfo* info) {
  return impl_->cache ? impl_->cache->acquire(principal, info) : impl_->limiter->acquire(principal, info);
}

namespace {

// One Engine::submit, step by step: admit → normalize → plan → persist →
// dispatch, then reply. Each step adds what the next one needs; the first
// error ends the call. Lives on the caller's stack for the one call.
class SubmitCall {
 public:
  SubmitCall(Engine::Impl& impl, const Principal& principal, std::string_view idempotency_key,
             const SubmitOptions& options)
      : impl_(impl),
        principal_(principal),
        key_(idempotency_key),
        options_(options),
        t0_(impl.clock->monotonic_ns()) {}

  // The engine is running, the key may write generations, and the
  // Idempotency-Key (if any) is well-formed.
  Status admit() {
    if (impl_.work.stopping()) return Status(Code::unavailable, "engine is stopping");
    BABYSEA_RETURN_IF_ERROR(require_scope(principal_, Scope::generation_write));
    if (!key_.empty() && !valid_idempotency_key(key_)) {
      return Status(Code::invalid_request, "Idempotency-Key must be 1-255 characters of [A-Za-z0-9_.:-]",
                    {FieldIssue{"Idempotency-Key", "invalid_format", "must match ^[A-Za-z0-9_.:-]{1,255}$"}});
    }
    return {};
  }

  // The normalized request and its fingerprint (what a replay must match).
  Status normalize(std::string_view model_id, std::string_view params_json) {
    NormalizeOptions no = impl_.config.options.normalize;
    no.expected_type = options_.expected_type;
    no.payloads = PayloadMode::none;
    auto req = babysea::normalize(impl_.config.catalog, model_id, params_json, no);
    if (!req.ok()) return req.status();
    req_.emplace(std::move(*req));
    fingerprint_ = request_fingerprint(model().type, model().identifier, req_->canonical_json());
    return {};
  }

  // The in-process claim on the Idempotency-Key, held until the call ends.
  // The key's durable record is checked inside the unit of work (one read
  // less per submit, and atomic with the insert); this claim only makes a
  // concurrent duplicate get idempotency_in_progress instead of racing the
  // original. After normalize: a malformed duplicate gets its own error.
  Status claim_key() {
    auto slot = impl_.idempotency.enter(principal_.account, key_);
    if (!slot.ok()) return slot.status();
    slot_.emplace(std::move(*slot));
    return {};
  }

  // The estimate and the provider chain, and from them the generation to
  // create (not yet stored).
  Status plan() {
    auto est = babysea::estimate(*req_);
    if (!est.ok()) return est.status();
    std::vector<std::string_view> order_views(req_->provider_order().begin(), req_->provider_order().end());
    const RequestedOrder order = req_->provider_order_fastest() ? RequestedOrder::fastest_order()
                                                                : RequestedOrder::explicit_order(order_views);
    auto chain = impl_.router->plan(model().identifier, impl_.config.options.region, order);
    if (!chain.ok()) {
      if (chain.code() == Code::model_not_found)
        return Status(Code::unavailable, "no configured provider serves " + model().identifier).set_retryable(false);
      return chain.status();
    }
    now_ = impl_.now();
    g_.id = new_id(now_);
    g_.account = principal_.account;
    g_.region = impl_.config.options.region;
    g_.model = model().identifier;
    g_.type = model().type;
    g_.params_json = req_->canonical_json();
    g_.chain = chain->chain.names();
    g_.cost_per_output = est->cost_per_generation;
    g_.max_outputs = std::max<std::int64_t>(1, req_->output_number());
    g_.held = est->cost_total;
    g_.created_ms = now_;
    g_.deadline_ms = now_ + impl_.config.options.generation_deadline.count();
    return {};
  }

  // One unit of work: the key's record, the hold, the accepted step's money
  // and outbox effects, and the generation row (owned by this instance). A
  // submit that waits for the acknowledgement registers first, so one that
  // comes at once is not missed.
  Status persist() {
    if (options_.wait_for_ack.count() > 0 && !impl_.work.inline_mode()) {
      auto acked = std::make_shared<std::promise<std::optional<Generation>>>();
      ack_ = acked->get_future();
      ack_token_ = impl_.watchers.add(g_.id, Milestone::acknowledged, Watchers::Clock::now() + options_.wait_for_ack,
                                      [acked](const Generation* g) {
                                        acked->set_value(g ? std::optional<Generation>(*g) : std::nullopt);
                                      });
    }
    IdempotencyRow claim;
    if (!key_.empty()) {
      claim.account = principal_.account;
      claim.key = std::string(key_);
      claim.fingerprint = fingerprint_;
      claim.generation_id = g_.id;
      claim.created_ms = now_;
      claim.expires_ms = now_ + impl_.config.options.idempotency_ttl.count();
    }
    Event accepted;
    accepted.kind = EventKind::accepted;
    const std::string hold_key = "gen:" + g_.id;
    // The accepted step and what its unit writes, before the unit (the hold
    // id it does not depend on is set inside).
    Generation accepted_g = g_;
    step_ = step(accepted_g, accepted, now_, impl_.policy);
    impl_.prepare(accepted_g, step_.effects, writes_);
    Status st = impl_.config.store->transact([&](UnitOfWork& uow) -> Status {
      if (!key_.empty()) {
        // The key's record, unless an earlier request (or another engine
        // instance) holds a live one; an error below rolls the claim back.
        auto claimed = uow.generations().claim_idempotency(claim, now_, existing_);
        if (!claimed.ok()) return claimed.status();
        found_ = !*claimed;
        if (found_) return Status(Code::idempotency_conflict, "Idempotency-Key has a record");  // replayed
      }
      // The hold key embeds the new generation id; an account without a
      // ledger account yet has a zero balance (insufficient_credits).
      auto hold = impl_.ledger->reserve_new(uow, principal_.account, g_.held, hold_key,
                                         g_.deadline_ms + impl_.config.options.hold_grace.count(), g_.id);
      if (!hold.ok()) return hold.status();
      Generation fresh = accepted_g;
      fresh.hold_id = hold->hold.id;
      BABYSEA_RETURN_IF_ERROR(impl_.write(uow, fresh, step_.effects, writes_));
      fresh.version = 1;
      GenerationRow row = row_of(fresh);
      row.owner = impl_.instance_id;
      BABYSEA_RETURN_IF_ERROR(uow.generations().insert(row));
      g_ = std::move(fresh);
      return {};
    });
    if (!st.ok() && ack_.valid()) {
      impl_.watchers.remove(ack_token_);
      ack_ = {};
    }
    return st;
  }

  // After a failed persist: the original generation when the key already
  // had a record of this request (or a conflict), else `failed` itself.
  Result<SubmitOutcome> replay_or(Status failed) {
    if (!found_) return failed;
    if (!same_request(existing_.fingerprint, fingerprint_, model().type, model().identifier, req_->canonical_json()))
      return Status(Code::idempotency_conflict, "Idempotency-Key was already used with a different request");
    auto g = impl_.load(existing_.generation_id);
    if (g.code() == Code::not_found)  // its unit has not committed yet (one batch, or another instance)
      return Status(Code::idempotency_in_progress, "the original request with this Idempotency-Key is still in flight");
    if (!g.ok()) return g.status();
    SubmitOutcome out;
    out.generation = make_view(*g, *impl_.config.assets, impl_.now());
    out.replayed = true;
    return out;
  }

  // The committed step's after-commit work: router telemetry, host events,
  // and the provider work (the first submit) handed to the workers.
  void dispatch() {
    std::vector<Effect> io_effects;
    for (auto& e : step_.effects)
      if (!is_money_or_log(e.kind)) io_effects.push_back(std::move(e));
    impl_.after_commit(g_, std::move(io_effects), std::move(writes_.records), std::move(writes_.events));
  }

  // The answer: after the first acknowledgement (or the wait's end) when
  // asked to wait, the generation as it is then.
  SubmitOutcome reply() {
    if (ack_.valid()) {
      // The watch's deadline bounds the wait; past it, the generation as it stands.
      if (std::optional<Generation> acked = ack_.get()) {
        g_ = std::move(*acked);
      } else if (auto fresh = impl_.load(g_.id); fresh.ok()) {
        g_ = std::move(*fresh);
      }
    }
    SubmitOutcome out;
    out.generation = make_view(g_, *impl_.config.assets, impl_.now());
    if (slot_ && !key_.empty() && options_.keep_key_claim) out.key_claim = std::make_shared<IdempotencyGate::Slot>(std::move(*slot_));
    impl_.metrics.submit_latency.observe(static_cast<double>(impl_.clock->monotonic_ns() - t0_) / 1e6);
    return out;
  }

 private:
  const Model& model() const { return req_->model(); }

  Engine::Impl& impl_;
  const Principal& principal_;
  const std::string_view key_;
  const SubmitOptions& options_;
  const std::int64_t t0_;  // monotonic ns at the call's start (submit latency)

  std::optional<NormalizedRequest> req_;            // normalize
  std::string fingerprint_;                         // normalize
  std::optional<IdempotencyGate::Slot> slot_;       // claim_key
  std::int64_t now_ = 0;                            // plan: the acceptance time
  Generation g_;                                    // plan, then as stored
  // The bounded wait for the first acknowledgement (SubmitOptions::wait_for_ack):
  // the generation as acknowledged, or nullopt when the wait ended first.
  std::future<std::optional<Generation>> ack_;      // persist, when waiting for the ack
  std::uint64_t ack_token_ = 0;                     // its watch
  StepResult step_;                                 // persist: the accepted step
  Engine::Impl::UnitWrites writes_;                 // persist
  IdempotencyRow existing_;                         // persist: the key's live record, when found_
  bool found_ = false;
};

}  // namespace

Result<SubmitOutcome> Engine::submit(const Principal& principal, std::string_view model, std::string_view params_json,
                                     std::string_view idempotency_key, const SubmitOptions& options) {
  SubmitCall call(*impl_, principal, idempotency_key, options);
  BABYSEA_RETURN_IF_ERROR(call.admit());
  BABYSEA_RETURN_IF_ERROR(call.normalize(model, params_json));
  BABYSEA_RETURN_IF_ERROR(call.claim_key());
  BABYSEA_RETURN_IF_ERROR(call.plan());
  if (Status st = call.persist(); !st.ok()) return call.replay_or(std::move(st));
  call.dispatch();
  return call.reply();
}

WatchId Engine::watch(const Principal& principal, std::string_view generation_id, Milestone milestone,
                      std::chrono::milliseconds timeout, WatchCallback done) {
  Impl& I = *impl_;
  if (Status s = require_scope(principal, Scope::generation_read); !s.ok()) {
    done(std::move(s));
    return 0;
  }
  auto callback = std::make_shared<WatchCallback>(std::move(done));
  const std::string id(generation_id);
  // What the watcher answers: the generation as committed, else (the
  // deadline) as it stands. Never another account's generation: the owner
  // is checked on every path, as get() does.
  auto answer = [&I, callback, principal, id](const Generation* g) {
    Result<GenerationView> out = Status(Code::unavailable, "the engine is stopping");
    if (g != nullptr) {
      Status owned = check_owner(principal, g->account, "generation");
      out = owned.ok() ? Result<GenerationView>(make_view(*g, *I.config.assets, I.now())) : owned;
    } else if (!I.watchers.stopping()) {
      auto now = I.load_owned(principal, id);
      out = now.ok() ? Result<GenerationView>(make_view(*now, *I.config.assets, I.now())) : now.status();
    }
    (*callback)(std::move(out));
  };
  // Registered before the generation is read, so a step committing in
  // between is not missed.
  const WatchId token = I.watchers.add(id, milestone, Watchers::Clock::now() + timeout, answer);
  if (token == 0) return 0;
  auto g = I.load_owned(principal, id);
  if (g.ok() && !Watchers::has_reached(*g, milestone)) return token;
  if (!I.watchers.remove(token)) return 0;  // a step fired it meanwhile
  if (g.ok())
    answer(&*g);
  else
    (*callback)(g.status());
  return 0;
}

bool Engine::unwatch(WatchId id) { return id != 0 && impl_->watchers.remove(id); }

bool Engine::works_in_background() const { return !impl_->work.inline_mode(); }

Result<CancelReceipt> Engine::cancel(const Principal& principal, std::string_view generation_id) {
  Impl& I = *impl_;
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::generation_delete));
  auto g = I.load_owned(principal, generation_id);
  if (!g.ok()) return g.status();
  Event ev;
  ev.kind = EventKind::cancel_requested;
  Status refused;
  Engine::Impl::StepInput in;
  in.refused = &refused;
  auto r = I.apply(generation_id, ev, std::move(in));
  if (!refused.ok()) return refused;
  if (!r.ok()) return r.status();
  auto after = I.load(generation_id);
  if (!after.ok()) return after.status();
  CancelReceipt out;
  out.generation_id = after->id;
  out.credits_refunded = after->credits_refunded;
  for (const auto& a : after->attempts)
    if (a.cancel == CancelState::pending || a.cancel == CancelState::confirmed) out.provider_cancel_sent = true;
  return out;
}

Result<DeleteReceipt> Engine::remove(const Principal& principal, std::string_view generation_id) {
  Impl& I = *impl_;
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::generation_delete));
  auto g = I.load_owned(principal, generation_id);
  if (!g.ok()) return g.status();
  if (!is_terminal(g->status))
    return Status(Code::invalid_state, "generation is " + std::string(generation_status_name(g->status)) +
                                           "; cancel it before deleting");
  // Files first: a retried delete finds none and still marks the record.
  auto files = I.config.assets->remove(g->id);
  if (!files.ok()) return files.status();
  for (int tries = 0; tries < kMaxApplyTries; ++tries) {
    Status st = I.config.store->transact([&](UnitOfWork& uow) -> Status {
      GenerationRow row;
      BABYSEA_RETURN_IF_ERROR(uow.generations().get(generation_id, row));
      auto cur = decode_generation(row.doc);
      if (!cur.ok()) return cur.status();
      cur->removed = true;
      cur->outputs.clear();
      cur->version = row.version + 1;
      return uow.generations().update(row_of(*cur), row.version);
    });
    if (st.ok()) break;
    if (st.code() != Code::invalid_state || tries + 1 == kMaxApplyTries) return st;
  }
  DeleteReceipt out;
  out.generation_id = g->id;
  out.files_deleted = *files;
  return out;
}

Result<CallbackResult> Engine::handle_provider_callback(std::string_view provider_id,
                                                        std::span<const CallbackHeader> headers,
                                                        std::string_view raw_body) {
  Impl& I = *impl_;
  Provider* p = I.provider(provider_id);
  if (p == nullptr) return Status(Code::not_found, "unknown provider");
  auto cb = p->parse_callback(headers, raw_body);
  if (!cb.ok()) return cb.status();
  std::string generation_id, attempt_id;
  Status st = I.config.store->read(
      [&](UnitOfWork& uow) { return uow.generations().find_job(provider_id, cb->job_id, generation_id, attempt_id); });
  if (!st.ok()) {
    // Not known (yet): the acknowledgement may still be on its way; the
    // provider retries and the reconciliation poll covers it.
    if (st.code() == Code::not_found) return Status(Code::not_found, "unknown job");
    return st;
  }
  Event ev;
  ev.kind = EventKind::provider_status;
  ev.attempt_id = attempt_id;
  ev.status = cb->status;
  const std::string source = "cb:" + std::string(provider_id);
  const std::string message_id = cb->message_id;
  const std::int64_t now = I.now();
  bool duplicate = false;
  const std::function<Result<bool>(UnitOfWork&)> first_time = [&](UnitOfWork& uow) -> Result<bool> {
    if (message_id.empty()) return true;
    auto fresh = uow.seen().insert_if_absent(source, message_id, now);
    if (!fresh.ok()) return fresh.status();
    duplicate = !*fresh;
    return *fresh;
  };
  Engine::Impl::StepInput in;
  in.extra = &first_time;
  auto r = I.apply(generation_id, ev, std::move(in));
  if (!r.ok()) return r.status();
  if (duplicate) I.metrics.callbacks_duplicate.add();
  CallbackResult out;
  out.applied = *r;
  out.generation_id = generation_id;
  return out;
}

void Engine::set_event_callback(EventCallback callback) {
  auto cb = std::make_shared<EventCallback>(std::move(callback));
  std::lock_guard lock(impl_->callback_mu);
  impl_->event_callback = std::move(cb);
}

Result<std::size_t> Engine::run_due() {
  Impl& I = *impl_;
  I.heartbeat_and_sweep();
  std::size_t steps = 0;
  for (int round = 0; round < 100'000; ++round) {
    const std::int64_t before = I.metrics.steps_applied.load();
    std::deque<Task> batch = I.work.take_queued();
    for (const auto& t : batch) I.run_task(t);
    I.fire_due(/*inline_mode=*/true);
    const std::int64_t applied = I.metrics.steps_applied.load() - before;
    steps += static_cast<std::size_t>(std::max<std::int64_t>(0, applied));
    const bool empty = I.work.queue_empty();
    if (batch.empty() && empty && applied == 0) return steps;
    if (batch.empty() && empty) {
      // Timers fired but produced no work; stop unless more is due.
      std::vector<GenerationRow> rows;
      const std::int64_t t = I.now();
      Status st = I.config.store->read([&](UnitOfWork& uow) { return uow.generations().due(t, 1, rows); });
      if (!st.ok()) return st;
      if (rows.empty()) return steps;
    }
  }
  return Status(Code::internal, "run_due did not settle after 100000 rounds");
}

void Engine::drain() {
  impl_->work.wait_idle();
}

Ledger& Engine::ledger() { return *impl_->ledger; }
Router& Engine::router() { return *impl_->router; }
ApiKeyService& Engine::api_keys() { return *impl_->keys; }
const std::shared_ptr<const Catalog>& Engine::catalog() const { return impl_->config.catalog; }

}  // namespace babysea
