// Attempt outcomes and records (attempt.hpp): names and storage rows.
#include "babysea/attempt.hpp"

#include "babysea/storage.hpp"

namespace babysea {

std::string_view attempt_outcome_name(AttemptOutcome o) noexcept {
  switch (o) {
    case AttemptOutcome::used: return "used";
    case AttemptOutcome::failed: return "failed";
    case AttemptOutcome::discarded: return "discarded";
    case AttemptOutcome::cancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<AttemptOutcome> parse_attempt_outcome(std::string_view name) noexcept {
  if (name == "used") return AttemptOutcome::used;
  if (name == "failed") return AttemptOutcome::failed;
  if (name == "discarded") return AttemptOutcome::discarded;
  if (name == "cancelled") return AttemptOutcome::cancelled;
  return std::nullopt;
}

AttemptStatRow attempt_to_row(const AttemptRecord& r) {
  AttemptStatRow row;
  row.attempt_id = r.attempt_id;
  row.region = r.region;
  row.model = r.model;
  row.provider = r.provider;
  row.outcome = std::string(attempt_outcome_name(r.outcome));
  row.error_class = r.error == ErrorKind::none ? std::string() : std::string(error_kind_name(r.error));
  row.latency_ms = r.latency_ms;
  row.cost = r.cost;
  row.finished_ms = r.finished_ms;
  return row;
}

Result<AttemptRecord> attempt_from_row(const AttemptStatRow& row) {
  auto outcome = parse_attempt_outcome(row.outcome);
  if (!outcome) return Status(Code::invalid_request, "attempt row: unknown outcome '" + row.outcome + "'");
  ErrorKind kind = ErrorKind::none;
  if (!row.error_class.empty()) {
    auto k = parse_error_kind(row.error_class);
    if (!k) return Status(Code::invalid_request, "attempt row: unknown error kind '" + row.error_class + "'");
    kind = *k;
  }
  AttemptRecord r;
  r.attempt_id = row.attempt_id;
  r.region = row.region;
  r.model = row.model;
  r.provider = row.provider;
  r.outcome = *outcome;
  r.error = kind;
  r.latency_ms = row.latency_ms;
  r.cost = row.cost;
  r.finished_ms = row.finished_ms;
  return r;
}

}  // namespace babysea
