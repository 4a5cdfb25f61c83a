// The SQLite implementation of the UnitOfWork tables. Internal.
#pragma once

#include "babysea/storage.hpp"
#include "storage/sqlite/sqlite_db.hpp"

namespace babysea::sqlite {

// The api_keys table (its own class: method names collide with other tables').
class SqliteApiKeys final : public ApiKeyTable {
 public:
  SqliteApiKeys(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
  Status insert(const ApiKeyRow& row) override;
  Status get(std::string_view id, ApiKeyRow& out) override;
  Status list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) override;
  Status touch(std::string_view id, std::int64_t last_used_ms) override;
  Status revoke(std::string_view id, std::int64_t revoked_ms) override;

 private:
  Db& db_;
  bool read_only_;
};

// The webhook_endpoints table.
class SqliteWebhookEndpoints final : public WebhookEndpointTable {
 public:
  SqliteWebhookEndpoints(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
  Status insert(const WebhookEndpointRow& row) override;
  Status get(std::string_view id, WebhookEndpointRow& out) override;
  Status list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) override;
  Status update(const WebhookEndpointRow& row) override;

 private:
  Db& db_;
  bool read_only_;
};

// The webhook_deliveries table.
class SqliteWebhookDeliveries final : public WebhookDeliveryTable {
 public:
  SqliteWebhookDeliveries(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
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
  Db& db_;
  bool read_only_;
};

// The generations, provider_jobs and idempotency_keys tables.
class SqliteGenerations final : public GenerationTable {
 public:
  SqliteGenerations(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
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
  Status writable() const;
  Db& db_;
  bool read_only_;
};

// The request_log table.
class SqliteRequestLog final : public RequestLogTable {
 public:
  SqliteRequestLog(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
  Status append(const std::vector<RequestLogRow>& rows) override;
  Result<std::size_t> prune(std::int64_t before_ms) override;
  Status summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) override;
  Status list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                          std::vector<RequestLogRow>& out) override;

 private:
  Db& db_;
  bool read_only_;
};

// The instances table.
class SqliteInstances final : public InstanceTable {
 public:
  SqliteInstances(Db& db, bool read_only) : db_(db), read_only_(read_only) {}
  Status upsert(const InstanceRow& row) override;
  Status heartbeat(std::string_view id, std::int64_t now_ms) override;
  Status list(std::vector<InstanceRow>& out) override;
  Result<bool> remove_if_stale(std::string_view id, std::int64_t before_ms) override;
  Status remove(std::string_view id) override;

 private:
  Db& db_;
  bool read_only_;
};

class SqliteUnit final : public UnitOfWork,
                         LedgerTables,
                         SeenTable,
                         OutboxTable,
                         AttemptStatsTable {
 public:
  SqliteUnit(Db& db, bool read_only)
      : db_(db), read_only_(read_only), api_keys_(db, read_only), webhook_endpoints_(db, read_only),
        webhook_deliveries_(db, read_only), generations_(db, read_only), request_log_(db, read_only),
        instances_(db, read_only) {}

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
  Status find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) override;
  Status for_each_entry(const std::function<void(const EntryRow&)>& fn) override;
  Status journal_totals(std::vector<JournalTotals>& out) override;
  Status insert_hold(const HoldRow& row) override;
  Status get_hold(std::string_view id, HoldRow& out) override;
  Status find_hold_by_key(std::string_view key, HoldRow& out) override;
  Status resolve_hold(std::string_view id, HoldState state, Micros settled_amount,
                      std::int64_t resolved_ms) override;
  Status due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) override;
  Status for_each_hold(const std::function<void(const HoldRow&)>& fn) override;
  Status insert_payment(const PaymentRow& row) override;
  Status get_payment(std::string_view id, PaymentRow& out) override;
  Status add_payment_clawed_back(std::string_view id, Micros delta) override;
  Status insert_clawback(const ClawbackRow& row) override;
  Status find_clawback(std::string_view key, ClawbackRow& out) override;

  // seen
  Result<bool> insert_if_absent(std::string_view source, std::string_view id,
                                std::int64_t now_ms) override;
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
  Db& db_;
  bool read_only_;
  SqliteApiKeys api_keys_;
  SqliteWebhookEndpoints webhook_endpoints_;
  SqliteWebhookDeliveries webhook_deliveries_;
  SqliteGenerations generations_;
  SqliteRequestLog request_log_;
  SqliteInstances instances_;
};

// Serialisation of account thresholds ("threshold:armed;..."), exposed for tests.
std::string encode_thresholds(const std::vector<BalanceThreshold>& t);
std::vector<BalanceThreshold> decode_thresholds(std::string_view text);

}  // namespace babysea::sqlite
