#include "storage/sqlite/migrations.hpp"

#include <array>
#include <string>

namespace babysea::sqlite {
namespace {

constexpr Migration kMigrations[] = {
    {1, "ledger",
     R"sql(
CREATE TABLE accounts(
  id TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  posted_debits INTEGER NOT NULL DEFAULT 0 CHECK (posted_debits >= 0),
  posted_credits INTEGER NOT NULL DEFAULT 0 CHECK (posted_credits >= 0),
  pending_debits INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
  thresholds TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE entries(
  seq INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  debit_account TEXT NOT NULL,
  credit_account TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  pending_delta INTEGER NOT NULL,
  hold_id TEXT,
  idem_key TEXT,
  ref TEXT,
  created_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX entries_kind_key ON entries(kind, idem_key) WHERE idem_key IS NOT NULL;
CREATE TABLE holds(
  id TEXT PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  state INTEGER NOT NULL,
  settled_amount INTEGER NOT NULL DEFAULT 0,
  deadline_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  resolved_ms INTEGER NOT NULL DEFAULT 0,
  ref TEXT
) WITHOUT ROWID;
CREATE INDEX holds_pending_deadline ON holds(deadline_ms) WHERE state = 0;
CREATE TABLE payments(
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  credits INTEGER NOT NULL,
  amount_cents INTEGER NOT NULL,
  clawed_back INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE clawbacks(
  key TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  requested INTEGER NOT NULL,
  applied INTEGER NOT NULL,
  shortfall INTEGER NOT NULL,
  ref TEXT,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    {2, "seen_outbox_attempt_stats",
     R"sql(
CREATE TABLE seen_messages(
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  seen_ms INTEGER NOT NULL,
  PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  account TEXT NOT NULL,
  payload TEXT NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(next_attempt_ms) WHERE state = 0;
CREATE TABLE attempt_stats(
  attempt_id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  model TEXT NOT NULL,
  provider TEXT NOT NULL,
  outcome TEXT NOT NULL,
  error_class TEXT NOT NULL,
  latency_ms INTEGER NOT NULL,
  cost INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attempt_stats_finished ON attempt_stats(finished_ms);
)sql"},
    {3, "api_keys",
     R"sql(
CREATE TABLE api_keys(
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  region TEXT NOT NULL,
  name TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  last_used_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_account ON api_keys(account, created_ms);
)sql"},
    {4, "webhooks",
     R"sql(
CREATE TABLE webhook_endpoints(
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  previous_secret TEXT NOT NULL,
  signing INTEGER NOT NULL,
  events TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  disabled_reason TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account, created_ms);
CREATE TABLE webhook_deliveries(
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  account TEXT NOT NULL,
  event TEXT NOT NULL,
  subject TEXT NOT NULL,
  data TEXT NOT NULL,
  event_ms INTEGER NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  last_status INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  UNIQUE(event_id, endpoint_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_ms, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, subject, id);
)sql"},
    {5, "generations",
     R"sql(
CREATE TABLE generations(
  id TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  status INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  wake_ms INTEGER NOT NULL,
  version INTEGER NOT NULL,
  doc BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX generations_account ON generations(account, created_ms, id);
CREATE INDEX generations_wake ON generations(wake_ms) WHERE wake_ms > 0;
CREATE INDEX generations_unfinished ON generations(status) WHERE status < 2;
CREATE TABLE provider_jobs(
  provider TEXT NOT NULL,
  job_id TEXT NOT NULL,
  generation_id TEXT NOT NULL,
  attempt_id TEXT NOT NULL,
  PRIMARY KEY(provider, job_id)
) WITHOUT ROWID;
CREATE TABLE idempotency_keys(
  account TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  generation_id TEXT NOT NULL,
  response TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  PRIMARY KEY(account, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_ms);
)sql"},
    // Nothing read the stored create response (a replay renders it from the
    // current generation).
    {6, "idempotency_without_response",
     R"sql(
ALTER TABLE idempotency_keys DROP COLUMN response;
)sql"},
    // The usage log: one row per authenticated API request. Usage reads one
    // account over a period; retention prunes by time.
    {7, "request_log",
     R"sql(
CREATE TABLE request_log(
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  account TEXT NOT NULL,
  key_id TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  error_code TEXT NOT NULL,
  latency_us INTEGER NOT NULL
);
CREATE INDEX request_log_account_time ON request_log(account, time_ms);
CREATE INDEX request_log_time ON request_log(time_ms);
)sql"},
    // The engine instance that last sent provider work for a generation: a
    // living instance recovers a dead one's unfinished generations.
    {8, "generation_owner",
     R"sql(
ALTER TABLE generations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX generations_owner_unfinished ON generations(owner, id) WHERE status < 2 OR wake_ms > 0;
)sql"},
    // The engine instances of a deployment, with their heartbeats.
    {9, "instances",
     R"sql(
CREATE TABLE instances(
  id TEXT PRIMARY KEY,
  started_ms INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  info TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
)sql"},
};

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

Status migrate(Db& db, std::int64_t now_ms) {
  BABYSEA_RETURN_IF_ERROR(db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations("
      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)"));
  BABYSEA_ASSIGN_OR_RETURN(Query q, db.query("SELECT version, name FROM schema_migrations ORDER BY version"));
  int expected = 1;
  auto known = migrations();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) break;
    int version = static_cast<int>(q.int64(0));
    std::string name = q.text(1);
    if (version != expected)
      return Status(Code::corruption, "schema_migrations has a gap before version " + std::to_string(version));
    if (version > static_cast<int>(known.size()))
      return Status(Code::corruption, "database schema version " + std::to_string(version) +
                                          " is newer than this library knows (" +
                                          std::to_string(known.size()) + ")");
    if (name != known[static_cast<std::size_t>(version - 1)].name)
      return Status(Code::corruption, "schema migration " + std::to_string(version) + " is '" + name +
                                          "', expected '" + known[static_cast<std::size_t>(version - 1)].name + "'");
    ++expected;
  }
  for (std::size_t i = static_cast<std::size_t>(expected - 1); i < known.size(); ++i) {
    const Migration& m = known[i];
    BABYSEA_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE"));
    Status s = db.exec(m.sql);
    if (s.ok()) {
      auto ins = db.query("INSERT INTO schema_migrations(version, name, applied_ms) VALUES(?, ?, ?)");
      if (!ins.ok()) {
        s = ins.status();
      } else {
        ins->bind(1, m.version).bind(2, std::string_view(m.name)).bind(3, now_ms);
        s = ins->run();
      }
    }
    if (s.ok()) s = db.exec("COMMIT");
    if (!s.ok()) {
      (void)db.exec("ROLLBACK");
      return Status(s.code(), "migration " + std::to_string(m.version) + " (" + m.name + "): " +
                                  std::string(s.message()));
    }
  }
  return {};
}

}  // namespace babysea::sqlite
