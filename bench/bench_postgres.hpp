// Benchmarks on PostgreSQL: a store in a fresh schema of the server that
// --pg CONNINFO or BABYSEA_TEST_PG names (scripts/with_postgres.sh starts a
// private one), dropped afterwards.
#pragma once

#include <libpq-fe.h>

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

}  // namespace babysea::bench
