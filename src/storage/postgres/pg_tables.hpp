// The PostgreSQL implementation of the UnitOfWork tables. Internal.
//
// Correct with many writers (several Store objects or processes on one
// schema), under READ COMMITTED write transactions:
//  - counters change by relative updates (SET x = x + $n); get_account and
//    get_payment lock the row (FOR UPDATE) in a writing unit, so a balance
//    check and the write that depends on it see no concurrent change;
//  - inserts with a unique key use INSERT ... ON CONFLICT DO NOTHING and
//    report idempotency_conflict when nothing was inserted, without aborting
//    the transaction (as SQLite's constraint errors leave it usable); the
//    connection notes the conflict so Store::transact may re-run a unit that
//    failed after losing such a race (the re-run sees the winner's row);
//  - compare-and-set (hold resolution, generation version) is a conditional
//    UPDATE: 0 rows changed is the same code SQLite returns.
#pragma once

#include <map>
#include <string>
#include <unordered_map>

#include "babysea/storage.hpp"
#include "storage/postgres/pg_conn.hpp"

namespace babysea::pg {

class PgApiKeys final : public ApiKeyTable {
 public:
  PgApiKeys(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status insert(const ApiKeyRow& row) override;
  Status get(std::string_view id, ApiKeyRow& out) override;
  Status list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) override;
  Status touch(std::string_view id, std::int64_t last_used_ms) override;
  Status revoke(std::string_view id, std::int64_t revoked_ms) override;

 private:
  Conn& conn_;
  bool read_only_;
};

class PgWebhookEndpoints final : public WebhookEndpointTable {
 public:
  PgWebhookEndpoints(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status insert(const WebhookEndpointRow& row) override;
  Status get(std::string_view id, WebhookEndpointRow& out) override;
  Status list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) override;
  Status update(const WebhookEndpointRow& row) override;

 private:
  Conn& conn_;
  bool read_only_;
};

class PgWebhookDeliveries final : public WebhookDeliveryTable {
 public:
  PgWebhookDeliveries(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status insert(const WebhookDeliveryRow& row) override;
  Status get(std::string_view id, WebhookDeliveryRow& out) override;
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<WebhookDeliveryRow>& out) override;
  Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                   std::vector<WebhookDeliveryRow>& out) override;
  Status list_for_endpoint(std::string_view endpoint_id, std::size_t limit,
                           std::vector<WebhookDeliveryRow>& out) override;
  Status list_for_subject(std::string_view endpoint_id, std::string_view subject,
                          std::vector<WebhookDeliveryRow>& out) override;
  Status update(const WebhookDeliveryRow& row) override;

 private:
  Conn& conn_;
  bool read_only_;
};

class PgGenerations final : public GenerationTable {
 public:
  PgGenerations(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status insert(const GenerationRow& row) override;
  Status get(std::string_view id, GenerationRow& out) override;
  Status update(const GenerationRow& row, std::int64_t expected_version) override;
  Status list_for_account(std::string_view account, std::int64_t offset, std::int64_t limit,
                          std::vector<GenerationRow>& out, std::int64_t& total) override;
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<GenerationRow>& out) override;
  Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                   std::vector<GenerationRow>& out) override;
  Status unfinished(std::vector<std::string>& out) override;
  Status unfinished_owned_by(std::string_view owner, std::vector<std::string>& out) override;
  Status for_each_since(std::string_view account, std::int64_t since_ms,
                        const std::function<void(const GenerationRow&)>& fn) override;
  Status count_by_status(std::vector<std::int64_t>& out) override;
  Status put_job(std::string_view provider, std::string_view job_id, std::string_view generation_id,
                 std::string_view attempt_id) override;
  Status find_job(std::string_view provider, std::string_view job_id, std::string& generation_id,
                  std::string& attempt_id) override;
  Status get_idempotency(std::string_view account, std::string_view key, IdempotencyRow& out) override;
  Status put_idempotency(const IdempotencyRow& row) override;
  Result<bool> claim_idempotency(const IdempotencyRow& row, std::int64_t now_ms, IdempotencyRow& existing) override;
  Result<std::size_t> prune_idempotency(std::int64_t before_ms) override;

 private:
  Conn& conn_;
  bool read_only_;
};

class PgRequestLog final : public RequestLogTable {
 public:
  PgRequestLog(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status append(const std::vector<RequestLogRow>& rows) override;
  Result<std::size_t> prune(std::int64_t before_ms) override;
  Status summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) override;
  Status list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                          std::vector<RequestLogRow>& out) override;

 private:
  Conn& conn_;
  bool read_only_;
};

class PgInstances final : public InstanceTable {
 public:
  PgInstances(Conn& c, bool ro) : conn_(c), read_only_(ro) {}
  Status upsert(const InstanceRow& row) override;
  Status heartbeat(std::string_view id, std::int64_t now_ms) override;
  Status list(std::vector<InstanceRow>& out) override;
  Result<bool> remove_if_stale(std::string_view id, std::int64_t before_ms) override;
  Status remove(std::string_view id) override;

 private:
  Conn& conn_;
  bool read_only_;
};

// What a write transaction keeps on the client side, for the tables. The
// store owns one per transaction and says when units succeed or fail.
struct AccountDelta {
  Micros posted_debits = 0, posted_credits = 0, pending_debits = 0, pending_credits = 0;
};
class TxnState {
 public:
  // Account rows the transaction has read, kept current with its own
  // updates: a hot account in a batch is read once. In safe mode the rows
  // are locked (FOR UPDATE) so nobody else changes them; in an optimistic
  // batch they are not, and the balance check of the counters' update at
  // COMMIT (flush_deltas) refuses a decision made on a row that changed.
  std::unordered_map<std::string, AccountRow> locked;
  // When set (batched units, optimistic mode), add_to_account sends no
  // UPDATE: the delta is held, per unit and then, once the unit succeeds,
  // per transaction; flush_deltas() sends one UPDATE per account, in id
  // order, right before COMMIT. Every batch then takes those row locks last
  // and in one order, and holds them only for the commit, so batches on
  // other connections or processes neither deadlock nor queue on the rows
  // they all touch (escrow, revenue) while they run.
  bool hold_deltas = false;
  std::map<std::string, AccountDelta, std::less<>> unit_deltas, txn_deltas;

  // The unit's held deltas join the transaction's.
  void unit_succeeded();
  // Drops the unit's held deltas and the cache (a rolled-back savepoint
  // also releases the locks taken inside it; the unit may have changed
  // cached rows).
  void unit_failed() {
    unit_deltas.clear();
    locked.clear();
  }
  // Every delta held for `id` (transaction and unit).
  AccountDelta held(std::string_view id) const;
};

// Queues one UPDATE per held delta (unit and transaction), in account id
// order, each expecting exactly one row; clears them.
void flush_deltas(Conn& conn, TxnState& txn);

class PgUnit final : public UnitOfWork, LedgerTables, SeenTable, OutboxTable, AttemptStatsTable {
 public:
  PgUnit(Conn& c, bool ro, TxnState* txn = nullptr)
      : conn_(c), read_only_(ro), txn_(ro ? nullptr : txn), api_keys_(c, ro), webhook_endpoints_(c, ro),
        webhook_deliveries_(c, ro), generations_(c, ro), request_log_(c, ro), instances_(c, ro) {}

  LedgerTables& ledger() override { return *this; }
  SeenTable& seen() override { return *this; }
  OutboxTable& outbox() override { return *this; }
  AttemptStatsTable& attempt_stats() override { return *this; }
  ApiKeyTable& api_keys() override { return api_keys_; }
  WebhookEndpointTable& webhook_endpoints() override { return webhook_endpoints_; }
  WebhookDeliveryTable& webhook_deliveries() override { return webhook_deliveries_; }
  GenerationTable& generations() override { return generations_; }
  RequestLogTable& request_log() override { return request_log_; }
  InstanceTable& instances() override { return instances_; }
  bool read_only() const override { return read_only_; }

  // ledger
  Status get_account(std::string_view id, AccountRow& out) override;
  Status insert_account(const AccountRow& row) override;
  Status add_to_account(std::string_view id, Micros pd, Micros pc, Micros qd, Micros qc) override;
  Status set_thresholds(std::string_view id, const std::vector<BalanceThreshold>& t) override;
  Status for_each_account(const std::function<void(const AccountRow&)>& fn) override;
  Status insert_entry(EntryRow& row) override;
  Status append_entry(const EntryRow& row) override;
  Status find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) override;
  Status for_each_entry(const std::function<void(const EntryRow&)>& fn) override;
  Status journal_totals(std::vector<JournalTotals>& out) override;
  Status insert_hold(const HoldRow& row) override;
  Status get_hold(std::string_view id, HoldRow& out) override;
  Status find_hold_by_key(std::string_view key, HoldRow& out) override;
  Status resolve_hold(std::string_view id, HoldState state, Micros settled_amount, std::int64_t resolved_ms) override;
  Status due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) override;
  Status for_each_hold(const std::function<void(const HoldRow&)>& fn) override;
  Status insert_payment(const PaymentRow& row) override;
  Status get_payment(std::string_view id, PaymentRow& out) override;
  Status add_payment_clawed_back(std::string_view id, Micros delta) override;
  Status insert_clawback(const ClawbackRow& row) override;
  Status find_clawback(std::string_view key, ClawbackRow& out) override;

  // seen
  Result<bool> insert_if_absent(std::string_view source, std::string_view id, std::int64_t now_ms) override;
  Result<bool> contains(std::string_view source, std::string_view id) override;

  // outbox
  Status append(OutboxRow& row) override;
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) override;
  Status count_pending(std::int64_t& out) override;
  Status list(std::int64_t after_seq, std::size_t limit, std::vector<OutboxRow>& out) override;
  Status update(std::int64_t seq, OutboxState state, int attempts, std::int64_t next_ms) override;

  // attempt stats
  Result<bool> record(const AttemptStatRow& row) override;
  Status since(std::int64_t since_ms, std::size_t limit, std::vector<AttemptStatRow>& out) override;
  Result<std::size_t> prune(std::int64_t before_ms) override;

 private:
  Status writable() const;
  Conn& conn_;
  bool read_only_;
  TxnState* txn_;  // null in read-only units
  std::string hold_locked_;  // the last hold get_hold locked in this unit, and its state
  HoldState hold_locked_state_ = HoldState::pending;
  PgApiKeys api_keys_;
  PgWebhookEndpoints webhook_endpoints_;
  PgWebhookDeliveries webhook_deliveries_;
  PgGenerations generations_;
  PgRequestLog request_log_;
  PgInstances instances_;
};

}  // namespace babysea::pg
