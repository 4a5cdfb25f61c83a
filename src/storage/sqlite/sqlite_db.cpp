#include "storage/sqlite/sqlite_db.hpp"

#include <unistd.h>

namespace babysea::sqlite {

std::atomic<WalSyncFunction> wal_sync_function{&::fdatasync};

Status status_from(sqlite3* db, int rc, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += sqlite3_errstr(rc);
  if (db) {
    const char* detail = sqlite3_errmsg(db);
    if (detail && std::string_view(detail) != sqlite3_errstr(rc)) {
      msg += " (";
      msg += detail;
      msg += ')';
    }
  }
  switch (rc & 0xFF) {
    case SQLITE_CONSTRAINT: return Status(Code::idempotency_conflict, std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status(Code::unavailable, std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status(Code::corruption, std::move(msg));
    default: return Status(Code::storage_error, std::move(msg));
  }
}

Query::~Query() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query& Query::bind(int index, std::int64_t v) {
  sqlite3_bind_int64(stmt_, index, v);
  return *this;
}

Query& Query::bind(int index, std::string_view v) {
  // SQLITE_STATIC: the view outlives the step() calls made through this Query.
  sqlite3_bind_text(stmt_, index, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}

Query& Query::bind_blob(int index, std::string_view v) {
  sqlite3_bind_blob(stmt_, index, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}

Query& Query::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Query& Query::bind_or_null(int index, std::string_view v) {
  return v.empty() ? bind_null(index) : bind(index, v);
}

Result<bool> Query::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return status_from(db_->raw(), rc, "step");
}

Status Query::run() {
  for (;;) {
    auto r = step();
    if (!r.ok()) return std::move(r).take_status();
    if (!*r) return {};
  }
}

std::string Query::text(int col) const { return std::string(text_view(col)); }

std::string Query::blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (!p) return {};
  return std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Query::text_view(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (!p) return {};
  return std::string_view(reinterpret_cast<const char*>(p),
                          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = status_from(raw, rc, "open " + path);
    sqlite3_close_v2(raw);
    return s;
  }
  sqlite3_extended_result_codes(raw, 1);
  return std::unique_ptr<Db>(new Db(raw));
}

Db::~Db() {
  for (auto& [k, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Db::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string ctx = "exec";
    if (err) {
      ctx += " (";
      ctx += err;
      ctx += ')';
    }
    sqlite3_free(err);
    return status_from(db_, rc, ctx);
  }
  return {};
}

Result<Query> Db::query(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return status_from(db_, rc, std::string("prepare: ") + sql);
    it = cache_.emplace(sql, stmt).first;
  }
  return Query(*this, it->second);
}

}  // namespace babysea::sqlite
