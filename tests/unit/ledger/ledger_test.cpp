// The ledger's operations, replays and refusals (specs/ledger.md §6), on every backend.
#include <catch2/catch.hpp>

#include "babysea/ledger.hpp"
#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

constexpr Micros C = kMicrosPerCredit;

struct LedgerFixture {
  explicit LedgerFixture(const std::string& kind) : f(kind), ledger(*f.store, clock) {
    REQUIRE(ledger.init().ok());
    REQUIRE(ledger.create_account("alice").ok());
  }
  void fund(Micros amount, const std::string& key = "seed") { REQUIRE(ledger.grant("alice", amount, key).ok()); }
  Micros available(const char* account = "alice") { return ledger.balance(account)->available(); }
  // A snapshot of everything, to prove a refusal changed nothing.
  std::string snapshot() {
    std::string out;
    REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
      BABYSEA_RETURN_IF_ERROR(u.ledger().for_each_account([&](const AccountRow& a) {
        out += a.id + ":" + std::to_string(a.posted_debits) + "," + std::to_string(a.posted_credits) + "," +
               std::to_string(a.pending_debits) + "," + std::to_string(a.pending_credits) + ";";
      }));
      BABYSEA_RETURN_IF_ERROR(u.ledger().for_each_entry([&](const EntryRow& e) { out += "e" + std::to_string(e.seq); }));
      return u.ledger().for_each_hold([&](const HoldRow& h) { out += "h" + h.id + std::to_string(int(h.state)); });
    }).ok());
    std::vector<OutboxRow> rows;
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.outbox().list(0, 1000, rows); }).ok());
    out += "outbox" + std::to_string(rows.size());
    return out;
  }
  void audit_clean() {
    auto report = ledger.audit();
    REQUIRE(report.ok());
    INFO(report->to_string());
    CHECK(report->clean());
  }
  ManualClock clock;
  StoreFixture f;
  Ledger ledger;
};

#define BACKENDS GENERATE(as<std::string>{}, "memory", "sqlite-file")

}  // namespace

TEST_CASE("ledger: reserve, settle partially, the rest comes back (case 7)") {
  LedgerFixture t(BACKENDS);
  t.fund(100 * C);
  auto h = t.ledger.reserve("alice", 100 * C, "gen-1", t.clock.now_ms() + 60'000, "gen_1");
  REQUIRE(h.ok());
  CHECK_FALSE(h->replayed);
  CHECK(h->hold.state == HoldState::pending);
  CHECK(t.available() == 0);
  auto s = t.ledger.settle(h->hold.id, 60 * C);
  REQUIRE(s.ok());
  CHECK(s->hold.state == HoldState::settled);
  CHECK(s->hold.settled_amount == 60 * C);
  CHECK(t.available() == 40 * C);
  CHECK(t.ledger.balance(kRevenueAccount)->posted() == 60 * C);
  CHECK(t.ledger.balance(kEscrowAccount)->posted() == 0);
  CHECK(t.ledger.balance(kEscrowAccount)->pending_credits == 0);
  CHECK(t.ledger.balance(kGrantsAccount)->posted() == -100 * C);
  t.audit_clean();
}

TEST_CASE("ledger: duplicate reserve returns the same hold, one debit (cases 2, 3)") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  auto a = t.ledger.reserve("alice", 3 * C, "k", t.clock.now_ms() + 1000);
  auto b = t.ledger.reserve("alice", 3 * C, "k", t.clock.now_ms() + 1000);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->replayed);
  CHECK(a->hold.id == b->hold.id);
  CHECK(t.available() == 7 * C);
  REQUIRE(t.ledger.create_account("bob").ok());
  std::string before = t.snapshot();
  CHECK(t.ledger.reserve("alice", 4 * C, "k", t.clock.now_ms() + 1000).code() == Code::idempotency_conflict);
  CHECK(t.ledger.reserve("bob", 3 * C, "k", t.clock.now_ms() + 1000).code() == Code::idempotency_conflict);
  CHECK(t.snapshot() == before);
  t.audit_clean();
}

TEST_CASE("ledger: insufficient credits writes nothing") {
  LedgerFixture t(BACKENDS);
  t.fund(5 * C);
  std::string before = t.snapshot();
  auto r = t.ledger.reserve("alice", 5 * C + 1, "big", t.clock.now_ms() + 1000);
  CHECK(r.code() == Code::insufficient_credits);
  CHECK_FALSE(r.status().retryable());
  CHECK(t.snapshot() == before);
  // Pending holds count against the balance.
  REQUIRE(t.ledger.reserve("alice", 3 * C, "a", t.clock.now_ms() + 1000).ok());
  CHECK(t.ledger.reserve("alice", 3 * C, "b", t.clock.now_ms() + 1000).code() == Code::insufficient_credits);
  CHECK(t.ledger.reserve("alice", 2 * C, "c", t.clock.now_ms() + 1000).ok());
  CHECK(t.available() == 0);
  t.audit_clean();
}

TEST_CASE("ledger: resolutions without a hold are refused (case 4)") {
  LedgerFixture t(BACKENDS);
  t.fund(5 * C);
  std::string before = t.snapshot();
  CHECK(t.ledger.settle("no-such-hold", C).code() == Code::not_found);
  CHECK(t.ledger.release("no-such-hold").code() == Code::not_found);
  CHECK(t.snapshot() == before);
}

TEST_CASE("ledger: a hold resolves exactly once (cases 5, 6, 8, 9)") {
  LedgerFixture t(BACKENDS);
  t.fund(100 * C);
  auto h = t.ledger.reserve("alice", 100 * C, "g", t.clock.now_ms() + 1000);
  REQUIRE(h.ok());
  const std::string id = h->hold.id;

  SECTION("settle then release or a different settle is refused; same settle replays") {
    REQUIRE(t.ledger.settle(id, 100 * C).ok());
    std::string before = t.snapshot();
    CHECK(t.ledger.release(id).code() == Code::invalid_state);
    CHECK(t.ledger.settle(id, 90 * C).code() == Code::invalid_state);
    auto again = t.ledger.settle(id, 100 * C);
    REQUIRE(again.ok());
    CHECK(again->replayed);
    CHECK(t.snapshot() == before);
    CHECK(t.available() == 0);
  }
  SECTION("release then settle is refused; release replays") {
    REQUIRE(t.ledger.release(id).ok());
    std::string before = t.snapshot();
    CHECK(t.ledger.settle(id, 10 * C).code() == Code::invalid_state);
    auto again = t.ledger.release(id);
    REQUIRE(again.ok());
    CHECK(again->replayed);
    CHECK(t.snapshot() == before);
    CHECK(t.available() == 100 * C);
  }
  SECTION("settle above the held amount or non-positive is refused") {
    std::string before = t.snapshot();
    CHECK(t.ledger.settle(id, 120 * C).code() == Code::invalid_amount);
    CHECK(t.ledger.settle(id, 0).code() == Code::invalid_amount);
    CHECK(t.ledger.settle(id, -1).code() == Code::invalid_amount);
    CHECK(t.snapshot() == before);
  }
  t.audit_clean();
}

TEST_CASE("ledger: holds past their deadline expire once (case 10)") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  const std::int64_t now = t.clock.now_ms();
  auto early = t.ledger.reserve("alice", 2 * C, "early", now + 1000);
  auto late = t.ledger.reserve("alice", 3 * C, "late", now + 5000);
  auto settled = t.ledger.reserve("alice", 1 * C, "settled", now + 500);
  REQUIRE(early.ok());
  REQUIRE(late.ok());
  REQUIRE(settled.ok());
  REQUIRE(t.ledger.settle(settled->hold.id, C).ok());
  CHECK(*t.ledger.expire_due(now + 999) == 0);
  CHECK(*t.ledger.expire_due(now + 1000) == 1);
  CHECK(*t.ledger.expire_due(now + 1000) == 0);  // a second sweep changes nothing
  CHECK(t.ledger.hold(early->hold.id)->state == HoldState::expired);
  CHECK(t.ledger.hold(late->hold.id)->state == HoldState::pending);
  CHECK(t.ledger.release(early->hold.id).code() == Code::invalid_state);
  CHECK(t.available() == 10 * C - C - 3 * C);
  t.audit_clean();
}

TEST_CASE("ledger: amount rules (case 14)") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  std::string before = t.snapshot();
  const auto max = t.ledger.options().max_amount;
  for (Micros bad : {Micros{0}, Micros{-1}, max + 1}) {
    INFO(bad);
    CHECK(t.ledger.reserve("alice", bad, "k" + std::to_string(bad), t.clock.now_ms() + 1).code() ==
          Code::invalid_amount);
    CHECK(t.ledger.grant("alice", bad, "g" + std::to_string(bad)).code() == Code::invalid_amount);
    CHECK(t.ledger.clawback("alice", bad, "c" + std::to_string(bad)).code() == Code::invalid_amount);
  }
  // A fractional micro-credit cannot even be expressed: parsing refuses it.
  CHECK(parse_credits("0.0000001").code() == Code::invalid_amount);
  CHECK(t.snapshot() == before);
}

TEST_CASE("ledger: bad identifiers are refused") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  std::string before = t.snapshot();
  CHECK(t.ledger.create_account("").code() == Code::invalid_request);
  CHECK(t.ledger.create_account("system:escrow").code() == Code::invalid_request);
  CHECK(t.ledger.reserve("alice", C, "", t.clock.now_ms()).code() == Code::invalid_request);
  CHECK(t.ledger.reserve("nobody", C, "k", t.clock.now_ms()).code() == Code::not_found);
  CHECK(t.ledger.reserve("system:grants", C, "k", t.clock.now_ms()).code() == Code::invalid_request);
  CHECK(t.ledger.grant("nobody", C, "k").code() == Code::not_found);
  CHECK(t.ledger.balance("nobody").code() == Code::not_found);
  CHECK(t.snapshot() == before);
  CHECK(t.ledger.create_account("alice").ok());  // existing: unchanged
  CHECK(t.available() == 10 * C);
}

TEST_CASE("ledger: reserve_new holds like reserve, treats a missing account as empty, refuses a reused key") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  auto in_unit = [&](auto&& fn) -> Result<HoldResult> {
    Result<HoldResult> out = Status(Code::internal, "not run");
    Status st = t.f.store->transact([&](UnitOfWork& u) -> Status {
      out = fn(u);
      return out.status();
    });
    if (!st.ok()) return st;
    return out;
  };
  auto h = in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "alice", 4 * C, "gen:1", t.clock.now_ms() + 1'000, "g1"); });
  REQUIRE(h.ok());
  CHECK_FALSE(h->replayed);
  CHECK(h->hold.key == "gen:1");
  CHECK(h->hold.account == "alice");
  CHECK(h->hold.ref == "g1");
  CHECK(t.available() == 6 * C);
  CHECK(t.ledger.hold(h->hold.id)->state == HoldState::pending);

  std::string before = t.snapshot();
  // A reused key is refused by the unique index, not replayed.
  CHECK(in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "alice", 4 * C, "gen:1", t.clock.now_ms(), "g1"); })
            .code() == Code::idempotency_conflict);
  // No ledger account yet: an empty balance, nothing written (no account created).
  auto none = in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "newcomer", C, "gen:2", t.clock.now_ms()); });
  CHECK(none.code() == Code::insufficient_credits);
  CHECK(t.ledger.balance("newcomer").code() == Code::not_found);
  CHECK(in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "alice", 7 * C, "gen:3", t.clock.now_ms()); })
            .code() == Code::insufficient_credits);
  CHECK(in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "alice", 0, "gen:4", t.clock.now_ms()); }).code() ==
        Code::invalid_amount);
  CHECK(in_unit([&](UnitOfWork& u) { return t.ledger.reserve_new(u, "system:grants", C, "gen:5", t.clock.now_ms()); })
            .code() == Code::invalid_request);
  CHECK(t.snapshot() == before);
  REQUIRE(t.ledger.settle(h->hold.id, 3 * C).ok());
  CHECK(t.available() == 7 * C);
  t.audit_clean();
}

TEST_CASE("ledger: grants are idempotent per key (L8)") {
  LedgerFixture t(BACKENDS);
  auto a = t.ledger.grant("alice", 5 * C, "order:cs_1", "stripe:cs_1");
  auto b = t.ledger.grant("alice", 5 * C, "order:cs_1");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->replayed);
  CHECK(t.available() == 5 * C);
  CHECK(t.ledger.grant("alice", 6 * C, "order:cs_1").code() == Code::idempotency_conflict);
  t.audit_clean();
}

TEST_CASE("ledger: clawback as far as the balance allows, shortfall recorded (case 13)") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  REQUIRE(t.ledger.reserve("alice", 4 * C, "h", t.clock.now_ms() + 1000).ok());
  auto c = t.ledger.clawback("alice", 9 * C, "refund:ch_1", "stripe:ch_1");
  REQUIRE(c.ok());
  CHECK(c->clawback.applied == 6 * C);  // 10 - 4 pending
  CHECK(c->clawback.shortfall == 3 * C);
  CHECK(t.available() == 0);
  auto again = t.ledger.clawback("alice", 9 * C, "refund:ch_1");
  REQUIRE(again.ok());
  CHECK(again->replayed);
  CHECK(again->clawback.applied == 6 * C);
  CHECK(t.ledger.clawback("alice", 8 * C, "refund:ch_1").code() == Code::idempotency_conflict);
  CHECK(t.ledger.balance(kRefundsAccount)->posted() == 6 * C);
  t.audit_clean();
}

TEST_CASE("ledger: low-balance alerts fire once per crossing") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  REQUIRE(t.ledger.set_low_balance_thresholds("alice", {5 * C, 2 * C}).ok());
  CHECK(t.ledger.set_low_balance_thresholds("alice", {0}).code() == Code::invalid_amount);
  auto h1 = t.ledger.reserve("alice", 4 * C, "a", t.clock.now_ms() + 1000);  // 6 left: nothing
  REQUIRE(h1.ok());
  CHECK(h1->alerts.empty());
  auto h2 = t.ledger.reserve("alice", 2 * C, "b", t.clock.now_ms() + 1000);  // 4 left: crosses 5
  REQUIRE(h2.ok());
  REQUIRE(h2->alerts.size() == 1);
  CHECK(h2->alerts[0].thresholds == std::vector<Micros>{5 * C});
  CHECK(h2->alerts[0].available == 4 * C);
  auto h3 = t.ledger.reserve("alice", 1 * C, "c", t.clock.now_ms() + 1000);  // 3 left: still below 5, no repeat
  REQUIRE(h3.ok());
  CHECK(h3->alerts.empty());
  auto h4 = t.ledger.reserve("alice", 2 * C, "d", t.clock.now_ms() + 1000);  // 1 left: crosses 2
  REQUIRE(h4.ok());
  REQUIRE(h4->alerts.size() == 1);
  CHECK(h4->alerts[0].thresholds == std::vector<Micros>{2 * C});
  // Recover above both, then cross both at once.
  REQUIRE(t.ledger.release(h1->hold.id).ok());
  REQUIRE(t.ledger.release(h2->hold.id).ok());
  CHECK(t.available() == 7 * C);
  auto h5 = t.ledger.reserve("alice", 6 * C, "e", t.clock.now_ms() + 1000);
  REQUIRE(h5.ok());
  REQUIRE(h5->alerts.size() == 1);
  CHECK(h5->alerts[0].thresholds == std::vector<Micros>{5 * C, 2 * C});
  // Each alert is also in the outbox, in the same unit as the change.
  std::vector<OutboxRow> rows;
  REQUIRE(t.f.store->read([&](UnitOfWork& u) { return u.outbox().list(0, 100, rows); }).ok());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].topic == "credits.low_balance");
  CHECK(rows[0].account == "alice");
  CHECK(rows[0].payload.find("\"thresholds_crossed_micros\":[5000000]") != std::string::npos);
  t.audit_clean();
}

TEST_CASE("ledger: composed in a caller's unit, an error rolls everything back") {
  LedgerFixture t(BACKENDS);
  t.fund(10 * C);
  std::string before = t.snapshot();
  Status s = t.f.store->transact([&](UnitOfWork& uow) -> Status {
    auto h = t.ledger.reserve(uow, "alice", 3 * C, "composed", t.clock.now_ms() + 1000);
    REQUIRE(h.ok());
    return Status(Code::invalid_request, "the engine refused later in the same unit");
  });
  CHECK(s.code() == Code::invalid_request);
  CHECK(t.snapshot() == before);
  CHECK(t.ledger.reserve("alice", 3 * C, "composed", t.clock.now_ms() + 1000).ok());
  t.audit_clean();
}

TEST_CASE("ledger: audit detects a tampered store") {
  LedgerFixture t("sqlite-file");
  t.fund(10 * C);
  REQUIRE(t.ledger.reserve("alice", 3 * C, "h", t.clock.now_ms() + 1000).ok());
  t.audit_clean();
  // Bypass the ledger: bump a counter without a journal entry.
  REQUIRE(t.f.store->transact([](UnitOfWork& u) { return u.ledger().add_to_account("alice", 0, 7 * C, 0, 0); }).ok());
  auto report = t.ledger.audit();
  REQUIRE(report.ok());
  CHECK_FALSE(report->clean());
  bool saw_l1 = false, saw_l7 = false;
  for (const auto& v : report->violations) {
    saw_l1 |= v.rfind("L1", 0) == 0;
    saw_l7 |= v.rfind("L7", 0) == 0;
  }
  CHECK(saw_l1);
  CHECK(saw_l7);
}
