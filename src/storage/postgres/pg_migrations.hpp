// Numbered schema migrations of the PostgreSQL backend. Internal.
#pragma once

#include <span>

#include "storage/postgres/pg_conn.hpp"

namespace babysea::pg {

struct Migration {
  int version;       // 1, 2, 3, ... without gaps
  const char* name;  // recorded with the version and checked on open
  const char* sql;
};

// Every migration this library knows, in order. Append only: a released
// migration is never edited or renumbered. Versions and names follow the
// SQLite backend's, so both stores describe the same schema history.
std::span<const Migration> migrations();

// Creates the schema if needed and brings it up to date, in one transaction
// under an advisory lock on the schema name (instances opening together
// migrate once). The connection's search_path must name the schema. Refuses
// (corruption) a schema whose recorded migrations are newer than, or differ
// from, this library's.
Status migrate(Conn& conn, const std::string& schema, std::int64_t now_ms);

}  // namespace babysea::pg
