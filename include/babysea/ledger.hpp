// babysea/ledger.hpp — the settlement ledger: double-entry credits with
// two-phase holds.
//
// Model (specs/ledger.md): customer accounts plus four system accounts
// (escrow, revenue, grants, refunds), each with posted/pending debit/credit
// counters. Every movement is an immutable journal entry debiting one account
// and crediting another. A customer's available balance is
// posted_credits - posted_debits - pending_debits and never goes below zero.
//
//   reserve(account, amount, key, deadline)  customer -> escrow, pending
//   settle(hold, actual)                     posts actual (<= held) to revenue,
//                                            returns the rest
//   release(hold)                            voids the hold
//   expire_due(now)                          voids holds past their deadline
//   grant(account, amount, key)              grants -> customer (top-ups)
//   clawback(account, amount, key)           customer -> refunds, as far as the
//                                            available balance allows
//
// Every operation is idempotent by key: a repeat with the same arguments
// returns the original result (marked replayed); a repeat that disagrees is
// refused (idempotency_conflict for reserve/grant/clawback keys, invalid_state
// for a conflicting hold resolution). A refused operation writes nothing.
//
// Each operation comes in two forms: one that runs in its own unit of work
// and returns after it is durable, and one taking a `UnitOfWork&` that the
// engine composes with its own writes (nothing commits until that unit does).
//
// Codes: invalid_amount (not a positive integer <= max_amount), invalid_request
// (empty key or account, system account id), not_found (account or hold),
// insufficient_credits, idempotency_conflict, invalid_state, plus the store's
// storage_error / unavailable.
//
// Thread safety: a Ledger is safe for concurrent use; correctness under
// concurrency comes from the store's units of work.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

struct LedgerOptions {
  // Largest amount a single operation may move (default 1,000,000 credits).
  Micros max_amount = 1'000'000 * kMicrosPerCredit;
  // Outbox topic of low-balance alerts.
  std::string low_balance_topic = "credits.low_balance";
};

// System account ids. Customer account ids may not start with "system:".
inline constexpr std::string_view kEscrowAccount = "system:escrow";
inline constexpr std::string_view kRevenueAccount = "system:revenue";
inline constexpr std::string_view kGrantsAccount = "system:grants";
inline constexpr std::string_view kRefundsAccount = "system:refunds";

struct Balance {
  std::string account;
  Micros posted_debits = 0;
  Micros posted_credits = 0;
  Micros pending_debits = 0;
  Micros pending_credits = 0;
  Micros posted() const { return posted_credits - posted_debits; }
  Micros available() const { return posted_credits - posted_debits - pending_debits; }
};

// Raised once when an account's available balance falls below thresholds
// that were armed; also written to the outbox in the same unit of work.
struct LowBalanceAlert {
  std::string account;
  Micros available = 0;
  std::vector<Micros> thresholds;  // the thresholds crossed, descending
};

struct HoldResult {
  HoldRow hold;
  bool replayed = false;  // the original result of an earlier identical call
  std::vector<LowBalanceAlert> alerts;
};

struct GrantResult {
  EntryRow entry;
  bool replayed = false;
};

struct ClawbackResult {
  ClawbackRow clawback;
  bool replayed = false;
  std::vector<LowBalanceAlert> alerts;
};

// One broken invariant and the rows it was found on. Invariants (specs/ledger.md
// L1-L10, plus three audit-only ones over the journal's legs):
//   L1  the account counters balance: posted sum zero, pending debits = credits
//   L2  no customer's available balance, recomputed from the journal, is negative
//   L4  every hold has one hold entry and, once resolved, exactly one resolution
//       entry of its state's kind (settle / release / expire), none while pending
//   L5  no entry names a hold that does not exist
//   L6  a settled hold posted 0 < settled_amount <= amount, exactly that amount;
//       an unsettled one posted nothing
//   L7  every account's counters equal the sums of its journal entries, no
//       counter is negative, the journal names no unknown account
//   L9  no entry has a negative amount
//   L11 escrow: its posted balance (from the journal) is zero and its pending
//       credits equal the sum of the pending holds' amounts
//   L12 every hold-bound entry moves between the hold's own account and escrow
//       (the settle's revenue leg: escrow to revenue); no other kind is bound
//   L13 every leg carries its exact amount: the hold entry holds the amount; a
//       resolution clears it; a release or expiry returns the whole unsettled
//       rest and posts nothing; a settled hold has exactly one revenue leg equal
//       to its settled amount, an unsettled one none
struct AuditViolation {
  std::string invariant;  // "L1", "L2", ...
  std::string subject;    // the rows: "account <id>", "hold <id>", "entry <seq>", "ledger"
  std::string detail;
  std::string to_string() const { return invariant + " " + subject + ": " + detail; }
};

// What audit() found: every violation (up to 1000), recomputed from the
// journal itself, with the distinct invariants they break.
struct AuditReport {
  std::vector<AuditViolation> violations;
  std::size_t accounts = 0;
  std::size_t entries = 0;
  std::size_t holds = 0;
  std::size_t pending_holds = 0;
  bool clean() const { return violations.empty(); }
  // The distinct invariants violated, sorted ("L11" after "L1").
  std::vector<std::string> invariants() const;
  std::string to_string() const;
};

class Ledger {
 public:
  // Borrows `store` and `clock`, which must outlive the Ledger. Call init()
  // once before use (it creates the system accounts if missing).
  Ledger(Store& store, const Clock& clock, LedgerOptions options = {});
  Status init();

  const LedgerOptions& options() const { return options_; }

  // Creates a customer account; an existing one is left as it is (OK).
  Status create_account(std::string_view account);
  Status create_account(UnitOfWork& uow, std::string_view account);

  Result<Balance> balance(std::string_view account);
  Result<HoldRow> hold(std::string_view hold_id);

  Result<HoldResult> reserve(std::string_view account, Micros amount, std::string_view hold_key,
                             std::int64_t deadline_ms, std::string_view ref = {});
  Result<HoldResult> reserve(UnitOfWork& uow, std::string_view account, Micros amount,
                             std::string_view hold_key, std::int64_t deadline_ms,
                             std::string_view ref = {});
  // reserve() for a hold key that cannot exist yet because it embeds a fresh
  // id: no replay lookup (the key's unique index still refuses a duplicate,
  // idempotency_conflict), and an account that does not exist yet is an
  // empty one (insufficient_credits, nothing written).
  Result<HoldResult> reserve_new(UnitOfWork& uow, std::string_view account, Micros amount,
                                 std::string_view hold_key, std::int64_t deadline_ms,
                                 std::string_view ref = {});

  // REQUIRES: 0 < actual <= held amount (else invalid_amount).
  Result<HoldResult> settle(std::string_view hold_id, Micros actual);
  Result<HoldResult> settle(UnitOfWork& uow, std::string_view hold_id, Micros actual);

  Result<HoldResult> release(std::string_view hold_id);
  Result<HoldResult> release(UnitOfWork& uow, std::string_view hold_id);

  // Voids every pending hold whose deadline is <= now_ms (at most `limit` per
  // call); returns how many it expired. Safe to run concurrently with itself
  // and with settle/release: a hold is resolved once whoever comes first.
  Result<std::size_t> expire_due(std::int64_t now_ms, std::size_t limit = 1000);

  Result<GrantResult> grant(std::string_view account, Micros amount, std::string_view key,
                            std::string_view ref = {});
  Result<GrantResult> grant(UnitOfWork& uow, std::string_view account, Micros amount,
                            std::string_view key, std::string_view ref = {});

  Result<ClawbackResult> clawback(std::string_view account, Micros amount, std::string_view key,
                                  std::string_view ref = {});
  Result<ClawbackResult> clawback(UnitOfWork& uow, std::string_view account, Micros amount,
                                  std::string_view key, std::string_view ref = {});

  // Replaces the account's low-balance thresholds (each > 0). A threshold is
  // armed when the available balance is at or above it.
  Status set_low_balance_thresholds(std::string_view account, std::vector<Micros> thresholds);

  // Checks every invariant of AuditViolation over the whole store on one read
  // snapshot, from the journal itself (not from the stored counters alone).
  Result<AuditReport> audit();

 private:
  Status check_amount(Micros amount) const;
  Result<HoldResult> place_hold(UnitOfWork& uow, const AccountRow& a, Micros amount, std::string_view hold_key,
                                std::int64_t deadline_ms, std::string_view ref);
  Status check_low_balance(UnitOfWork& uow, const AccountRow& account, Micros available,
                           std::vector<LowBalanceAlert>* alerts);
  Result<HoldResult> void_hold(UnitOfWork& uow, std::string_view hold_id, HoldState state,
                               EntryKind kind);

  Store& store_;
  const Clock& clock_;
  LedgerOptions options_;
};

}  // namespace babysea
