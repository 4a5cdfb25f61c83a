// Conformance tests every Store backend must pass.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_db.hpp"
#include "storage/sqlite/sqlite_tables.hpp"
#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

AccountRow account(const std::string& id) {
  AccountRow a;
  a.id = id;
  a.created_ms = 1;
  return a;
}

std::size_t count_accounts(Store& s) {
  std::size_t n = 0;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.ledger().for_each_account([&](const AccountRow&) { ++n; }); }).ok());
  return n;
}

}  // namespace

TEST_CASE("store: a committed unit is visible, a failed one leaves nothing") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([](UnitOfWork& u) { return u.ledger().insert_account(account("a")); }).ok());
  Status failed = s.transact([](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.ledger().insert_account(account("b")));
    BABYSEA_RETURN_IF_ERROR(u.ledger().add_to_account("a", 5, 5, 0, 0));
    OutboxRow row;
    row.id = "o1";
    row.topic = "t";
    BABYSEA_RETURN_IF_ERROR(u.outbox().append(row));
    BABYSEA_RETURN_IF_ERROR(u.seen().insert_if_absent("stripe", "evt_1", 1).status());
    return Status(Code::invalid_request, "changed my mind");
  });
  CHECK(failed.code() == Code::invalid_request);
  CHECK(count_accounts(s) == 1);
  REQUIRE(s.read([](UnitOfWork& u) -> Status {
    AccountRow a;
    BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("a", a));
    CHECK(a.posted_debits == 0);
    std::vector<OutboxRow> rows;
    BABYSEA_RETURN_IF_ERROR(u.outbox().list(0, 10, rows));
    CHECK(rows.empty());
    CHECK_FALSE(*u.seen().contains("stripe", "evt_1"));
    return {};
  }).ok());
}

TEST_CASE("store: a throwing unit is rolled back and reported as internal") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Status s = f.store->transact([](UnitOfWork& u) -> Status {
    (void)u.ledger().insert_account(account("x"));
    throw std::runtime_error("boom");
  });
  CHECK(s.code() == Code::internal);
  CHECK(count_accounts(*f.store) == 0);
}

TEST_CASE("store: read units refuse writes") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  StoreFixture f(kind);
  Status s = f.store->read([](UnitOfWork& u) {
    CHECK(u.read_only());
    return u.ledger().insert_account(account("x"));
  });
  CHECK(s.code() == Code::internal);
  CHECK(count_accounts(*f.store) == 0);
}

TEST_CASE("store: typed errors for missing rows and unique violations") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([](UnitOfWork& u) { return u.ledger().insert_account(account("a")); }).ok());
  CHECK(s.transact([](UnitOfWork& u) { return u.ledger().insert_account(account("a")); }).code() ==
        Code::idempotency_conflict);
  CHECK(s.transact([](UnitOfWork& u) { return u.ledger().add_to_account("nope", 1, 0, 0, 0); }).code() ==
        Code::not_found);
  CHECK(s.read([](UnitOfWork& u) {
           HoldRow h;
           return u.ledger().get_hold("nope", h);
         }).code() == Code::not_found);
  // Entries are unique per (kind, key), not across kinds.
  auto entry = [](EntryKind k, const char* key) {
    EntryRow e;
    e.kind = k;
    e.debit_account = "a";
    e.credit_account = "a";
    e.idem_key = key;
    return e;
  };
  REQUIRE(s.transact([&](UnitOfWork& u) {
    auto e = entry(EntryKind::grant, "k");
    return u.ledger().insert_entry(e);
  }).ok());
  CHECK(s.transact([&](UnitOfWork& u) {
    auto e = entry(EntryKind::grant, "k");
    return u.ledger().insert_entry(e);
  }).code() == Code::idempotency_conflict);
  CHECK(s.transact([&](UnitOfWork& u) {
    auto e = entry(EntryKind::clawback, "k");
    return u.ledger().insert_entry(e);
  }).ok());
}

TEST_CASE("store: holds resolve once (compare-and-set) and due holds come oldest first") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([](UnitOfWork& u) -> Status {
    for (int i = 0; i < 5; ++i) {
      HoldRow h;
      h.id = "h" + std::to_string(i);
      h.key = "k" + std::to_string(i);
      h.account = "a";
      h.amount = 10;
      h.deadline_ms = 100 - i * 10;  // h4 is due first
      BABYSEA_RETURN_IF_ERROR(u.ledger().insert_hold(h));
    }
    return {};
  }).ok());
  REQUIRE(s.transact([](UnitOfWork& u) { return u.ledger().resolve_hold("h3", HoldState::released, 0, 5); }).ok());
  CHECK(s.transact([](UnitOfWork& u) { return u.ledger().resolve_hold("h3", HoldState::settled, 5, 5); }).code() ==
        Code::invalid_state);
  std::vector<HoldRow> due;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.ledger().due_holds(80, 10, due); }).ok());
  REQUIRE(due.size() == 2);  // h4 (60) and h2 (80); h3 is resolved
  CHECK(due[0].id == "h4");
  CHECK(due[1].id == "h2");
  HoldRow by_key;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.ledger().find_hold_by_key("k3", by_key); }).ok());
  CHECK(by_key.state == HoldState::released);
}

TEST_CASE("store: seen messages, outbox and attempt stats") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([](UnitOfWork& u) -> Status {
    CHECK(*u.seen().insert_if_absent("stripe", "evt_1", 1));
    CHECK_FALSE(*u.seen().insert_if_absent("stripe", "evt_1", 2));
    CHECK(*u.seen().insert_if_absent("replicate", "evt_1", 2));
    for (int i = 0; i < 3; ++i) {
      OutboxRow r;
      r.id = "d" + std::to_string(i);
      r.topic = "generation.completed";
      r.account = "a";
      r.payload = "{}";
      r.next_attempt_ms = i * 100;
      BABYSEA_RETURN_IF_ERROR(u.outbox().append(r));
      CHECK(r.seq == i + 1);
    }
    AttemptStatRow a{"att1", "us", "bfl/flux-schnell", "fal", "used", "", 1200, 3000, 50};
    CHECK(*u.attempt_stats().record(a));
    CHECK_FALSE(*u.attempt_stats().record(a));
    a.attempt_id = "att2";
    a.finished_ms = 150;
    CHECK(*u.attempt_stats().record(a));
    return {};
  }).ok());
  REQUIRE(s.transact([](UnitOfWork& u) { return u.outbox().update(1, OutboxState::delivered, 1, 0); }).ok());
  CHECK(s.transact([](UnitOfWork& u) { return u.outbox().update(99, OutboxState::delivered, 1, 0); }).code() ==
        Code::not_found);
  REQUIRE(s.read([](UnitOfWork& u) -> Status {
    std::vector<OutboxRow> due;
    BABYSEA_RETURN_IF_ERROR(u.outbox().due(100, 10, due));
    REQUIRE(due.size() == 1);  // d0 delivered, d2 not yet due
    CHECK(due[0].id == "d1");
    std::int64_t pending = -1;
    BABYSEA_RETURN_IF_ERROR(u.outbox().count_pending(pending));
    CHECK(pending == 2);  // d1 and d2: pending whether due or not
    std::vector<OutboxRow> all;
    BABYSEA_RETURN_IF_ERROR(u.outbox().list(1, 10, all));
    CHECK(all.size() == 2);
    std::vector<AttemptStatRow> stats;
    BABYSEA_RETURN_IF_ERROR(u.attempt_stats().since(100, 10, stats));
    REQUIRE(stats.size() == 1);
    CHECK(stats[0].attempt_id == "att2");
    CHECK(stats[0].latency_ms == 1200);
    return {};
  }).ok());
  REQUIRE(s.transact([](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(std::size_t n, u.attempt_stats().prune(100));
    CHECK(n == 1);
    return {};
  }).ok());
}

namespace {
// A host's own outbox that leaves count_pending to the interface's default.
class VectorOutbox final : public OutboxTable {
 public:
  std::vector<OutboxRow> rows;
  Status append(OutboxRow& row) override {
    row.seq = static_cast<std::int64_t>(rows.size()) + 1;
    rows.push_back(row);
    return {};
  }
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) override {
    out.clear();
    for (const auto& r : rows)
      if (out.size() < limit && r.state == OutboxState::pending && r.next_attempt_ms <= now_ms) out.push_back(r);
    return {};
  }
  Status list(std::int64_t, std::size_t, std::vector<OutboxRow>& out) override {
    out = rows;
    return {};
  }
  Status update(std::int64_t seq, OutboxState state, int, std::int64_t) override {
    rows.at(static_cast<std::size_t>(seq - 1)).state = state;
    return {};
  }
};
}  // namespace

TEST_CASE("outbox: the default count_pending counts every pending row, due or not, past any page size") {
  VectorOutbox o;
  for (int i = 0; i < 1500; ++i) {
    OutboxRow r;
    r.next_attempt_ms = i % 2 == 0 ? 0 : INT64_MAX;
    REQUIRE(o.append(r).ok());
  }
  REQUIRE(o.update(1, OutboxState::delivered, 1, 0).ok());
  REQUIRE(o.update(2, OutboxState::failed, 1, 0).ok());
  std::int64_t n = -1;
  REQUIRE(o.count_pending(n).ok());
  CHECK(n == 1498);
}

TEST_CASE("sqlite: group commit isolates a failing unit inside a batch") {
  SqliteOptions o;
  o.max_batch = 64;
  o.max_wait = std::chrono::microseconds(20000);  // force big batches
  StoreFixture f("sqlite-file", o);
  Store& s = *f.store;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < 40; ++i) {
    threads.emplace_back([&, i] {
      Status st = s.transact([&](UnitOfWork& u) -> Status {
        BABYSEA_RETURN_IF_ERROR(u.ledger().insert_account(account("acct" + std::to_string(i))));
        if (i % 4 == 0) return Status(Code::invalid_request, "every fourth unit fails");
        return {};
      });
      (st.ok() ? ok : failed)++;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 30);
  CHECK(failed == 10);
  CHECK(count_accounts(s) == 30);
  auto reopened = f.reopen();
  CHECK(count_accounts(*reopened) == 30);  // durable
}

TEST_CASE("sqlite: sustained writes keep the WAL bounded and every acknowledged unit survives a reopen") {
  // 8,000 units of ~8 KB each put about 16,000 frames through the WAL; the
  // checkpointer and the writer's cap keep the file far below that.
  StoreFixture f("sqlite-file");
  Store& s = *f.store;
  const std::string wal = f.options.path + "-wal";
  constexpr int kThreads = 8, kUnits = 1000;
  const std::string payload(8000, 'p');
  std::atomic<bool> done{false};
  std::atomic<std::uintmax_t> wal_max{0};
  std::thread monitor([&] {
    while (!done) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(wal, ec);
      if (!ec && size > wal_max) wal_max = size;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kUnits; ++i) {
        Status st = s.transact([&](UnitOfWork& u) {
          OutboxRow row;
          row.id = "d-" + std::to_string(t) + "-" + std::to_string(i);
          row.topic = "test.bulk";
          row.account = "acct";
          row.payload = payload;
          return u.outbox().append(row);
        });
        if (st.ok()) ++acknowledged;
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  monitor.join();
  CHECK(acknowledged == kThreads * kUnits);
  constexpr std::uintmax_t kFrame = 4096 + 24;
  INFO("largest WAL seen: " << wal_max << " bytes");
  CHECK(wal_max > 0);
  CHECK(wal_max < 11'000 * kFrame);  // cap 8,000 frames plus one batch

  auto reopened = f.reopen();
  std::vector<OutboxRow> rows;
  REQUIRE(reopened->read([&](UnitOfWork& u) { return u.outbox().list(0, 100'000, rows); }).ok());
  CHECK(rows.size() == static_cast<std::size_t>(kThreads * kUnits));
  std::size_t intact = 0;
  for (const auto& r : rows) intact += r.payload == payload ? 1 : 0;
  CHECK(intact == rows.size());
}

TEST_CASE("sqlite: a failed WAL sync fails the waiting unit and every later one until the store is reopened") {
  StoreFixture f("sqlite-file");
  REQUIRE(f.store->transact([](UnitOfWork& u) { return u.ledger().insert_account(account("before")); }).ok());
  struct Restore {
    ~Restore() { sqlite::wal_sync_function = &::fdatasync; }
  } restore;
  sqlite::wal_sync_function = [](int) {
    errno = EIO;
    return -1;
  };
  Status lost = f.store->transact([](UnitOfWork& u) { return u.ledger().insert_account(account("unsynced")); });
  CHECK(lost.code() == Code::storage_error);
  CHECK(lost.message().find("reopen") != std::string::npos);
  sqlite::wal_sync_function = &::fdatasync;  // the disk is back, the store stays failed
  Status later = f.store->transact([](UnitOfWork& u) { return u.ledger().insert_account(account("later")); });
  CHECK(later.code() == Code::storage_error);
  // Reads still answer; a reopened store takes units again.
  CHECK(count_accounts(*f.store) >= 1);
  auto reopened = f.reopen();
  REQUIRE(reopened->transact([](UnitOfWork& u) { return u.ledger().insert_account(account("after")); }).ok());
  AccountRow row;
  CHECK(reopened->read([&](UnitOfWork& u) { return u.ledger().get_account("later", row); }).code() == Code::not_found);
  CHECK(reopened->read([&](UnitOfWork& u) { return u.ledger().get_account("after", row); }).ok());
}

TEST_CASE("sqlite: migrations are recorded and a newer schema is refused") {
  StoreFixture f("sqlite-file");
  f.store.reset();
  {
    auto db = sqlite::Db::open(f.options.path, SQLITE_OPEN_READWRITE);
    REQUIRE(db.ok());
    REQUIRE((*db)->exec("INSERT INTO schema_migrations(version, name, applied_ms) VALUES(999, 'future', 0)").ok());
  }
  auto r = open_sqlite_store(f.options);
  CHECK(r.code() == Code::corruption);
  {
    auto db = sqlite::Db::open(f.options.path, SQLITE_OPEN_READWRITE);
    REQUIRE((*db)->exec("DELETE FROM schema_migrations WHERE version = 999").ok());
    REQUIRE((*db)->exec("UPDATE schema_migrations SET name = 'other' WHERE version = 1").ok());
  }
  CHECK(open_sqlite_store(f.options).code() == Code::corruption);
  {
    auto db = sqlite::Db::open(f.options.path, SQLITE_OPEN_READWRITE);
    REQUIRE((*db)->exec("UPDATE schema_migrations SET name = 'ledger' WHERE version = 1").ok());
  }
  CHECK(open_sqlite_store(f.options).ok());
}

TEST_CASE("sqlite: a database at schema version 5 upgrades and keeps its idempotency records") {
  // Built the way a release with five migrations left it, with a record in
  // the since dropped `response` column.
  StoreFixture f("sqlite-file");
  f.store.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(f.options.path + suffix);
  {
    auto db = sqlite::Db::open(f.options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    REQUIRE(db.ok());
    REQUIRE((*db)->exec("PRAGMA journal_mode = WAL").ok());
    REQUIRE((*db)->exec("CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                        "applied_ms INTEGER NOT NULL)").ok());
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 5) break;
      REQUIRE((*db)->exec(m.sql).ok());
      const std::string rec = "INSERT INTO schema_migrations VALUES(" + std::to_string(m.version) + ", '" + m.name + "', 0)";
      REQUIRE((*db)->exec(rec.c_str()).ok());
    }
    REQUIRE((*db)->exec("INSERT INTO idempotency_keys(account, key, fingerprint, generation_id, response, created_ms, "
                        "expires_ms) VALUES('acct_a', 'k1', 'fp', 'gen-1', '{}', 1, 5000)").ok());
  }
  auto store = f.reopen();
  IdempotencyRow row;
  REQUIRE(store->read([&](UnitOfWork& u) { return u.generations().get_idempotency("acct_a", "k1", row); }).ok());
  CHECK(row.generation_id == "gen-1");
  CHECK(row.expires_ms == 5000);
  IdempotencyRow fresh;
  fresh.account = "acct_a";
  fresh.key = "k2";
  fresh.fingerprint = "fp2";
  fresh.generation_id = "gen-2";
  fresh.expires_ms = 5000;
  Result<bool> claimed = false;
  REQUIRE(store->transact([&](UnitOfWork& u) {
    IdempotencyRow existing;
    claimed = u.generations().claim_idempotency(fresh, 0, existing);
    return claimed.status();
  }).ok());
  CHECK(*claimed);
  store.reset();
  auto db = sqlite::Db::open(f.options.path, SQLITE_OPEN_READONLY);
  REQUIRE(db.ok());
  auto cols = (*db)->query("SELECT count(*) FROM pragma_table_info('idempotency_keys') WHERE name = 'response'");
  REQUIRE(cols.ok());
  REQUIRE(*cols->step());
  CHECK(cols->int64(0) == 0);
  auto version = (*db)->query("SELECT max(version) FROM schema_migrations");
  REQUIRE(version.ok());
  REQUIRE(*version->step());
  CHECK(version->int64(0) == static_cast<std::int64_t>(sqlite::migrations().size()));
}

TEST_CASE("sqlite: a file that is not a database is refused") {
  babysea::testing::TempDir dir;
  {
    FILE* fp = std::fopen(dir.file("junk.db").c_str(), "wb");
    std::fputs("this is not a sqlite database, not at all, no sir............", fp);
    std::fclose(fp);
  }
  SqliteOptions o;
  o.path = dir.file("junk.db");
  auto r = open_sqlite_store(o);
  CHECK_FALSE(r.ok());
  CHECK((r.code() == Code::corruption || r.code() == Code::storage_error));
}

TEST_CASE("sqlite: thresholds encoding round-trips") {
  std::vector<BalanceThreshold> t{{5'000'000, true}, {1'000'000, false}};
  CHECK(sqlite::decode_thresholds(sqlite::encode_thresholds(t)) == t);
  CHECK(sqlite::decode_thresholds("").empty());
}

TEST_CASE("store: api keys keep only hashes, list per account, revoke once") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Store& s = *f.store;
  ApiKeyRow k{"key1", "acct", "ab12", "generation:write,generation:read", "us", "ci", 10, 0, 0, 0};
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.api_keys().insert(k));
    ApiKeyRow k2 = k;
    k2.id = "key2";
    k2.created_ms = 5;
    BABYSEA_RETURN_IF_ERROR(u.api_keys().insert(k2));
    ApiKeyRow other = k;
    other.id = "key3";
    other.account = "other";
    return u.api_keys().insert(other);
  }).ok());
  CHECK(s.transact([&](UnitOfWork& u) { return u.api_keys().insert(k); }).code() == Code::idempotency_conflict);
  REQUIRE(s.transact([](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.api_keys().touch("key1", 99));
    BABYSEA_RETURN_IF_ERROR(u.api_keys().revoke("key1", 100));
    return u.api_keys().revoke("key1", 200);  // already revoked: unchanged
  }).ok());
  CHECK(s.transact([](UnitOfWork& u) { return u.api_keys().revoke("nope", 1); }).code() == Code::not_found);
  REQUIRE(s.read([](UnitOfWork& u) -> Status {
    std::vector<ApiKeyRow> keys;
    BABYSEA_RETURN_IF_ERROR(u.api_keys().list_for_account("acct", keys));
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].id == "key2");
    CHECK(keys[1].id == "key1");
    CHECK(keys[1].last_used_ms == 99);
    CHECK(keys[1].revoked_ms == 100);
    CHECK(keys[1].scopes == "generation:write,generation:read");
    return {};
  }).ok());
}

TEST_CASE("store: webhook endpoints insert, list per account, update keeps owner, roll back") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  Store& s = *f.store;
  WebhookEndpointRow e;
  e.id = "ep1";
  e.account = "acct";
  e.url = "https://hooks.example.com/in";
  e.secret = "whsec_abc";
  e.signing = WebhookSigning::standard_webhooks;
  e.events = "generation.completed";
  e.created_ms = 10;
  e.updated_ms = 10;
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().insert(e));
    WebhookEndpointRow e2 = e;
    e2.id = "ep0";
    e2.created_ms = 5;
    BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().insert(e2));
    WebhookEndpointRow other = e;
    other.id = "ep9";
    other.account = "other";
    return u.webhook_endpoints().insert(other);
  }).ok());
  CHECK(s.transact([&](UnitOfWork& u) { return u.webhook_endpoints().insert(e); }).code() ==
        Code::idempotency_conflict);
  WebhookEndpointRow changed = e;
  changed.account = "thief";  // ignored: the owner never changes
  changed.created_ms = 999;
  changed.enabled = false;
  changed.disabled_reason = "gone";
  changed.previous_secret = "whsec_old";
  changed.updated_ms = 20;
  REQUIRE(s.transact([&](UnitOfWork& u) { return u.webhook_endpoints().update(changed); }).ok());
  // A failing unit leaves the row as it was.
  CHECK(s.transact([&](UnitOfWork& u) -> Status {
    WebhookEndpointRow x = changed;
    x.url = "https://changed.example.com/";
    BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().update(x));
    return Status(Code::invalid_state, "abort");
  }).code() == Code::invalid_state);
  CHECK(s.transact([&](UnitOfWork& u) {
    WebhookEndpointRow x = e;
    x.id = "nope";
    return u.webhook_endpoints().update(x);
  }).code() == Code::not_found);
  REQUIRE(s.read([&](UnitOfWork& u) -> Status {
    std::vector<WebhookEndpointRow> rows;
    BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().list_for_account("acct", rows));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].id == "ep0");
    CHECK(rows[1].id == "ep1");
    CHECK(rows[1].account == "acct");
    CHECK(rows[1].created_ms == 10);
    CHECK_FALSE(rows[1].enabled);
    CHECK(rows[1].disabled_reason == "gone");
    CHECK(rows[1].previous_secret == "whsec_old");
    CHECK(rows[1].url == "https://hooks.example.com/in");
    CHECK(rows[1].signing == WebhookSigning::standard_webhooks);
    CHECK(rows[1].events == "generation.completed");
    WebhookEndpointRow got;
    CHECK(u.webhook_endpoints().get("missing", got).code() == Code::not_found);
    return {};
  }).ok());
}

TEST_CASE("store: webhook deliveries are unique per (event, endpoint), due in order, updated, durable") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  StoreFixture f(kind);
  auto make = [](std::string id, std::string event_id, std::string endpoint, std::int64_t next) {
    WebhookDeliveryRow d;
    d.id = std::move(id);
    d.event_id = std::move(event_id);
    d.endpoint_id = std::move(endpoint);
    d.account = "acct";
    d.event = "generation.completed";
    d.subject = "gen1";
    d.data = R"({"generation_id":"gen1"})";
    d.event_ms = 1;
    d.next_attempt_ms = next;
    d.created_ms = 1;
    return d;
  };
  REQUIRE(f.store->transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().insert(make("d2", "ev1", "ep1", 50)));
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().insert(make("d1", "ev1", "ep2", 50)));
    return u.webhook_deliveries().insert(make("d3", "ev2", "ep1", 10));
  }).ok());
  CHECK(f.store->transact([&](UnitOfWork& u) { return u.webhook_deliveries().insert(make("d9", "ev1", "ep1", 0)); })
            .code() == Code::idempotency_conflict);
  CHECK(f.store->transact([&](UnitOfWork& u) { return u.webhook_deliveries().insert(make("d1", "ev7", "ep7", 0)); })
            .code() == Code::idempotency_conflict);
  WebhookDeliveryRow upd = make("d3", "ev2", "ep1", 10);
  upd.state = DeliveryState::delivered;
  upd.attempts = 2;
  upd.last_status = 200;
  upd.last_error = "";
  upd.updated_ms = 77;
  REQUIRE(f.store->transact([&](UnitOfWork& u) { return u.webhook_deliveries().update(upd); }).ok());
  CHECK(f.store->transact([&](UnitOfWork& u) { return u.webhook_deliveries().update(make("zz", "e", "p", 0)); })
            .code() == Code::not_found);
  if (kind == "sqlite-file") f.store = f.reopen();
  REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
    std::vector<WebhookDeliveryRow> rows;
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().due(49, 10, rows));
    CHECK(rows.empty());  // d3 is delivered; d1/d2 not yet due
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().due(50, 10, rows));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].id == "d1");
    CHECK(rows[1].id == "d2");
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().due(50, 1, rows));
    CHECK(rows.size() == 1);
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().list_for_endpoint("ep1", 10, rows));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].id == "d2");
    CHECK(rows[1] == [&] {
      auto x = upd;
      return x;
    }());
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().list_for_subject("ep2", "gen1", rows));
    CHECK(rows.size() == 1);
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().list_for_subject("ep2", "other", rows));
    CHECK(rows.empty());
    return {};
  }).ok());
}

namespace {
RequestLogRow request(std::int64_t t, const char* account, const char* route, int status, const char* code = "") {
  return RequestLogRow{t, account, "key_" + std::string(account), "GET", route, status, code, 1500};
}

std::vector<RouteRequestCounts> summarize(Store& s, std::string_view account, std::int64_t since_ms) {
  std::vector<RouteRequestCounts> out;
  REQUIRE(s.read([&](UnitOfWork& u) { return u.request_log().summarize(account, since_ms, out); }).ok());
  return out;
}

// A host's own unit that keeps no request log: everything but request_log()
// forwards to a built-in unit, request_log() is the interface's default.
class UnitWithoutRequestLog final : public babysea::testing::ForwardingUnit {
 public:
  using ForwardingUnit::ForwardingUnit;
  RequestLogTable& request_log() override { return UnitOfWork::request_log(); }
};
}  // namespace

TEST_CASE("store: the request log appends batches, summarizes one account per route, prunes by time") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  REQUIRE(f.store->transact([](UnitOfWork& u) {
    return u.request_log().append({
        request(100, "a", "/v1/content/{id}", 200),
        request(110, "a", "/v1/content/{id}", 404, "BSE3001"),
        request(120, "a", "/v1/content/{id}", 404, "BSE3001"),
        request(130, "a", "/v1/generate/image/{model}", 400, "BSE2001"),
        request(140, "a", "/v1/generate/image/{model}", 202),
        request(150, "a", "/v1/generate/image/{model}", 502, "BSE4001"),
        request(160, "a", "/v1/generate/image/{model}", 429, "BSE1003"),
        request(170, "b", "/v1/content/{id}", 500, "BSE5000"),  // another account
        request(50, "a", "/v1/usage", 200),                     // before the period
    });
  }).ok());
  // A failed unit leaves none of its rows.
  CHECK(f.store->transact([](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.request_log().append({request(180, "a", "/v1/usage", 200)}));
    return Status(Code::invalid_request, "changed my mind");
  }).code() == Code::invalid_request);
  // Read units refuse writes.
  CHECK(f.store->read([](UnitOfWork& u) { return u.request_log().append({request(1, "a", "/v1/usage", 200)}); })
            .code() == Code::internal);
  CHECK(f.store->read([](UnitOfWork& u) { return u.request_log().prune(1000).status(); }).code() == Code::internal);
  if (kind == "sqlite-file") f.store = f.reopen();

  auto a = summarize(*f.store, "a", 100);
  REQUIRE(a.size() == 2);
  CHECK(a[0] == RouteRequestCounts{"/v1/content/{id}", 3, 1, 2, 0, {{"BSE3001", 2}}});
  CHECK(a[1] == RouteRequestCounts{"/v1/generate/image/{model}", 4, 1, 2, 1,
                                   {{"BSE1003", 1}, {"BSE2001", 1}, {"BSE4001", 1}}});
  auto b = summarize(*f.store, "b", 0);
  REQUIRE(b.size() == 1);
  CHECK(b[0] == RouteRequestCounts{"/v1/content/{id}", 1, 0, 0, 1, {{"BSE5000", 1}}});
  CHECK(summarize(*f.store, "a", 0).size() == 3);  // with /v1/usage at 50
  CHECK(summarize(*f.store, "nobody", 0).empty());
  // The rows themselves, oldest first; equal times in append order.
  REQUIRE(f.store->transact([](UnitOfWork& u) {
    return u.request_log().append({request(200, "c", "/v1/status", 200), request(200, "c", "/v1/usage", 403, "BSE1002"),
                                   request(200, "c", "/v1/status", 429, "BSE1003")});
  }).ok());
  std::vector<RequestLogRow> rows;
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.request_log().list_for_account("a", 110, 3, rows); }).ok());
  CHECK(rows == std::vector<RequestLogRow>{request(110, "a", "/v1/content/{id}", 404, "BSE3001"),
                                           request(120, "a", "/v1/content/{id}", 404, "BSE3001"),
                                           request(130, "a", "/v1/generate/image/{model}", 400, "BSE2001")});
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.request_log().list_for_account("c", 0, 10, rows); }).ok());
  CHECK(rows == std::vector<RequestLogRow>{request(200, "c", "/v1/status", 200),
                                           request(200, "c", "/v1/usage", 403, "BSE1002"),
                                           request(200, "c", "/v1/status", 429, "BSE1003")});

  Result<std::size_t> pruned = std::size_t{0};
  REQUIRE(f.store->transact([&](UnitOfWork& u) {
    pruned = u.request_log().prune(120);  // 50, 100, 110: strictly older than 120
    return pruned.status();
  }).ok());
  CHECK(*pruned == 3);
  a = summarize(*f.store, "a", 0);
  REQUIRE(a.size() == 2);
  CHECK(a[0] == RouteRequestCounts{"/v1/content/{id}", 1, 0, 1, 0, {{"BSE3001", 1}}});
  // A failed unit's prune is rolled back.
  CHECK(f.store->transact([](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.request_log().append({request(125, "a", "/v1/usage", 200)}));
    BABYSEA_RETURN_IF_ERROR(u.request_log().prune(1000).status());
    return Status(Code::invalid_request, "changed my mind");
  }).code() == Code::invalid_request);
  CHECK(summarize(*f.store, "a", 0) == a);
  CHECK(summarize(*f.store, "b", 0).size() == 1);
}

TEST_CASE("store: a unit without its own request log refuses appends and reads no requests") {
  StoreFixture f("memory");
  CHECK(f.store->transact([](UnitOfWork& inner) {
    UnitWithoutRequestLog u(inner);
    return u.request_log().append({request(1, "a", "/v1/usage", 200)});
  }).code() == Code::unsupported);
  REQUIRE(f.store->transact([](UnitOfWork& inner) -> Status {
    UnitWithoutRequestLog u(inner);
    BABYSEA_ASSIGN_OR_RETURN(std::size_t n, u.request_log().prune(INT64_MAX));
    CHECK(n == 0);
    std::vector<RouteRequestCounts> out{RouteRequestCounts{}};
    BABYSEA_RETURN_IF_ERROR(u.request_log().summarize("a", 0, out));
    CHECK(out.empty());
    std::vector<RequestLogRow> rows{RequestLogRow{}};
    BABYSEA_RETURN_IF_ERROR(u.request_log().list_for_account("a", 0, 10, rows));
    CHECK(rows.empty());
    return {};
  }).ok());
}

namespace {
class UnitWithoutInstances final : public babysea::testing::ForwardingUnit {
 public:
  using ForwardingUnit::ForwardingUnit;
  InstanceTable& instances() override { return UnitOfWork::instances(); }
};

WebhookDeliveryRow delivery(std::string id, std::int64_t next, DeliveryState state = DeliveryState::pending) {
  WebhookDeliveryRow d;
  d.id = id;
  d.event_id = "ev-" + id;
  d.endpoint_id = "ep1";
  d.account = "acct";
  d.event = "generation.completed";
  d.subject = "gen1";
  d.data = "{}";
  d.event_ms = 1;
  d.state = state;
  d.next_attempt_ms = next;
  d.created_ms = 1;
  return d;
}

std::vector<std::string> delivery_ids(const std::vector<WebhookDeliveryRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}
}  // namespace

TEST_CASE("store: a unit without its own instance registry refuses every call") {
  StoreFixture f("memory");
  REQUIRE(f.store->transact([](UnitOfWork& inner) -> Status {
    UnitWithoutInstances u(inner);
    CHECK(u.instances().upsert(InstanceRow{"i", 1, 1, ""}).code() == Code::unsupported);
    CHECK(u.instances().heartbeat("i", 2).code() == Code::unsupported);
    std::vector<InstanceRow> rows;
    CHECK(u.instances().list(rows).code() == Code::unsupported);
    CHECK(u.instances().remove_if_stale("i", 5).code() == Code::unsupported);
    CHECK(u.instances().remove("i").code() == Code::unsupported);
    return {};
  }).ok());
  CHECK_FALSE(f.store->shared());
}

TEST_CASE("store: webhook delivery claim_due leases due rows and returns their old schedule") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
    for (const auto& d : {delivery("d-a", 10), delivery("d-b", 10), delivery("d-c", 5),
                          delivery("d-done", 1, DeliveryState::delivered), delivery("d-future", 100)})
      BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().insert(d));
    return {};
  }).ok());
  auto claim = [&](std::int64_t now, std::size_t limit, std::int64_t lease) {
    std::vector<WebhookDeliveryRow> rows;
    REQUIRE(s.transact([&](UnitOfWork& u) { return u.webhook_deliveries().claim_due(now, limit, lease, rows); }).ok());
    return rows;
  };
  auto stored = [&](const std::string& id) {
    WebhookDeliveryRow d;
    REQUIRE(s.read([&](UnitOfWork& u) { return u.webhook_deliveries().get(id, d); }).ok());
    return d;
  };
  auto first = claim(50, 2, 1'000);
  REQUIRE(first.size() == 2);
  CHECK(first[0] == delivery("d-c", 5));  // the whole row, with its old next_attempt_ms
  CHECK(first[1] == delivery("d-a", 10));
  CHECK(stored("d-c").next_attempt_ms == 1'000);
  CHECK(stored("d-a").next_attempt_ms == 1'000);
  CHECK(delivery_ids(claim(50, 10, 1'000)) == std::vector<std::string>{"d-b"});
  CHECK(claim(50, 10, 1'000).empty());
  CHECK(claim(999, 10, 2'000).size() == 1);  // d-future only
  CHECK(delivery_ids(claim(1'000, 10, 3'000)) == std::vector<std::string>{"d-a", "d-b", "d-c"});
  CHECK(stored("d-done").next_attempt_ms == 1);  // never claimed: not pending

  // The sender's update() sets the real schedule.
  WebhookDeliveryRow sent = delivery("d-a", 1'500);
  sent.attempts = 1;
  REQUIRE(s.transact([&](UnitOfWork& u) { return u.webhook_deliveries().update(sent); }).ok());
  CHECK(delivery_ids(claim(1'500, 10, 3'000)) == std::vector<std::string>{"d-a"});

  std::vector<WebhookDeliveryRow> rows;
  CHECK(s.read([&](UnitOfWork& u) { return u.webhook_deliveries().claim_due(10'000, 10, 20'000, rows); }).code() ==
        Code::internal);
  CHECK(s.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().claim_due(10'000, 10, 20'000, rows));
    CHECK(rows.size() == 4);
    return Status(Code::unavailable, "abort");
  }).code() == Code::unavailable);
  REQUIRE(s.read([&](UnitOfWork& u) { return u.webhook_deliveries().due(10'000, 10, rows); }).ok());
  CHECK(rows.size() == 4);
  if (kind == "sqlite-file") {
    f.store = f.reopen();
    WebhookDeliveryRow d;
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.webhook_deliveries().get("d-b", d); }).ok());
    CHECK(d.next_attempt_ms == 3'000);
  }
}

TEST_CASE("store: instances upsert, heartbeat, list, and a stale one is removed exactly once") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-memory", "sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Store& s = *f.store;
  auto list = [&](Store& st) {
    std::vector<InstanceRow> rows;
    REQUIRE(st.read([&](UnitOfWork& u) { return u.instances().list(rows); }).ok());
    return rows;
  };
  auto tx = [&](auto fn) { return s.transact([&](UnitOfWork& u) -> Status { return fn(u.instances()); }); };
  REQUIRE(tx([](InstanceTable& t) -> Status {
    BABYSEA_RETURN_IF_ERROR(t.upsert({"inst-b", 10, 10, "host-b pid 2"}));
    return t.upsert({"inst-a", 5, 5, "host-a pid 1"});
  }).ok());
  CHECK(list(s) == std::vector<InstanceRow>{{"inst-a", 5, 5, "host-a pid 1"}, {"inst-b", 10, 10, "host-b pid 2"}});
  CHECK(tx([](InstanceTable& t) { return t.heartbeat("inst-a", 50); }).ok());
  CHECK(tx([](InstanceTable& t) { return t.heartbeat("nobody", 50); }).code() == Code::not_found);
  // A restart under the same id replaces the row.
  CHECK(tx([](InstanceTable& t) { return t.upsert({"inst-b", 60, 60, "host-b pid 3"}); }).ok());
  CHECK(list(s) == std::vector<InstanceRow>{{"inst-a", 5, 50, "host-a pid 1"}, {"inst-b", 60, 60, "host-b pid 3"}});

  // Stale means heartbeat_ms < before_ms.
  auto remove_stale = [&](const std::string& id, std::int64_t before) {
    bool removed = false;
    REQUIRE(s.transact([&](UnitOfWork& u) -> Status {
      BABYSEA_ASSIGN_OR_RETURN(removed, u.instances().remove_if_stale(id, before));
      return {};
    }).ok());
    return removed;
  };
  CHECK_FALSE(remove_stale("inst-a", 50));
  CHECK_FALSE(remove_stale("nobody", 1'000));
  CHECK(remove_stale("inst-a", 51));
  CHECK_FALSE(remove_stale("inst-a", 51));  // the first caller won
  CHECK(tx([](InstanceTable& t) { return t.heartbeat("inst-a", 70); }).code() == Code::not_found);

  // Two callers at once: exactly one wins.
  REQUIRE(tx([](InstanceTable& t) { return t.upsert({"inst-c", 1, 1, ""}); }).ok());
  std::atomic<int> wins{0}, errors{0};
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        bool removed = false;
        Status st = s.transact([&](UnitOfWork& u) -> Status {
          BABYSEA_ASSIGN_OR_RETURN(removed, u.instances().remove_if_stale("inst-c", 100));
          return {};
        });
        if (!st.ok()) ++errors;
        else if (removed) ++wins;
      });
    for (auto& t : threads) t.join();
  }
  CHECK(errors == 0);
  CHECK(wins == 1);

  // Writes fail in read units; a failed unit is rolled back.
  CHECK(s.read([](UnitOfWork& u) { return u.instances().upsert({"x", 1, 1, ""}); }).code() == Code::internal);
  CHECK(s.read([](UnitOfWork& u) { return u.instances().heartbeat("inst-b", 1); }).code() == Code::internal);
  CHECK(s.read([](UnitOfWork& u) { return u.instances().remove_if_stale("inst-b", 1'000).status(); }).code() ==
        Code::internal);
  CHECK(s.read([](UnitOfWork& u) { return u.instances().remove("inst-b"); }).code() == Code::internal);
  CHECK(tx([](InstanceTable& t) -> Status {
    BABYSEA_RETURN_IF_ERROR(t.upsert({"inst-d", 1, 1, ""}));
    BABYSEA_RETURN_IF_ERROR(t.heartbeat("inst-b", 99));
    BABYSEA_ASSIGN_OR_RETURN(bool removed, t.remove_if_stale("inst-b", 1'000));
    CHECK(removed);
    return Status(Code::unavailable, "abort");
  }).code() == Code::unavailable);
  CHECK(list(s) == std::vector<InstanceRow>{{"inst-b", 60, 60, "host-b pid 3"}});

  // remove(): absent is not an error.
  CHECK(tx([](InstanceTable& t) { return t.remove("inst-b"); }).ok());
  CHECK(tx([](InstanceTable& t) { return t.remove("inst-b"); }).ok());
  CHECK(list(s).empty());
  REQUIRE(tx([](InstanceTable& t) { return t.upsert({"inst-e", 7, 8, "e"}); }).ok());
  if (kind == "sqlite-file") f.store = f.reopen();
  CHECK(list(*f.store) == std::vector<InstanceRow>{{"inst-e", 7, 8, "e"}});
  CHECK(f.store->shared() == (kind == "postgres"));
}

