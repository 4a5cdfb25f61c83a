#include "storage/postgres/pg_migrations.hpp"

#include <string>

namespace babysea::pg {
namespace {

// Integers are BIGINT throughout (Rows::i64 reads any width, but one width
// keeps the schema obvious); sequences are identity columns.
constexpr Migration kMigrations[] = {
    {1, "ledger",
     R"sql(
CREATE TABLE accounts(
  id TEXT COLLATE "C" PRIMARY KEY,
  kind BIGINT NOT NULL,
  posted_debits BIGINT NOT NULL DEFAULT 0 CHECK (posted_debits >= 0),
  posted_credits BIGINT NOT NULL DEFAULT 0 CHECK (posted_credits >= 0),
  pending_debits BIGINT NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits BIGINT NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
  thresholds TEXT COLLATE "C" NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL
);
CREATE TABLE entries(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind BIGINT NOT NULL,
  debit_account TEXT COLLATE "C" NOT NULL,
  credit_account TEXT COLLATE "C" NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  pending_delta BIGINT NOT NULL,
  hold_id TEXT COLLATE "C",
  idem_key TEXT COLLATE "C",
  ref TEXT COLLATE "C",
  created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX entries_kind_key ON entries(kind, idem_key) WHERE idem_key IS NOT NULL;
CREATE TABLE holds(
  id TEXT COLLATE "C" PRIMARY KEY,
  key TEXT COLLATE "C" NOT NULL UNIQUE,
  account TEXT COLLATE "C" NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  state BIGINT NOT NULL,
  settled_amount BIGINT NOT NULL DEFAULT 0,
  deadline_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  resolved_ms BIGINT NOT NULL DEFAULT 0,
  ref TEXT COLLATE "C"
);
CREATE INDEX holds_pending_deadline ON holds(deadline_ms) WHERE state = 0;
CREATE TABLE payments(
  id TEXT COLLATE "C" PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  credits BIGINT NOT NULL,
  amount_cents BIGINT NOT NULL,
  clawed_back BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL
);
CREATE TABLE clawbacks(
  key TEXT COLLATE "C" PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  requested BIGINT NOT NULL,
  applied BIGINT NOT NULL,
  shortfall BIGINT NOT NULL,
  ref TEXT COLLATE "C",
  created_ms BIGINT NOT NULL
);
)sql"},
    {2, "seen_outbox_attempt_stats",
     R"sql(
CREATE TABLE seen_messages(
  source TEXT COLLATE "C" NOT NULL,
  id TEXT COLLATE "C" NOT NULL,
  seen_ms BIGINT NOT NULL,
  PRIMARY KEY (source, id)
);
CREATE TABLE outbox(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT COLLATE "C" NOT NULL UNIQUE,
  topic TEXT COLLATE "C" NOT NULL,
  account TEXT COLLATE "C" NOT NULL,
  payload TEXT COLLATE "C" NOT NULL,
  state BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox(next_attempt_ms) WHERE state = 0;
CREATE TABLE attempt_stats(
  attempt_id TEXT COLLATE "C" PRIMARY KEY,
  region TEXT COLLATE "C" NOT NULL,
  model TEXT COLLATE "C" NOT NULL,
  provider TEXT COLLATE "C" NOT NULL,
  outcome TEXT COLLATE "C" NOT NULL,
  error_class TEXT COLLATE "C" NOT NULL,
  latency_ms BIGINT NOT NULL,
  cost BIGINT NOT NULL,
  finished_ms BIGINT NOT NULL
);
CREATE INDEX attempt_stats_finished ON attempt_stats(finished_ms);
)sql"},
    {3, "api_keys",
     R"sql(
CREATE TABLE api_keys(
  id TEXT COLLATE "C" PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  secret_hash TEXT COLLATE "C" NOT NULL,
  scopes TEXT COLLATE "C" NOT NULL,
  region TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  last_used_ms BIGINT NOT NULL,
  revoked_ms BIGINT NOT NULL
);
CREATE INDEX api_keys_account ON api_keys(account, created_ms);
)sql"},
    {4, "webhooks",
     R"sql(
CREATE TABLE webhook_endpoints(
  id TEXT COLLATE "C" PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  url TEXT COLLATE "C" NOT NULL,
  secret TEXT COLLATE "C" NOT NULL,
  previous_secret TEXT COLLATE "C" NOT NULL,
  signing BIGINT NOT NULL,
  events TEXT COLLATE "C" NOT NULL,
  enabled BIGINT NOT NULL,
  disabled_reason TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account, created_ms);
CREATE TABLE webhook_deliveries(
  id TEXT COLLATE "C" PRIMARY KEY,
  event_id TEXT COLLATE "C" NOT NULL,
  endpoint_id TEXT COLLATE "C" NOT NULL,
  account TEXT COLLATE "C" NOT NULL,
  event TEXT COLLATE "C" NOT NULL,
  subject TEXT COLLATE "C" NOT NULL,
  data TEXT COLLATE "C" NOT NULL,
  event_ms BIGINT NOT NULL,
  state BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  last_status BIGINT NOT NULL,
  last_error TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE(event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_ms, id);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, subject, id);
)sql"},
    {5, "generations",
     R"sql(
CREATE TABLE generations(
  id TEXT COLLATE "C" PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  status BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  wake_ms BIGINT NOT NULL,
  version BIGINT NOT NULL,
  doc BYTEA NOT NULL
);
CREATE INDEX generations_account ON generations(account, created_ms, id);
CREATE INDEX generations_wake ON generations(wake_ms) WHERE wake_ms > 0;
CREATE INDEX generations_unfinished ON generations(status) WHERE status < 2;
CREATE TABLE provider_jobs(
  provider TEXT COLLATE "C" NOT NULL,
  job_id TEXT COLLATE "C" NOT NULL,
  generation_id TEXT COLLATE "C" NOT NULL,
  attempt_id TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY(provider, job_id)
);
CREATE TABLE idempotency_keys(
  account TEXT COLLATE "C" NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  fingerprint TEXT COLLATE "C" NOT NULL,
  generation_id TEXT COLLATE "C" NOT NULL,
  response TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  PRIMARY KEY(account, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_ms);
)sql"},
    {6, "idempotency_without_response",
     R"sql(
ALTER TABLE idempotency_keys DROP COLUMN response;
)sql"},
    {7, "request_log",
     R"sql(
CREATE TABLE request_log(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time_ms BIGINT NOT NULL,
  account TEXT COLLATE "C" NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  method TEXT COLLATE "C" NOT NULL,
  route TEXT COLLATE "C" NOT NULL,
  status BIGINT NOT NULL,
  error_code TEXT COLLATE "C" NOT NULL,
  latency_us BIGINT NOT NULL
);
CREATE INDEX request_log_account_time ON request_log(account, time_ms);
CREATE INDEX request_log_time ON request_log(time_ms);
)sql"},
    {8, "generation_owner",
     R"sql(
ALTER TABLE generations ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX generations_owner_unfinished ON generations(owner, id) WHERE status < 2 OR wake_ms > 0;
)sql"},
    {9, "instances",
     R"sql(
CREATE TABLE instances(
  id TEXT COLLATE "C" PRIMARY KEY,
  started_ms BIGINT NOT NULL,
  heartbeat_ms BIGINT NOT NULL,
  info TEXT COLLATE "C" NOT NULL DEFAULT ''
);
)sql"},
};

Status check_and_apply(Conn& conn, const std::string& schema, std::int64_t now_ms) {
  const std::string q = quote_identifier(schema);
  {
    Params p;
    p.text("babysea.migrate." + schema);
    BABYSEA_RETURN_IF_ERROR(conn.exec("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", p).status());
  }
  BABYSEA_RETURN_IF_ERROR(conn.exec_simple("CREATE SCHEMA IF NOT EXISTS " + q));
  BABYSEA_RETURN_IF_ERROR(conn.exec_simple("CREATE TABLE IF NOT EXISTS " + q +
                                           ".schema_migrations(version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
                                           "applied_ms BIGINT NOT NULL)"));
  BABYSEA_ASSIGN_OR_RETURN(Rows rows,
                           conn.exec(("SELECT version, name FROM " + q + ".schema_migrations ORDER BY version").c_str()));
  auto known = migrations();
  int expected = 1;
  for (int i = 0; i < rows.size(); ++i) {
    const int version = static_cast<int>(rows.i64(i, 0));
    const std::string name = rows.text(i, 1);
    if (version != expected)
      return Status(Code::corruption, "schema_migrations has a gap before version " + std::to_string(version));
    if (version > static_cast<int>(known.size()))
      return Status(Code::corruption, "database schema version " + std::to_string(version) +
                                          " is newer than this library knows (" + std::to_string(known.size()) + ")");
    if (name != known[static_cast<std::size_t>(version - 1)].name)
      return Status(Code::corruption, "schema migration " + std::to_string(version) + " is '" + name +
                                          "', expected '" + known[static_cast<std::size_t>(version - 1)].name + "'");
    ++expected;
  }
  for (std::size_t i = static_cast<std::size_t>(expected - 1); i < known.size(); ++i) {
    const Migration& m = known[i];
    Status s = conn.exec_simple(m.sql);
    if (s.ok()) {
      Params p;
      p.i64(m.version).text(m.name).i64(now_ms);
      s = conn.exec(("INSERT INTO " + q + ".schema_migrations(version, name, applied_ms) VALUES($1, $2, $3)").c_str(), p)
              .status();
    }
    if (!s.ok())
      return Status(s.code(), "migration " + std::to_string(m.version) + " (" + m.name + "): " +
                                  std::string(s.message()));
  }
  return {};
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

Status migrate(Conn& conn, const std::string& schema, std::int64_t now_ms) {
  BABYSEA_RETURN_IF_ERROR(conn.exec_simple("BEGIN"));
  Status s = check_and_apply(conn, schema, now_ms);
  if (s.ok()) s = conn.exec_simple("COMMIT");
  if (!s.ok()) (void)conn.exec_simple("ROLLBACK");
  conn.reset_flags();
  return s;
}

}  // namespace babysea::pg
