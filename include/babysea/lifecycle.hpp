// babysea/lifecycle.hpp — the pure state machines of a generation and its
// attempts (specs/lifecycle.md).
//
// A `Generation` is one aggregate: the customer-visible generation plus every
// attempt (one per provider tried, in chain order). `step(g, event, now,
// policy)` applies one event and returns the effects the engine must carry
// out. It does no I/O, reads no clock and draws no randomness; the engine
// persists the new state and the money/outbox effects in one unit of work,
// then runs the provider effects (submit, poll, cancel, fetch) and feeds
// their answers back as events.
//
// Timers are part of the state: every pending wake-up (submit retry, stage
// deadline, next poll, asset retry, provider-cancel retry, generation
// deadline) is a field, `wake_ms(g)` is the earliest, and a `timer` event at
// `now` handles everything due. So a timer survives a crash with the state.
//
// Rules enforced here: terminal generations absorb (later events change
// nothing but the audit trail, and a late success is `discarded`); statuses
// never move an attempt backwards; duplicates are no-ops; exactly one settle
// or release per generation; failover keeps the same hold; fail_fast ends
// the generation; cancel releases at once and retries the provider cancel.
//
// Thread safety: value types and free functions; no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/attempt.hpp"
#include "babysea/catalog.hpp"
#include "babysea/errors.hpp"
#include "babysea/money.hpp"
#include "babysea/provider.hpp"
#include "babysea/status.hpp"

namespace babysea {

enum class GenerationStatus : int { pending = 0, processing = 1, succeeded = 2, failed = 3, canceled = 4 };
std::string_view generation_status_name(GenerationStatus s) noexcept;
bool is_terminal(GenerationStatus s) noexcept;

enum class AttemptStatus : int {
  intent = 0, submitted = 1, running = 2, succeeded = 3, failed = 4, canceled = 5, timed_out = 6, discarded = 7,
};
std::string_view attempt_status_name(AttemptStatus s) noexcept;

enum class CancelState : int { none = 0, pending = 1, confirmed = 2, given_up = 3, unsupported = 4 };

struct Attempt {
  std::string id;
  int order = 1;  // 1-based position in the chain
  std::string provider;
  AttemptStatus status = AttemptStatus::intent;
  ProviderJob job;
  std::int64_t created_ms = 0;
  std::int64_t submitted_ms = 0;  // ack
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  int submits = 0;                 // times handed to the provider
  bool submit_in_flight = false;   // handed over, answer pending
  bool resubmitted = false;        // re-sent after a crash (possible duplicate job)
  std::int64_t submit_due_ms = 0;  // a retry of the submit is scheduled (0 = none)
  std::int64_t deadline_ms = 0;    // current stage deadline (ack / start / finish), 0 = none
  std::int64_t next_poll_ms = 0;   // 0 = none
  int poll_failures = 0;
  ErrorKind error = ErrorKind::none;
  std::string error_code;
  std::string error_message;
  std::optional<AttemptOutcome> outcome;  // recorded once, when the attempt leaves the active set
  CancelState cancel = CancelState::none;
  int cancel_tries = 0;
  std::int64_t next_cancel_ms = 0;
  std::vector<std::string> output_urls;  // provider outputs (URL form) awaiting copy
  int inline_outputs = 0;                // outputs that came inline (not durable)
  int asset_tries = 0;
  bool asset_in_flight = false;
  std::int64_t asset_due_ms = 0;
  std::int64_t predict_ms = -1;

  bool open() const noexcept {
    return status == AttemptStatus::intent || status == AttemptStatus::submitted ||
           status == AttemptStatus::running || status == AttemptStatus::succeeded;
  }
};

struct Generation {
  std::string id;
  std::string account;
  std::string region;
  std::string model;
  ModelType type = ModelType::image;
  GenerationStatus status = GenerationStatus::pending;
  std::string params_json;          // canonical normalized request
  std::vector<std::string> chain;   // provider order for this generation
  std::string hold_id;
  Micros held = 0;
  Micros cost_per_output = 0;
  std::int64_t max_outputs = 1;
  Micros settled = 0;
  bool credits_refunded = false;
  bool started_emitted = false;
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;
  std::int64_t completed_ms = 0;
  std::int64_t deadline_ms = 0;
  std::string prediction_id;
  std::string provider_used;
  std::string error;
  std::string error_code;
  std::vector<std::string> outputs;  // stored asset URLs
  bool removed = false;
  std::int64_t predict_ms = -1;
  std::vector<Attempt> attempts;
  std::vector<std::string> audit;  // ignored / late events, newest last (capped)
  std::int64_t audit_dropped = 0;
  std::int64_t version = 0;        // storage compare-and-set

  const Attempt* find_attempt(std::string_view id) const noexcept;
  Attempt* find_attempt(std::string_view id) noexcept;
  // The attempt currently serving the generation (open), if any.
  Attempt* active() noexcept;
  const Attempt* active() const noexcept;
};

// ---------------------------------------------------------------- events

enum class EventKind : int {
  accepted = 0,          // the generation was just created: start the first attempt
  submit_ok = 1,         // provider acknowledged (job), optionally with its final status
  submit_error = 2,      // submit refused / failed
  provider_status = 3,   // from a poll or a verified callback
  poll_error = 4,        // the poll itself failed
  assets_stored = 5,     // outputs copied; urls
  assets_failed = 6,     // copy failed; error (retryable or not)
  timer = 7,             // whatever is due at `now`
  cancel_requested = 8,  // the customer's cancel
  provider_cancel_ack = 9,
  recovered = 10,        // engine start: resume what was in flight
};
std::string_view event_kind_name(EventKind k) noexcept;

struct Event {
  EventKind kind = EventKind::timer;
  std::string attempt_id;
  ProviderJob job;                        // submit_ok
  std::optional<ProviderStatus> status;   // submit_ok (immediate) / provider_status
  ProviderError error;                    // submit_error / poll_error / assets_failed / cancel ack error
  bool retryable = true;                  // assets_failed: worth another try
  std::vector<std::string> urls;          // assets_stored
  CancelOutcome cancel = CancelOutcome::requested;  // provider_cancel_ack
};

// ---------------------------------------------------------------- effects

enum class EffectKind : int {
  submit = 0,          // send the attempt to its provider (resubmit: after a crash)
  poll = 1,
  cancel = 2,          // provider cancel of the attempt's job
  fetch_assets = 3,    // copy the attempt's outputs into the asset store
  remove_assets = 4,   // drop assets stored for a generation that did not use them
  settle = 5,          // post `amount` of the hold (same unit of work)
  release = 6,         // void the hold (same unit of work)
  record_outcome = 7,  // router telemetry for the attempt (same unit of work)
  emit = 8,            // lifecycle event `event_type` (outbox + host callback)
};
std::string_view effect_kind_name(EffectKind k) noexcept;

struct Effect {
  EffectKind kind = EffectKind::emit;
  std::string attempt_id;
  Micros amount = 0;
  AttemptOutcome outcome = AttemptOutcome::used;
  std::string event_type;
  bool resubmit = false;
  std::vector<ProviderOutput> outputs;  // fetch_assets
};

// Per-provider behaviour the machine needs; the engine fills it from the
// adapters. Providers missing from it get the defaults.
struct ProviderPolicy {
  DeliveryMode delivery = DeliveryMode::polling;
  bool can_cancel = false;
  ProviderTiming timing;
};

struct LifecyclePolicy {
  std::function<ProviderPolicy(std::string_view provider)> provider;
  int max_asset_tries = 3;
  std::int64_t retry_delay_ms = 2'000;
  int max_cancel_tries = 10;
  std::size_t max_audit = 32;
};

struct StepResult {
  bool changed = false;  // false: nothing to persist (pure no-op, e.g. a duplicate)
  std::vector<Effect> effects;
  // cancel_requested on a terminal generation: invalid_state (nothing changed).
  Status status;
};

// Applies one event. REQUIRES: g was created by new_generation() or decoded.
StepResult step(Generation& g, const Event& event, std::int64_t now_ms, const LifecyclePolicy& policy);

// The earliest pending wake-up, 0 when nothing is pending.
std::int64_t wake_ms(const Generation& g) noexcept;

// Attempt ids are "<generation id>.<order>".
std::string attempt_id_for(std::string_view generation_id, int order);

// BSE codes stored on failed generations.
inline constexpr std::string_view kErrorProvidersFailed = "BSE4001";
inline constexpr std::string_view kErrorProviderTimeout = "BSE4002";
inline constexpr std::string_view kErrorContentRefused = "BSE4003";
inline constexpr std::string_view kErrorProviderRejected = "BSE4004";

// Compact binary encoding of a Generation (the storage document).
std::string encode_generation(const Generation& g);
Result<Generation> decode_generation(std::string_view bytes);

}  // namespace babysea
