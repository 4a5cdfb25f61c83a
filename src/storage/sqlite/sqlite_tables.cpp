#include "storage/sqlite/sqlite_tables.hpp"

#include <charconv>

namespace babysea::sqlite {
namespace {

Status not_found(std::string_view what, std::string_view id) {
  return Status(Code::not_found, std::string(what) + " '" + std::string(id) + "' not found");
}

#define BABYSEA_Q(var, sql) BABYSEA_ASSIGN_OR_RETURN(Query var, db_.query(sql))


void read_account(const Query& q, AccountRow& a) {
  a.id = q.text(0);
  a.kind = static_cast<AccountKind>(q.int64(1));
  a.posted_debits = q.int64(2);
  a.posted_credits = q.int64(3);
  a.pending_debits = q.int64(4);
  a.pending_credits = q.int64(5);
  a.thresholds = decode_thresholds(q.text_view(6));
  a.created_ms = q.int64(7);
}

void read_entry(const Query& q, EntryRow& e) {
  e.seq = q.int64(0);
  e.kind = static_cast<EntryKind>(q.int64(1));
  e.debit_account = q.text(2);
  e.credit_account = q.text(3);
  e.amount = q.int64(4);
  e.pending_delta = q.int64(5);
  e.hold_id = q.text(6);
  e.idem_key = q.text(7);
  e.ref = q.text(8);
  e.created_ms = q.int64(9);
}
#define ENTRY_COLS \
  "seq, kind, debit_account, credit_account, amount, pending_delta, hold_id, idem_key, ref, created_ms"

void read_hold(const Query& q, HoldRow& h) {
  h.id = q.text(0);
  h.key = q.text(1);
  h.account = q.text(2);
  h.amount = q.int64(3);
  h.state = static_cast<HoldState>(q.int64(4));
  h.settled_amount = q.int64(5);
  h.deadline_ms = q.int64(6);
  h.created_ms = q.int64(7);
  h.resolved_ms = q.int64(8);
  h.ref = q.text(9);
}
#define HOLD_COLS "id, key, account, amount, state, settled_amount, deadline_ms, created_ms, resolved_ms, ref"

void read_outbox(const Query& q, OutboxRow& r) {
  r.seq = q.int64(0);
  r.id = q.text(1);
  r.topic = q.text(2);
  r.account = q.text(3);
  r.payload = q.text(4);
  r.state = static_cast<OutboxState>(q.int64(5));
  r.attempts = static_cast<int>(q.int64(6));
  r.next_attempt_ms = q.int64(7);
  r.created_ms = q.int64(8);
}
#define OUTBOX_COLS "seq, id, topic, account, payload, state, attempts, next_attempt_ms, created_ms"

}  // namespace

std::string encode_thresholds(const std::vector<BalanceThreshold>& t) {
  std::string out;
  for (const auto& x : t) {
    if (!out.empty()) out += ';';
    out += std::to_string(x.threshold);
    out += x.armed ? ":1" : ":0";
  }
  return out;
}

std::vector<BalanceThreshold> decode_thresholds(std::string_view text) {
  std::vector<BalanceThreshold> out;
  while (!text.empty()) {
    auto end = text.find(';');
    std::string_view item = text.substr(0, end);
    auto colon = item.find(':');
    BalanceThreshold t;
    std::from_chars(item.data(), item.data() + (colon == std::string_view::npos ? item.size() : colon), t.threshold);
    t.armed = colon != std::string_view::npos && item.substr(colon + 1) == "1";
    out.push_back(t);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

Status SqliteUnit::writable() const {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  return {};
}

// ------------------------------------------------------------------ ledger

Status SqliteUnit::get_account(std::string_view id, AccountRow& out) {
  BABYSEA_Q(q, "SELECT id, kind, posted_debits, posted_credits, pending_debits, pending_credits, "
               "thresholds, created_ms FROM accounts WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("account", id);
  read_account(q, out);
  return {};
}

Status SqliteUnit::insert_account(const AccountRow& a) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO accounts(id, kind, posted_debits, posted_credits, pending_debits, "
               "pending_credits, thresholds, created_ms) VALUES(?,?,?,?,?,?,?,?)");
  std::string thresholds = encode_thresholds(a.thresholds);
  q.bind(1, a.id).bind(2, static_cast<int>(a.kind)).bind(3, a.posted_debits).bind(4, a.posted_credits)
      .bind(5, a.pending_debits).bind(6, a.pending_credits).bind(7, thresholds).bind(8, a.created_ms);
  return q.run();
}

Status SqliteUnit::add_to_account(std::string_view id, Micros pd, Micros pc, Micros qd, Micros qc) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE accounts SET posted_debits = posted_debits + ?, posted_credits = posted_credits + ?, "
               "pending_debits = pending_debits + ?, pending_credits = pending_credits + ? WHERE id = ?");
  q.bind(1, pd).bind(2, pc).bind(3, qd).bind(4, qc).bind(5, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("account", id);
  return {};
}

Status SqliteUnit::set_thresholds(std::string_view id, const std::vector<BalanceThreshold>& t) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE accounts SET thresholds = ? WHERE id = ?");
  std::string text = encode_thresholds(t);
  q.bind(1, text).bind(2, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("account", id);
  return {};
}

Status SqliteUnit::for_each_account(const std::function<void(const AccountRow&)>& fn) {
  BABYSEA_Q(q, "SELECT id, kind, posted_debits, posted_credits, pending_debits, pending_credits, "
               "thresholds, created_ms FROM accounts ORDER BY id");
  AccountRow a;
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_account(q, a);
    fn(a);
  }
}

Status SqliteUnit::insert_entry(EntryRow& e) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO entries(kind, debit_account, credit_account, amount, pending_delta, "
               "hold_id, idem_key, ref, created_ms) VALUES(?,?,?,?,?,?,?,?,?)");
  q.bind(1, static_cast<int>(e.kind)).bind(2, e.debit_account).bind(3, e.credit_account)
      .bind(4, e.amount).bind(5, e.pending_delta).bind_or_null(6, e.hold_id)
      .bind_or_null(7, e.idem_key).bind_or_null(8, e.ref).bind(9, e.created_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  e.seq = db_.last_rowid();
  return {};
}

Status SqliteUnit::find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) {
  BABYSEA_Q(q, "SELECT " ENTRY_COLS " FROM entries WHERE kind = ? AND idem_key = ?");
  q.bind(1, static_cast<int>(kind)).bind(2, idem_key);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("entry", idem_key);
  read_entry(q, out);
  return {};
}

Status SqliteUnit::for_each_entry(const std::function<void(const EntryRow&)>& fn) {
  BABYSEA_Q(q, "SELECT " ENTRY_COLS " FROM entries ORDER BY seq");
  EntryRow e;
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_entry(q, e);
    fn(e);
  }
}

Status SqliteUnit::journal_totals(std::vector<JournalTotals>& out) {
  BABYSEA_Q(q, "SELECT account, SUM(pd), SUM(pc), SUM(qd), SUM(qc) FROM ("
               " SELECT debit_account AS account, amount AS pd, 0 AS pc, pending_delta AS qd, 0 AS qc FROM entries"
               " UNION ALL"
               " SELECT credit_account, 0, amount, 0, pending_delta FROM entries"
               ") GROUP BY account ORDER BY account");
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back({q.text(0), q.int64(1), q.int64(2), q.int64(3), q.int64(4)});
  }
}

Status SqliteUnit::insert_hold(const HoldRow& h) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO holds(" HOLD_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, h.id).bind(2, h.key).bind(3, h.account).bind(4, h.amount).bind(5, static_cast<int>(h.state))
      .bind(6, h.settled_amount).bind(7, h.deadline_ms).bind(8, h.created_ms).bind(9, h.resolved_ms)
      .bind_or_null(10, h.ref);
  return q.run();
}

Status SqliteUnit::get_hold(std::string_view id, HoldRow& out) {
  BABYSEA_Q(q, "SELECT " HOLD_COLS " FROM holds WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("hold", id);
  read_hold(q, out);
  return {};
}

Status SqliteUnit::find_hold_by_key(std::string_view key, HoldRow& out) {
  BABYSEA_Q(q, "SELECT " HOLD_COLS " FROM holds WHERE key = ?");
  q.bind(1, key);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("hold key", key);
  read_hold(q, out);
  return {};
}

Status SqliteUnit::resolve_hold(std::string_view id, HoldState state, Micros settled_amount,
                                std::int64_t resolved_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE holds SET state = ?, settled_amount = ?, resolved_ms = ? WHERE id = ? AND state = 0");
  q.bind(1, static_cast<int>(state)).bind(2, settled_amount).bind(3, resolved_ms).bind(4, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() == 1) return {};
  HoldRow h;
  BABYSEA_RETURN_IF_ERROR(get_hold(id, h));
  return Status(Code::invalid_state, "hold already resolved");
}

Status SqliteUnit::due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) {
  BABYSEA_Q(q, "SELECT " HOLD_COLS " FROM holds WHERE state = 0 AND deadline_ms <= ? ORDER BY deadline_ms LIMIT ?");
  q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_hold(q, out.emplace_back());
  }
}

Status SqliteUnit::for_each_hold(const std::function<void(const HoldRow&)>& fn) {
  BABYSEA_Q(q, "SELECT " HOLD_COLS " FROM holds");
  HoldRow h;
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_hold(q, h);
    fn(h);
  }
}

Status SqliteUnit::insert_payment(const PaymentRow& p) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO payments(id, account, credits, amount_cents, clawed_back, created_ms) VALUES(?,?,?,?,?,?)");
  q.bind(1, p.id).bind(2, p.account).bind(3, p.credits).bind(4, p.amount_cents).bind(5, p.clawed_back)
      .bind(6, p.created_ms);
  return q.run();
}

Status SqliteUnit::get_payment(std::string_view id, PaymentRow& out) {
  BABYSEA_Q(q, "SELECT id, account, credits, amount_cents, clawed_back, created_ms FROM payments WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("payment", id);
  out = {q.text(0), q.text(1), q.int64(2), q.int64(3), q.int64(4), q.int64(5)};
  return {};
}

Status SqliteUnit::add_payment_clawed_back(std::string_view id, Micros delta) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE payments SET clawed_back = clawed_back + ? WHERE id = ?");
  q.bind(1, delta).bind(2, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("payment", id);
  return {};
}

Status SqliteUnit::insert_clawback(const ClawbackRow& c) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO clawbacks(key, account, requested, applied, shortfall, ref, created_ms) VALUES(?,?,?,?,?,?,?)");
  q.bind(1, c.key).bind(2, c.account).bind(3, c.requested).bind(4, c.applied).bind(5, c.shortfall)
      .bind_or_null(6, c.ref).bind(7, c.created_ms);
  return q.run();
}

Status SqliteUnit::find_clawback(std::string_view key, ClawbackRow& out) {
  BABYSEA_Q(q, "SELECT key, account, requested, applied, shortfall, ref, created_ms FROM clawbacks WHERE key = ?");
  q.bind(1, key);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("clawback", key);
  out = {q.text(0), q.text(1), q.int64(2), q.int64(3), q.int64(4), q.text(5), q.int64(6)};
  return {};
}

// -------------------------------------------------------------------- seen

Result<bool> SqliteUnit::insert_if_absent(std::string_view source, std::string_view id, std::int64_t now_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO seen_messages(source, id, seen_ms) VALUES(?,?,?) ON CONFLICT DO NOTHING");
  q.bind(1, source).bind(2, id).bind(3, now_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return db_.changes() == 1;
}

Result<bool> SqliteUnit::contains(std::string_view source, std::string_view id) {
  BABYSEA_Q(q, "SELECT 1 FROM seen_messages WHERE source = ? AND id = ?");
  q.bind(1, source).bind(2, id);
  return q.step();
}

// ------------------------------------------------------------------ outbox

Status SqliteUnit::append(OutboxRow& r) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO outbox(id, topic, account, payload, state, attempts, next_attempt_ms, created_ms) "
               "VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, r.id).bind(2, r.topic).bind(3, r.account).bind(4, r.payload).bind(5, static_cast<int>(r.state))
      .bind(6, r.attempts).bind(7, r.next_attempt_ms).bind(8, r.created_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  r.seq = db_.last_rowid();
  return {};
}

Status SqliteUnit::due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) {
  BABYSEA_Q(q, "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 0 AND next_attempt_ms <= ? ORDER BY seq LIMIT ?");
  q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_outbox(q, out.emplace_back());
  }
}

Status SqliteUnit::count_pending(std::int64_t& out) {
  BABYSEA_Q(q, "SELECT COUNT(*) FROM outbox WHERE state = 0");  // the outbox_due index holds exactly these
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  out = row ? q.int64(0) : 0;
  return {};
}

Status SqliteUnit::list(std::int64_t after_seq, std::size_t limit, std::vector<OutboxRow>& out) {
  BABYSEA_Q(q, "SELECT " OUTBOX_COLS " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
  q.bind(1, after_seq).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_outbox(q, out.emplace_back());
  }
}

Status SqliteUnit::update(std::int64_t seq, OutboxState state, int attempts, std::int64_t next_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE outbox SET state = ?, attempts = ?, next_attempt_ms = ? WHERE seq = ?");
  q.bind(1, static_cast<int>(state)).bind(2, attempts).bind(3, next_ms).bind(4, seq);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("outbox row", std::to_string(seq));
  return {};
}

// ----------------------------------------------------------- attempt stats

Result<bool> SqliteUnit::record(const AttemptStatRow& r) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO attempt_stats(attempt_id, region, model, provider, outcome, error_class, "
               "latency_ms, cost, finished_ms) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING");
  q.bind(1, r.attempt_id).bind(2, r.region).bind(3, r.model).bind(4, r.provider).bind(5, r.outcome)
      .bind(6, r.error_class).bind(7, r.latency_ms).bind(8, r.cost).bind(9, r.finished_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return db_.changes() == 1;
}

Status SqliteUnit::since(std::int64_t since_ms, std::size_t limit, std::vector<AttemptStatRow>& out) {
  BABYSEA_Q(q, "SELECT attempt_id, region, model, provider, outcome, error_class, latency_ms, cost, finished_ms "
               "FROM attempt_stats WHERE finished_ms >= ? ORDER BY finished_ms, attempt_id LIMIT ?");
  q.bind(1, since_ms).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), q.int64(6), q.int64(7),
                   q.int64(8)});
  }
}

Result<std::size_t> SqliteUnit::prune(std::int64_t before_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "DELETE FROM attempt_stats WHERE finished_ms < ?");
  q.bind(1, before_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return static_cast<std::size_t>(db_.changes());
}

// ---------------------------------------------------------------- api keys

namespace {
#define API_KEY_COLS \
  "id, account, secret_hash, scopes, region, name, created_ms, expires_ms, last_used_ms, revoked_ms"
void read_api_key(const Query& q, ApiKeyRow& k) {
  k = {q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5),
       q.int64(6), q.int64(7), q.int64(8), q.int64(9)};
}
}  // namespace

Status SqliteApiKeys::insert(const ApiKeyRow& k) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "INSERT INTO api_keys(" API_KEY_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, k.id).bind(2, k.account).bind(3, k.secret_hash).bind(4, k.scopes).bind(5, k.region).bind(6, k.name)
      .bind(7, k.created_ms).bind(8, k.expires_ms).bind(9, k.last_used_ms).bind(10, k.revoked_ms);
  return q.run();
}

Status SqliteApiKeys::get(std::string_view id, ApiKeyRow& out) {
  BABYSEA_Q(q, "SELECT " API_KEY_COLS " FROM api_keys WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("api key", id);
  read_api_key(q, out);
  return {};
}

Status SqliteApiKeys::list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) {
  BABYSEA_Q(q, "SELECT " API_KEY_COLS " FROM api_keys WHERE account = ? ORDER BY created_ms, id");
  q.bind(1, account);
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_api_key(q, out.emplace_back());
  }
}

Status SqliteApiKeys::touch(std::string_view id, std::int64_t last_used_ms) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "UPDATE api_keys SET last_used_ms = ? WHERE id = ?");
  q.bind(1, last_used_ms).bind(2, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("api key", id);
  return {};
}

Status SqliteApiKeys::revoke(std::string_view id, std::int64_t revoked_ms) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms = 0");
  q.bind(1, revoked_ms).bind(2, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() == 1) return {};
  ApiKeyRow k;
  return get(id, k);  // already revoked: OK; absent: not_found
}

// ------------------------------------------------------- webhook endpoints

namespace {
#define WEBHOOK_ENDPOINT_COLS \
  "id, account, url, secret, previous_secret, signing, events, enabled, disabled_reason, created_ms, updated_ms"
void read_webhook_endpoint(const Query& q, WebhookEndpointRow& e) {
  e.id = q.text(0);
  e.account = q.text(1);
  e.url = q.text(2);
  e.secret = q.text(3);
  e.previous_secret = q.text(4);
  e.signing = static_cast<WebhookSigning>(q.int64(5));
  e.events = q.text(6);
  e.enabled = q.int64(7) != 0;
  e.disabled_reason = q.text(8);
  e.created_ms = q.int64(9);
  e.updated_ms = q.int64(10);
}

#define WEBHOOK_DELIVERY_COLS                                                                      \
  "id, event_id, endpoint_id, account, event, subject, data, event_ms, state, attempts, next_attempt_ms, " \
  "last_status, last_error, created_ms, updated_ms"
void read_webhook_delivery(const Query& q, WebhookDeliveryRow& d) {
  d.id = q.text(0);
  d.event_id = q.text(1);
  d.endpoint_id = q.text(2);
  d.account = q.text(3);
  d.event = q.text(4);
  d.subject = q.text(5);
  d.data = q.text(6);
  d.event_ms = q.int64(7);
  d.state = static_cast<DeliveryState>(q.int64(8));
  d.attempts = static_cast<int>(q.int64(9));
  d.next_attempt_ms = q.int64(10);
  d.last_status = static_cast<int>(q.int64(11));
  d.last_error = q.text(12);
  d.created_ms = q.int64(13);
  d.updated_ms = q.int64(14);
}
}  // namespace

Status SqliteWebhookEndpoints::insert(const WebhookEndpointRow& e) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "INSERT INTO webhook_endpoints(" WEBHOOK_ENDPOINT_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, e.id).bind(2, e.account).bind(3, e.url).bind(4, e.secret).bind(5, e.previous_secret)
      .bind(6, static_cast<int>(e.signing)).bind(7, e.events).bind(8, e.enabled ? 1 : 0).bind(9, e.disabled_reason)
      .bind(10, e.created_ms).bind(11, e.updated_ms);
  return q.run();
}

Status SqliteWebhookEndpoints::get(std::string_view id, WebhookEndpointRow& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_ENDPOINT_COLS " FROM webhook_endpoints WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("webhook endpoint", id);
  read_webhook_endpoint(q, out);
  return {};
}

Status SqliteWebhookEndpoints::list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_ENDPOINT_COLS " FROM webhook_endpoints WHERE account = ? ORDER BY created_ms, id");
  q.bind(1, account);
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_webhook_endpoint(q, out.emplace_back());
  }
}

Status SqliteWebhookEndpoints::update(const WebhookEndpointRow& e) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "UPDATE webhook_endpoints SET url = ?, secret = ?, previous_secret = ?, signing = ?, events = ?, "
               "enabled = ?, disabled_reason = ?, updated_ms = ? WHERE id = ?");
  q.bind(1, e.url).bind(2, e.secret).bind(3, e.previous_secret).bind(4, static_cast<int>(e.signing))
      .bind(5, e.events).bind(6, e.enabled ? 1 : 0).bind(7, e.disabled_reason).bind(8, e.updated_ms).bind(9, e.id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("webhook endpoint", e.id);
  return {};
}

// ------------------------------------------------------ webhook deliveries

Status SqliteWebhookDeliveries::insert(const WebhookDeliveryRow& d) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "INSERT INTO webhook_deliveries(" WEBHOOK_DELIVERY_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, d.id).bind(2, d.event_id).bind(3, d.endpoint_id).bind(4, d.account).bind(5, d.event)
      .bind(6, d.subject).bind(7, d.data).bind(8, d.event_ms).bind(9, static_cast<int>(d.state))
      .bind(10, d.attempts).bind(11, d.next_attempt_ms).bind(12, d.last_status).bind(13, d.last_error)
      .bind(14, d.created_ms).bind(15, d.updated_ms);
  return q.run();
}

Status SqliteWebhookDeliveries::get(std::string_view id, WebhookDeliveryRow& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return not_found("webhook delivery", id);
  read_webhook_delivery(q, out);
  return {};
}

Status SqliteWebhookDeliveries::due(std::int64_t now_ms, std::size_t limit, std::vector<WebhookDeliveryRow>& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE state = 0 AND next_attempt_ms <= ? "
               "ORDER BY next_attempt_ms, id LIMIT ?");
  q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_webhook_delivery(q, out.emplace_back());
  }
}

// SQLite has one writer at a time: the rows read here stay this unit's
// until it commits, so reading them and moving them is a claim.
Status SqliteWebhookDeliveries::claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                                          std::vector<WebhookDeliveryRow>& out) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_RETURN_IF_ERROR(due(now_ms, limit, out));
  for (const auto& d : out) {
    BABYSEA_Q(q, "UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE id = ?");
    q.bind(1, lease_until_ms).bind(2, d.id);
    BABYSEA_RETURN_IF_ERROR(q.run());
  }
  return {};
}

Status SqliteWebhookDeliveries::list_for_endpoint(std::string_view endpoint_id, std::size_t limit,
                                                  std::vector<WebhookDeliveryRow>& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE endpoint_id = ? ORDER BY id LIMIT ?");
  q.bind(1, endpoint_id).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_webhook_delivery(q, out.emplace_back());
  }
}

Status SqliteWebhookDeliveries::list_for_subject(std::string_view endpoint_id, std::string_view subject,
                                                 std::vector<WebhookDeliveryRow>& out) {
  BABYSEA_Q(q, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE endpoint_id = ? AND subject = ? "
               "ORDER BY id");
  q.bind(1, endpoint_id).bind(2, subject);
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_webhook_delivery(q, out.emplace_back());
  }
}

Status SqliteWebhookDeliveries::update(const WebhookDeliveryRow& d) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_ms = ?, last_status = ?, "
               "last_error = ?, updated_ms = ? WHERE id = ?");
  q.bind(1, static_cast<int>(d.state)).bind(2, d.attempts).bind(3, d.next_attempt_ms).bind(4, d.last_status)
      .bind(5, d.last_error).bind(6, d.updated_ms).bind(7, d.id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("webhook delivery", d.id);
  return {};
}

// ------------------------------------------------------------- request log

Status SqliteRequestLog::append(const std::vector<RequestLogRow>& rows) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  for (const auto& r : rows) {
    BABYSEA_Q(q, "INSERT INTO request_log(time_ms, account, key_id, method, route, status, error_code, latency_us) "
                 "VALUES(?,?,?,?,?,?,?,?)");
    q.bind(1, r.time_ms).bind(2, r.account).bind(3, r.key_id).bind(4, r.method).bind(5, r.route).bind(6, r.status)
        .bind(7, r.error_code).bind(8, r.latency_us);
    BABYSEA_RETURN_IF_ERROR(q.run());
  }
  return {};
}

Result<std::size_t> SqliteRequestLog::prune(std::int64_t before_ms) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "DELETE FROM request_log WHERE time_ms < ?");  // the request_log_time index
  q.bind(1, before_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return static_cast<std::size_t>(db_.changes());
}

Status SqliteRequestLog::summarize(std::string_view account, std::int64_t since_ms,
                                   std::vector<RouteRequestCounts>& out) {
  BABYSEA_Q(q, "SELECT route, status / 100, error_code, COUNT(*) FROM request_log "
               "WHERE account = ? AND time_ms >= ? GROUP BY 1, 2, 3");  // the request_log_account_time index
  q.bind(1, account).bind(2, since_ms);
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    add_request_counts(out, q.text_view(0), static_cast<int>(q.int64(1)), q.text_view(2), q.int64(3));
  }
}

Status SqliteRequestLog::list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                                          std::vector<RequestLogRow>& out) {
  BABYSEA_Q(q, "SELECT time_ms, account, key_id, method, route, status, error_code, latency_us FROM request_log "
               "WHERE account = ? AND time_ms >= ? ORDER BY time_ms, seq LIMIT ?");
  q.bind(1, account).bind(2, since_ms).bind(3, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), static_cast<int>(q.int64(5)), q.text(6),
                   q.int64(7)});
  }
}

// --------------------------------------------------------------- instances

Status SqliteInstances::upsert(const InstanceRow& r) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "INSERT OR REPLACE INTO instances(id, started_ms, heartbeat_ms, info) VALUES(?,?,?,?)");
  q.bind(1, r.id).bind(2, r.started_ms).bind(3, r.heartbeat_ms).bind(4, r.info);
  return q.run();
}

Status SqliteInstances::heartbeat(std::string_view id, std::int64_t now_ms) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "UPDATE instances SET heartbeat_ms = ? WHERE id = ?");
  q.bind(1, now_ms).bind(2, id);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() != 1) return not_found("instance", id);
  return {};
}

Status SqliteInstances::list(std::vector<InstanceRow>& out) {
  BABYSEA_Q(q, "SELECT id, started_ms, heartbeat_ms, info FROM instances ORDER BY id");
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back({q.text(0), q.int64(1), q.int64(2), q.text(3)});
  }
}

Result<bool> SqliteInstances::remove_if_stale(std::string_view id, std::int64_t before_ms) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "DELETE FROM instances WHERE id = ? AND heartbeat_ms < ?");
  q.bind(1, id).bind(2, before_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return db_.changes() == 1;
}

Status SqliteInstances::remove(std::string_view id) {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  BABYSEA_Q(q, "DELETE FROM instances WHERE id = ?");
  q.bind(1, id);
  return q.run();
}

}  // namespace babysea::sqlite
