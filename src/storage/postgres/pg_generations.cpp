// The PostgreSQL generations, provider_jobs and idempotency_keys tables.
#include <algorithm>

#include "storage/postgres/pg_tables.hpp"

#define PG_EXEC(var, sql, params) BABYSEA_ASSIGN_OR_RETURN(Rows var, conn_.exec(sql, params))

namespace babysea::pg {
namespace {

#define GENERATION_COLS "id, account, status, created_ms, wake_ms, version, doc, owner"

void read_generation(const Rows& r, int i, GenerationRow& g) {
  g.id = r.text(i, 0);
  g.account = r.text(i, 1);
  g.status = static_cast<int>(r.i64(i, 2));
  g.created_ms = r.i64(i, 3);
  g.wake_ms = r.i64(i, 4);
  g.version = r.i64(i, 5);
  g.doc = r.text(i, 6);  // bytea arrives as raw bytes (binary results)
  g.owner = r.text(i, 7);
}

#define IDEMPOTENCY_COLS "account, key, fingerprint, generation_id, created_ms, expires_ms"

void read_idempotency(const Rows& r, int i, IdempotencyRow& out) {
  out.account = r.text(i, 0);
  out.key = r.text(i, 1);
  out.fingerprint = r.text(i, 2);
  out.generation_id = r.text(i, 3);
  out.created_ms = r.i64(i, 4);
  out.expires_ms = r.i64(i, 5);
}

Status missing(std::string_view what, std::string_view id) {
  return Status(Code::not_found, std::string(what) + " '" + std::string(id) + "' not found");
}

Status read_only_write() { return Status(Code::internal, "write inside a read-only unit"); }

std::int64_t lim(std::size_t limit) {
  return limit > static_cast<std::size_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(limit);
}

}  // namespace

Status PgGenerations::insert(const GenerationRow& g) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(g.id).text(g.account).i64(g.status).i64(g.created_ms).i64(g.wake_ms).i64(g.version).bytes(g.doc)
      .text(g.owner);
  // Sent with the unit's next statement (pg_conn.hpp): a duplicate id is
  // the server's unique violation, which fails the unit idempotency_conflict.
  conn_.defer("INSERT INTO generations(" GENERATION_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8)", std::move(p));
  return {};
}

Status PgGenerations::get(std::string_view id, GenerationRow& out) {
  Params p;
  p.text(id);
  PG_EXEC(r, "SELECT " GENERATION_COLS " FROM generations WHERE id = $1", p);
  if (r.size() == 0) return missing("generation", id);
  read_generation(r, 0, out);
  return {};
}

Status PgGenerations::update(const GenerationRow& g, std::int64_t expected_version) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(g.status).i64(g.wake_ms).i64(g.version).bytes(g.doc).text(g.id).i64(expected_version).text(g.owner);
  // Compare-and-set: under READ COMMITTED a concurrent writer's update makes
  // this one wait, then re-check the version on the new row (0 rows).
  PG_EXEC(r, "UPDATE generations SET status = $1, wake_ms = $2, version = $3, doc = $4, owner = $7 "
             "WHERE id = $5 AND version = $6",
          p);
  if (r.affected() == 1) return {};
  GenerationRow current;
  BABYSEA_RETURN_IF_ERROR(get(g.id, current));
  return Status(Code::invalid_state, "generation '" + g.id + "' changed concurrently");
}

Status PgGenerations::list_for_account(std::string_view account, std::int64_t offset, std::int64_t limit,
                                       std::vector<GenerationRow>& out, std::int64_t& total) {
  out.clear();
  {
    Params p;
    p.text(account);
    PG_EXEC(c, "SELECT COUNT(*) FROM generations WHERE account = $1", p);
    total = c.size() > 0 ? c.i64(0, 0) : 0;
  }
  Params p;
  // SQLite reads a negative LIMIT as no limit and a negative OFFSET as 0.
  p.text(account).i64(limit < 0 ? INT64_MAX : limit).i64(offset < 0 ? 0 : offset);
  PG_EXEC(r, "SELECT " GENERATION_COLS " FROM generations WHERE account = $1 "
             "ORDER BY created_ms DESC, id DESC LIMIT $2 OFFSET $3",
          p);
  for (int i = 0; i < r.size(); ++i) read_generation(r, i, out.emplace_back());
  return {};
}

Status PgGenerations::due(std::int64_t now_ms, std::size_t limit, std::vector<GenerationRow>& out) {
  Params p;
  p.i64(now_ms).i64(lim(limit));
  PG_EXEC(r, "SELECT " GENERATION_COLS " FROM generations WHERE wake_ms > 0 AND wake_ms <= $1 "
             "ORDER BY wake_ms LIMIT $2",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_generation(r, i, out.emplace_back());
  return {};
}

Status PgGenerations::claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                                std::vector<GenerationRow>& out) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(now_ms).i64(lim(limit)).i64(lease_until_ms);
  // One statement: the due rows nobody else holds are locked (rows another
  // unit holds are skipped, not waited for) and moved to the lease; the
  // version stays, and the rows come back with their old wake_ms.
  PG_EXEC(r, "UPDATE generations g SET wake_ms = $3 FROM (SELECT id, wake_ms FROM generations "
             "WHERE wake_ms > 0 AND wake_ms <= $1 ORDER BY wake_ms LIMIT $2 FOR UPDATE SKIP LOCKED) d "
             "WHERE g.id = d.id "
             "RETURNING g.id, g.account, g.status, g.created_ms, d.wake_ms, g.version, g.doc, g.owner",
          p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) read_generation(r, i, out.emplace_back());
  // RETURNING keeps no order: earliest first, as due().
  std::sort(out.begin(), out.end(), [](const GenerationRow& a, const GenerationRow& b) {
    return a.wake_ms != b.wake_ms ? a.wake_ms < b.wake_ms : a.id < b.id;
  });
  return {};
}

Status PgGenerations::unfinished_owned_by(std::string_view owner, std::vector<std::string>& out) {
  Params p;
  p.text(owner);
  // The predicate as written in the generations_owner_unfinished index.
  PG_EXEC(r, "SELECT id FROM generations WHERE owner = $1 AND (status < 2 OR wake_ms > 0) ORDER BY id", p);
  out.clear();
  for (int i = 0; i < r.size(); ++i) out.push_back(r.text(i, 0));
  return {};
}

Status PgGenerations::unfinished(std::vector<std::string>& out) {
  PG_EXEC(r, "SELECT id FROM generations WHERE status < 2 UNION SELECT id FROM generations WHERE wake_ms > 0 "
             "ORDER BY 1",
          Params());
  out.clear();
  for (int i = 0; i < r.size(); ++i) out.push_back(r.text(i, 0));
  return {};
}

Status PgGenerations::for_each_since(std::string_view account, std::int64_t since_ms,
                                     const std::function<void(const GenerationRow&)>& fn) {
  Params p;
  p.text(account).i64(since_ms);
  PG_EXEC(r, "SELECT " GENERATION_COLS " FROM generations WHERE account = $1 AND created_ms >= $2 "
             "ORDER BY created_ms, id",
          p);
  GenerationRow g;
  for (int i = 0; i < r.size(); ++i) {
    read_generation(r, i, g);
    fn(g);
  }
  return {};
}

Status PgGenerations::count_by_status(std::vector<std::int64_t>& out) {
  PG_EXEC(r, "SELECT status, COUNT(*) FROM generations GROUP BY status", Params());
  out.assign(5, 0);
  for (int i = 0; i < r.size(); ++i) {
    const std::int64_t s = r.i64(i, 0);
    if (s >= 0 && s < 5) out[static_cast<std::size_t>(s)] = r.i64(i, 1);
  }
  return {};
}

Status PgGenerations::put_job(std::string_view provider, std::string_view job_id, std::string_view generation_id,
                              std::string_view attempt_id) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(provider).text(job_id).text(generation_id).text(attempt_id);
  PG_EXEC(r, "INSERT INTO provider_jobs(provider, job_id, generation_id, attempt_id) VALUES($1,$2,$3,$4) "
             "ON CONFLICT DO NOTHING",
          p);
  if (r.affected() == 1) return {};
  // The pair exists (possibly inserted a moment ago by another writer, whose
  // row this statement waited for): the same attempt is a replay.
  std::string g, a;
  BABYSEA_RETURN_IF_ERROR(find_job(provider, job_id, g, a));
  if (a == attempt_id) return {};
  return Status(Code::idempotency_conflict, "provider job '" + std::string(job_id) + "' already exists");
}

Status PgGenerations::find_job(std::string_view provider, std::string_view job_id, std::string& generation_id,
                               std::string& attempt_id) {
  Params p;
  p.text(provider).text(job_id);
  PG_EXEC(r, "SELECT generation_id, attempt_id FROM provider_jobs WHERE provider = $1 AND job_id = $2", p);
  if (r.size() == 0) return missing("provider job", job_id);
  generation_id = r.text(0, 0);
  attempt_id = r.text(0, 1);
  return {};
}

Status PgGenerations::get_idempotency(std::string_view account, std::string_view key, IdempotencyRow& out) {
  Params p;
  p.text(account).text(key);
  PG_EXEC(r, "SELECT " IDEMPOTENCY_COLS " FROM idempotency_keys WHERE account = $1 AND key = $2", p);
  if (r.size() == 0) return missing("idempotency key", key);
  read_idempotency(r, 0, out);
  return {};
}

Status PgGenerations::put_idempotency(const IdempotencyRow& row) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(row.account).text(row.key).text(row.fingerprint).text(row.generation_id).i64(row.created_ms)
      .i64(row.expires_ms);
  PG_EXEC(r, "INSERT INTO idempotency_keys(" IDEMPOTENCY_COLS ") VALUES($1,$2,$3,$4,$5,$6) "
             "ON CONFLICT (account, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
             "generation_id = EXCLUDED.generation_id, created_ms = EXCLUDED.created_ms, "
             "expires_ms = EXCLUDED.expires_ms",
          p);
  return {};
}

Result<bool> PgGenerations::claim_idempotency(const IdempotencyRow& row, std::int64_t now_ms,
                                             IdempotencyRow& existing) {
  if (read_only_) return read_only_write();
  Params p;
  p.text(row.account).text(row.key).text(row.fingerprint).text(row.generation_id).i64(row.created_ms)
      .i64(row.expires_ms).i64(now_ms);
  // One statement: inserts, or replaces an expired record; a live record
  // (possibly committed a moment ago by another writer) is left alone and
  // read back below. ON CONFLICT waits for a concurrent claim to finish.
  PG_EXEC(r, "INSERT INTO idempotency_keys(" IDEMPOTENCY_COLS ") VALUES($1,$2,$3,$4,$5,$6) "
             "ON CONFLICT (account, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
             "generation_id = EXCLUDED.generation_id, created_ms = EXCLUDED.created_ms, "
             "expires_ms = EXCLUDED.expires_ms WHERE idempotency_keys.expires_ms <= $7",
          p);
  if (r.affected() > 0) return true;
  BABYSEA_RETURN_IF_ERROR(get_idempotency(row.account, row.key, existing));
  return false;
}

Result<std::size_t> PgGenerations::prune_idempotency(std::int64_t before_ms) {
  if (read_only_) return read_only_write();
  Params p;
  p.i64(before_ms);
  PG_EXEC(r, "DELETE FROM idempotency_keys WHERE expires_ms < $1", p);
  return static_cast<std::size_t>(r.affected());
}

}  // namespace babysea::pg
