#include "storage/postgres/pg_conn.hpp"

#include <endian.h>

#include <algorithm>
#include <cstring>

namespace babysea::pg {

Params& Params::text(std::string_view v) {
  values_.emplace_back(v);
  formats_.push_back(0);
  nulls_.push_back(false);
  return *this;
}

Params& Params::i64(std::int64_t v) {
  values_.push_back(std::to_string(v));
  formats_.push_back(0);
  nulls_.push_back(false);
  return *this;
}

Params& Params::null() {
  values_.emplace_back();
  formats_.push_back(0);
  nulls_.push_back(true);
  return *this;
}

Params& Params::bytes(std::string_view v) {
  values_.emplace_back(v);
  formats_.push_back(1);
  nulls_.push_back(false);
  return *this;
}

std::string_view Rows::text_view(int row, int col) const {
  if (null(row, col)) return {};
  return std::string_view(PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col)));
}

std::string Rows::text(int row, int col) const { return std::string(text_view(row, col)); }

std::int64_t Rows::i64(int row, int col) const {
  if (null(row, col)) return 0;
  const char* p = PQgetvalue(r_.get(), row, col);
  switch (PQgetlength(r_.get(), row, col)) {
    case 2: {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<std::int16_t>(be16toh(v));
    }
    case 4: {
      std::uint32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<std::int32_t>(be32toh(v));
    }
    case 8: {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<std::int64_t>(be64toh(v));
    }
    default: return 0;
  }
}

std::int64_t Rows::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  return (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
}

Conn::~Conn() {
  if (raw_) PQfinish(raw_);
}

Result<std::unique_ptr<Conn>> Conn::connect(const std::string& conninfo, const std::string& quoted_schema,
                                            bool synchronous_commit) {
  PGconn* raw = PQconnectdb(conninfo.c_str());
  if (raw == nullptr) return Status(Code::unavailable, "postgres: out of memory connecting");
  std::unique_ptr<Conn> c(new Conn(raw));
  if (PQstatus(raw) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(raw);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status(Code::unavailable, "postgres: cannot connect: " + msg);
  }
  std::string setup = "SET search_path TO " + quoted_schema + "; SET synchronous_commit TO " +
                      (synchronous_commit ? "on" : "off") + "; SET client_min_messages TO warning";
  BABYSEA_RETURN_IF_ERROR(c->exec_simple(setup));
  return c;
}

Status Conn::status_from(PGresult* r, std::string_view context) {
  std::string msg = "postgres: ";
  msg += context;
  msg += ": ";
  const char* detail = r ? PQresultErrorMessage(r) : nullptr;
  msg += (detail && *detail) ? detail : PQerrorMessage(raw_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view sqlstate = state ? state : "";
  Status s;
  // No SQLSTATE: libpq's own failure (e.g. "server closed the connection
  // unexpectedly", reported before PQstatus notices): the session is gone.
  if (PQstatus(raw_) != CONNECTION_OK || sqlstate.empty() || sqlstate.starts_with("08") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    broken_ = true;
    s = Status(Code::unavailable, std::move(msg));
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    retry_wanted_ = true;
    s = Status(Code::unavailable, std::move(msg));
  } else if (sqlstate.starts_with("23")) {
    if (sqlstate == "23505") unique_conflict_ = true;
    s = Status(Code::idempotency_conflict, std::move(msg));
  } else if (sqlstate == "XX001" || sqlstate == "XX002") {
    s = Status(Code::corruption, std::move(msg));
  } else {
    s = Status(Code::storage_error, std::move(msg));
  }
  if (first_error_.ok()) first_error_ = s;
  return s;
}

Status Conn::lost(std::string_view context) {
  broken_ = true;
  std::string msg = "postgres: connection lost (" + std::string(context) + "): " + PQerrorMessage(raw_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  Status s(Code::unavailable, std::move(msg));
  if (first_error_.ok()) first_error_ = s;
  return s;
}

Status Conn::round_trip(Rows* last) {
  if (queue_.empty()) return {};
  std::vector<Queued> q;
  q.swap(queue_);
  ++round_trips_;
  if (broken()) return lost("before sending");
  if (PQenterPipelineMode(raw_) != 1) return lost("entering pipeline mode");

  // Send: a Parse for each statement not yet prepared on this connection,
  // then the statement; one Sync for all.
  struct Step {
    std::size_t item;
    bool prepare;
  };
  std::vector<Step> steps;
  steps.reserve(q.size() + 2);
  std::vector<const char*> values;
  std::vector<int> lengths;
  for (std::size_t i = 0; i < q.size(); ++i) {
    Queued& it = q[i];
    int sent = 0;
    if (it.prepared) {
      auto f = prepared_.find(it.sql);
      if (f == prepared_.end()) {
        std::string name = "s" + std::to_string(next_name_++);
        if (PQsendPrepare(raw_, name.c_str(), it.sql.c_str(), 0, nullptr) != 1) return lost("sending a prepare");
        steps.push_back({i, true});
        f = prepared_.emplace(it.sql, std::move(name)).first;
      }
      const auto n = it.params.values_.size();
      values.resize(n);
      lengths.resize(n);
      for (std::size_t k = 0; k < n; ++k) {
        values[k] = it.params.nulls_[k] ? nullptr : it.params.values_[k].data();
        lengths[k] = static_cast<int>(it.params.values_[k].size());
      }
      sent = PQsendQueryPrepared(raw_, f->second.c_str(), static_cast<int>(n), values.data(), lengths.data(),
                                 it.params.formats_.data(), /*resultFormat=*/1);
    } else {
      sent = PQsendQueryParams(raw_, it.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1);
    }
    if (sent != 1) return lost("sending a statement");
    steps.push_back({i, false});
    if (it.prepared && !it.sql.starts_with("SELECT")) last_write_owner_ = it.owner;
  }
  if (PQpipelineSync(raw_) != 1) return lost("sending a sync");

  // Read one result per step, in order. After a server error the server skips
  // everything up to the Sync (PGRES_PIPELINE_ABORTED).
  Status first;
  for (const Step& st : steps) {
    Queued& it = q[st.item];
    PGresult* r = PQgetResult(raw_);
    if (r == nullptr) return lost("reading a result");
    const ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
      if (!st.prepare && last != nullptr && st.item + 1 == q.size()) {
        *last = Rows(r);
        r = nullptr;
      }
    } else {
      if (st.prepare) prepared_.erase(it.sql);  // the Parse did not happen: prepare again next time
      if (es != PGRES_PIPELINE_ABORTED) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        Status s;
        if (!st.prepare && !it.unless_one_row.ok() && state != nullptr && std::strcmp(state, "22012") == 0) {
          s = it.unless_one_row;  // the wrapper's division by zero: not exactly one row
          if (s.code() == Code::idempotency_conflict) unique_conflict_ = true;
          if (first_error_.ok()) first_error_ = s;
        } else {
          s = status_from(r, st.prepare ? "prepare" : "statement");
        }
        if (first.ok()) first = s;
        if (failed_owner_ == -2) failed_owner_ = it.owner;
      }
    }
    if (r != nullptr) PQclear(r);
    if (broken_ || PQstatus(raw_) != CONNECTION_OK) return lost("reading results");
    // Each statement's results end with a null result.
    while ((r = PQgetResult(raw_)) != nullptr) PQclear(r);
  }
  PGresult* sync = PQgetResult(raw_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync != nullptr) PQclear(sync);
  if (!synced) return lost("reading the sync");
  if (PQexitPipelineMode(raw_) != 1) return lost("leaving pipeline mode");
  return first;
}

Result<Rows> Conn::exec(const char* sql, const Params& params) {
  queue_.push_back(Queued{sql, params, true, Status(), owner_});
  Rows rows;
  BABYSEA_RETURN_IF_ERROR(round_trip(&rows));
  return rows;
}

void Conn::defer(std::string_view sql, Params params, Status unless_one_row) {
  std::string text;
  if (unless_one_row.ok()) {
    text = sql;
  } else {
    // (count = 1)::int is 1 or 0: the division fails at run time unless the
    // statement changed exactly one row (it cannot be folded at plan time).
    text.reserve(sql.size() + 80);
    text.append("WITH w AS (").append(sql).append(" RETURNING 1) SELECT 1 / (count(*) = 1)::int FROM w");
  }
  queue_.push_back(Queued{std::move(text), std::move(params), true, std::move(unless_one_row), owner_});
}

void Conn::defer_simple(const char* sql) { queue_.push_back(Queued{sql, Params(), false, Status(), owner_}); }

void Conn::discard_owned_by(int owner) {
  std::erase_if(queue_, [owner](const Queued& q) { return q.owner == owner; });
}


Status Conn::sync() { return round_trip(nullptr); }

Status Conn::exec_simple(const std::string& sql) {
  BABYSEA_RETURN_IF_ERROR(sync());
  PGresult* r = PQexec(raw_, sql.c_str());
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(r);
    return {};
  }
  Status s = status_from(r, "exec");
  if (r) PQclear(r);
  return s;
}

std::string quote_identifier(std::string_view name) { return "\"" + std::string(name) + "\""; }

Status validate_identifier(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= 63 && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) ok = false;
  }
  if (!ok)
    return Status(Code::invalid_request, std::string(what) + " '" + std::string(name) +
                                             "' is not a valid name (1-63 of A-Z a-z 0-9 _, not starting with a digit)");
  return {};
}

}  // namespace babysea::pg
