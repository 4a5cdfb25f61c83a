#include "storage/postgres/pg_tables.hpp"

#include <algorithm>

#include "storage/sqlite/sqlite_tables.hpp"  // encode_thresholds / decode_thresholds (shared text format)

#define PG_EXEC(var, sql, params) BABYSEA_ASSIGN_OR_RETURN(Rows var, conn_.exec(sql, params))
#define PG_RUN(sql, params) BABYSEA_RETURN_IF_ERROR(conn_.exec(sql, params).status())

namespace babysea::pg {
namespace {

using sqlite::decode_thresholds;
using sqlite::encode_thresholds;

Status not_found(std::string_view what, std::string_view id) {
  return Status(Code::not_found, std::string(what) + " '" + std::string(id) + "' not found");
}

Status read_only_write() { return Status(Code::internal, "write inside a read-only unit"); }

// An INSERT ... ON CONFLICT DO NOTHING that inserted nothing.
Status conflict(Conn& conn, std::string_view what, std::string_view id) {
  conn.note_unique_conflict();
  return Status(Code::idempotency_conflict, std::string(what) + " '" + std::string(id) + "' already exists");
}

std::int64_t lim(std::size_t limit) {
  return limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(limit);
}

#define ACCOUNT_COLS \
  "id, kind, posted_debits, posted_credits, pending_debits, pending_credits, thresholds, created_ms"
void read_account(const Rows& r, int i, AccountRow& a) {
  a.id = r.text(i, 0);
  a.kind = static_cast<AccountKind>(r.i64(i, 1));
  a.posted_debits = r.i64(i, 2);
  a.posted_credits = r.i64(i, 3);
  a.pending_debits = r.i64(i, 4);
  a.pending_credits = r.i64(i, 5);
  a.thresholds = decode_thresholds(r.text_view(i, 6));
  a.created_ms = r.i64(i, 7);
}

#define ENTRY_COLS \
  "seq, kind, debit_account, credit_account, amount, pending_delta, hold_id, idem_key, ref, created_ms"
void read_entry(const Rows& r, int i, EntryRow& e) {
  e.seq = r.i64(i, 0);
  e.kind = static_cast<EntryKind>(r.i64(i, 1));
  e.debit_account = r.text(i, 2);
  e.credit_account = r.text(i, 3);
  e.amount = r.i64(i, 4);
  e.pending_delta = r.i64(i, 5);
  e.hold_id = r.text(i, 6);
  e.idem_key = r.text(i, 7);
  e.ref = r.text(i, 8);
  e.created_ms = r.i64(i, 9);
}

#define HOLD_COLS "id, key, account, amount, state, settled_amount, deadline_ms, created_ms, resolved_ms, ref"
void read_hold(const Rows& r, int i, HoldRow& h) {
  h.id = r.text(i, 0);
  h.key = r.text(i, 1);
  h.account = r.text(i, 2);
  h.amount = r.i64(i, 3);
  h.state = static_cast<HoldState>(r.i64(i, 4));
  h.settled_amount = r.i64(i, 5);
  h.deadline_ms = r.i64(i, 6);
  h.created_ms = r.i64(i, 7);
  h.resolved_ms = r.i64(i, 8);
  h.ref = r.text(i, 9);
}

#define OUTBOX_COLS "seq, id, topic, account, payload, state, attempts, next_attempt_ms, created_ms"
void read_outbox(const Rows& r, int i, OutboxRow& o) {
  o.seq = r.i64(i, 0);
  o.id = r.text(i, 1);
  o.topic = r.text(i, 2);
  o.account = r.text(i, 3);
  o.payload = r.text(i, 4);
  o.state = static_cast<OutboxState>(r.i64(i, 5));
  o.attempts = static_cast<int>(r.i64(i, 6));
  o.next_attempt_ms = r.i64(i, 7);
  o.created_ms = r.i64(i, 8);
}

}  // namespace

Status PgUnit::writable() const { return read_only_ ? read_only_write() : Status(); }

// ------------------------------------------------------------------ ledger

namespace {

bool add_delta(AccountRow& a, const AccountDelta& d) {
  return !__builtin_add_overflow(a.posted_debits, d.posted_debits, &a.posted_debits) &&
         !__builtin_add_overflow(a.posted_credits, d.posted_credits, &a.posted_credits) &&
         !__builtin_add_overflow(a.pending_debits, d.pending_debits, &a.pending_debits) &&
         !__builtin_add_overflow(a.pending_credits, d.pending_credits, &a.pending_credits);
}

void add_delta(AccountDelta& a, const AccountDelta& d) {
  // Overflow wraps here and is refused by the server (bigint) at the flush.
  a.posted_debits = static_cast<Micros>(static_cast<std::uint64_t>(a.posted_debits) +
                                        static_cast<std::uint64_t>(d.posted_debits));
  a.posted_credits = static_cast<Micros>(static_cast<std::uint64_t>(a.posted_credits) +
                                         static_cast<std::uint64_t>(d.posted_credits));
  a.pending_debits = static_cast<Micros>(static_cast<std::uint64_t>(a.pending_debits) +
                                         static_cast<std::uint64_t>(d.pending_debits));
  a.pending_credits = static_cast<Micros>(static_cast<std::uint64_t>(a.pending_credits) +
                                          static_cast<std::uint64_t>(d.pending_credits));
}

constexpr const char* kAddToAccount =
    "UPDATE accounts SET posted_debits = posted_debits + $1, posted_credits = posted_credits + $2, "
    "pending_debits = pending_debits + $3, pending_credits = pending_credits + $4 WHERE id = $5";
// The same at the COMMIT of an optimistic batch, whose reads took no lock
// (see get_account): a customer account must not end below zero available
// (credits - debits - pending debits), which the ledger checked on the row
// as it read it; this checks it again on the row as it is now, so a decision
// made on a row another process changed since does not land. A miss fails
// the batch, which runs again in safe mode, on locked rows.
constexpr const char* kAddToAccountChecked =
    "UPDATE accounts SET posted_debits = posted_debits + $1, posted_credits = posted_credits + $2, "
    "pending_debits = pending_debits + $3, pending_credits = pending_credits + $4 WHERE id = $5 "
    "AND (kind <> 0 OR posted_credits + $2 - posted_debits - $1 - pending_debits - $3 >= 0)";

void defer_add(Conn& conn, std::string_view id, const AccountDelta& d, bool checked = false) {
  Params p;
  p.i64(d.posted_debits).i64(d.posted_credits).i64(d.pending_debits).i64(d.pending_credits).text(id);
  conn.defer(checked ? kAddToAccountChecked : kAddToAccount, std::move(p), not_found("account", id));
}

}  // namespace

void TxnState::unit_succeeded() {
  for (auto& [id, d] : unit_deltas) add_delta(txn_deltas[id], d);
  unit_deltas.clear();
}

AccountDelta TxnState::held(std::string_view id) const {
  AccountDelta out;
  if (auto it = txn_deltas.find(id); it != txn_deltas.end()) add_delta(out, it->second);
  if (auto it = unit_deltas.find(id); it != unit_deltas.end()) add_delta(out, it->second);
  return out;
}

void flush_deltas(Conn& conn, TxnState& txn) {
  txn.unit_succeeded();
  for (const auto& [id, d] : txn.txn_deltas) defer_add(conn, id, d, /*checked=*/true);
  txn.txn_deltas.clear();
}

Status PgUnit::get_account(std::string_view id, AccountRow& out) {
  if (txn_ != nullptr) {
    if (auto it = txn_->locked.find(std::string(id)); it != txn_->locked.end()) {
      out = it->second;
      return {};
    }
  }
  Params p;
  p.text(id);
  // A writing unit locks the row until it commits (storage.hpp: several
  // writers), except in an optimistic batch: there the row is read without
  // a lock and the balance is checked again by the update at COMMIT (see
  // kAddToAccount). Locks taken in arrival order by batches of several
  // processes deadlock; the deltas' updates run in id order and do not.
  const bool lock = !read_only_ && (txn_ == nullptr || !txn_->hold_deltas);
  PG_EXEC(r, lock ? "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1 FOR UPDATE"
                  : "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = $1",
          p);
  if (r.size() == 0) return not_found("account", id);
  read_account(r, 0, out);
  if (txn_ != nullptr) {
    // The stored row, plus what this transaction holds back for it.
    if (!add_delta(out, txn_->held(id))) return Status(Code::storage_error, "account counters out of range");
    txn_->locked.insert_or_assign(out.id, out);
  }
  return {};
}

Status PgUnit::insert_account(const AccountRow& a) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(a.id).i64(static_cast<int>(a.kind)).i64(a.posted_debits).i64(a.posted_credits).i64(a.pending_debits)
      .i64(a.pending_credits).text(encode_thresholds(a.thresholds)).i64(a.created_ms);
  PG_EXEC(r, "INSERT INTO accounts(" ACCOUNT_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING", p);
  if (r.affected() != 1) return conflict(conn_, "account", a.id);
  return {};
}

Status PgUnit::add_to_account(std::string_view id, Micros pd, Micros pc, Micros qd, Micros qc) {
  BABYSEA_RETURN_IF_ERROR(writable());
  const AccountDelta d{pd, pc, qd, qc};
  if (txn_ != nullptr) {
    if (auto it = txn_->locked.find(std::string(id)); it != txn_->locked.end() && !add_delta(it->second, d)) {
      txn_->locked.erase(it);  // the server refuses the update (bigint range): the unit fails
    }
    if (txn_->hold_deltas) {
      add_delta(txn_->unit_deltas[std::string(id)], d);
      return {};
    }
  }
  defer_add(conn_, id, d);
  return {};
}

Status PgUnit::set_thresholds(std::string_view id, const std::vector<BalanceThreshold>& t) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(encode_thresholds(t)).text(id);
  if (txn_ != nullptr) {
    if (auto it = txn_->locked.find(std::string(id)); it != txn_->locked.end()) it->second.thresholds = t;
  }
  conn_.defer("UPDATE accounts SET thresholds = $1 WHERE id = $2", std::move(p), not_found("account", id));
  return {};
}

Status PgUnit::for_each_account(const std::function<void(const AccountRow&)>& fn) {
  if (txn_ != nullptr) flush_deltas(conn_, *txn_);  // the rows as this transaction sees them
  PG_EXEC(r, "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY id", Params());
  AccountRow a;
  for (int i = 0; i < r.size(); ++i) {
    read_account(r, i, a);
    fn(a);
  }
  return {};
}

Status PgUnit::insert_entry(EntryRow& e) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(static_cast<int>(e.kind)).text(e.debit_account).text(e.credit_account).i64(e.amount).i64(e.pending_delta)
      .text_or_null(e.hold_id).text_or_null(e.idem_key).text_or_null(e.ref).i64(e.created_ms);
  PG_EXEC(r, "INSERT INTO entries(kind, debit_account, credit_account, amount, pending_delta, hold_id, idem_key, "
             "ref, created_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING RETURNING seq",
          p);
  if (r.size() != 1) return conflict(conn_, "entry", e.idem_key);
  e.seq = r.i64(0, 0);
  return {};
}

Status PgUnit::append_entry(const EntryRow& e) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(static_cast<int>(e.kind)).text(e.debit_account).text(e.credit_account).i64(e.amount).i64(e.pending_delta)
      .text_or_null(e.hold_id).text_or_null(e.idem_key).text_or_null(e.ref).i64(e.created_ms);
  conn_.defer("INSERT INTO entries(kind, debit_account, credit_account, amount, pending_delta, hold_id, idem_key, "
              "ref, created_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)",
              std::move(p));
  return {};
}

Status PgUnit::find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) {
  Params p;
  p.i64(static_cast<int>(kind)).text(idem_key);
  PG_EXEC(r, "SELECT " ENTRY_COLS " FROM entries WHERE kind = $1 AND idem_key = $2", p);
  if (r.size() == 0) return not_found("entry", idem_key);
  read_entry(r, 0, out);
  return {};
}

Status PgUnit::for_each_entry(const std::function<void(const EntryRow&)>& fn) {
  PG_EXEC(r, "SELECT " ENTRY_COLS " FROM entries ORDER BY seq", Params());
  EntryRow e;
  for (int i = 0; i < r.size(); ++i) {
    read_entry(r, i, e);
    fn(e);
  }
  return {};
}

Status PgUnit::journal_totals(std::vector<JournalTotals>& out) {
  // Same sums as the SQLite backend: per account, debits and credits of the
  // posted amounts and of the pending deltas.
  PG_EXEC(r,
          "SELECT account, SUM(pd)::bigint, SUM(pc)::bigint, SUM(qd)::bigint, SUM(qc)::bigint FROM ("
          " SELECT debit_account AS account, amount AS pd, 0 AS pc, pending_delta AS qd, 0 AS qc FROM entries"
          " UNION ALL"
          " SELECT credit_account, 0, amount, 0, pending_delta FROM entries"
          ") t GROUP BY account ORDER BY account",
          Params());
  out.clear();
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.text(i, 0), r.i64(i, 1), r.i64(i, 2), r.i64(i, 3), r.i64(i, 4)});
  }
  return {};
}

Status PgUnit::insert_hold(const HoldRow& h) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(h.id).text(h.key).text(h.account).i64(h.amount).i64(static_cast<int>(h.state)).i64(h.settled_amount)
      .i64(h.deadline_ms).i64(h.created_ms).i64(h.resolved_ms).text_or_null(h.ref);
  // Sent later (deferred): a duplicate is the server's unique violation,
  // which fails the unit as idempotency_conflict (pg_conn.hpp).
  conn_.defer("INSERT INTO holds(" HOLD_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", std::move(p));
  return {};
}

Status PgUnit::get_hold(std::string_view id, HoldRow& out) {
  Params p;
  p.text(id);
  // A writing unit locks the hold (as get_account locks the account): a
  // caller that checks its state and then resolves it sees no concurrent
  // change in between, so resolve_hold below cannot miss.
  PG_EXEC(r, read_only_ ? "SELECT " HOLD_COLS " FROM holds WHERE id = $1"
                        : "SELECT " HOLD_COLS " FROM holds WHERE id = $1 FOR UPDATE",
          p);
  if (r.size() == 0) return not_found("hold", id);
  read_hold(r, 0, out);
  if (!read_only_) {
    hold_locked_ = out.id;
    hold_locked_state_ = out.state;
  }
  return {};
}

Status PgUnit::find_hold_by_key(std::string_view key, HoldRow& out) {
  Params p;
  p.text(key);
  PG_EXEC(r, "SELECT " HOLD_COLS " FROM holds WHERE key = $1", p);
  if (r.size() == 0) return not_found("hold key", key);
  read_hold(r, 0, out);
  return {};
}

Status PgUnit::resolve_hold(std::string_view id, HoldState state, Micros settled_amount, std::int64_t resolved_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(static_cast<int>(state)).i64(settled_amount).i64(resolved_ms).text(id);
  static constexpr const char* kSql =
      "UPDATE holds SET state = $1, settled_amount = $2, resolved_ms = $3 WHERE id = $4 AND state = 0";
  if (id == hold_locked_) {
    // This unit read and locked the hold (get_hold): nobody else can change
    // it until the transaction ends, so its state is known here and the
    // update, sent with the unit's next statement, cannot miss.
    if (hold_locked_state_ != HoldState::pending) return Status(Code::invalid_state, "hold already resolved");
    hold_locked_state_ = state;
    conn_.defer(kSql, std::move(p));
    return {};
  }
  PG_EXEC(r, kSql, p);
  if (r.affected() == 1) return {};
  HoldRow h;
  BABYSEA_RETURN_IF_ERROR(get_hold(id, h));
  return Status(Code::invalid_state, "hold already resolved");
}

Status PgUnit::due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) {
  Params p;
  p.i64(now_ms).i64(lim(limit));
  // A writing unit locks the rows it gets and skips those another unit
  // holds (storage.hpp): one instance expires a hold at a time.
  PG_EXEC(r, read_only_ ? "SELECT " HOLD_COLS " FROM holds WHERE state = 0 AND deadline_ms <= $1 "
                          "ORDER BY deadline_ms LIMIT $2"
                        : "SELECT " HOLD_COLS " FROM holds WHERE state = 0 AND deadline_ms <= $1 "
                          "ORDER BY deadline_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_hold(r, i, out.emplace_back());
  return {};
}

Status PgUnit::for_each_hold(const std::function<void(const HoldRow&)>& fn) {
  PG_EXEC(r, "SELECT " HOLD_COLS " FROM holds ORDER BY id", Params());
  HoldRow h;
  for (int i = 0; i < r.size(); ++i) {
    read_hold(r, i, h);
    fn(h);
  }
  return {};
}

Status PgUnit::insert_payment(const PaymentRow& pay) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(pay.id).text(pay.account).i64(pay.credits).i64(pay.amount_cents).i64(pay.clawed_back).i64(pay.created_ms);
  PG_EXEC(r, "INSERT INTO payments(id, account, credits, amount_cents, clawed_back, created_ms) "
             "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING",
          p);
  if (r.affected() != 1) return conflict(conn_, "payment", pay.id);
  return {};
}

Status PgUnit::get_payment(std::string_view id, PaymentRow& out) {
  Params p;
  p.text(id);
  PG_EXEC(r, read_only_ ? "SELECT id, account, credits, amount_cents, clawed_back, created_ms FROM payments WHERE id = $1"
                        : "SELECT id, account, credits, amount_cents, clawed_back, created_ms FROM payments "
                          "WHERE id = $1 FOR UPDATE",
          p);
  if (r.size() == 0) return not_found("payment", id);
  out = {r.text(0, 0), r.text(0, 1), r.i64(0, 2), r.i64(0, 3), r.i64(0, 4), r.i64(0, 5)};
  return {};
}

Status PgUnit::add_payment_clawed_back(std::string_view id, Micros delta) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(delta).text(id);
  PG_EXEC(r, "UPDATE payments SET clawed_back = clawed_back + $1 WHERE id = $2", p);
  if (r.affected() != 1) return not_found("payment", id);
  return {};
}

Status PgUnit::insert_clawback(const ClawbackRow& c) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(c.key).text(c.account).i64(c.requested).i64(c.applied).i64(c.shortfall).text_or_null(c.ref).i64(c.created_ms);
  PG_EXEC(r, "INSERT INTO clawbacks(key, account, requested, applied, shortfall, ref, created_ms) "
             "VALUES($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
          p);
  if (r.affected() != 1) return conflict(conn_, "clawback", c.key);
  return {};
}

Status PgUnit::find_clawback(std::string_view key, ClawbackRow& out) {
  Params p;
  p.text(key);
  PG_EXEC(r, "SELECT key, account, requested, applied, shortfall, ref, created_ms FROM clawbacks WHERE key = $1", p);
  if (r.size() == 0) return not_found("clawback", key);
  out = {r.text(0, 0), r.text(0, 1), r.i64(0, 2), r.i64(0, 3), r.i64(0, 4), r.text(0, 5), r.i64(0, 6)};
  return {};
}

// -------------------------------------------------------------------- seen

Result<bool> PgUnit::insert_if_absent(std::string_view source, std::string_view id, std::int64_t now_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(source).text(id).i64(now_ms);
  PG_EXEC(r, "INSERT INTO seen_messages(source, id, seen_ms) VALUES($1,$2,$3) ON CONFLICT DO NOTHING", p);
  return r.affected() == 1;
}

Result<bool> PgUnit::contains(std::string_view source, std::string_view id) {
  Params p;
  p.text(source).text(id);
  PG_EXEC(r, "SELECT 1 FROM seen_messages WHERE source = $1 AND id = $2", p);
  return r.size() > 0;
}

// ------------------------------------------------------------------ outbox

Status PgUnit::append(OutboxRow& o) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(o.id).text(o.topic).text(o.account).text(o.payload).i64(static_cast<int>(o.state)).i64(o.attempts)
      .i64(o.next_attempt_ms).i64(o.created_ms);
  PG_EXEC(r, "INSERT INTO outbox(id, topic, account, payload, state, attempts, next_attempt_ms, created_ms) "
             "VALUES($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING RETURNING seq",
          p);
  if (r.size() != 1) return conflict(conn_, "outbox row", o.id);
  o.seq = r.i64(0, 0);
  return {};
}

Status PgUnit::due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) {
  Params p;
  p.i64(now_ms).i64(lim(limit));
  // A writing unit locks the rows it gets and skips those another unit
  // holds (storage.hpp): one instance fans a row out at a time.
  PG_EXEC(r, read_only_ ? "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 0 AND next_attempt_ms <= $1 "
                          "ORDER BY seq LIMIT $2"
                        : "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 0 AND next_attempt_ms <= $1 "
                          "ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_outbox(r, i, out.emplace_back());
  return {};
}

Status PgUnit::count_pending(std::int64_t& out) {
  PG_EXEC(r, "SELECT COUNT(*) FROM outbox WHERE state = 0", Params());
  out = r.size() > 0 ? r.i64(0, 0) : 0;
  return {};
}

Status PgUnit::list(std::int64_t after_seq, std::size_t limit, std::vector<OutboxRow>& out) {
  Params p;
  p.i64(after_seq).i64(lim(limit));
  PG_EXEC(r, "SELECT " OUTBOX_COLS " FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2", p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_outbox(r, i, out.emplace_back());
  return {};
}

Status PgUnit::update(std::int64_t seq, OutboxState state, int attempts, std::int64_t next_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(static_cast<int>(state)).i64(attempts).i64(next_ms).i64(seq);
  PG_EXEC(r, "UPDATE outbox SET state = $1, attempts = $2, next_attempt_ms = $3 WHERE seq = $4", p);
  if (r.affected() != 1) return not_found("outbox row", std::to_string(seq));
  return {};
}

// ----------------------------------------------------------- attempt stats

Result<bool> PgUnit::record(const AttemptStatRow& a) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.text(a.attempt_id).text(a.region).text(a.model).text(a.provider).text(a.outcome).text(a.error_class)
      .i64(a.latency_ms).i64(a.cost).i64(a.finished_ms);
  PG_EXEC(r, "INSERT INTO attempt_stats(attempt_id, region, model, provider, outcome, error_class, latency_ms, cost, "
             "finished_ms) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING",
          p);
  return r.affected() == 1;
}

Status PgUnit::since(std::int64_t since_ms, std::size_t limit, std::vector<AttemptStatRow>& out) {
  Params p;
  p.i64(since_ms).i64(lim(limit));
  PG_EXEC(r, "SELECT attempt_id, region, model, provider, outcome, error_class, latency_ms, cost, finished_ms "
             "FROM attempt_stats WHERE finished_ms >= $1 ORDER BY finished_ms, attempt_id LIMIT $2",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5), r.i64(i, 6),
                   r.i64(i, 7), r.i64(i, 8)});
  }
  return {};
}

Result<std::size_t> PgUnit::prune(std::int64_t before_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  Params p;
  p.i64(before_ms);
  PG_EXEC(r, "DELETE FROM attempt_stats WHERE finished_ms < $1", p);
  return static_cast<std::size_t>(r.affected());
}

// ---------------------------------------------------------------- api keys

namespace {
#define API_KEY_COLS "id, account, secret_hash, scopes, region, name, created_ms, expires_ms, last_used_ms, revoked_ms"
void read_api_key(const Rows& r, int i, ApiKeyRow& k) {
  k = {r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4),
       r.text(i, 5), r.i64(i, 6),  r.i64(i, 7),  r.i64(i, 8),  r.i64(i, 9)};
}
}  // namespace

Status PgApiKeys::insert(const ApiKeyRow& k) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(k.id).text(k.account).text(k.secret_hash).text(k.scopes).text(k.region).text(k.name).i64(k.created_ms)
      .i64(k.expires_ms).i64(k.last_used_ms).i64(k.revoked_ms);
  PG_EXEC(r, "INSERT INTO api_keys(" API_KEY_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING",
          p);
  if (r.affected() != 1) return conflict(conn_, "api key", k.id);
  return {};
}

Status PgApiKeys::get(std::string_view id, ApiKeyRow& out) {
  Params p;
  p.text(id);
  PG_EXEC(r, "SELECT " API_KEY_COLS " FROM api_keys WHERE id = $1", p);
  if (r.size() == 0) return not_found("api key", id);
  read_api_key(r, 0, out);
  return {};
}

Status PgApiKeys::list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) {
  Params p;
  p.text(account);
  PG_EXEC(r, "SELECT " API_KEY_COLS " FROM api_keys WHERE account = $1 ORDER BY created_ms, id", p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_api_key(r, i, out.emplace_back());
  return {};
}

Status PgApiKeys::touch(std::string_view id, std::int64_t last_used_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(last_used_ms).text(id);
  PG_EXEC(r, "UPDATE api_keys SET last_used_ms = $1 WHERE id = $2", p);
  if (r.affected() != 1) return not_found("api key", id);
  return {};
}

Status PgApiKeys::revoke(std::string_view id, std::int64_t revoked_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(revoked_ms).text(id);
  PG_EXEC(r, "UPDATE api_keys SET revoked_ms = $1 WHERE id = $2 AND revoked_ms = 0", p);
  if (r.affected() == 1) return {};
  ApiKeyRow k;
  return get(id, k);  // already revoked: OK; absent: not_found
}

// ------------------------------------------------------- webhook endpoints

namespace {
#define WEBHOOK_ENDPOINT_COLS \
  "id, account, url, secret, previous_secret, signing, events, enabled, disabled_reason, created_ms, updated_ms"
void read_webhook_endpoint(const Rows& r, int i, WebhookEndpointRow& e) {
  e.id = r.text(i, 0);
  e.account = r.text(i, 1);
  e.url = r.text(i, 2);
  e.secret = r.text(i, 3);
  e.previous_secret = r.text(i, 4);
  e.signing = static_cast<WebhookSigning>(r.i64(i, 5));
  e.events = r.text(i, 6);
  e.enabled = r.i64(i, 7) != 0;
  e.disabled_reason = r.text(i, 8);
  e.created_ms = r.i64(i, 9);
  e.updated_ms = r.i64(i, 10);
}

#define WEBHOOK_DELIVERY_COLS                                                                               \
  "id, event_id, endpoint_id, account, event, subject, data, event_ms, state, attempts, next_attempt_ms, " \
  "last_status, last_error, created_ms, updated_ms"
void read_webhook_delivery(const Rows& r, int i, WebhookDeliveryRow& d) {
  d.id = r.text(i, 0);
  d.event_id = r.text(i, 1);
  d.endpoint_id = r.text(i, 2);
  d.account = r.text(i, 3);
  d.event = r.text(i, 4);
  d.subject = r.text(i, 5);
  d.data = r.text(i, 6);
  d.event_ms = r.i64(i, 7);
  d.state = static_cast<DeliveryState>(r.i64(i, 8));
  d.attempts = static_cast<int>(r.i64(i, 9));
  d.next_attempt_ms = r.i64(i, 10);
  d.last_status = static_cast<int>(r.i64(i, 11));
  d.last_error = r.text(i, 12);
  d.created_ms = r.i64(i, 13);
  d.updated_ms = r.i64(i, 14);
}
}  // namespace

Status PgWebhookEndpoints::insert(const WebhookEndpointRow& e) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(e.id).text(e.account).text(e.url).text(e.secret).text(e.previous_secret).i64(static_cast<int>(e.signing))
      .text(e.events).i64(e.enabled ? 1 : 0).text(e.disabled_reason).i64(e.created_ms).i64(e.updated_ms);
  PG_EXEC(r, "INSERT INTO webhook_endpoints(" WEBHOOK_ENDPOINT_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
             "ON CONFLICT DO NOTHING",
          p);
  if (r.affected() != 1) return conflict(conn_, "webhook endpoint", e.id);
  return {};
}

Status PgWebhookEndpoints::get(std::string_view id, WebhookEndpointRow& out) {
  Params p;
  p.text(id);
  PG_EXEC(r, "SELECT " WEBHOOK_ENDPOINT_COLS " FROM webhook_endpoints WHERE id = $1", p);
  if (r.size() == 0) return not_found("webhook endpoint", id);
  read_webhook_endpoint(r, 0, out);
  return {};
}

Status PgWebhookEndpoints::list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) {
  Params p;
  p.text(account);
  PG_EXEC(r, "SELECT " WEBHOOK_ENDPOINT_COLS " FROM webhook_endpoints WHERE account = $1 ORDER BY created_ms, id", p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_webhook_endpoint(r, i, out.emplace_back());
  return {};
}

Status PgWebhookEndpoints::update(const WebhookEndpointRow& e) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(e.url).text(e.secret).text(e.previous_secret).i64(static_cast<int>(e.signing)).text(e.events)
      .i64(e.enabled ? 1 : 0).text(e.disabled_reason).i64(e.updated_ms).text(e.id);
  PG_EXEC(r, "UPDATE webhook_endpoints SET url = $1, secret = $2, previous_secret = $3, signing = $4, events = $5, "
             "enabled = $6, disabled_reason = $7, updated_ms = $8 WHERE id = $9",
          p);
  if (r.affected() != 1) return not_found("webhook endpoint", e.id);
  return {};
}

// ------------------------------------------------------ webhook deliveries

Status PgWebhookDeliveries::insert(const WebhookDeliveryRow& d) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(d.id).text(d.event_id).text(d.endpoint_id).text(d.account).text(d.event).text(d.subject).text(d.data)
      .i64(d.event_ms).i64(static_cast<int>(d.state)).i64(d.attempts).i64(d.next_attempt_ms).i64(d.last_status)
      .text(d.last_error).i64(d.created_ms).i64(d.updated_ms);
  PG_EXEC(r, "INSERT INTO webhook_deliveries(" WEBHOOK_DELIVERY_COLS ") "
             "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT DO NOTHING",
          p);
  if (r.affected() != 1) return conflict(conn_, "webhook delivery", d.id);
  return {};
}

Status PgWebhookDeliveries::get(std::string_view id, WebhookDeliveryRow& out) {
  Params p;
  p.text(id);
  PG_EXEC(r, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE id = $1", p);
  if (r.size() == 0) return not_found("webhook delivery", id);
  read_webhook_delivery(r, 0, out);
  return {};
}

Status PgWebhookDeliveries::due(std::int64_t now_ms, std::size_t limit, std::vector<WebhookDeliveryRow>& out) {
  Params p;
  p.i64(now_ms).i64(lim(limit));
  PG_EXEC(r, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE state = 0 AND next_attempt_ms <= $1 "
             "ORDER BY next_attempt_ms, id LIMIT $2",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_webhook_delivery(r, i, out.emplace_back());
  return {};
}

Status PgWebhookDeliveries::claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                                      std::vector<WebhookDeliveryRow>& out) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(now_ms).i64(lim(limit)).i64(lease_until_ms);
  // One statement: the due rows nobody else holds are locked (rows another
  // unit holds are skipped) and moved to the lease; they come back with
  // their old next_attempt_ms.
  PG_EXEC(r, "UPDATE webhook_deliveries w SET next_attempt_ms = $3 FROM (SELECT id, next_attempt_ms "
             "FROM webhook_deliveries WHERE state = 0 AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2 "
             "FOR UPDATE SKIP LOCKED) d WHERE w.id = d.id "
             "RETURNING w.id, w.event_id, w.endpoint_id, w.account, w.event, w.subject, w.data, w.event_ms, w.state, "
             "w.attempts, d.next_attempt_ms, w.last_status, w.last_error, w.created_ms, w.updated_ms",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_webhook_delivery(r, i, out.emplace_back());
  // RETURNING keeps no order: as due().
  std::sort(out.begin(), out.end(), [](const WebhookDeliveryRow& a, const WebhookDeliveryRow& b) {
    return a.next_attempt_ms != b.next_attempt_ms ? a.next_attempt_ms < b.next_attempt_ms : a.id < b.id;
  });
  return {};
}

Status PgWebhookDeliveries::list_for_endpoint(std::string_view endpoint_id, std::size_t limit,
                                              std::vector<WebhookDeliveryRow>& out) {
  Params p;
  p.text(endpoint_id).i64(lim(limit));
  PG_EXEC(r, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id LIMIT $2",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_webhook_delivery(r, i, out.emplace_back());
  return {};
}

Status PgWebhookDeliveries::list_for_subject(std::string_view endpoint_id, std::string_view subject,
                                             std::vector<WebhookDeliveryRow>& out) {
  Params p;
  p.text(endpoint_id).text(subject);
  PG_EXEC(r, "SELECT " WEBHOOK_DELIVERY_COLS " FROM webhook_deliveries WHERE endpoint_id = $1 AND subject = $2 "
             "ORDER BY id",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_webhook_delivery(r, i, out.emplace_back());
  return {};
}

Status PgWebhookDeliveries::update(const WebhookDeliveryRow& d) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(static_cast<int>(d.state)).i64(d.attempts).i64(d.next_attempt_ms).i64(d.last_status).text(d.last_error)
      .i64(d.updated_ms).text(d.id);
  PG_EXEC(r, "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_ms = $3, last_status = $4, "
             "last_error = $5, updated_ms = $6 WHERE id = $7",
          p);
  if (r.affected() != 1) return not_found("webhook delivery", d.id);
  return {};
}

// ------------------------------------------------------------- request log

Status PgRequestLog::append(const std::vector<RequestLogRow>& rows) {
  if (read_only_) return read_only_write();
  for (const auto& row : rows) {
    Params p;
    p.i64(row.time_ms).text(row.account).text(row.key_id).text(row.method).text(row.route).i64(row.status)
        .text(row.error_code).i64(row.latency_us);
    PG_RUN("INSERT INTO request_log(time_ms, account, key_id, method, route, status, error_code, latency_us) "
           "VALUES($1,$2,$3,$4,$5,$6,$7,$8)",
           p);
  }
  return {};
}

Result<std::size_t> PgRequestLog::prune(std::int64_t before_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(before_ms);
  PG_EXEC(r, "DELETE FROM request_log WHERE time_ms < $1", p);
  return static_cast<std::size_t>(r.affected());
}

Status PgRequestLog::summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) {
  Params p;
  p.text(account).i64(since_ms);
  // status / 100 truncates toward zero, as SQLite's integer division does.
  PG_EXEC(r, "SELECT route, status / 100, error_code, COUNT(*) FROM request_log "
             "WHERE account = $1 AND time_ms >= $2 GROUP BY 1, 2, 3",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i)
    add_request_counts(out, r.text_view(i, 0), static_cast<int>(r.i64(i, 1)), r.text_view(i, 2), r.i64(i, 3));
  return {};
}

Status PgRequestLog::list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                                      std::vector<RequestLogRow>& out) {
  Params p;
  p.text(account).i64(since_ms).i64(lim(limit));
  // seq is an identity column: equal times come in append order within one
  // writer (concurrent writers' rows interleave by when they got their seq).
  PG_EXEC(r, "SELECT time_ms, account, key_id, method, route, status, error_code, latency_us FROM request_log "
             "WHERE account = $1 AND time_ms >= $2 ORDER BY time_ms, seq LIMIT $3",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) {
    out.push_back({r.i64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), static_cast<int>(r.i64(i, 5)),
                   r.text(i, 6), r.i64(i, 7)});
  }
  return {};
}

// --------------------------------------------------------------- instances

Status PgInstances::upsert(const InstanceRow& row) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(row.id).i64(row.started_ms).i64(row.heartbeat_ms).text(row.info);
  conn_.defer("INSERT INTO instances(id, started_ms, heartbeat_ms, info) VALUES($1,$2,$3,$4) "
              "ON CONFLICT (id) DO UPDATE SET started_ms = EXCLUDED.started_ms, "
              "heartbeat_ms = EXCLUDED.heartbeat_ms, info = EXCLUDED.info",
              std::move(p));
  return {};
}

Status PgInstances::heartbeat(std::string_view id, std::int64_t now_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(now_ms).text(id);
  // Sent now, not deferred: a missing row is the caller's news (it was
  // declared dead), not a failure that should abort the transaction.
  PG_EXEC(r, "UPDATE instances SET heartbeat_ms = $1 WHERE id = $2", p);
  if (r.affected() != 1) return not_found("instance", id);
  return {};
}

Status PgInstances::list(std::vector<InstanceRow>& out) {
  PG_EXEC(r, "SELECT id, started_ms, heartbeat_ms, info FROM instances ORDER BY id", Params());
  out.clear();
  for (int i = 0; i < r.size(); ++i) out.push_back({r.text(i, 0), r.i64(i, 1), r.i64(i, 2), r.text(i, 3)});
  return {};
}

Result<bool> PgInstances::remove_if_stale(std::string_view id, std::int64_t before_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(id).i64(before_ms);
  // Under READ COMMITTED a concurrent delete makes this one wait for it,
  // then find no row: exactly one caller deletes it.
  PG_EXEC(r, "DELETE FROM instances WHERE id = $1 AND heartbeat_ms < $2", p);
  return r.affected() == 1;
}

Status PgInstances::remove(std::string_view id) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(id);
  conn_.defer("DELETE FROM instances WHERE id = $1", std::move(p));
  return {};
}

}  // namespace babysea::pg
