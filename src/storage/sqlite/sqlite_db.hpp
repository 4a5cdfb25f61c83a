// A thin RAII layer over one SQLite connection: statement cache, typed
// binding, result-code mapping. Internal to babysea.
//
// Thread safety: a Db is used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "babysea/status.hpp"

namespace babysea::sqlite {

// Maps a SQLite result code (and the connection's message) to a Status.
// SQLITE_CONSTRAINT → idempotency_conflict; BUSY/LOCKED → unavailable;
// CORRUPT/NOTADB → corruption; anything else → storage_error.
Status status_from(sqlite3* db, int rc, std::string_view context);

// The call that makes a store's WAL durable (fdatasync by default). Tests
// swap it to inject a failing disk; it is process-wide.
using WalSyncFunction = int (*)(int fd);
extern std::atomic<WalSyncFunction> wal_sync_function;

class Db;

// A cached prepared statement in use. Reset and unbound on destruction.
class Query {
 public:
  Query(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Query(Query&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query();

  Query& bind(int index, std::int64_t v);
  Query& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  Query& bind(int index, std::string_view v);  // empty string binds as text ''
  Query& bind_null(int index);
  Query& bind_blob(int index, std::string_view v);
  // Binds NULL for an empty view, text otherwise.
  Query& bind_or_null(int index, std::string_view v);

  // Steps once: true if a row is available, false when done; error Status
  // (via `status`) otherwise.
  Result<bool> step();
  // Steps to completion, expecting no row.
  Status run();

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const;
  std::string_view text_view(int col) const;
  std::string blob(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens a connection with SQLITE_OPEN_* flags (NOMUTEX is added).
  static Result<std::unique_ptr<Db>> open(const std::string& path, int flags);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Executes one or more statements with no results (not cached).
  Status exec(const char* sql);
  // A cached statement for `sql`, keyed by the pointer: pass string literals.
  Result<Query> query(const char* sql);
  sqlite3* raw() const { return db_; }
  int changes() const { return sqlite3_changes(db_); }
  std::int64_t last_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const void*, sqlite3_stmt*> cache_;
};

}  // namespace babysea::sqlite
