// A thin libpq layer for the PostgreSQL backend. Internal.
//
// Conn owns one PGconn and the statements prepared on it (prepared by name,
// once per connection, keyed by their SQL text). Every statement is sent with
// text parameters (binary for bytea) and asks for binary results, so integers
// arrive as fixed-size big-endian values and bytea as raw bytes.
//
// Round trips: a statement whose result the caller does not need (a write
// that either applies or fails the unit: defer()) is queued, not sent; the
// next statement that needs a result (exec()) or an explicit sync() sends the
// whole queue in libpq pipeline mode (PostgreSQL 14+) with one Sync, so a
// unit's writes cost one round trip together with its next read. A deferred
// statement may carry an expectation (exactly one row changed, else a given
// Status); a queued statement that fails, or misses its expectation, becomes
// the result of the exec()/sync() that sent it (statements after a server
// error are skipped by the server: a failed statement aborts the pipeline),
// and stays the unit's first_error().
//
// Error mapping (status_from): class 23 (integrity) -> idempotency_conflict;
// 40001 serialization failure and 40P01 deadlock -> unavailable, marked
// retryable on the Conn; connection failures (class 08, admin shutdown, a
// broken socket) -> unavailable, the Conn marked broken; XX001/XX002 ->
// corruption; everything else -> storage_error.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "babysea/status.hpp"

namespace babysea::pg {

// Parameters of one statement ($1, $2, ...), copied.
class Params {
 public:
  Params& text(std::string_view v);
  Params& i64(std::int64_t v);
  Params& null();
  Params& text_or_null(std::string_view v) { return v.empty() ? null() : text(v); }
  Params& bytes(std::string_view v);  // bytea, sent in binary

 private:
  friend class Conn;
  std::vector<std::string> values_;
  std::vector<int> formats_;
  std::vector<bool> nulls_;
};

// The rows of one statement (binary format). Owns the PGresult.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  // Text or bytea column; NULL reads as empty.
  std::string text(int row, int col) const;
  std::string_view text_view(int row, int col) const;
  // smallint, integer or bigint column; NULL reads as 0.
  std::int64_t i64(int row, int col) const;
  // Rows changed by INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_{nullptr, &PQclear};
};

class Conn {
 public:
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects and runs the session settings (search_path to `schema`,
  // synchronous_commit). unavailable when the server cannot be reached.
  static Result<std::unique_ptr<Conn>> connect(const std::string& conninfo, const std::string& quoted_schema,
                                               bool synchronous_commit);

  // Runs a prepared statement (prepared on first use on this connection),
  // sending every deferred statement ahead of it in the same round trip.
  // An earlier deferred statement's failure is returned instead of the rows.
  Result<Rows> exec(const char* sql, const Params& params = {});
  // Queues a prepared statement (deferred). With `unless_one_row` not OK,
  // `sql` must be an INSERT, UPDATE or DELETE without RETURNING: it is sent
  // wrapped so that the server itself fails it (division by zero) unless it
  // changed exactly one row, and that failure reads as `unless_one_row`. A
  // server-side failure aborts the rest of the pipeline, so a RELEASE
  // SAVEPOINT or COMMIT queued after it never runs.
  void defer(std::string_view sql, Params params, Status unless_one_row = Status());
  // Queues a statement without parameters (BEGIN, SAVEPOINT, ...), unprepared.
  void defer_simple(const char* sql);
  // Sends the queue (if any) and waits for it: the first failure, else OK.
  Status sync();
  // Runs simple-protocol SQL (one or more statements, no parameters) after
  // sending the queue.
  Status exec_simple(const std::string& sql);
  // Drops the statements queued and not yet sent (a unit that failed before
  // sending its writes); discard_owned_by(k) those queued while the owner
  // was k.
  void discard_deferred() { queue_.clear(); }
  void discard_owned_by(int owner);
  // Round trips so far (a unit that did not move it sent nothing).
  std::uint64_t round_trips() const { return round_trips_; }

  // Owners: the batch runner stamps the statements it and each unit queue
  // with the unit's index, so a failure found in a later round trip is
  // attributed to the unit that queued it. -1 until set.
  void set_owner(int owner) { owner_ = owner; }
  // The owner of the first statement that failed since reset_failed_owner();
  // -2 when none did.
  int failed_owner() const { return failed_owner_; }
  void reset_failed_owner() { failed_owner_ = -2; }
  // The owner of the last statement sent that may write (any prepared
  // statement but a SELECT); -2 before any.
  int last_write_owner() const { return last_write_owner_; }

  // Per unit: whether a statement failed with a serialization failure or
  // deadlock, or with a unique violation, since the last reset_flags().
  bool retry_wanted() const { return retry_wanted_; }
  bool unique_conflict() const { return unique_conflict_; }
  void note_unique_conflict() { unique_conflict_ = true; }
  const Status& first_error() const { return first_error_; }
  void reset_flags() {
    retry_wanted_ = false;
    unique_conflict_ = false;
    first_error_ = Status();
  }
  // The connection is unusable (lost, or in a state we cannot recover).
  bool broken() const { return broken_ || PQstatus(raw_) != CONNECTION_OK; }
  // Inside a transaction block that failed (every statement fails until ROLLBACK).
  bool in_failed_transaction() const { return PQtransactionStatus(raw_) == PQTRANS_INERROR; }

 private:
  struct Queued {
    std::string sql;
    Params params;
    bool prepared = true;    // false: sent unnamed, no parameters
    Status unless_one_row;  // OK: no expectation
    int owner = -1;
  };
  explicit Conn(PGconn* c) : raw_(c) {}
  Status status_from(PGresult* r, std::string_view context);
  // Sends queue_ in one pipeline and reads every result; the rows of the last
  // statement go to `last` when it is wanted.
  Status round_trip(Rows* last);
  Status lost(std::string_view context);

  PGconn* raw_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  std::vector<Queued> queue_;
  std::uint64_t next_name_ = 0;
  int owner_ = -1;
  std::uint64_t round_trips_ = 0;
  int failed_owner_ = -2;
  int last_write_owner_ = -2;
  bool retry_wanted_ = false;
  bool unique_conflict_ = false;
  bool broken_ = false;
  Status first_error_;
};

// Quotes an identifier that validate_identifier accepted ("name").
std::string quote_identifier(std::string_view name);
// Schema names: 1-63 characters [A-Za-z0-9_], not starting with a digit.
Status validate_identifier(std::string_view name, std::string_view what);

}  // namespace babysea::pg
