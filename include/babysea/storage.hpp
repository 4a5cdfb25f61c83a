// babysea/storage.hpp — the durable state of babysea, behind one interface.
//
// Everything that changes state goes through `Store::transact(work)`: the
// work function receives a `UnitOfWork` offering domain-level tables (ledger,
// seen messages, outbox, router attempt statistics; later parts add their own
// tables the same way) and returns a Status. If it returns OK, its writes
// become durable atomically and `transact` returns OK only after they are
// durable; if it returns an error (or throws), none of its writes are visible
// and `transact` returns that error. Nothing a unit does is visible to others
// before it commits.
//
// Backends:
//  - SQLite (`open_sqlite_store`): WAL, numbered migrations checked on open,
//    synchronous FULL by default, one writer thread that batches concurrent
//    units into one transaction (group commit, a savepoint per unit so one
//    unit's failure never sinks another), a pool of reader connections.
//  - PostgreSQL (`open_postgres_store`): libpq, a pool of connections, the
//    same numbered migrations checked on open (in a named schema, so several
//    deployments can share one database). Concurrent units are batched into
//    one PostgreSQL transaction, a savepoint per unit (as the SQLite writer
//    does); several Store objects and processes may share one schema
//    (row locks, relative and conditional updates, ON CONFLICT: never a
//    single writer). A unit may be RE-RUN: after a serialization failure or
//    deadlock (up to max_retries times, then Code::unavailable), and once
//    after it failed having lost an insert race on a unique key, and once on
//    a new connection when its connection was lost before COMMIT. Its writes
//    are rolled back before a re-run, so a unit must be safe to re-run: no
//    side effects outside the store, and results captured by the work
//    function reset at its start. A lost connection fails the unit in flight
//    with Code::unavailable and nothing of it is applied (when the loss hits
//    COMMIT itself the outcome is unknown, as with any remote database).
//    Some writes (ledger postings, counters, hold resolution) are sent with
//    the unit's next read or at its end, to save round trips: such a write's
//    failure may be returned by a later table call of the unit, or by
//    transact() itself. Either way the unit fails as a whole.
//  - Memory (`open_memory_store`): native containers under one lock, with an
//    undo log for rollback; nothing is durable. For tests and benchmarks.
//
// Tables return plain row structs; absent rows are Code::not_found; unique
// violations are Code::idempotency_conflict; backend failures are
// Code::storage_error (retryable) or Code::corruption.
//
// Thread safety: a Store is safe for concurrent use. A UnitOfWork and the
// tables it hands out belong to the calling work function and must not
// escape it or be used from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

// ---------------------------------------------------------------- ledger rows

enum class AccountKind : int { customer = 0, system = 1 };

// A low-balance threshold on an account and whether it may fire (it is
// disarmed after firing until the balance recovers to or above it).
struct BalanceThreshold {
  Micros threshold = 0;
  bool armed = true;
  bool operator==(const BalanceThreshold&) const = default;
};

struct AccountRow {
  std::string id;
  AccountKind kind = AccountKind::customer;
  Micros posted_debits = 0;
  Micros posted_credits = 0;
  Micros pending_debits = 0;
  Micros pending_credits = 0;
  std::vector<BalanceThreshold> thresholds;  // sorted descending by threshold
  std::int64_t created_ms = 0;
};

enum class EntryKind : int { grant = 1, hold = 2, settle = 3, release = 4, expire = 5, clawback = 6 };

// One immutable journal row: moves `amount` (posted) and changes the pending
// counters by `pending_delta`, debiting one account and crediting another.
struct EntryRow {
  std::int64_t seq = 0;  // assigned by the store, strictly increasing: the entry's id
  EntryKind kind = EntryKind::grant;
  std::string debit_account;
  std::string credit_account;
  Micros amount = 0;         // posted amount, >= 0
  Micros pending_delta = 0;  // +held for a hold, -held when it resolves, else 0
  std::string hold_id;       // the hold this entry belongs to, if any
  std::string idem_key;      // unique per kind; empty = none (hold-bound entries are
                             // unique through their hold's single resolution)
  std::string ref;           // business reference: generation id, Stripe object, ...
  std::int64_t created_ms = 0;
};

enum class HoldState : int { pending = 0, settled = 1, released = 2, expired = 3 };

struct HoldRow {
  std::string id;
  std::string key;      // idempotency key of the reserve, unique
  std::string account;  // the customer account debited
  Micros amount = 0;    // held amount
  HoldState state = HoldState::pending;
  Micros settled_amount = 0;  // posted amount when settled
  std::int64_t deadline_ms = 0;
  std::int64_t created_ms = 0;
  std::int64_t resolved_ms = 0;
  std::string ref;
};

// A paid Stripe object that granted credits (checkout session or invoice),
// kept so refunds and disputes can claw back in proportion.
struct PaymentRow {
  std::string id;          // payment intent id, or invoice id when there is none
  std::string account;
  Micros credits = 0;      // credits granted for it
  std::int64_t amount_cents = 0;  // what was paid, in the smallest currency unit
  Micros clawed_back = 0;  // credits already clawed back for it
  std::int64_t created_ms = 0;
};

// One clawback decision (refund or dispute), unique by key.
struct ClawbackRow {
  std::string key;
  std::string account;
  Micros requested = 0;
  Micros applied = 0;
  Micros shortfall = 0;  // requested - applied: what the balance could not cover
  std::string ref;
  std::int64_t created_ms = 0;
};

// Sums of the journal per account, for audits.
struct JournalTotals {
  std::string account;
  Micros posted_debits = 0;
  Micros posted_credits = 0;
  Micros pending_debits = 0;
  Micros pending_credits = 0;
};

class LedgerTables {
 public:
  virtual ~LedgerTables() = default;

  // Reads an account. Backends that allow several writers lock the row for
  // the rest of the unit. not_found when absent.
  virtual Status get_account(std::string_view id, AccountRow& out) = 0;
  // idempotency_conflict when the id exists.
  virtual Status insert_account(const AccountRow& row) = 0;
  // Adds the deltas to the account's four counters. not_found when absent.
  virtual Status add_to_account(std::string_view id, Micros posted_debits, Micros posted_credits,
                                Micros pending_debits, Micros pending_credits) = 0;
  virtual Status set_thresholds(std::string_view id, const std::vector<BalanceThreshold>& t) = 0;
  virtual Status for_each_account(const std::function<void(const AccountRow&)>& fn) = 0;

  // Appends an entry and sets row.seq. idempotency_conflict when
  // (kind, idem_key) exists for a non-empty idem_key.
  virtual Status insert_entry(EntryRow& row) = 0;
  // insert_entry for a caller that does not need the seq: a backend may send
  // it later in the unit (see the PostgreSQL notes above).
  virtual Status append_entry(const EntryRow& row) {
    EntryRow copy = row;
    return insert_entry(copy);
  }
  // not_found when no entry has this (kind, idem_key).
  virtual Status find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) = 0;
  virtual Status for_each_entry(const std::function<void(const EntryRow&)>& fn) = 0;
  virtual Status journal_totals(std::vector<JournalTotals>& out) = 0;

  // idempotency_conflict when the id or key exists.
  virtual Status insert_hold(const HoldRow& row) = 0;
  virtual Status get_hold(std::string_view id, HoldRow& out) = 0;
  virtual Status find_hold_by_key(std::string_view key, HoldRow& out) = 0;
  // Resolves a hold only if it is still pending (compare-and-set);
  // invalid_state when it is not pending, not_found when absent.
  virtual Status resolve_hold(std::string_view id, HoldState state, Micros settled_amount,
                              std::int64_t resolved_ms) = 0;
  // Pending holds with deadline_ms <= now_ms, oldest deadline first. In a
  // writing unit of a store shared between processes (Store::shared()), the
  // rows come locked and rows another unit holds are skipped (SKIP LOCKED):
  // one instance expires a hold at a time.
  virtual Status due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) = 0;
  virtual Status for_each_hold(const std::function<void(const HoldRow&)>& fn) = 0;

  virtual Status insert_payment(const PaymentRow& row) = 0;
  virtual Status get_payment(std::string_view id, PaymentRow& out) = 0;
  virtual Status add_payment_clawed_back(std::string_view id, Micros delta) = 0;

  virtual Status insert_clawback(const ClawbackRow& row) = 0;
  virtual Status find_clawback(std::string_view key, ClawbackRow& out) = 0;
};

// ------------------------------------------------------------- seen messages

// De-duplication of inbound messages (Stripe events, provider callbacks):
// one row per (source, message id).
class SeenTable {
 public:
  virtual ~SeenTable() = default;
  // Records (source, id); returns true if it was new, false if already seen.
  virtual Result<bool> insert_if_absent(std::string_view source, std::string_view id,
                                        std::int64_t now_ms) = 0;
  virtual Result<bool> contains(std::string_view source, std::string_view id) = 0;
};

// -------------------------------------------------------------------- outbox

enum class OutboxState : int { pending = 0, delivered = 1, failed = 2 };

// An event to deliver after the unit that produced it commits.
struct OutboxRow {
  std::int64_t seq = 0;  // assigned by the store, strictly increasing
  std::string id;        // delivery id, stable across retries
  std::string topic;     // event type, e.g. "credits.low_balance"
  std::string account;
  std::string payload;   // JSON
  OutboxState state = OutboxState::pending;
  int attempts = 0;
  std::int64_t next_attempt_ms = 0;
  std::int64_t created_ms = 0;
};

class OutboxTable {
 public:
  virtual ~OutboxTable() = default;
  // Appends and sets row.seq.
  virtual Status append(OutboxRow& row) = 0;
  // Pending rows with next_attempt_ms <= now_ms, in seq order. In a writing
  // unit of a shared store the rows come locked until the unit ends and rows
  // locked by another unit are skipped: one instance fans a row out at a time.
  virtual Status due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) = 0;
  // Rows with seq > after_seq, in seq order, any state.
  virtual Status list(std::int64_t after_seq, std::size_t limit, std::vector<OutboxRow>& out) = 0;
  virtual Status update(std::int64_t seq, OutboxState state, int attempts,
                        std::int64_t next_attempt_ms) = 0;
  // The number of pending rows, due or not (the outbox depth). The default
  // reads them all through due(); the built-in stores count in place.
  virtual Status count_pending(std::int64_t& out) {
    std::vector<OutboxRow> rows;
    BABYSEA_RETURN_IF_ERROR(due(INT64_MAX, SIZE_MAX, rows));
    out = static_cast<std::int64_t>(rows.size());
    return {};
  }
};

// ------------------------------------------------------ router attempt stats

// One finished provider attempt as the router learns from it.
struct AttemptStatRow {
  std::string attempt_id;  // de-duplication key
  std::string region;
  std::string model;
  std::string provider;
  std::string outcome;      // used | failed | discarded | cancelled
  std::string error_class;  // empty when none
  std::int64_t latency_ms = 0;
  Micros cost = 0;
  std::int64_t finished_ms = 0;
};

class AttemptStatsTable {
 public:
  virtual ~AttemptStatsTable() = default;
  // Returns true if recorded, false if the attempt id was already recorded.
  virtual Result<bool> record(const AttemptStatRow& row) = 0;
  // Rows with finished_ms >= since_ms, oldest first, at most `limit`.
  virtual Status since(std::int64_t since_ms, std::size_t limit, std::vector<AttemptStatRow>& out) = 0;
  // Deletes rows with finished_ms < before_ms; returns how many.
  virtual Result<std::size_t> prune(std::int64_t before_ms) = 0;
};

// ------------------------------------------------------------------ api keys

// An API key as stored: never the secret itself, only a keyed hash of it.
struct ApiKeyRow {
  std::string id;           // public key id (the <id> of bye_<id>_<secret>)
  std::string account;
  std::string secret_hash;  // keyed hash of the secret (hex); never the secret
  std::string scopes;       // comma-separated scope names
  std::string region;       // home region
  std::string name;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;    // 0 = never
  std::int64_t last_used_ms = 0;
  std::int64_t revoked_ms = 0;    // 0 = active
};

class ApiKeyTable {
 public:
  virtual ~ApiKeyTable() = default;
  // idempotency_conflict when the id exists.
  virtual Status insert(const ApiKeyRow& row) = 0;
  // not_found when absent.
  virtual Status get(std::string_view id, ApiKeyRow& out) = 0;
  // Keys of one account, oldest first.
  virtual Status list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) = 0;
  virtual Status touch(std::string_view id, std::int64_t last_used_ms) = 0;
  // Sets revoked_ms if the key is active; not_found when absent.
  virtual Status revoke(std::string_view id, std::int64_t revoked_ms) = 0;
};

// ------------------------------------------------------- webhook endpoints

// How deliveries to an endpoint are signed (webhook_delivery.hpp).
enum class WebhookSigning : int {
  babysea = 0,           // X-BabySea-Signature: t=<unix>,v1=<hex HMAC-SHA256("t.body")>
  standard_webhooks = 1, // webhook-id / webhook-timestamp / webhook-signature (v1,<base64>)
  both = 2,              // both header sets
};

// A customer's webhook endpoint. The signing secret must be kept to sign, so
// it is stored as is; it never appears in errors or logs.
struct WebhookEndpointRow {
  std::string id;
  std::string account;
  std::string url;
  std::string secret;           // current signing secret
  std::string previous_secret;  // during rotation (standard webhooks sends both); empty = none
  WebhookSigning signing = WebhookSigning::babysea;
  std::string events;           // comma-separated event filter; empty = every event
  bool enabled = true;
  std::string disabled_reason;  // e.g. "gone" (410), "removed"
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  bool operator==(const WebhookEndpointRow&) const = default;
};

class WebhookEndpointTable {
 public:
  virtual ~WebhookEndpointTable() = default;
  // idempotency_conflict when the id exists.
  virtual Status insert(const WebhookEndpointRow& row) = 0;
  // not_found when absent.
  virtual Status get(std::string_view id, WebhookEndpointRow& out) = 0;
  // Endpoints of one account (enabled or not), oldest first.
  virtual Status list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) = 0;
  // Replaces the row with row.id (account and created_ms are kept); not_found when absent.
  virtual Status update(const WebhookEndpointRow& row) = 0;
};

// ------------------------------------------------------- webhook deliveries

enum class DeliveryState : int {
  pending = 0,    // to (re)send at next_attempt_ms
  delivered = 1,  // a 2xx answer
  failed = 2,     // the retry schedule is exhausted
  canceled = 3,   // the endpoint was disabled (410, removed) before delivery
};

// One event for one endpoint. `id` is the webhook_delivery_id: stable across
// retries, distinct per (event, endpoint).
struct WebhookDeliveryRow {
  std::string id;
  std::string event_id;     // the outbox row this came from; unique with endpoint_id
  std::string endpoint_id;
  std::string account;
  std::string event;        // e.g. "generation.completed"
  std::string subject;      // generation id (or empty): orders started vs terminal
  std::string data;         // webhook_data JSON
  std::int64_t event_ms = 0;  // webhook_timestamp
  DeliveryState state = DeliveryState::pending;
  int attempts = 0;
  std::int64_t next_attempt_ms = 0;
  int last_status = 0;      // last HTTP status, 0 = none
  std::string last_error;   // last failure, short and secret-free
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  bool operator==(const WebhookDeliveryRow&) const = default;
};

class WebhookDeliveryTable {
 public:
  virtual ~WebhookDeliveryTable() = default;
  // idempotency_conflict when the id or (event_id, endpoint_id) exists.
  virtual Status insert(const WebhookDeliveryRow& row) = 0;
  // not_found when absent.
  virtual Status get(std::string_view id, WebhookDeliveryRow& out) = 0;
  // Pending rows with next_attempt_ms <= now_ms, by (next_attempt_ms, id).
  virtual Status due(std::int64_t now_ms, std::size_t limit, std::vector<WebhookDeliveryRow>& out) = 0;
  // Claims due rows for one sender (a writing unit): as due(), skipping rows
  // another unit holds locked, and moves each claimed row's next_attempt_ms
  // to lease_until_ms (the returned rows keep their old value). The sender's
  // update() then sets the real schedule; if the sender dies first the row
  // falls due again at lease_until_ms (at-least-once, same delivery id). The
  // default claims nothing beyond due(): every sender sees every due row.
  virtual Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                           std::vector<WebhookDeliveryRow>& out) {
    (void)lease_until_ms;
    return due(now_ms, limit, out);
  }
  // Rows of one endpoint, any state, by id (creation order).
  virtual Status list_for_endpoint(std::string_view endpoint_id, std::size_t limit,
                                   std::vector<WebhookDeliveryRow>& out) = 0;
  // Rows of one endpoint about one subject, any state, by id.
  virtual Status list_for_subject(std::string_view endpoint_id, std::string_view subject,
                                  std::vector<WebhookDeliveryRow>& out) = 0;
  // Updates state, attempts, next_attempt_ms, last_status, last_error,
  // updated_ms of row.id; not_found when absent.
  virtual Status update(const WebhookDeliveryRow& row) = 0;
};

// --------------------------------------------------------------- generations

// A generation as stored: the engine's aggregate document (lifecycle.hpp,
// encode_generation) plus the columns the engine queries by.
struct GenerationRow {
  std::string id;
  std::string account;
  int status = 0;              // GenerationStatus
  std::int64_t created_ms = 0;
  std::int64_t wake_ms = 0;    // earliest pending timer, 0 = nothing pending
  std::int64_t version = 0;    // bumped by every update (compare-and-set)
  std::string doc;             // encoded aggregate (binary)
  // The engine instance that last sent provider work for it (InstanceTable):
  // if that instance dies, a living one recovers the generation. Empty for
  // rows written before instances were recorded.
  std::string owner;
};

// An Idempotency-Key record, namespaced by account.
struct IdempotencyRow {
  std::string account;
  std::string key;
  std::string fingerprint;    // hash of method + path + canonical body (engine-defined text)
  std::string generation_id;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
};

class GenerationTable {
 public:
  virtual ~GenerationTable() = default;
  // idempotency_conflict when the id exists.
  virtual Status insert(const GenerationRow& row) = 0;
  // not_found when absent.
  virtual Status get(std::string_view id, GenerationRow& out) = 0;
  // Replaces the row when its stored version is `expected_version` (row.version
  // is written as given); invalid_state when another writer got there first,
  // not_found when absent.
  virtual Status update(const GenerationRow& row, std::int64_t expected_version) = 0;
  // One account's generations, newest first (created_ms, then id), and the total.
  virtual Status list_for_account(std::string_view account, std::int64_t offset, std::int64_t limit,
                                  std::vector<GenerationRow>& out, std::int64_t& total) = 0;
  // Rows with 0 < wake_ms <= now_ms, earliest first.
  virtual Status due(std::int64_t now_ms, std::size_t limit, std::vector<GenerationRow>& out) = 0;
  // Claims due rows for one instance (a writing unit): as due(), skipping
  // rows another unit holds locked, and sets each claimed row's wake_ms to
  // lease_until_ms without touching its version (the returned rows keep the
  // old wake_ms). The claimer's next update() writes the real wake-up; if it
  // dies first, the row falls due again at lease_until_ms for any instance.
  // The default claims nothing beyond due(): every instance sees every due
  // row and the version compare-and-set decides.
  virtual Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                           std::vector<GenerationRow>& out) {
    (void)lease_until_ms;
    return due(now_ms, limit, out);
  }
  // Ids of rows that are not terminal (status < 2) or still have a wake-up.
  virtual Status unfinished(std::vector<std::string>& out) = 0;
  // As unfinished(), only rows whose owner is `owner` (empty: rows without one).
  virtual Status unfinished_owned_by(std::string_view owner, std::vector<std::string>& out) = 0;
  // One account's generations created at or after since_ms.
  virtual Status for_each_since(std::string_view account, std::int64_t since_ms,
                                const std::function<void(const GenerationRow&)>& fn) = 0;
  // Number of rows per status (index = status, 5 entries).
  virtual Status count_by_status(std::vector<std::int64_t>& out) = 0;

  // Provider job index: (provider, job id) -> generation and attempt.
  // idempotency_conflict when the pair exists for another attempt.
  virtual Status put_job(std::string_view provider, std::string_view job_id, std::string_view generation_id,
                         std::string_view attempt_id) = 0;
  // not_found when absent.
  virtual Status find_job(std::string_view provider, std::string_view job_id, std::string& generation_id,
                          std::string& attempt_id) = 0;

  // not_found when absent (expired rows may still be returned; check expires_ms).
  virtual Status get_idempotency(std::string_view account, std::string_view key, IdempotencyRow& out) = 0;
  // Inserts or replaces (account, key).
  virtual Status put_idempotency(const IdempotencyRow& row) = 0;
  // Inserts `row` unless (account, key) holds a live record (expires_ms >
  // now_ms): true when inserted (an expired record is replaced), false with
  // the live record copied to `existing`. The default runs get then put;
  // backends override it with one statement.
  virtual Result<bool> claim_idempotency(const IdempotencyRow& row, std::int64_t now_ms, IdempotencyRow& existing) {
    Status s = get_idempotency(row.account, row.key, existing);
    if (s.ok() && existing.expires_ms > now_ms) return false;
    if (!s.ok() && s.code() != Code::not_found) return s;
    BABYSEA_RETURN_IF_ERROR(put_idempotency(row));
    return true;
  }
  // Deletes rows with expires_ms < before_ms; returns how many.
  virtual Result<std::size_t> prune_idempotency(std::int64_t before_ms) = 0;
};

// --------------------------------------------------------------- request log

// One authenticated API request, as the usage log keeps it (security.md I13:
// one row per authenticated request, none for a request refused before
// authentication). Text fields are stored as given; the writer (RequestLog,
// request_log.hpp) escapes control, ANSI and bidi characters first.
struct RequestLogRow {
  std::int64_t time_ms = 0;     // when the request arrived (unix ms)
  std::string account;
  std::string key_id;           // the API key's public id
  std::string method;           // "GET", "POST", ...
  std::string route;            // route template, e.g. "/v1/content/{id}"
  int status = 0;               // HTTP status answered
  std::string error_code;       // BSE code of an error answer ("BSE2001"); empty on success
  std::int64_t latency_us = 0;  // handling time, microseconds
  bool operator==(const RequestLogRow&) const = default;
};

// One account's requests to one route template, counted by status class and
// by error code (RequestLogTable::summarize).
struct RouteRequestCounts {
  std::string route;
  std::int64_t total = 0;
  std::int64_t success = 0;        // status < 400
  std::int64_t client_errors = 0;  // 4xx
  std::int64_t server_errors = 0;  // 5xx
  std::vector<std::pair<std::string, std::int64_t>> error_codes;  // BSE code -> count, by code
  bool operator==(const RouteRequestCounts&) const = default;
};

// Adds `count` requests of one (route, HTTP status class, error code) group to
// `out`, kept sorted by route (error codes by code; an empty code is not
// listed). For backends building summarize() from grouped counts.
void add_request_counts(std::vector<RouteRequestCounts>& out, std::string_view route, int status_class,
                        std::string_view error_code, std::int64_t count);

class RequestLogTable {
 public:
  virtual ~RequestLogTable() = default;
  // Appends every row (a batch; rows are not unique).
  virtual Status append(const std::vector<RequestLogRow>& rows) = 0;
  // Deletes rows with time_ms < before_ms; returns how many.
  virtual Result<std::size_t> prune(std::int64_t before_ms) = 0;
  // One account's rows with time_ms >= since_ms, counted per route template
  // (sorted by route); never loads the rows themselves.
  virtual Status summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) = 0;
  // One account's rows with time_ms >= since_ms, oldest first (equal times in
  // append order), at most `limit`: for audits (which key made a request).
  virtual Status list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                                  std::vector<RequestLogRow>& out) = 0;
};

// ----------------------------------------------------------------- instances

// One engine instance of a deployment (several engines on one database).
struct InstanceRow {
  std::string id;
  std::int64_t started_ms = 0;
  std::int64_t heartbeat_ms = 0;
  std::string info;  // free text for operators (host, pid, version)
  bool operator==(const InstanceRow&) const = default;
};

class InstanceTable {
 public:
  virtual ~InstanceTable() = default;
  // Inserts or replaces row.id (an instance restarted under its id).
  virtual Status upsert(const InstanceRow& row) = 0;
  // Sets heartbeat_ms of `id`; not_found when the row is gone (another
  // instance declared it dead and took its work over).
  virtual Status heartbeat(std::string_view id, std::int64_t now_ms) = 0;
  // Every registered instance, by id.
  virtual Status list(std::vector<InstanceRow>& out) = 0;
  // Deletes `id` if its heartbeat_ms < before_ms. True when this call deleted
  // it: the caller then owns the dead instance's work (exactly one caller
  // wins). False when it is absent or alive.
  virtual Result<bool> remove_if_stale(std::string_view id, std::int64_t before_ms) = 0;
  // Deletes `id` (a clean shutdown); absent is not an error.
  virtual Status remove(std::string_view id) = 0;
};

// ------------------------------------------------------------- unit of work

class UnitOfWork {
 public:
  virtual ~UnitOfWork() = default;
  virtual LedgerTables& ledger() = 0;
  virtual SeenTable& seen() = 0;
  virtual OutboxTable& outbox() = 0;
  virtual AttemptStatsTable& attempt_stats() = 0;
  virtual ApiKeyTable& api_keys() = 0;
  virtual WebhookEndpointTable& webhook_endpoints() = 0;
  virtual WebhookDeliveryTable& webhook_deliveries() = 0;
  virtual GenerationTable& generations() = 0;
  // The usage log. The default, for stores that keep none: append refuses
  // (Code::unsupported), prune deletes nothing, reads find no requests.
  virtual RequestLogTable& request_log();
  // The instance registry. The default, for stores without one: every call
  // fails with Code::unsupported (the engine then runs as the only instance).
  virtual InstanceTable& instances();
  // True inside Store::read(): every write fails with Code::internal.
  virtual bool read_only() const = 0;
};

// A borrowed callable: valid for the duration of one call only.
template <typename Sig>
class FunctionRef;
template <typename R, typename... A>
class FunctionRef<R(A...)> {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef>)
  FunctionRef(F&& f) noexcept  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

using Work = FunctionRef<Status(UnitOfWork&)>;

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // "sqlite", "postgres" or "memory".
  virtual std::string_view name() const = 0;
  // True when several processes may share this store as one deployment
  // (PostgreSQL): engines on it then need distinct instance ids.
  virtual bool shared() const { return false; }
  // Runs `work` as one atomic unit; returns after it is durable. Codes: the
  // work's own error, storage_error, unavailable (store closing).
  virtual Status transact(Work work) = 0;
  // Runs `work` against a consistent read-only snapshot; never blocks writers
  // (SQLite WAL readers).
  virtual Status read(Work work) = 0;
};

// What a store has run since it was opened (see count_units).
struct StoreCounters {
  std::uint64_t units = 0;         // Store::transact calls that committed
  std::uint64_t failed_units = 0;  // Store::transact calls that returned an error
  std::uint64_t reads = 0;         // Store::read calls
};

// A Store that forwards to `inner` and counts what it runs: `counters`
// (owned by the caller, outliving the store) is updated with relaxed atomics.
// The durable units a piece of work costs are the figure the engine's
// per-generation budget is stated in (bench/server_bench).
struct StoreCounterCells {
  std::atomic<std::uint64_t> units{0};
  std::atomic<std::uint64_t> failed_units{0};
  std::atomic<std::uint64_t> reads{0};
  StoreCounters load() const;
};
std::unique_ptr<Store> count_units(std::unique_ptr<Store> inner, StoreCounterCells& counters);

enum class Durability { full, normal };

struct SqliteOptions {
  // Database file; ":memory:" for a private in-memory database.
  std::string path = ":memory:";
  // FULL: transact() returns only once its unit's WAL frames are on disk
  // (fdatasync), so nothing acknowledged is ever lost. One sync covers every
  // batch committed since the last one and runs on the store's sync thread
  // while the writer runs the next batch; other connections may read a unit
  // a moment before it is durable, never its caller. A failed sync fails the
  // waiting units and every later one (storage_error): reopen the store.
  // NORMAL may lose the last commits on power loss (not on a process crash).
  Durability durability = Durability::full;
  // Units per group-commit transaction; 1 disables batching.
  std::size_t max_batch = 256;
  // How long the writer waits for more units once it has one. 0 (default):
  // it batches whatever queued up while the previous commit was syncing.
  std::chrono::microseconds max_wait{0};
  // How long a connection waits on a lock held by another process.
  std::chrono::milliseconds busy_timeout{5000};
  // Reader connections (file databases only).
  int readers = 4;
  // SQLite page cache of the writer connection, in KiB.
  int cache_kib = 4096;
  // Page cache of each reader connection (and of the checkpointer), in KiB:
  // readers mostly look rows up by key, and the operating system caches the
  // file under them, so a small cache keeps memory flat as the database grows.
  int reader_cache_kib = 1024;
};

// Opens (creating if needed) and migrates a SQLite store. Refuses a database
// whose schema version is newer than this library knows (corruption).
Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options);

struct PostgresOptions {
  // libpq connection string ("host=/run/postgresql dbname=app" or a
  // "postgresql://..." URL).
  std::string conninfo;
  // Schema holding every table (created if missing): 1-63 of [A-Za-z0-9_],
  // not starting with a digit. Deployments sharing a database use different
  // schemas.
  std::string schema = "babysea";
  // Connections; a unit holds one for its duration, more units wait.
  int pool_size = 4;
  // synchronous_commit on: transact() returns once the commit is flushed to
  // the server's WAL. Off may lose the last commits if the server crashes
  // (never corrupts).
  bool synchronous_commit = true;
  // Re-runs of a unit after a serialization failure or deadlock before
  // transact() gives up with Code::unavailable.
  int max_retries = 5;
  // Units per transaction: concurrent transact() calls are batched into one
  // PostgreSQL transaction, a savepoint per unit (one unit's failure never
  // sinks another), so one commit and one hold of a hot row's lock (a busy
  // account, escrow) serve many units. 1: every unit is its own transaction.
  int max_batch = 64;
  // Batches running at once, each on its own pooled connection (1 ..
  // pool_size). Units of concurrent batches may wait on each other's row
  // locks until commit; more lanes help when units touch different rows.
  int write_lanes = 1;
};

// Connects, creates the schema if needed and migrates it. Refuses a schema
// whose recorded migrations are newer than or differ from this library's
// (corruption), an invalid schema name or pool size (invalid_request); an
// unreachable server is Code::unavailable.
Result<std::unique_ptr<Store>> open_postgres_store(const PostgresOptions& options);

// A store that keeps everything in process memory (not durable).
std::unique_ptr<Store> open_memory_store();

}  // namespace babysea
