// The store a test worker process opens, named by one command-line argument:
//   sqlite:<path>                        a SQLite file
//   postgres:<schema>:<conninfo>         a PostgreSQL schema (pool_size 4)
// (a schema name has no ':'; the conninfo may hold anything). The parent test
// builds the spec with store_spec() from its own StoreFixture, so the worker
// opens the very store the parent checks.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "babysea/storage.hpp"

namespace babysea::testing {

inline std::string sqlite_store_spec(const std::string& path) { return "sqlite:" + path; }

inline std::string postgres_store_spec(const PostgresOptions& o) { return "postgres:" + o.schema + ":" + o.conninfo; }

inline Result<std::unique_ptr<Store>> open_store_spec(std::string_view spec, int pool_size = 4) {
  if (spec.starts_with("sqlite:")) {
    SqliteOptions o;
    o.path = std::string(spec.substr(7));
    return open_sqlite_store(o);
  }
  if (spec.starts_with("postgres:")) {
    std::string_view rest = spec.substr(9);
    const std::size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return Status(Code::invalid_request, "postgres spec: postgres:<schema>:<conninfo>");
    PostgresOptions o;
    o.schema = std::string(rest.substr(0, colon));
    o.conninfo = std::string(rest.substr(colon + 1));
    o.pool_size = pool_size;
    return open_postgres_store(o);
  }
  return Status(Code::invalid_request, "store spec must start with sqlite: or postgres:");
}

}  // namespace babysea::testing
