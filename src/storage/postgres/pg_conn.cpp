#include "storage/postgres/pg_conn.hpp"

#include <endian.h>

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
  if (PQstatus(raw_) != CONNECTION_OK || sqlstate.starts_with("08") || sqlstate == "57P01" ||
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

Result<Rows> Conn::exec(const char* sql, const Params& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    PGresult* prep = PQprepare(raw_, name.c_str(), sql, 0, nullptr);
    if (prep == nullptr || PQresultStatus(prep) != PGRES_COMMAND_OK) {
      Status s = status_from(prep, "prepare");
      if (prep) PQclear(prep);
      return s;
    }
    PQclear(prep);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const int n = static_cast<int>(params.values_.size());
  std::vector<const char*> values(static_cast<std::size_t>(n));
  std::vector<int> lengths(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    values[k] = params.nulls_[k] ? nullptr : params.values_[k].data();
    lengths[k] = static_cast<int>(params.values_[k].size());
  }
  PGresult* r = PQexecPrepared(raw_, it->second.c_str(), n, values.data(), lengths.data(), params.formats_.data(),
                               /*resultFormat=*/1);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Rows(r);
  Status s = status_from(r, "statement");
  if (r) PQclear(r);
  return s;
}

Status Conn::exec_simple(const std::string& sql) {
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
