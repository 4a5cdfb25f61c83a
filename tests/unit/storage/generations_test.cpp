// Conformance of the generation table (GenerationTable in storage.hpp):
// generations, the provider job index and Idempotency-Key records, the same
// cases on every backend ("memory", "sqlite-memory", "sqlite-file"), failure
// paths and rollback included.
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

GenerationRow gen(const std::string& id, const std::string& account, std::int64_t created_ms, int status = 0,
                  std::int64_t wake_ms = 0) {
  GenerationRow r;
  r.id = id;
  r.account = account;
  r.status = status;
  r.created_ms = created_ms;
  r.wake_ms = wake_ms;
  r.version = 1;
  r.doc = std::string("doc\0of ", 7) + id;  // binary, with a NUL inside
  return r;
}

IdempotencyRow idem(const std::string& account, const std::string& key, std::int64_t expires_ms) {
  IdempotencyRow r;
  r.account = account;
  r.key = key;
  r.fingerprint = "fp-" + key;
  r.generation_id = "gen-" + key;
  r.created_ms = expires_ms - 1'000;
  r.expires_ms = expires_ms;
  return r;
}

Status put(Store& s, const GenerationRow& r) {
  return s.transact([&](UnitOfWork& u) { return u.generations().insert(r); });
}

GenerationRow must_get(Store& s, const std::string& id) {
  GenerationRow out;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().get(id, out); }).ok());
  return out;
}

Code get_code(Store& s, const std::string& id) {
  GenerationRow out;
  return s.read([&](UnitOfWork& u) { return u.generations().get(id, out); }).code();
}

void check_same(const GenerationRow& a, const GenerationRow& b) {
  CHECK(a.id == b.id);
  CHECK(a.account == b.account);
  CHECK(a.status == b.status);
  CHECK(a.created_ms == b.created_ms);
  CHECK(a.wake_ms == b.wake_ms);
  CHECK(a.version == b.version);
  CHECK(a.doc == b.doc);
  CHECK(a.owner == b.owner);
}

std::vector<std::string> ids(const std::vector<GenerationRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

std::vector<std::string> due_ids(Store& s, std::int64_t now, std::size_t limit) {
  std::vector<GenerationRow> rows;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().due(now, limit, rows); }).ok());
  return ids(rows);
}

std::vector<std::int64_t> counts(Store& s) {
  std::vector<std::int64_t> out;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().count_by_status(out); }).ok());
  return out;
}

std::vector<std::string> unfinished(Store& s) {
  std::vector<std::string> out;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().unfinished(out); }).ok());
  return out;
}

using Ids = std::vector<std::string>;

}  // namespace

TEST_CASE("generations: insert, get, duplicate insert, missing rows") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  const GenerationRow a = gen("g1", "acct_a", 100, 1, 500);
  REQUIRE(put(s, a).ok());
  check_same(must_get(s, "g1"), a);

  GenerationRow other = gen("g1", "acct_b", 200, 0, 0);
  other.doc = "other";
  CHECK(put(s, other).code() == Code::idempotency_conflict);
  check_same(must_get(s, "g1"), a);  // the first row is untouched

  CHECK(get_code(s, "nope") == Code::not_found);
  // An empty document is a valid value.
  GenerationRow empty = gen("g-empty", "acct_a", 1);
  empty.doc.clear();
  REQUIRE(put(s, empty).ok());
  CHECK(must_get(s, "g-empty").doc.empty());

  // Reads refuse writes.
  Status w = s.read([&](UnitOfWork& u) { return u.generations().insert(gen("g2", "acct_a", 1)); });
  CHECK_FALSE(w.ok());
  CHECK(get_code(s, "g2") == Code::not_found);

  if (kind == "sqlite-file") {
    f.store = f.reopen();
    check_same(must_get(*f.store, "g1"), a);
  }
}

TEST_CASE("generations: update is a compare-and-set on version") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  const GenerationRow a = gen("g1", "acct_a", 100, 0, 500);
  REQUIRE(put(s, a).ok());

  GenerationRow next = a;
  next.status = 1;
  next.wake_ms = 900;
  next.version = 2;
  next.doc = std::string("v2\0", 3);
  REQUIRE(s.transact([&](UnitOfWork& u) { return u.generations().update(next, 1); }).ok());
  check_same(must_get(s, "g1"), next);

  SECTION("a stale version: invalid_state, nothing changed") {
    GenerationRow stale = a;
    stale.status = 3;
    stale.wake_ms = 0;
    stale.version = 2;
    stale.doc = "stale";
    CHECK(s.transact([&](UnitOfWork& u) { return u.generations().update(stale, 1); }).code() == Code::invalid_state);
    check_same(must_get(s, "g1"), next);
    CHECK(counts(s) == std::vector<std::int64_t>{0, 1, 0, 0, 0});
    CHECK(due_ids(s, 10'000, 10) == Ids{"g1"});
    // A future version is stale as well.
    CHECK(s.transact([&](UnitOfWork& u) { return u.generations().update(stale, 7); }).code() == Code::invalid_state);
    check_same(must_get(s, "g1"), next);
  }
  SECTION("a missing row: not_found") {
    GenerationRow ghost = gen("ghost", "acct_a", 1);
    CHECK(s.transact([&](UnitOfWork& u) { return u.generations().update(ghost, 0); }).code() == Code::not_found);
    CHECK(get_code(s, "ghost") == Code::not_found);
  }
  SECTION("two writers from the same version: exactly one wins") {
    GenerationRow w1 = next, w2 = next;
    w1.version = w2.version = 3;
    w1.doc = "writer-1";
    w2.doc = "writer-2";
    Status s1 = s.transact([&](UnitOfWork& u) { return u.generations().update(w1, 2); });
    Status s2 = s.transact([&](UnitOfWork& u) { return u.generations().update(w2, 2); });
    CHECK(s1.ok());
    CHECK(s2.code() == Code::invalid_state);
    CHECK(must_get(s, "g1").doc == "writer-1");
  }
  SECTION("update keeps the account and creation time (the query keys)") {
    GenerationRow moved = next;
    moved.account = "acct_other";
    moved.created_ms = 1;
    moved.version = 3;
    REQUIRE(s.transact([&](UnitOfWork& u) { return u.generations().update(moved, 2); }).ok());
    const GenerationRow got = must_get(s, "g1");
    CHECK(got.account == "acct_a");
    CHECK(got.created_ms == 100);
    CHECK(got.version == 3);
    std::vector<GenerationRow> rows;
    std::int64_t total = -1;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().list_for_account("acct_other", 0, 10, rows, total); }).ok());
    CHECK(total == 0);
    CHECK(rows.empty());
  }
  if (kind == "sqlite-file") {
    f.store = f.reopen();
    CHECK(must_get(*f.store, "g1").version >= 2);
  }
}

TEST_CASE("generations: list_for_account is newest first, paged, with a total, per account") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  // Two rows share created_ms 300: the id breaks the tie (descending).
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    for (const auto& r : {gen("a1", "acct_a", 100), gen("a4", "acct_a", 400), gen("a3b", "acct_a", 300),
                          gen("a3a", "acct_a", 300), gen("a2", "acct_a", 200), gen("b1", "acct_b", 250),
                          gen("b2", "acct_b", 450)})
      BABYSEA_RETURN_IF_ERROR(u.generations().insert(r));
    return {};
  }).ok());

  auto list = [&](const std::string& account, std::int64_t offset, std::int64_t limit, std::int64_t& total) {
    std::vector<GenerationRow> rows;
    total = -1;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().list_for_account(account, offset, limit, rows, total); }).ok());
    return ids(rows);
  };
  std::int64_t total = 0;
  CHECK(list("acct_a", 0, 10, total) == Ids{"a4", "a3b", "a3a", "a2", "a1"});
  CHECK(total == 5);
  CHECK(list("acct_a", 0, 2, total) == Ids{"a4", "a3b"});
  CHECK(total == 5);
  CHECK(list("acct_a", 2, 2, total) == Ids{"a3a", "a2"});
  CHECK(list("acct_a", 4, 2, total) == Ids{"a1"});
  CHECK(list("acct_a", 5, 2, total) == Ids{});
  CHECK(total == 5);
  CHECK(list("acct_a", 0, 0, total) == Ids{});
  CHECK(total == 5);
  CHECK(list("acct_b", 0, 10, total) == Ids{"b2", "b1"});
  CHECK(total == 2);
  CHECK(list("acct_c", 0, 10, total) == Ids{});
  CHECK(total == 0);
  // Prefix of another account is not a match.
  CHECK(list("acct_", 0, 10, total) == Ids{});
  CHECK(total == 0);

  // for_each_since: at or after since_ms, one account only, oldest first.
  std::vector<std::string> seen;
  REQUIRE(s.read([&](UnitOfWork& u) {
    return u.generations().for_each_since("acct_a", 300, [&](const GenerationRow& r) { seen.push_back(r.id); });
  }).ok());
  CHECK(seen == Ids{"a3a", "a3b", "a4"});
  seen.clear();
  REQUIRE(s.read([&](UnitOfWork& u) {
    return u.generations().for_each_since("acct_b", 0, [&](const GenerationRow& r) {
      CHECK(r.doc == std::string("doc\0of ", 7) + r.id);
      seen.push_back(r.id);
    });
  }).ok());
  CHECK(seen == Ids{"b1", "b2"});
  seen.clear();
  REQUIRE(s.read([&](UnitOfWork& u) {
    return u.generations().for_each_since("acct_a", 401, [&](const GenerationRow& r) { seen.push_back(r.id); });
  }).ok());
  CHECK(seen.empty());
  REQUIRE(s.read([&](UnitOfWork& u) {
    return u.generations().for_each_since("nobody", 0, [&](const GenerationRow& r) { seen.push_back(r.id); });
  }).ok());
  CHECK(seen.empty());
}

TEST_CASE("generations: due, unfinished and count_by_status follow the query columns") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  // status: 0 pending, 1 processing, 2 succeeded, 3 failed, 4 canceled
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    for (const auto& r : {gen("p-late", "a", 1, 0, 3'000), gen("p-early", "a", 2, 0, 1'000),
                          gen("proc-mid", "a", 3, 1, 2'000), gen("proc-nowake", "a", 4, 1, 0),
                          gen("done", "a", 5, 2, 0), gen("failed", "a", 6, 3, 0),
                          gen("canceled-cancel-retry", "a", 7, 4, 2'500), gen("future", "b", 8, 1, 9'000)})
      BABYSEA_RETURN_IF_ERROR(u.generations().insert(r));
    return {};
  }).ok());

  // 0 < wake_ms <= now, earliest first; wake 0 never due.
  CHECK(due_ids(s, 999, 10) == Ids{});
  CHECK(due_ids(s, 1'000, 10) == Ids{"p-early"});
  CHECK(due_ids(s, 2'500, 10) == Ids{"p-early", "proc-mid", "canceled-cancel-retry"});
  CHECK(due_ids(s, 5'000, 10) == Ids{"p-early", "proc-mid", "canceled-cancel-retry", "p-late"});
  CHECK(due_ids(s, 5'000, 2) == Ids{"p-early", "proc-mid"});
  CHECK(due_ids(s, 5'000, 0) == Ids{});
  CHECK(due_ids(s, 100'000, 100).size() == 5);
  const auto rows_due = [&] {
    std::vector<GenerationRow> rows;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().due(1'000, 10, rows); }).ok());
    return rows;
  }();
  REQUIRE(rows_due.size() == 1);
  check_same(rows_due[0], gen("p-early", "a", 2, 0, 1'000));

  // Not terminal, or still with a wake-up; sorted by id.
  CHECK(unfinished(s) == Ids{"canceled-cancel-retry", "future", "p-early", "p-late", "proc-mid", "proc-nowake"});
  CHECK(counts(s) == std::vector<std::int64_t>{2, 3, 1, 1, 1});

  // Updates move rows between the query sets.
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    GenerationRow r = gen("p-early", "a", 2, 2, 0);
    r.version = 2;
    BABYSEA_RETURN_IF_ERROR(u.generations().update(r, 1));
    GenerationRow c = gen("canceled-cancel-retry", "a", 7, 4, 0);
    c.version = 2;
    BABYSEA_RETURN_IF_ERROR(u.generations().update(c, 1));
    GenerationRow w = gen("proc-nowake", "a", 4, 1, 1'500);
    w.version = 2;
    return u.generations().update(w, 1);
  }).ok());
  CHECK(due_ids(s, 2'500, 10) == Ids{"proc-nowake", "proc-mid"});
  CHECK(unfinished(s) == Ids{"future", "p-late", "proc-mid", "proc-nowake"});
  CHECK(counts(s) == std::vector<std::int64_t>{1, 3, 2, 1, 1});

  // A failed unit leaves the indexes as they were.
  CHECK(s.transact([&](UnitOfWork& u) -> Status {
    GenerationRow r = gen("p-late", "a", 1, 3, 0);
    r.version = 2;
    BABYSEA_RETURN_IF_ERROR(u.generations().update(r, 1));
    BABYSEA_RETURN_IF_ERROR(u.generations().insert(gen("new", "a", 9, 0, 100)));
    return Status(Code::unavailable, "abort");
  }).code() == Code::unavailable);
  CHECK(due_ids(s, 5'000, 10) == Ids{"proc-nowake", "proc-mid", "p-late"});
  CHECK(unfinished(s) == Ids{"future", "p-late", "proc-mid", "proc-nowake"});
  CHECK(counts(s) == std::vector<std::int64_t>{1, 3, 2, 1, 1});

  if (kind == "sqlite-file") {
    f.store = f.reopen();
    CHECK(counts(*f.store) == std::vector<std::int64_t>{1, 3, 2, 1, 1});
    CHECK(due_ids(*f.store, 2'500, 10) == Ids{"proc-nowake", "proc-mid"});
  }
}

TEST_CASE("generations: count_by_status of an empty table has five zeros") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  CHECK(counts(*f.store) == std::vector<std::int64_t>{0, 0, 0, 0, 0});
  CHECK(unfinished(*f.store).empty());
  CHECK(due_ids(*f.store, 1'000'000, 10).empty());
}

TEST_CASE("generations: provider job index") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([](UnitOfWork& u) { return u.generations().put_job("fal", "req-1", "g1", "g1.1"); }).ok());
  // Same pair, same attempt: idempotent.
  CHECK(s.transact([](UnitOfWork& u) { return u.generations().put_job("fal", "req-1", "g1", "g1.1"); }).ok());
  // Same pair, another attempt: conflict, the first mapping stays.
  CHECK(s.transact([](UnitOfWork& u) { return u.generations().put_job("fal", "req-1", "g2", "g2.1"); }).code() ==
        Code::idempotency_conflict);
  // Same job id at another provider is another job.
  REQUIRE(s.transact([](UnitOfWork& u) { return u.generations().put_job("replicate", "req-1", "g3", "g3.2"); }).ok());

  std::string g, a;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().find_job("fal", "req-1", g, a); }).ok());
  CHECK(g == "g1");
  CHECK(a == "g1.1");
  REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().find_job("replicate", "req-1", g, a); }).ok());
  CHECK(g == "g3");
  CHECK(a == "g3.2");
  CHECK(s.read([&](UnitOfWork& u) { return u.generations().find_job("fal", "req-2", g, a); }).code() == Code::not_found);
  CHECK(s.read([&](UnitOfWork& u) { return u.generations().find_job("bfl", "req-1", g, a); }).code() == Code::not_found);
  // Not writable inside a read.
  CHECK_FALSE(s.read([](UnitOfWork& u) { return u.generations().put_job("bfl", "x", "g", "g.1"); }).ok());
  CHECK(s.read([&](UnitOfWork& u) { return u.generations().find_job("bfl", "x", g, a); }).code() == Code::not_found);

  if (kind == "sqlite-file") {
    f.store = f.reopen();
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.generations().find_job("fal", "req-1", g, a); }).ok());
    CHECK(a == "g1.1");
  }
}

TEST_CASE("generations: idempotency records get, replace and prune by expiry") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  auto get = [&](const std::string& account, const std::string& key, IdempotencyRow& out) {
    return s.read([&](UnitOfWork& u) { return u.generations().get_idempotency(account, key, out); });
  };
  REQUIRE(s.transact([](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(idem("acct_a", "k1", 1'000)));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(idem("acct_a", "k2", 2'000)));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(idem("acct_b", "k1", 3'000)));
    return {};
  }).ok());

  IdempotencyRow r;
  REQUIRE(get("acct_a", "k1", r).ok());
  CHECK(r.account == "acct_a");
  CHECK(r.key == "k1");
  CHECK(r.fingerprint == "fp-k1");
  CHECK(r.generation_id == "gen-k1");
  CHECK(r.created_ms == 0);
  CHECK(r.expires_ms == 1'000);
  // Namespaced by account.
  REQUIRE(get("acct_b", "k1", r).ok());
  CHECK(r.expires_ms == 3'000);
  CHECK(get("acct_b", "k2", r).code() == Code::not_found);
  CHECK(get("acct_c", "k1", r).code() == Code::not_found);

  // Replace.
  IdempotencyRow again = idem("acct_a", "k1", 5'000);
  again.fingerprint = "fp-new";
  REQUIRE(s.transact([&](UnitOfWork& u) { return u.generations().put_idempotency(again); }).ok());
  REQUIRE(get("acct_a", "k1", r).ok());
  CHECK(r.fingerprint == "fp-new");
  CHECK(r.expires_ms == 5'000);

  // Prune: strictly before the cut.
  Result<std::size_t> pruned = std::size_t{0};
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    pruned = u.generations().prune_idempotency(2'000);
    return pruned.status();
  }).ok());
  REQUIRE(pruned.ok());
  CHECK(*pruned == 0);  // k2 expires at 2000: not before 2000
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    pruned = u.generations().prune_idempotency(3'001);
    return pruned.status();
  }).ok());
  CHECK(*pruned == 2);  // acct_a/k2 (2000) and acct_b/k1 (3000)
  CHECK(get("acct_a", "k2", r).code() == Code::not_found);
  CHECK(get("acct_b", "k1", r).code() == Code::not_found);
  REQUIRE(get("acct_a", "k1", r).ok());  // replaced with a later expiry
  // Not writable inside a read.
  CHECK_FALSE(s.read([](UnitOfWork& u) { return u.generations().put_idempotency(idem("acct_z", "k", 1)); }).ok());
  CHECK(get("acct_z", "k", r).code() == Code::not_found);
  CHECK_FALSE(s.read([](UnitOfWork& u) { return u.generations().prune_idempotency(1'000'000).status(); }).ok());
  REQUIRE(get("acct_a", "k1", r).ok());

  if (kind == "sqlite-file") {
    f.store = f.reopen();
    IdempotencyRow d;
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", "k1", d); }).ok());
    CHECK(d.fingerprint == "fp-new");
  }
}

TEST_CASE("generations: claim_idempotency inserts, reports a live record, replaces an expired one") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  auto claim = [&](const IdempotencyRow& row, std::int64_t now, IdempotencyRow& existing) -> Result<bool> {
    Result<bool> out = false;
    Status st = s.transact([&](UnitOfWork& u) -> Status {
      out = u.generations().claim_idempotency(row, now, existing);
      return out.status();
    });
    if (!st.ok()) return st;
    return out;
  };
  auto get = [&](const std::string& key, IdempotencyRow& out) {
    return s.read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", key, out); });
  };

  IdempotencyRow existing;
  auto first = claim(idem("acct_a", "k1", 1'000), 0, existing);
  REQUIRE(first.ok());
  CHECK(*first);
  // A live record: not replaced, reported whole.
  IdempotencyRow other = idem("acct_a", "k1", 9'000);
  other.fingerprint = "fp-other";
  other.generation_id = "gen-other";
  auto live = claim(other, 999, existing);
  REQUIRE(live.ok());
  CHECK_FALSE(*live);
  CHECK(existing.fingerprint == "fp-k1");
  CHECK(existing.generation_id == "gen-k1");
  CHECK(existing.expires_ms == 1'000);
  IdempotencyRow r;
  REQUIRE(get("k1", r).ok());
  CHECK(r.generation_id == "gen-k1");
  // The same key in another account is another record.
  auto elsewhere = claim(idem("acct_b", "k1", 1'000), 0, existing);
  REQUIRE(elsewhere.ok());
  CHECK(*elsewhere);
  // Expired (expires_ms <= now): replaced.
  auto replaced = claim(other, 1'000, existing);
  REQUIRE(replaced.ok());
  CHECK(*replaced);
  REQUIRE(get("k1", r).ok());
  CHECK(r.fingerprint == "fp-other");
  CHECK(r.generation_id == "gen-other");
  CHECK(r.expires_ms == 9'000);

  // A claim inside a failed unit leaves nothing, new or replaced.
  Status failed = s.transact([&](UnitOfWork& u) -> Status {
    IdempotencyRow e;
    auto a = u.generations().claim_idempotency(idem("acct_a", "k2", 1'000), 0, e);
    if (!a.ok() || !*a) return Status(Code::internal, "claim k2 failed");
    auto b = u.generations().claim_idempotency(idem("acct_a", "k1", 20'000), 10'000, e);
    if (!b.ok() || !*b) return Status(Code::internal, "claim over expired k1 failed");
    return Status(Code::invalid_request, "changed my mind");
  });
  CHECK(failed.code() == Code::invalid_request);
  CHECK(get("k2", r).code() == Code::not_found);
  REQUIRE(get("k1", r).ok());
  CHECK(r.generation_id == "gen-other");
  CHECK(r.expires_ms == 9'000);
  // Not writable inside a read.
  CHECK_FALSE(s.read([&](UnitOfWork& u) {
                 IdempotencyRow e;
                 return u.generations().claim_idempotency(idem("acct_a", "k3", 1'000), 0, e).status();
               }).ok());
  CHECK(get("k3", r).code() == Code::not_found);
}

TEST_CASE("generations: a failed unit writes nothing to any of the three tables") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  const GenerationRow base = gen("g1", "acct_a", 100, 0, 500);
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.generations().insert(base));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_job("fal", "j1", "g1", "g1.1"));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(idem("acct_a", "keep", 1'000)));
    return u.generations().put_idempotency(idem("acct_a", "old", 10));
  }).ok());

  const bool throws = GENERATE(false, true);
  INFO("throws " << throws);
  auto work = [&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.generations().insert(gen("g2", "acct_a", 200, 0, 50)));
    GenerationRow next = base;
    next.status = 3;
    next.wake_ms = 0;
    next.version = 2;
    next.doc = "changed";
    BABYSEA_RETURN_IF_ERROR(u.generations().update(next, 1));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_job("fal", "j2", "g2", "g2.1"));
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(idem("acct_a", "new", 1'000)));
    IdempotencyRow replaced = idem("acct_a", "keep", 9'000);
    replaced.fingerprint = "replaced";
    BABYSEA_RETURN_IF_ERROR(u.generations().put_idempotency(replaced));
    auto n = u.generations().prune_idempotency(100);
    BABYSEA_RETURN_IF_ERROR(n.status());
    CHECK(*n == 1);
    // Inside the unit the writes are visible.
    GenerationRow inside;
    BABYSEA_RETURN_IF_ERROR(u.generations().get("g2", inside));
    if (throws) throw std::runtime_error("boom");
    return Status(Code::invalid_request, "changed my mind");
  };
  Status st = s.transact(work);
  CHECK_FALSE(st.ok());
  CHECK(st.code() == (throws ? Code::internal : Code::invalid_request));

  auto check_untouched = [&](Store& store) {
    GenerationRow g;
    REQUIRE(store.read([&](UnitOfWork& u) { return u.generations().get("g1", g); }).ok());
    check_same(g, base);
    CHECK(store.read([&](UnitOfWork& u) { return u.generations().get("g2", g); }).code() == Code::not_found);
    std::string gid, aid;
    CHECK(store.read([&](UnitOfWork& u) { return u.generations().find_job("fal", "j2", gid, aid); }).code() ==
          Code::not_found);
    REQUIRE(store.read([&](UnitOfWork& u) { return u.generations().find_job("fal", "j1", gid, aid); }).ok());
    IdempotencyRow r;
    CHECK(store.read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", "new", r); }).code() ==
          Code::not_found);
    REQUIRE(store.read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", "keep", r); }).ok());
    CHECK(r.fingerprint == "fp-keep");
    CHECK(r.expires_ms == 1'000);
    REQUIRE(store.read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", "old", r); }).ok());
    CHECK(r.expires_ms == 10);
    CHECK(counts(store) == std::vector<std::int64_t>{1, 0, 0, 0, 0});
    CHECK(due_ids(store, 1'000, 10) == Ids{"g1"});
    CHECK(unfinished(store) == Ids{"g1"});
    std::vector<GenerationRow> rows;
    std::int64_t total = 0;
    REQUIRE(store.read([&](UnitOfWork& u) { return u.generations().list_for_account("acct_a", 0, 10, rows, total); }).ok());
    CHECK(total == 1);
    CHECK(ids(rows) == Ids{"g1"});
  };
  check_untouched(s);
  // The store still works after the rollback, and the same writes succeed.
  CHECK(s.transact([&](UnitOfWork& u) { return u.generations().insert(gen("g2", "acct_a", 200, 0, 50)); }).ok());
  CHECK(due_ids(s, 1'000, 10) == Ids{"g2", "g1"});
  if (kind == "sqlite-file") {
    f.store = f.reopen();
    CHECK(due_ids(*f.store, 1'000, 10) == Ids{"g2", "g1"});
  }
}

TEST_CASE("generations: owner round-trips through insert and update; unfinished_owned_by filters by it") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  auto owned = [](GenerationRow r, std::string owner) {
    r.owner = std::move(owner);
    return r;
  };
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    for (const auto& r : {owned(gen("a-pending", "x", 1, 0, 0), "inst-a"), owned(gen("a-proc", "x", 2, 1, 500), "inst-a"),
                          owned(gen("a-done", "x", 3, 2, 0), "inst-a"), owned(gen("a-done-wake", "x", 4, 3, 700), "inst-a"),
                          owned(gen("b-proc", "x", 5, 1, 0), "inst-b"), gen("legacy", "x", 6, 0, 0),
                          gen("legacy-done", "x", 7, 2, 0)})
      BABYSEA_RETURN_IF_ERROR(u.generations().insert(r));
    return {};
  }).ok());
  check_same(must_get(s, "a-proc"), owned(gen("a-proc", "x", 2, 1, 500), "inst-a"));
  check_same(must_get(s, "legacy"), gen("legacy", "x", 6, 0, 0));
  {
    std::vector<GenerationRow> rows;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().due(600, 10, rows); }).ok());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].owner == "inst-a");
    std::int64_t total = 0;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().list_for_account("x", 0, 10, rows, total); }).ok());
    REQUIRE(rows.size() == 7);
    CHECK(rows[2].owner == "inst-b");  // newest first: b-proc is the third
  }
  auto owned_by = [&](std::string_view owner) {
    std::vector<std::string> out{"stale"};
    REQUIRE(s.read([&](UnitOfWork& u) { return u.generations().unfinished_owned_by(owner, out); }).ok());
    return out;
  };
  CHECK(owned_by("inst-a") == Ids{"a-done-wake", "a-pending", "a-proc"});
  CHECK(owned_by("inst-b") == Ids{"b-proc"});
  CHECK(owned_by("") == Ids{"legacy"});
  CHECK(owned_by("nobody") == Ids{});

  // update() writes the owner as given: a takeover moves the row.
  REQUIRE(s.transact([&](UnitOfWork& u) {
    GenerationRow r = owned(gen("a-proc", "x", 2, 1, 500), "inst-b");
    r.version = 2;
    return u.generations().update(r, 1);
  }).ok());
  CHECK(must_get(s, "a-proc").owner == "inst-b");
  CHECK(owned_by("inst-a") == Ids{"a-done-wake", "a-pending"});
  CHECK(owned_by("inst-b") == Ids{"a-proc", "b-proc"});
  // A failed unit's owner change is rolled back.
  CHECK(s.transact([&](UnitOfWork& u) -> Status {
    GenerationRow r = owned(gen("b-proc", "x", 5, 1, 0), "inst-c");
    r.version = 2;
    BABYSEA_RETURN_IF_ERROR(u.generations().update(r, 1));
    return Status(Code::unavailable, "abort");
  }).code() == Code::unavailable);
  CHECK(owned_by("inst-c") == Ids{});
  if (kind == "sqlite-file") {
    f.store = f.reopen();
    CHECK(must_get(*f.store, "a-proc").owner == "inst-b");
    std::vector<std::string> out;
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.generations().unfinished_owned_by("inst-b", out); }).ok());
    CHECK(out == Ids{"a-proc", "b-proc"});
  }
}

TEST_CASE("generations: claim_due leases due rows without touching their version") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    for (const auto& r : {gen("g-late", "a", 1, 1, 3'000), gen("g-early", "a", 2, 1, 1'000),
                          gen("g-mid", "a", 3, 0, 2'000), gen("g-none", "a", 4, 1, 0), gen("g-future", "a", 5, 1, 100'000)})
      BABYSEA_RETURN_IF_ERROR(u.generations().insert(r));
    return {};
  }).ok());
  auto claim = [&](std::int64_t now, std::size_t limit, std::int64_t lease) {
    std::vector<GenerationRow> rows;
    REQUIRE(s.transact([&](UnitOfWork& u) { return u.generations().claim_due(now, limit, lease, rows); }).ok());
    return rows;
  };

  // Earliest first, limited, with the old wake_ms.
  auto first = claim(5'000, 2, 65'000);
  REQUIRE(ids(first) == Ids{"g-early", "g-mid"});
  check_same(first[0], gen("g-early", "a", 2, 1, 1'000));
  check_same(first[1], gen("g-mid", "a", 3, 0, 2'000));
  // Stored: moved to the lease, same version and document.
  check_same(must_get(s, "g-early"), gen("g-early", "a", 2, 1, 65'000));
  check_same(must_get(s, "g-mid"), gen("g-mid", "a", 3, 0, 65'000));
  CHECK(due_ids(s, 5'000, 10) == Ids{"g-late"});

  // A second claim gets what is left, then nothing until the lease passes.
  CHECK(ids(claim(5'000, 10, 65'000)) == Ids{"g-late"});
  CHECK(claim(5'000, 10, 65'000).empty());
  CHECK(claim(64'999, 10, 65'000).empty());
  // At the lease they fall due again for anyone (ties in any order).
  auto again = ids(claim(65'000, 10, 130'000));
  std::sort(again.begin(), again.end());
  CHECK(again == Ids{"g-early", "g-late", "g-mid"});

  // The claimer's update() writes the real wake-up (the version it read).
  REQUIRE(s.transact([&](UnitOfWork& u) {
    GenerationRow r = gen("g-early", "a", 2, 1, 7'000);
    r.version = 2;
    return u.generations().update(r, 1);
  }).ok());
  CHECK(must_get(s, "g-early").wake_ms == 7'000);
  CHECK(due_ids(s, 7'000, 10) == Ids{"g-early"});

  // Read units refuse it; a failed unit's claim is rolled back.
  std::vector<GenerationRow> rows;
  CHECK(s.read([&](UnitOfWork& u) { return u.generations().claim_due(200'000, 10, 300'000, rows); }).code() ==
        Code::internal);
  CHECK(s.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.generations().claim_due(200'000, 10, 300'000, rows));
    CHECK(rows.size() == 4);
    return Status(Code::unavailable, "abort");
  }).code() == Code::unavailable);
  CHECK(due_ids(s, 200'000, 10).size() == 4);
  CHECK(unfinished(s) == Ids{"g-early", "g-future", "g-late", "g-mid", "g-none"});
  if (kind == "sqlite-file") {
    f.store = f.reopen();
    CHECK(must_get(*f.store, "g-late").wake_ms == 130'000);
    CHECK(must_get(*f.store, "g-late").version == 1);
  }
}
