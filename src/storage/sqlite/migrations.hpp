// Numbered schema migrations of the SQLite backend. Internal.
#pragma once

#include <span>

#include "storage/sqlite/sqlite_db.hpp"

namespace babysea::sqlite {

struct Migration {
  int version;       // 1, 2, 3, ... without gaps
  const char* name;  // recorded with the version and checked on open
  const char* sql;
};

// Every migration this library knows, in order. Append only: a released
// migration is never edited or renumbered.
std::span<const Migration> migrations();

// Brings the schema up to date inside `db`. Refuses (corruption) a database
// whose recorded migrations are newer than, or differ from, this library's.
Status migrate(Db& db, std::int64_t now_ms);

}  // namespace babysea::sqlite
