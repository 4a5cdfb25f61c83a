// The generation / attempt state machine (lifecycle.hpp, specs/lifecycle.md).
#include <algorithm>
#include <string>

#include "babysea/lifecycle.hpp"

namespace babysea {

std::string_view generation_status_name(GenerationStatus s) noexcept {
  switch (s) {
    case GenerationStatus::pending: return "pending";
    case GenerationStatus::processing: return "processing";
    case GenerationStatus::succeeded: return "succeeded";
    case GenerationStatus::failed: return "failed";
    case GenerationStatus::canceled: return "canceled";
  }
  return "unknown";
}

bool is_terminal(GenerationStatus s) noexcept {
  return s == GenerationStatus::succeeded || s == GenerationStatus::failed || s == GenerationStatus::canceled;
}

std::string_view attempt_status_name(AttemptStatus s) noexcept {
  switch (s) {
    case AttemptStatus::intent: return "intent";
    case AttemptStatus::submitted: return "submitted";
    case AttemptStatus::running: return "running";
    case AttemptStatus::succeeded: return "succeeded";
    case AttemptStatus::failed: return "failed";
    case AttemptStatus::canceled: return "canceled";
    case AttemptStatus::timed_out: return "timed_out";
    case AttemptStatus::discarded: return "discarded";
  }
  return "unknown";
}

std::string_view event_kind_name(EventKind k) noexcept {
  switch (k) {
    case EventKind::accepted: return "accepted";
    case EventKind::submit_ok: return "submit_ok";
    case EventKind::submit_error: return "submit_error";
    case EventKind::provider_status: return "provider_status";
    case EventKind::poll_error: return "poll_error";
    case EventKind::assets_stored: return "assets_stored";
    case EventKind::assets_failed: return "assets_failed";
    case EventKind::timer: return "timer";
    case EventKind::cancel_requested: return "cancel_requested";
    case EventKind::provider_cancel_ack: return "provider_cancel_ack";
    case EventKind::recovered: return "recovered";
  }
  return "unknown";
}

std::string_view effect_kind_name(EffectKind k) noexcept {
  switch (k) {
    case EffectKind::submit: return "submit";
    case EffectKind::poll: return "poll";
    case EffectKind::cancel: return "cancel";
    case EffectKind::fetch_assets: return "fetch_assets";
    case EffectKind::remove_assets: return "remove_assets";
    case EffectKind::settle: return "settle";
    case EffectKind::release: return "release";
    case EffectKind::record_outcome: return "record_outcome";
    case EffectKind::emit: return "emit";
  }
  return "unknown";
}

std::string attempt_id_for(std::string_view generation_id, int order) {
  std::string id(generation_id);
  id += '.';
  id += std::to_string(order);
  return id;
}

const Attempt* Generation::find_attempt(std::string_view aid) const noexcept {
  for (const auto& a : attempts)
    if (a.id == aid) return &a;
  return nullptr;
}
Attempt* Generation::find_attempt(std::string_view aid) noexcept {
  for (auto& a : attempts)
    if (a.id == aid) return &a;
  return nullptr;
}
const Attempt* Generation::active() const noexcept {
  for (auto it = attempts.rbegin(); it != attempts.rend(); ++it)
    if (it->open()) return &*it;
  return nullptr;
}
Attempt* Generation::active() noexcept {
  return const_cast<Attempt*>(static_cast<const Generation&>(*this).active());
}

namespace {

constexpr std::int64_t kSubmitBackoffMs = 1'000;
constexpr std::int64_t kMaxBackoffMs = 60'000;

// One step in progress: the generation, the clock reading, the policy and
// the effects collected so far.
class Stepper {
 public:
  Stepper(Generation& g, std::int64_t now, const LifecyclePolicy& policy, StepResult& out)
      : g_(g), now_(now), policy_(policy), out_(out) {}

  void run(const Event& e) {
    switch (e.kind) {
      case EventKind::accepted: return accepted();
      case EventKind::submit_ok: return submit_ok(e);
      case EventKind::submit_error: return submit_error(e);
      case EventKind::provider_status: return provider_status(e);
      case EventKind::poll_error: return poll_error(e);
      case EventKind::assets_stored: return assets_stored(e);
      case EventKind::assets_failed: return assets_failed(e);
      case EventKind::timer: return timer();
      case EventKind::cancel_requested: return cancel_requested();
      case EventKind::provider_cancel_ack: return cancel_ack(e);
      case EventKind::recovered: return recovered();
    }
  }

 private:
  ProviderPolicy policy_of(std::string_view provider) const {
    return policy_.provider ? policy_.provider(provider) : ProviderPolicy{};
  }

  void changed() { out_.changed = true; }

  void audit(std::string text) {
    changed();
    g_.audit.push_back(std::to_string(now_) + " " + std::move(text));
    while (g_.audit.size() > policy_.max_audit && !g_.audit.empty()) {
      g_.audit.erase(g_.audit.begin());
      ++g_.audit_dropped;
    }
  }

  void effect(Effect e) { out_.effects.push_back(std::move(e)); }
  void effect(EffectKind kind, std::string_view attempt_id = {}) {
    Effect e;
    e.kind = kind;
    e.attempt_id = attempt_id;
    effect(std::move(e));
  }
  void emit(std::string_view type) {
    Effect e;
    e.kind = EffectKind::emit;
    e.event_type = type;
    effect(std::move(e));
  }

  // The attempt leaves the active set with `outcome` (router telemetry, once).
  void record(Attempt& a, AttemptOutcome outcome) {
    if (a.outcome) return;
    a.outcome = outcome;
    Effect e;
    e.kind = EffectKind::record_outcome;
    e.attempt_id = a.id;
    e.outcome = outcome;
    effect(std::move(e));
  }

  // Ask the provider to cancel a job we no longer want, where it can.
  void request_provider_cancel(Attempt& a) {
    if (a.job.job_id.empty() || a.cancel != CancelState::none) return;
    if (!policy_of(a.provider).can_cancel) {
      a.cancel = CancelState::unsupported;
      return;
    }
    a.cancel = CancelState::pending;
    a.cancel_tries = 1;
    a.next_cancel_ms = now_ + backoff(policy_.retry_delay_ms, 1);
    effect(EffectKind::cancel, a.id);
  }

  static std::int64_t backoff(std::int64_t base, int tries) {
    std::int64_t d = base;
    for (int i = 1; i < tries && d < kMaxBackoffMs; ++i) d *= 2;
    return std::min(d, kMaxBackoffMs);
  }

  void close_attempt(Attempt& a, AttemptStatus status, ErrorKind kind, std::string message) {
    a.status = status;
    a.finished_ms = now_;
    a.submit_in_flight = false;
    a.submit_due_ms = 0;
    a.deadline_ms = 0;
    a.next_poll_ms = 0;
    a.asset_in_flight = false;
    a.asset_due_ms = 0;
    if (kind != ErrorKind::none) {
      a.error = kind;
      if (!message.empty()) a.error_message = std::move(message);
    }
  }

  void start_attempt() {
    const int order = static_cast<int>(g_.attempts.size()) + 1;
    Attempt a;
    a.id = attempt_id_for(g_.id, order);
    a.order = order;
    a.provider = g_.chain[static_cast<std::size_t>(order - 1)];
    a.created_ms = now_;
    a.submits = 1;
    a.submit_in_flight = true;
    a.deadline_ms = now_ + policy_of(a.provider).timing.submit_ack_timeout.count();
    g_.attempts.push_back(std::move(a));
    effect(EffectKind::submit, g_.attempts.back().id);
  }

  // The current attempt failed in a way another provider might not: try the
  // next one in the chain, or fail the generation when the chain is done.
  void fail_over() {
    if (g_.attempts.size() < g_.chain.size()) return start_attempt();
    finish_failed(std::string(kErrorProvidersFailed), "all providers failed");
  }

  // A generation ending without success drops any file a copy may have
  // written (a copy interrupted by a crash leaves its files behind; removal
  // is idempotent). A synchronous provider's answer is copied before its
  // step commits, so any of its submitted attempts may have written some.
  void drop_copied_files() {
    for (const auto& a : g_.attempts)
      if (a.asset_tries > 0 || (a.submits > 0 && policy_of(a.provider).delivery == DeliveryMode::synchronous))
        return effect(EffectKind::remove_assets, a.id);
  }

  void finish_failed(std::string code, std::string message) {
    for (auto& a : g_.attempts) {
      if (!a.open()) continue;
      if (a.status == AttemptStatus::succeeded) {
        close_attempt(a, AttemptStatus::discarded, ErrorKind::none, {});
        record(a, AttemptOutcome::discarded);
      } else {
        close_attempt(a, AttemptStatus::timed_out, ErrorKind::timeout, "generation ended");
        record(a, AttemptOutcome::failed);
        request_provider_cancel(a);
      }
    }
    g_.status = GenerationStatus::failed;
    g_.completed_ms = now_;
    g_.error_code = std::move(code);
    g_.error = std::move(message);
    g_.credits_refunded = true;
    effect(EffectKind::release);
    drop_copied_files();
    emit("generation.failed");
  }

  // The attempt ended with `kind`: decide by class.
  void attempt_failed(Attempt& a, ErrorKind kind, const std::string& message, AttemptStatus status) {
    close_attempt(a, status, kind, message);
    record(a, AttemptOutcome::failed);
    if (status == AttemptStatus::timed_out) request_provider_cancel(a);
    if (error_class_of(kind) == ErrorClass::fail_fast) {
      const bool refused = kind == ErrorKind::moderation;
      return finish_failed(std::string(refused ? kErrorContentRefused : kErrorProviderRejected),
                           message.empty() ? std::string(error_kind_name(kind)) : message);
    }
    fail_over();
  }

  void mark_processing() {
    if (g_.status == GenerationStatus::pending) g_.status = GenerationStatus::processing;
    if (g_.started_ms == 0) g_.started_ms = now_;
    if (!g_.started_emitted) {
      g_.started_emitted = true;
      emit("generation.started");
    }
  }

  void schedule_poll(Attempt& a) {
    const ProviderPolicy p = policy_of(a.provider);
    if (p.delivery == DeliveryMode::synchronous) {
      a.next_poll_ms = 0;
      return;
    }
    std::int64_t interval = p.delivery == DeliveryMode::webhook ? p.timing.backup_poll_interval.count()
                                                                : p.timing.poll_interval.count();
    interval = std::max(interval, p.timing.min_poll_interval.count());
    a.next_poll_ms = now_ + interval;
  }

  // ---------------------------------------------------------------- events

  void accepted() {
    if (!g_.attempts.empty() || is_terminal(g_.status)) return;
    changed();
    if (g_.chain.empty()) return finish_failed(std::string(kErrorProvidersFailed), "no provider can serve the model");
    start_attempt();
  }

  void submit_ok(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr) return;
    if (a->status != AttemptStatus::intent || !a->submit_in_flight) {
      // A late or duplicate ack. A job we no longer want is canceled.
      if (a->job.job_id.empty() && !e.job.job_id.empty()) {
        a->job = e.job;
        audit("late submit ack for " + a->id + " (job " + e.job.job_id + ")");
        if (!a->open()) {
          // A closed attempt always has its outcome recorded already: a late
          // success is discarded unless it is the one used (rule 1).
          if (e.status && e.status->kind == ProviderStatusKind::succeeded && a->outcome != AttemptOutcome::used) {
            a->status = AttemptStatus::discarded;
          }
          // A job that already reached a final state has nothing left to cancel.
          if (!e.status || !is_final(e.status->kind)) request_provider_cancel(*a);
        }
      }
      return;
    }
    changed();
    const ProviderPolicy p = policy_of(a->provider);
    a->job = e.job;
    a->submit_in_flight = false;
    a->status = AttemptStatus::submitted;
    a->submitted_ms = now_;
    a->deadline_ms = now_ + p.timing.start_timeout.count();
    if (g_.prediction_id.empty()) g_.prediction_id = e.job.job_id;
    mark_processing();
    schedule_poll(*a);
    if (e.status) {
      Event s;
      s.kind = EventKind::provider_status;
      s.attempt_id = a->id;
      s.status = e.status;
      provider_status(s);
    } else if (p.delivery == DeliveryMode::synchronous) {
      // A synchronous provider must answer with its result.
      attempt_failed(*a, ErrorKind::malformed_response, "synchronous provider returned no result",
                     AttemptStatus::failed);
    }
  }

  void submit_error(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr) return;
    if (a->status != AttemptStatus::intent || !a->submit_in_flight) {
      audit("late submit error for " + a->id + ": " + std::string(error_kind_name(e.error.kind)));
      return;
    }
    changed();
    const ProviderPolicy p = policy_of(a->provider);
    a->submit_in_flight = false;
    a->error = e.error.kind;
    a->error_code = e.error.code;
    a->error_message = e.error.message;
    const ErrorClass cls = error_class_of(e.error.kind);
    if (cls == ErrorClass::retry_same && a->submits <= p.timing.max_submit_retries) {
      const std::int64_t delay = std::max(e.error.retry_after_ms, backoff(kSubmitBackoffMs, a->submits));
      a->submit_due_ms = now_ + delay;
      a->deadline_ms = 0;
      return;
    }
    attempt_failed(*a, e.error.kind, e.error.message, AttemptStatus::failed);
  }

  static int rank(AttemptStatus s) {
    switch (s) {
      case AttemptStatus::intent: return 0;
      case AttemptStatus::submitted: return 1;
      case AttemptStatus::running: return 2;
      default: return 3;
    }
  }

  void provider_status(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr || !e.status) return;
    const ProviderStatus& st = *e.status;
    if (!a->open() || a->status == AttemptStatus::succeeded) {
      // The provider reports the job over: our cancel of it has nothing
      // left to do (rule 5: retried until confirmed or a terminal state).
      if (is_final(st.kind) && a->cancel == CancelState::pending) {
        a->cancel = CancelState::confirmed;
        a->next_cancel_ms = 0;
        changed();
      }
      // Terminal attempt (or outputs already in hand): only a late success matters.
      if (st.kind == ProviderStatusKind::succeeded && a->status != AttemptStatus::succeeded &&
          a->status != AttemptStatus::discarded && a->outcome != AttemptOutcome::used) {
        a->status = AttemptStatus::discarded;
        audit("late success of " + a->id + " discarded");
      } else if (a->status != AttemptStatus::succeeded) {
        audit("ignored " + std::string(provider_status_name(st.kind)) + " for closed " + a->id);
      }
      return;
    }
    if (a->status == AttemptStatus::intent) {
      // A status before the ack names a job we do not know yet; the ack or a poll follows.
      audit("status before ack for " + a->id);
      return;
    }
    if (is_terminal(g_.status)) return;  // open attempts of terminal generations do not exist
    const ProviderPolicy p = policy_of(a->provider);
    switch (st.kind) {
      case ProviderStatusKind::queued:
        return;  // no change (also covers duplicates)
      case ProviderStatusKind::running:
        if (rank(a->status) >= rank(AttemptStatus::running)) return;
        changed();
        a->status = AttemptStatus::running;
        a->started_ms = now_;
        a->deadline_ms = now_ + p.timing.finish_timeout.count();
        a->poll_failures = 0;
        return;
      case ProviderStatusKind::succeeded: {
        changed();
        if (st.outputs.empty()) {
          return attempt_failed(*a, ErrorKind::malformed_response, "provider reported success without outputs",
                                AttemptStatus::failed);
        }
        a->status = AttemptStatus::succeeded;
        a->finished_ms = now_;
        a->deadline_ms = 0;
        a->next_poll_ms = 0;
        a->predict_ms = st.predict_ms;
        a->output_urls.clear();
        a->inline_outputs = 0;
        for (const auto& o : st.outputs) {
          if (!o.url.empty())
            a->output_urls.push_back(o.url);
          else
            ++a->inline_outputs;
        }
        a->asset_tries = 1;
        a->asset_in_flight = true;
        a->asset_due_ms = 0;
        Effect f;
        f.kind = EffectKind::fetch_assets;
        f.attempt_id = a->id;
        f.outputs = st.outputs;
        effect(std::move(f));
        return;
      }
      case ProviderStatusKind::failed:
        changed();
        return attempt_failed(*a, st.error.kind == ErrorKind::none ? ErrorKind::unknown : st.error.kind,
                              st.error.message, AttemptStatus::failed);
      case ProviderStatusKind::canceled:
        changed();
        a->cancel = CancelState::confirmed;
        return attempt_failed(*a, ErrorKind::unknown, "canceled at the provider", AttemptStatus::failed);
      case ProviderStatusKind::lost:
        changed();
        a->cancel = CancelState::confirmed;  // nothing left to cancel
        return attempt_failed(*a, ErrorKind::malformed_response, "the provider lost the job", AttemptStatus::failed);
    }
  }

  void poll_error(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr || (a->status != AttemptStatus::submitted && a->status != AttemptStatus::running)) return;
    changed();
    const ProviderPolicy p = policy_of(a->provider);
    ++a->poll_failures;
    if (error_class_of(e.error.kind) == ErrorClass::fail_fast || a->poll_failures > p.timing.max_poll_failures) {
      return attempt_failed(*a, e.error.kind, "polling failed: " + e.error.message, AttemptStatus::timed_out);
    }
    const std::int64_t base = std::max<std::int64_t>(p.timing.poll_interval.count(), p.timing.min_poll_interval.count());
    a->next_poll_ms = now_ + std::max(e.error.retry_after_ms, backoff(base, a->poll_failures));
  }

  void assets_stored(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr) return;
    if (a->status != AttemptStatus::succeeded || !a->asset_in_flight || is_terminal(g_.status)) {
      // Copied for nothing (cancel, deadline, duplicate): drop the files.
      audit("assets of " + a->id + " not used");
      if (g_.provider_used.empty() || g_.status != GenerationStatus::succeeded) effect(EffectKind::remove_assets, a->id);
      return;
    }
    changed();
    a->asset_in_flight = false;
    close_attempt(*a, AttemptStatus::succeeded, ErrorKind::none, {});
    a->output_urls.clear();
    record(*a, AttemptOutcome::used);
    g_.status = GenerationStatus::succeeded;
    g_.completed_ms = now_;
    g_.provider_used = a->provider;
    g_.outputs = e.urls;
    g_.predict_ms = a->predict_ms;
    if (g_.started_ms == 0) g_.started_ms = now_;
    const auto n = std::min<std::int64_t>(static_cast<std::int64_t>(e.urls.size()), g_.max_outputs);
    const auto product = checked_mul(g_.cost_per_output, std::max<std::int64_t>(n, 1));
    const Micros cost = (!product.ok() || *product > g_.held) ? g_.held : *product;
    g_.settled = cost;
    Effect s;
    s.kind = EffectKind::settle;
    s.amount = cost;
    effect(std::move(s));
    emit("generation.completed");
  }

  void assets_failed(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr || a->status != AttemptStatus::succeeded || !a->asset_in_flight) return;
    changed();
    a->asset_in_flight = false;
    const bool urls_only = a->inline_outputs == 0 && !a->output_urls.empty();
    if (e.retryable && urls_only && a->asset_tries < policy_.max_asset_tries) {
      a->asset_due_ms = now_ + backoff(policy_.retry_delay_ms, a->asset_tries);
      a->error_message = e.error.message;
      return;
    }
    a->output_urls.clear();
    attempt_failed(*a, e.error.kind == ErrorKind::none ? ErrorKind::malformed_response : e.error.kind,
                   "outputs could not be stored: " + e.error.message, AttemptStatus::failed);
  }

  void timer() {
    if (!is_terminal(g_.status) && g_.deadline_ms > 0 && now_ >= g_.deadline_ms) {
      changed();
      finish_failed(std::string(kErrorProviderTimeout), "the generation deadline passed");
    }
    if (Attempt* a = g_.active(); a != nullptr && !is_terminal(g_.status)) attempt_timer(*a);
    for (auto& a : g_.attempts) {
      if (a.cancel != CancelState::pending || a.next_cancel_ms == 0 || now_ < a.next_cancel_ms) continue;
      changed();
      if (a.cancel_tries >= policy_.max_cancel_tries) {
        a.cancel = CancelState::given_up;
        a.next_cancel_ms = 0;
        audit("gave up canceling " + a.id);
        continue;
      }
      ++a.cancel_tries;
      a.next_cancel_ms = now_ + backoff(policy_.retry_delay_ms, a.cancel_tries);
      effect(EffectKind::cancel, a.id);
    }
  }

  void attempt_timer(Attempt& a) {
    const ProviderPolicy p = policy_of(a.provider);
    if (a.status == AttemptStatus::intent) {
      if (a.submit_due_ms > 0 && now_ >= a.submit_due_ms) {
        changed();
        a.submit_due_ms = 0;
        a.submit_in_flight = true;
        ++a.submits;
        a.deadline_ms = now_ + p.timing.submit_ack_timeout.count();
        effect(EffectKind::submit, a.id);
      } else if (a.submit_in_flight && a.deadline_ms > 0 && now_ >= a.deadline_ms) {
        changed();
        attempt_failed(a, ErrorKind::timeout, "no answer to submit before the deadline", AttemptStatus::timed_out);
      }
      return;
    }
    if (a.status == AttemptStatus::submitted || a.status == AttemptStatus::running) {
      if (a.deadline_ms > 0 && now_ >= a.deadline_ms) {
        changed();
        return attempt_failed(a, ErrorKind::timeout,
                              a.status == AttemptStatus::submitted ? "the job did not start before the deadline"
                                                                   : "the job did not finish before the deadline",
                              AttemptStatus::timed_out);
      }
      if (a.next_poll_ms > 0 && now_ >= a.next_poll_ms) {
        changed();
        schedule_poll(a);
        effect(EffectKind::poll, a.id);
      }
      return;
    }
    if (a.status == AttemptStatus::succeeded && !a.asset_in_flight && a.asset_due_ms > 0 && now_ >= a.asset_due_ms) {
      changed();
      dispatch_fetch(a);
    }
  }

  // Copies the attempt's outputs again (URL outputs only; inline bytes are
  // not durable, so without them the attempt fails over).
  void dispatch_fetch(Attempt& a) {
    a.asset_due_ms = 0;
    if (a.inline_outputs > 0 || a.output_urls.empty()) {
      a.output_urls.clear();
      return attempt_failed(a, ErrorKind::malformed_response, "inline outputs were lost before they were stored",
                            AttemptStatus::failed);
    }
    ++a.asset_tries;
    a.asset_in_flight = true;
    Effect f;
    f.kind = EffectKind::fetch_assets;
    f.attempt_id = a.id;
    for (const auto& u : a.output_urls) {
      ProviderOutput o;
      o.url = u;
      f.outputs.push_back(std::move(o));
    }
    effect(std::move(f));
  }

  void cancel_requested() {
    if (is_terminal(g_.status)) {
      out_.status = Status(Code::invalid_state, "generation is already " + std::string(generation_status_name(g_.status)));
      return;
    }
    changed();
    for (auto& a : g_.attempts) {
      if (!a.open()) continue;
      if (a.status == AttemptStatus::succeeded) {
        close_attempt(a, AttemptStatus::discarded, ErrorKind::none, {});
        record(a, AttemptOutcome::discarded);
        continue;
      }
      close_attempt(a, AttemptStatus::canceled, ErrorKind::none, {});
      record(a, AttemptOutcome::cancelled);
      request_provider_cancel(a);
    }
    g_.status = GenerationStatus::canceled;
    g_.completed_ms = now_;
    g_.credits_refunded = true;
    effect(EffectKind::release);
    drop_copied_files();
    emit("generation.canceled");
  }

  void cancel_ack(const Event& e) {
    Attempt* a = g_.find_attempt(e.attempt_id);
    if (a == nullptr || a->cancel != CancelState::pending) return;
    changed();
    if (!e.error.ok()) {
      audit("provider cancel of " + a->id + " failed: " + std::string(error_kind_name(e.error.kind)));
      return;  // next_cancel_ms already scheduled the retry
    }
    a->cancel = e.cancel == CancelOutcome::unsupported ? CancelState::unsupported : CancelState::confirmed;
    a->next_cancel_ms = 0;
  }

  void recovered() {
    for (auto& a : g_.attempts) {
      if (a.cancel == CancelState::pending) {
        changed();
        a.next_cancel_ms = now_;
      }
    }
    if (is_terminal(g_.status)) return timer();
    Attempt* a = g_.active();
    if (a == nullptr) {
      if (g_.attempts.empty()) {
        changed();
        return accepted();
      }
      changed();
      return fail_over();
    }
    const ProviderPolicy p = policy_of(a->provider);
    if (a->status == AttemptStatus::intent && a->submit_in_flight) {
      // The crash window: the provider may or may not have the job.
      changed();
      ++a->submits;
      a->resubmitted = true;
      a->deadline_ms = now_ + p.timing.submit_ack_timeout.count();
      Effect s;
      s.kind = EffectKind::submit;
      s.attempt_id = a->id;
      s.resubmit = true;
      effect(std::move(s));
    } else if (a->status == AttemptStatus::submitted || a->status == AttemptStatus::running) {
      if (p.delivery != DeliveryMode::synchronous) {
        changed();
        a->next_poll_ms = now_;
      }
    } else if (a->status == AttemptStatus::succeeded && a->asset_in_flight) {
      // Fetched again by timer() below, after the generation deadline check
      // and alongside any pending provider cancel.
      changed();
      a->asset_in_flight = false;
      a->asset_due_ms = std::max<std::int64_t>(now_, 1);
    }
    timer();
  }

  Generation& g_;
  std::int64_t now_;
  const LifecyclePolicy& policy_;
  StepResult& out_;
};

}  // namespace

StepResult step(Generation& g, const Event& event, std::int64_t now_ms, const LifecyclePolicy& policy) {
  StepResult out;
  Stepper(g, now_ms, policy, out).run(event);
  return out;
}

std::int64_t wake_ms(const Generation& g) noexcept {
  std::int64_t w = 0;
  auto take = [&w](std::int64_t t) {
    if (t > 0 && (w == 0 || t < w)) w = t;
  };
  if (!is_terminal(g.status)) take(g.deadline_ms);
  for (const auto& a : g.attempts) {
    if (a.cancel == CancelState::pending) take(a.next_cancel_ms);
    if (!a.open() || is_terminal(g.status)) continue;
    take(a.submit_due_ms);
    take(a.deadline_ms);
    take(a.next_poll_ms);
    if (a.status == AttemptStatus::succeeded && !a.asset_in_flight) take(a.asset_due_ms);
  }
  return w;
}

}  // namespace babysea
