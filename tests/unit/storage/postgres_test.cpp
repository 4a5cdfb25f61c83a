// PostgreSQL-specific behaviour of the store: many writers (threads, and two
// Store objects on one schema as two instances would), re-runs after
// deadlocks, connection loss, migrations per schema, read snapshots.
// Needs BABYSEA_TEST_PG (ctest runs it through scripts/with_postgres.sh);
// without it every test fails rather than passing vacuously.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "babysea/ledger.hpp"
#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

constexpr Micros C = kMicrosPerCredit;

// Runs SQL on the test server outside any store; returns the first value.
std::string sql(const std::string& text) {
  PGconn* c = PQconnectdb(babysea::testing::test_postgres_conninfo().c_str());
  REQUIRE(PQstatus(c) == CONNECTION_OK);
  PGresult* r = PQexec(c, text.c_str());
  INFO(text << ": " << PQresultErrorMessage(r));
  REQUIRE((PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK));
  std::string out = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  PQfinish(c);
  return out;
}

StoreFixture pg() {
  REQUIRE_FALSE(babysea::testing::test_postgres_conninfo().empty());
  return StoreFixture("postgres");
}

void audit_clean(Ledger& ledger) {
  auto report = ledger.audit();
  REQUIRE(report.ok());
  INFO(report->to_string());
  CHECK(report->clean());
}

// Threads reserve 1 credit each, in their own units, from one account funded
// for exactly `funded` holds, spread over the given stores (one Ledger each).
void reserve_race(std::vector<Store*> stores, int funded) {
  ManualClock clock;
  std::vector<std::unique_ptr<Ledger>> ledgers;
  for (Store* s : stores) {
    ledgers.push_back(std::make_unique<Ledger>(*s, clock));
    REQUIRE(ledgers.back()->init().ok());
  }
  // Every instance creates the account at once: the losers of the insert race
  // see the winner's row (create_account is OK for an existing account).
  {
    std::vector<std::thread> creators;
    std::atomic<int> failed{0};
    for (int i = 0; i < 8; ++i)
      creators.emplace_back([&, i] {
        if (!ledgers[static_cast<std::size_t>(i) % ledgers.size()]->create_account("alice").ok()) ++failed;
      });
    for (auto& t : creators) t.join();
    REQUIRE(failed == 0);
  }
  REQUIRE(ledgers[0]->grant("alice", funded * C, "seed").ok());
  constexpr int kThreads = 8, kPerThread = 15;
  std::atomic<int> ok{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Ledger& ledger = *ledgers[static_cast<std::size_t>(t) % ledgers.size()];
      for (int i = 0; i < kPerThread; ++i) {
        auto r = ledger.reserve("alice", 1 * C, "t" + std::to_string(t) + "-" + std::to_string(i),
                                clock.now_ms() + 60'000);
        if (r.ok()) {
          ++ok;
          // Settle or release every other hold: the account stays hot and
          // escrow sees every kind of update.
          if (i % 3 == 1) {
            if (!ledger.settle(r->hold.id, C / 2).ok()) ++other;
          }
        } else if (r.code() == Code::insufficient_credits) {
          ++insufficient;
        } else {
          UNSCOPED_INFO(r.status().to_string());
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(other == 0);
  CHECK(ok + insufficient == kThreads * kPerThread);
  auto balance = ledgers[0]->balance("alice");
  REQUIRE(balance.ok());
  CHECK(balance->available() >= 0);
  // Settled holds gave back half a credit each, so more than `funded` holds
  // may fit, but never more than the money allows.
  CHECK(ok >= funded);
  for (auto& l : ledgers) audit_clean(*l);
}

}  // namespace

TEST_CASE("postgres: threads reserving from one account through one store never overdraw") {
  StoreFixture f = pg();
  reserve_race({f.store.get()}, 40);
}

TEST_CASE("postgres: two Store objects on one schema (two instances) never overdraw") {
  StoreFixture f = pg();
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  reserve_race({f.store.get(), second->get()}, 40);
}

TEST_CASE("postgres: exactly the funded number of reserves succeed across two instances (case 1)") {
  StoreFixture f = pg();
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  ManualClock clock;
  Ledger a(*f.store, clock), b(**second, clock);
  REQUIRE(a.init().ok());
  REQUIRE(b.init().ok());
  REQUIRE(a.create_account("alice").ok());
  REQUIRE(a.grant("alice", 10 * 7 * C, "seed").ok());
  std::atomic<int> ok{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 40; ++i) {
    threads.emplace_back([&, i] {
      auto r = (i % 2 ? a : b).reserve("alice", 7 * C, "gen-" + std::to_string(i), clock.now_ms() + 60'000);
      if (r.ok()) ++ok;
      else if (r.code() == Code::insufficient_credits) ++insufficient;
      else ++other;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 10);
  CHECK(insufficient == 30);
  CHECK(other == 0);
  CHECK(a.balance("alice")->available() == 0);
  audit_clean(a);
}

TEST_CASE("postgres: a deadlock is rolled back and the unit re-run; with no retries it fails unavailable") {
  const int retries = GENERATE(5, 0);
  // Batched units (two lanes, so the two units run in two transactions at
  // once) and a transaction per unit.
  const int max_batch = GENERATE(64, 1);
  INFO("max_retries " << retries << ", max_batch " << max_batch);
  StoreFixture f = pg();
  f.pg_options.max_retries = retries;
  f.pg_options.max_batch = max_batch;
  f.pg_options.write_lanes = 2;
  f.store = f.reopen();
  for (const char* id : {"a", "b"}) {
    REQUIRE(f.store->transact([&](UnitOfWork& u) {
      AccountRow r;
      r.id = id;
      BABYSEA_RETURN_IF_ERROR(u.ledger().insert_account(r));
      HoldRow h;
      h.id = std::string("h") + id;
      h.key = h.id;
      h.account = id;
      h.amount = 1;
      h.deadline_ms = 1;
      return u.ledger().insert_hold(h);
    }).ok());
  }
  // Two units lock hold a then b, and b then a (get_hold locks in a writing
  // unit, batched or not); both hold their first lock before either asks for
  // its second, so PostgreSQL must break a deadlock.
  std::barrier both_locked(2);
  std::atomic<int> runs{0};
  auto unit = [&](const char* first, const char* second) {
    bool first_run = true;  // a re-run does not wait for the other unit again
    return f.store->transact([&](UnitOfWork& u) -> Status {
      ++runs;
      HoldRow row;
      BABYSEA_RETURN_IF_ERROR(u.ledger().get_hold(std::string("h") + first, row));
      BABYSEA_RETURN_IF_ERROR(u.ledger().add_to_account(first, 0, 1, 0, 0));
      if (first_run) {
        first_run = false;
        both_locked.arrive_and_wait();
      }
      BABYSEA_RETURN_IF_ERROR(u.ledger().get_hold(std::string("h") + second, row));
      return u.ledger().add_to_account(second, 0, 1, 0, 0);
    });
  };
  Status s1, s2;
  std::thread t1([&] { s1 = unit("a", "b"); });
  std::thread t2([&] { s2 = unit("b", "a"); });
  t1.join();
  t2.join();
  std::int64_t a_credits = 0, b_credits = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
    AccountRow a, b;
    BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("a", a));
    BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("b", b));
    a_credits = a.posted_credits;
    b_credits = b.posted_credits;
    return {};
  }).ok());
  if (retries > 0) {
    CHECK(s1.ok());
    CHECK(s2.ok());
    // The deadlock victim ran again. Unbatched, exactly once more. Batched,
    // its optimistic batch is rolled back and re-run in safe mode, and one
    // CI run on a loaded machine saw one run more (4) without finding why;
    // a unit may be re-run (storage.hpp). Either way it is applied once
    // (the credits below).
    if (max_batch == 1) CHECK(runs == 3);
    else CHECK((runs == 3 || runs == 4));
    CHECK(a_credits == 2);
    CHECK(b_credits == 2);
  } else {
    CHECK(s1.ok() != s2.ok());  // one won, the victim gave up
    const Status& lost = s1.ok() ? s2 : s1;
    CHECK(lost.code() == Code::unavailable);
    CHECK(runs == 2);
    CHECK(a_credits == 1);  // nothing of the victim applied
    CHECK(b_credits == 1);
  }
}

TEST_CASE("postgres: batched units reading accounts in opposite orders neither deadlock nor overdraw") {
  // Two lanes run two batches at once, as two processes would. Optimistic
  // batches read accounts without a lock (a lock per read, in arrival order,
  // deadlocks batches of several processes) and the counters' update at
  // COMMIT checks the balance again.
  StoreFixture f = pg();
  f.pg_options.write_lanes = 2;
  f.store = f.reopen();
  for (const char* id : {"a", "b"}) {
    REQUIRE(f.store->transact([&](UnitOfWork& u) {
      AccountRow r;
      r.id = id;
      r.posted_credits = 10;
      return u.ledger().insert_account(r);
    }).ok());
  }
  SECTION("opposite orders: both apply, no deadlock") {
    std::barrier both_read(2);
    std::atomic<int> runs{0};
    auto unit = [&](const char* first, const char* second) {
      bool first_run = true;
      return f.store->transact([&](UnitOfWork& u) -> Status {
        ++runs;
        AccountRow row;
        BABYSEA_RETURN_IF_ERROR(u.ledger().get_account(first, row));
        BABYSEA_RETURN_IF_ERROR(u.ledger().add_to_account(first, 0, 1, 0, 0));
        if (first_run) {
          first_run = false;
          both_read.arrive_and_wait();
        }
        BABYSEA_RETURN_IF_ERROR(u.ledger().get_account(second, row));
        return u.ledger().add_to_account(second, 0, 1, 0, 0);
      });
    };
    Status s1, s2;
    std::thread t1([&] { s1 = unit("a", "b"); });
    std::thread t2([&] { s2 = unit("b", "a"); });
    t1.join();
    t2.join();
    CHECK(s1.ok());
    CHECK(s2.ok());
    CHECK(runs == 2);  // nobody was a deadlock victim
    REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
      AccountRow a, b;
      BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("a", a));
      BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("b", b));
      CHECK(a.posted_credits == 12);
      CHECK(b.posted_credits == 12);
      return {};
    }).ok());
  }
  SECTION("both saw the same balance: the update refuses the second, which runs again on the locked row") {
    std::barrier both_read(2);
    std::atomic<int> runs{0};
    auto reserve = [&]() {
      bool first_run = true;
      return f.store->transact([&](UnitOfWork& u) -> Status {
        ++runs;
        AccountRow row;
        BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("a", row));
        if (first_run) {
          first_run = false;
          both_read.arrive_and_wait();  // both decide on available 10
        }
        if (row.posted_credits - row.posted_debits - row.pending_debits < 10)
          return Status(Code::insufficient_credits, "not enough");
        return u.ledger().add_to_account("a", 0, 0, 10, 0);
      });
    };
    Status s1, s2;
    std::thread t1([&] { s1 = reserve(); });
    std::thread t2([&] { s2 = reserve(); });
    t1.join();
    t2.join();
    CHECK(s1.ok() != s2.ok());
    const Status& lost = s1.ok() ? s2 : s1;
    CHECK(lost.code() == Code::insufficient_credits);
    CHECK(runs >= 3);  // the refused one ran again
    REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
      AccountRow a;
      BABYSEA_RETURN_IF_ERROR(u.ledger().get_account("a", a));
      CHECK(a.pending_debits == 10);  // never overdrawn
      return {};
    }).ok());
  }
}

TEST_CASE("postgres: a lost connection fails the unit unavailable, applies nothing, and the pool reconnects") {
  StoreFixture f = pg();
  Status s = f.store->transact([&](UnitOfWork& u) -> Status {
    AccountRow r;
    r.id = "x";
    BABYSEA_RETURN_IF_ERROR(u.ledger().insert_account(r));
    // Kill every other client connection of this database: ours included.
    sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND datname = current_database() AND backend_type = 'client backend'");
    r.id = "y";
    return u.ledger().insert_account(r);
  });
  CHECK(s.code() == Code::unavailable);
  CHECK(code_is_retryable(s.code()));
  // The next unit gets a fresh connection; "x" was never committed.
  REQUIRE(f.store->transact([](UnitOfWork& u) {
    AccountRow r;
    r.id = "z";
    return u.ledger().insert_account(r);
  }).ok());
  std::vector<std::string> ids;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    return u.ledger().for_each_account([&](const AccountRow& a) { ids.push_back(a.id); });
  }).ok());
  CHECK(ids == std::vector<std::string>{"z"});
}

TEST_CASE("postgres: an unreachable server fails open() unavailable, never a crash") {
  PostgresOptions o;
  o.conninfo = "host=/nonexistent-babysea-dir port=1 connect_timeout=2";
  auto r = open_postgres_store(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Code::unavailable);
}

TEST_CASE("postgres: schema names are validated, and schemas keep deployments apart") {
  REQUIRE_FALSE(babysea::testing::test_postgres_conninfo().empty());
  for (const char* bad : {"", "1abc", "a-b", "a\"b", "a;drop", "x y"}) {
    PostgresOptions o;
    o.conninfo = babysea::testing::test_postgres_conninfo();
    o.schema = bad;
    auto r = open_postgres_store(o);
    INFO(bad);
    CHECK(r.code() == Code::invalid_request);
  }
  StoreFixture one = pg(), two = pg();
  REQUIRE(one.store->transact([](UnitOfWork& u) {
    AccountRow r;
    r.id = "only-in-one";
    return u.ledger().insert_account(r);
  }).ok());
  AccountRow out;
  CHECK(two.store->read([&](UnitOfWork& u) { return u.ledger().get_account("only-in-one", out); }).code() ==
        Code::not_found);
  CHECK(one.store->read([&](UnitOfWork& u) { return u.ledger().get_account("only-in-one", out); }).ok());
}

TEST_CASE("postgres: a newer or different schema is refused as corruption; a reopen migrates nothing") {
  StoreFixture f = pg();
  const std::string table = "\"" + f.pg_options.schema + "\".schema_migrations";
  const std::string known = "9";  // migrations this library knows (pg_migrations.cpp)
  const std::string future = "10";
  CHECK(sql("SELECT max(version) FROM " + table) == known);
  f.store = f.reopen();  // already current: opens
  CHECK(sql("SELECT count(*) FROM " + table) == known);
  f.store.reset();
  sql("INSERT INTO " + table + " VALUES (" + future + ", 'from_the_future', 0)");
  auto newer = open_postgres_store(f.pg_options);
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.code() == Code::corruption);
  sql("DELETE FROM " + table + " WHERE version = " + future);
  sql("UPDATE " + table + " SET name = 'something_else' WHERE version = 3");
  auto different = open_postgres_store(f.pg_options);
  REQUIRE_FALSE(different.ok());
  CHECK(different.code() == Code::corruption);
}

TEST_CASE("postgres: a read unit sees one snapshot while writers commit") {
  StoreFixture f = pg();
  std::size_t before = 0, after = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.ledger().for_each_account([&](const AccountRow&) { ++before; }));
    std::thread writer([&] {
      CHECK(f.store->transact([](UnitOfWork& w) {
        AccountRow r;
        r.id = "late";
        return w.ledger().insert_account(r);
      }).ok());
    });
    writer.join();  // committed while this read is open: it does not block on it
    return u.ledger().for_each_account([&](const AccountRow&) { ++after; });
  }).ok());
  CHECK(before == after);
  std::size_t now = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    return u.ledger().for_each_account([&](const AccountRow&) { ++now; });
  }).ok());
  CHECK(now == before + 1);
}

TEST_CASE("postgres: synchronous_commit off still commits and reads back") {
  StoreFixture f = pg();
  f.pg_options.synchronous_commit = false;
  f.store = f.reopen();
  REQUIRE(f.store->transact([](UnitOfWork& u) {
    AccountRow r;
    r.id = "fast";
    return u.ledger().insert_account(r);
  }).ok());
  AccountRow out;
  CHECK(f.store->read([&](UnitOfWork& u) { return u.ledger().get_account("fast", out); }).ok());
  CHECK(f.store->name() == "postgres");
}

namespace {

using Unit = std::function<Status(UnitOfWork&)>;

// Runs `first` in a writing unit on store `a` and, while that unit is still
// open (its locks held), `second` in a writing unit on store `b` (another
// instance). True when `second` finished while `first` was still open,
// i.e. it did not wait for first's locks.
bool while_open(Store& a, Store& b, const Unit& first, const Unit& second) {
  using namespace std::chrono_literals;
  std::atomic<bool> first_ready{false}, second_done{false};
  bool in_time = false;
  Status first_status;
  std::thread t([&] {
    first_status = a.transact([&](UnitOfWork& u) -> Status {
      BABYSEA_RETURN_IF_ERROR(first(u));
      first_ready = true;
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!second_done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
      in_time = second_done;
      return {};
    });
    first_ready = true;  // also when it failed: never leave the caller waiting
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!first_ready && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  const Status second_status = b.transact(second);
  second_done = true;
  t.join();
  INFO(first_status.to_string() << " / " << second_status.to_string());
  CHECK(first_status.ok());
  CHECK(second_status.ok());
  return in_time;
}

GenerationRow due_generation(const std::string& id, std::int64_t wake_ms) {
  GenerationRow r;
  r.id = id;
  r.account = "acct";
  r.status = 1;
  r.created_ms = 1;
  r.wake_ms = wake_ms;
  r.version = 3;
  r.doc = "doc";
  r.owner = "inst-a";
  return r;
}

template <typename Row>
std::set<std::string> id_set(const std::vector<Row>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows) out.insert(r.id);
  return out;
}

bool disjoint(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::none_of(a.begin(), a.end(), [&](const std::string& x) { return b.count(x) != 0; });
}

}  // namespace

TEST_CASE("postgres: the store is shared; two instances claim disjoint due generations (SKIP LOCKED)") {
  StoreFixture f = pg();
  CHECK(f.store->shared());
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  REQUIRE(f.store->transact([](UnitOfWork& u) -> Status {
    for (int i = 0; i < 6; ++i)
      BABYSEA_RETURN_IF_ERROR(u.generations().insert(due_generation("g" + std::to_string(i), 100 + i)));
    return {};
  }).ok());
  std::vector<GenerationRow> a_rows, b_rows;
  const bool in_time = while_open(
      *f.store, **second, [&](UnitOfWork& u) { return u.generations().claim_due(1'000, 2, 60'000, a_rows); },
      [&](UnitOfWork& u) { return u.generations().claim_due(1'000, 10, 60'000, b_rows); });
  CHECK(in_time);  // the second instance skipped the locked rows, it did not wait for them
  REQUIRE(a_rows.size() == 2);
  CHECK(a_rows[0].id == "g0");  // earliest first, old wake_ms, version untouched
  CHECK(a_rows[0].wake_ms == 100);
  CHECK(a_rows[0].version == 3);
  CHECK(a_rows[0].owner == "inst-a");
  CHECK(a_rows[1].id == "g1");
  CHECK(b_rows.size() == 4);
  CHECK(disjoint(id_set(a_rows), id_set(b_rows)));
  for (std::size_t i = 1; i < b_rows.size(); ++i) CHECK(b_rows[i - 1].wake_ms <= b_rows[i].wake_ms);
  std::vector<GenerationRow> rows;
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.generations().due(59'999, 10, rows); }).ok());
  CHECK(rows.empty());
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.generations().due(60'000, 10, rows); }).ok());
  CHECK(rows.size() == 6);
  for (const auto& r : rows) CHECK(r.version == 3);
}

TEST_CASE("postgres: two instances claim disjoint due webhook deliveries (SKIP LOCKED)") {
  StoreFixture f = pg();
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  REQUIRE(f.store->transact([](UnitOfWork& u) -> Status {
    for (int i = 0; i < 5; ++i) {
      WebhookDeliveryRow d;
      d.id = "d" + std::to_string(i);
      d.event_id = "ev" + std::to_string(i);
      d.endpoint_id = "ep";
      d.account = "acct";
      d.next_attempt_ms = 10 + i;
      BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().insert(d));
    }
    return {};
  }).ok());
  std::vector<WebhookDeliveryRow> a_rows, b_rows;
  const bool in_time = while_open(
      *f.store, **second, [&](UnitOfWork& u) { return u.webhook_deliveries().claim_due(100, 2, 5'000, a_rows); },
      [&](UnitOfWork& u) { return u.webhook_deliveries().claim_due(100, 10, 5'000, b_rows); });
  CHECK(in_time);
  REQUIRE(a_rows.size() == 2);
  CHECK(a_rows[0].id == "d0");
  CHECK(a_rows[0].next_attempt_ms == 10);
  CHECK(b_rows.size() == 3);
  CHECK(disjoint(id_set(a_rows), id_set(b_rows)));
  std::vector<WebhookDeliveryRow> rows;
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.webhook_deliveries().due(4'999, 10, rows); }).ok());
  CHECK(rows.empty());
}

TEST_CASE("postgres: outbox due and due_holds lock their rows in a writing unit and skip locked ones") {
  StoreFixture f = pg();
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  REQUIRE(f.store->transact([](UnitOfWork& u) -> Status {
    for (int i = 0; i < 4; ++i) {
      OutboxRow o;
      o.id = "o" + std::to_string(i);
      o.topic = "t";
      o.account = "acct";
      o.payload = "{}";
      o.next_attempt_ms = 5;
      BABYSEA_RETURN_IF_ERROR(u.outbox().append(o));
      HoldRow h;
      h.id = "h" + std::to_string(i);
      h.key = "k" + std::to_string(i);
      h.account = "acct";
      h.amount = 1;
      h.deadline_ms = 10 + i;
      BABYSEA_RETURN_IF_ERROR(u.ledger().insert_hold(h));
    }
    return {};
  }).ok());

  std::vector<OutboxRow> a_out, b_out, read_out;
  std::vector<HoldRow> a_holds, b_holds, read_holds;
  const bool in_time = while_open(
      *f.store, **second,
      [&](UnitOfWork& u) -> Status {
        BABYSEA_RETURN_IF_ERROR(u.outbox().due(100, 1, a_out));
        return u.ledger().due_holds(100, 2, a_holds);
      },
      [&](UnitOfWork& u) -> Status {
        BABYSEA_RETURN_IF_ERROR(u.outbox().due(100, 10, b_out));
        return u.ledger().due_holds(100, 10, b_holds);
      });
  CHECK(in_time);
  REQUIRE(a_out.size() == 1);
  CHECK(a_out[0].id == "o0");
  CHECK(id_set(b_out) == std::set<std::string>{"o1", "o2", "o3"});
  REQUIRE(a_holds.size() == 2);
  CHECK(a_holds[0].id == "h0");
  CHECK(a_holds[1].id == "h1");
  CHECK(id_set(b_holds) == std::set<std::string>{"h2", "h3"});

  // A read unit takes no locks: it sees every row, even while a writer holds them.
  const bool read_in_time = while_open(
      *f.store, **second,
      [&](UnitOfWork& u) -> Status {
        BABYSEA_RETURN_IF_ERROR(u.outbox().due(100, 10, a_out));
        return u.ledger().due_holds(100, 10, a_holds);
      },
      [&](UnitOfWork&) -> Status {
        return f.store->read([&](UnitOfWork& r) -> Status {
          BABYSEA_RETURN_IF_ERROR(r.outbox().due(100, 10, read_out));
          return r.ledger().due_holds(100, 10, read_holds);
        });
      });
  CHECK(read_in_time);
  CHECK(a_out.size() == 4);
  CHECK(read_out.size() == 4);
  CHECK(a_holds.size() == 4);
  CHECK(read_holds.size() == 4);
}

TEST_CASE("postgres: two instances racing to remove a stale instance: exactly one wins") {
  StoreFixture f = pg();
  auto second = open_postgres_store(f.pg_options);
  REQUIRE(second.ok());
  for (int round = 0; round < 10; ++round) {
    const std::string id = "dead-" + std::to_string(round);
    REQUIRE(f.store->transact([&](UnitOfWork& u) { return u.instances().upsert({id, 1, 1, "gone"}); }).ok());
    std::atomic<int> wins{0}, errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      Store& s = t % 2 == 0 ? *f.store : **second;
      threads.emplace_back([&, &s = s] {
        bool removed = false;
        Status st = s.transact([&](UnitOfWork& u) -> Status {
          BABYSEA_ASSIGN_OR_RETURN(removed, u.instances().remove_if_stale(id, 1'000));
          return {};
        });
        if (!st.ok()) ++errors;
        else if (removed) ++wins;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(errors == 0);
    CHECK(wins == 1);
  }
  std::vector<InstanceRow> rows;
  REQUIRE(f.store->read([&](UnitOfWork& u) { return u.instances().list(rows); }).ok());
  CHECK(rows.empty());
}

