// The SQLite generations, provider_jobs and idempotency_keys tables.
#include "storage/sqlite/sqlite_tables.hpp"

#define BABYSEA_Q(var, sql) BABYSEA_ASSIGN_OR_RETURN(Query var, db_.query(sql))

namespace babysea::sqlite {
namespace {

#define GENERATION_COLS "id, account, status, created_ms, wake_ms, version, doc, owner"

void read_generation(const Query& q, GenerationRow& g) {
  g.id = q.text(0);
  g.account = q.text(1);
  g.status = static_cast<int>(q.int64(2));
  g.created_ms = q.int64(3);
  g.wake_ms = q.int64(4);
  g.version = q.int64(5);
  g.doc = q.blob(6);
  g.owner = q.text(7);
}

Status missing(std::string_view what, std::string_view id) {
  return Status(Code::not_found, std::string(what) + " '" + std::string(id) + "' not found");
}

}  // namespace

Status SqliteGenerations::writable() const {
  if (read_only_) return Status(Code::internal, "write inside a read-only unit");
  return {};
}

Status SqliteGenerations::insert(const GenerationRow& g) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT INTO generations(" GENERATION_COLS ") VALUES(?,?,?,?,?,?,?,?)");
  q.bind(1, g.id).bind(2, g.account).bind(3, g.status).bind(4, g.created_ms).bind(5, g.wake_ms).bind(6, g.version)
      .bind_blob(7, g.doc).bind(8, g.owner);
  return q.run();
}

Status SqliteGenerations::get(std::string_view id, GenerationRow& out) {
  BABYSEA_Q(q, "SELECT " GENERATION_COLS " FROM generations WHERE id = ?");
  q.bind(1, id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return missing("generation", id);
  read_generation(q, out);
  return {};
}

Status SqliteGenerations::update(const GenerationRow& g, std::int64_t expected_version) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "UPDATE generations SET status = ?, wake_ms = ?, version = ?, doc = ?, owner = ? "
               "WHERE id = ? AND version = ?");
  q.bind(1, g.status).bind(2, g.wake_ms).bind(3, g.version).bind_blob(4, g.doc).bind(5, g.owner).bind(6, g.id)
      .bind(7, expected_version);
  BABYSEA_RETURN_IF_ERROR(q.run());
  if (db_.changes() == 1) return {};
  GenerationRow current;
  BABYSEA_RETURN_IF_ERROR(get(g.id, current));
  return Status(Code::invalid_state, "generation '" + g.id + "' changed concurrently");
}

Status SqliteGenerations::list_for_account(std::string_view account, std::int64_t offset, std::int64_t limit,
                                           std::vector<GenerationRow>& out, std::int64_t& total) {
  out.clear();
  {
    BABYSEA_Q(c, "SELECT COUNT(*) FROM generations WHERE account = ?");
    c.bind(1, account);
    BABYSEA_ASSIGN_OR_RETURN(bool row, c.step());
    total = row ? c.int64(0) : 0;
  }
  BABYSEA_Q(q, "SELECT " GENERATION_COLS " FROM generations WHERE account = ? "
               "ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?");
  q.bind(1, account).bind(2, limit).bind(3, offset);
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_generation(q, out.emplace_back());
  }
}

Status SqliteGenerations::due(std::int64_t now_ms, std::size_t limit, std::vector<GenerationRow>& out) {
  BABYSEA_Q(q, "SELECT " GENERATION_COLS " FROM generations WHERE wake_ms > 0 AND wake_ms <= ? "
               "ORDER BY wake_ms LIMIT ?");
  q.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_generation(q, out.emplace_back());
  }
}

// SQLite has one writer at a time: the rows read here stay this unit's
// until it commits, so reading them and moving their wake-up is a claim.
Status SqliteGenerations::claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                                    std::vector<GenerationRow>& out) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_RETURN_IF_ERROR(due(now_ms, limit, out));
  for (const auto& g : out) {
    BABYSEA_Q(q, "UPDATE generations SET wake_ms = ? WHERE id = ?");
    q.bind(1, lease_until_ms).bind(2, g.id);
    BABYSEA_RETURN_IF_ERROR(q.run());
  }
  return {};
}

Status SqliteGenerations::unfinished_owned_by(std::string_view owner, std::vector<std::string>& out) {
  // The predicate as written in the generations_owner_unfinished index.
  BABYSEA_Q(q, "SELECT id FROM generations WHERE owner = ? AND (status < 2 OR wake_ms > 0) ORDER BY id");
  q.bind(1, owner);
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back(q.text(0));
  }
}

Status SqliteGenerations::unfinished(std::vector<std::string>& out) {
  BABYSEA_Q(q, "SELECT id FROM generations WHERE status < 2 UNION SELECT id FROM generations WHERE wake_ms > 0 "
               "ORDER BY 1");
  out.clear();
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    out.push_back(q.text(0));
  }
}

Status SqliteGenerations::for_each_since(std::string_view account, std::int64_t since_ms,
                                         const std::function<void(const GenerationRow&)>& fn) {
  BABYSEA_Q(q, "SELECT " GENERATION_COLS " FROM generations WHERE account = ? AND created_ms >= ? "
               "ORDER BY created_ms, id");
  q.bind(1, account).bind(2, since_ms);
  GenerationRow g;
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    read_generation(q, g);
    fn(g);
  }
}

Status SqliteGenerations::count_by_status(std::vector<std::int64_t>& out) {
  BABYSEA_Q(q, "SELECT status, COUNT(*) FROM generations GROUP BY status");
  out.assign(5, 0);
  for (;;) {
    BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
    if (!row) return {};
    const std::int64_t s = q.int64(0);
    if (s >= 0 && s < 5) out[static_cast<std::size_t>(s)] = q.int64(1);
  }
}

Status SqliteGenerations::put_job(std::string_view provider, std::string_view job_id, std::string_view generation_id,
                                  std::string_view attempt_id) {
  BABYSEA_RETURN_IF_ERROR(writable());
  std::string g, a;
  Status found = find_job(provider, job_id, g, a);
  if (found.ok()) {
    if (a == attempt_id) return {};
    return Status(Code::idempotency_conflict, "provider job '" + std::string(job_id) + "' already exists");
  }
  if (found.code() != Code::not_found) return found;
  BABYSEA_Q(q, "INSERT INTO provider_jobs(provider, job_id, generation_id, attempt_id) VALUES(?,?,?,?)");
  q.bind(1, provider).bind(2, job_id).bind(3, generation_id).bind(4, attempt_id);
  return q.run();
}

Status SqliteGenerations::find_job(std::string_view provider, std::string_view job_id, std::string& generation_id,
                                   std::string& attempt_id) {
  BABYSEA_Q(q, "SELECT generation_id, attempt_id FROM provider_jobs WHERE provider = ? AND job_id = ?");
  q.bind(1, provider).bind(2, job_id);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return missing("provider job", job_id);
  generation_id = q.text(0);
  attempt_id = q.text(1);
  return {};
}

Status SqliteGenerations::get_idempotency(std::string_view account, std::string_view key, IdempotencyRow& out) {
  BABYSEA_Q(q, "SELECT account, key, fingerprint, generation_id, created_ms, expires_ms "
               "FROM idempotency_keys WHERE account = ? AND key = ?");
  q.bind(1, account).bind(2, key);
  BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
  if (!row) return missing("idempotency key", key);
  out.account = q.text(0);
  out.key = q.text(1);
  out.fingerprint = q.text(2);
  out.generation_id = q.text(3);
  out.created_ms = q.int64(4);
  out.expires_ms = q.int64(5);
  return {};
}

Status SqliteGenerations::put_idempotency(const IdempotencyRow& r) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "INSERT OR REPLACE INTO idempotency_keys(account, key, fingerprint, generation_id, "
               "created_ms, expires_ms) VALUES(?,?,?,?,?,?)");
  q.bind(1, r.account).bind(2, r.key).bind(3, r.fingerprint).bind(4, r.generation_id).bind(5, r.created_ms)
      .bind(6, r.expires_ms);
  return q.run();
}

Result<bool> SqliteGenerations::claim_idempotency(const IdempotencyRow& r, std::int64_t now_ms,
                                                 IdempotencyRow& existing) {
  BABYSEA_RETURN_IF_ERROR(writable());
  {
    BABYSEA_Q(q, "INSERT INTO idempotency_keys(account, key, fingerprint, generation_id, created_ms, expires_ms) "
                 "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(account, key) DO UPDATE SET "
                 "fingerprint = excluded.fingerprint, generation_id = excluded.generation_id, "
                 "created_ms = excluded.created_ms, expires_ms = excluded.expires_ms "
                 "WHERE idempotency_keys.expires_ms <= ?7");
    q.bind(1, r.account).bind(2, r.key).bind(3, r.fingerprint).bind(4, r.generation_id).bind(5, r.created_ms)
        .bind(6, r.expires_ms).bind(7, now_ms);
    BABYSEA_RETURN_IF_ERROR(q.run());
  }
  if (db_.changes() > 0) return true;
  BABYSEA_RETURN_IF_ERROR(get_idempotency(r.account, r.key, existing));
  return false;
}

Result<std::size_t> SqliteGenerations::prune_idempotency(std::int64_t before_ms) {
  BABYSEA_RETURN_IF_ERROR(writable());
  BABYSEA_Q(q, "DELETE FROM idempotency_keys WHERE expires_ms < ?");
  q.bind(1, before_ms);
  BABYSEA_RETURN_IF_ERROR(q.run());
  return static_cast<std::size_t>(db_.changes());
}

}  // namespace babysea::sqlite
