// babysea/attempt.hpp — what a finished provider attempt leaves behind: its
// outcome, and the record the router learns from.
//
// The lifecycle machine (lifecycle.hpp) decides each attempt's outcome once,
// when the attempt leaves the active set (`Attempt::outcome`, the
// `record_outcome` effect). The engine turns it into an `AttemptRecord`,
// writes it in the step's unit of work and hands it to the router
// (router.hpp: `persist_attempt`, `observe_attempt`, `record_attempt`), whose
// window and breakers learn from it. At rest a record is an `AttemptStatRow`
// (storage.hpp, the attempt statistics table).
//
// This header is the one both sides share, so the lifecycle does not depend
// on the router (nor the router on the lifecycle).
//
// Ownership: value types; the row conversions copy. Thread safety: value
// types and free functions, no shared state.
// Codes: attempt_from_row returns invalid_request for a row it cannot read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "babysea/errors.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

struct AttemptStatRow;

// Terminal outcome of one provider attempt as the router learns from it
// (`pending` attempts are never recorded). `used` is success; the other
// three are waste. Numeric values are stable (stored in generation
// documents).
enum class AttemptOutcome : int { used = 0, failed = 1, discarded = 2, cancelled = 3 };

std::string_view attempt_outcome_name(AttemptOutcome o) noexcept;
// "used" | "failed" | "discarded" | "cancelled"; std::nullopt otherwise
// (including "pending").
std::optional<AttemptOutcome> parse_attempt_outcome(std::string_view name) noexcept;

// One finished attempt. Value type.
struct AttemptRecord {
  std::string attempt_id;  // de-duplication key, non-empty
  std::string region;      // non-empty
  std::string model;       // canonical model id, non-empty
  std::string provider;    // non-empty
  AttemptOutcome outcome = AttemptOutcome::used;
  ErrorKind error = ErrorKind::none;  // why it failed (none for used)
  std::int64_t latency_ms = 0;        // resolved - submitted, >= 0
  Micros cost = 0;                    // estimated or actual cost of the attempt
  std::int64_t finished_ms = 0;       // unix ms when it resolved
  std::int64_t retry_after_ms = 0;    // Retry-After the provider sent (not persisted)
};

// The storage row for a record and back. `error_class` of the row holds the
// ErrorKind name (the coarse ErrorClass is a function of it). from_row:
// invalid_request for an unknown outcome (e.g. "pending") or error kind.
AttemptStatRow attempt_to_row(const AttemptRecord& r);
Result<AttemptRecord> attempt_from_row(const AttemptStatRow& row);

}  // namespace babysea
