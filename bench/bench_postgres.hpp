// Benchmarks on PostgreSQL: a store in a fresh schema of the server that
// --pg CONNINFO or BABYSEA_TEST_PG names (scripts/with_postgres.sh starts a
// private one), dropped afterwards.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "babysea/storage.hpp"

namespace babysea::bench {

inline std::string postgres_conninfo_from_env() {
  const char* v = std::getenv("BABYSEA_TEST_PG");
  return v ? v : "";
}

// Drops `schema` and everything in it (quietly when absent).
inline void drop_postgres_schema(const std::string& conninfo, const std::string& schema) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) == CONNECTION_OK) {
    PQclear(PQexec(c, "SET client_min_messages TO warning"));
    PQclear(PQexec(c, ("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE").c_str()));
  }
  PQfinish(c);
}

// Opens a store in a fresh `schema` (dropped first if left over); exits
// with a message when the server cannot be used.
inline std::unique_ptr<Store> open_postgres_bench_store(PostgresOptions o) {
  drop_postgres_schema(o.conninfo, o.schema);
  auto s = open_postgres_store(o);
  if (!s.ok()) {
    std::fprintf(stderr, "bench: postgres: %s\n", s.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

// The server's deadlocks so far in the current database (pg_stat_database;
// the statistics may lag a moment behind). -1 when it cannot be read.
inline std::int64_t postgres_deadlocks(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::int64_t n = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PQclear(PQexec(c, "SELECT pg_stat_clear_snapshot()"));
    PGresult* r = PQexec(c, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) n = std::atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(c);
  return n;
}

// Round-trip calibration, one connection, one thread, no store: how many
// trivial statements per second this server answers at all
// (`statement` = "SELECT 1": the client/server round trip; an autocommit
// INSERT with synchronous_commit on: one WAL flush per statement, the
// commit floor), for `seconds`. In `schema` (created if missing, its table
// dropped afterwards). Returns 0 when the server cannot be used.
inline double postgres_round_trips_per_s(const std::string& conninfo, const std::string& schema, bool commit,
                                         double seconds) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  double per_s = 0;
  if (PQstatus(c) == CONNECTION_OK) {
    const std::string table = "\"" + schema + "\".bench_rt";
    PQclear(PQexec(c, "SET client_min_messages TO warning"));
    PQclear(PQexec(c, "SET synchronous_commit TO on"));
    PQclear(PQexec(c, ("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"").c_str()));
    PQclear(PQexec(c, ("CREATE TABLE IF NOT EXISTS " + table + " (id bigint, v text)").c_str()));
    const std::string sql = commit ? "INSERT INTO " + table + " VALUES ($1::bigint, 'x')" : "SELECT $1::bigint";
    PGresult* prep = PQprepare(c, "rt", sql.c_str(), 1, nullptr);
    const bool prepared = PQresultStatus(prep) == PGRES_COMMAND_OK;
    PQclear(prep);
    std::int64_t n = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (prepared && std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
      const std::string v = std::to_string(n);
      const char* params[1] = {v.c_str()};
      PGresult* r = PQexecPrepared(c, "rt", 1, params, nullptr, nullptr, 0);
      const ExecStatusType st = PQresultStatus(r);
      PQclear(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) break;
      ++n;
    }
    per_s = static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    PQclear(PQexec(c, ("DROP TABLE IF EXISTS " + table).c_str()));
  }
  PQfinish(c);
  return per_s;
}

}  // namespace babysea::bench
