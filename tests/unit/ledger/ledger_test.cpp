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

#define BACKENDS GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})))

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

namespace {

// Writes straight to the ledger tables, bypassing the Ledger: a corrupted
// store, one corruption at a time. Counters are kept equal to the journal
// unless the corruption is the counters themselves.
struct Tamper {
  LedgerFixture& t;
  Status entry(EntryKind kind, const std::string& debit, const std::string& credit, Micros amount,
               Micros pending_delta, const std::string& hold_id = {}) {
    return t.f.store->transact([&](UnitOfWork& u) -> Status {
      EntryRow e;
      e.kind = kind;
      e.debit_account = debit;
      e.credit_account = credit;
      e.amount = amount;
      e.pending_delta = pending_delta;
      e.hold_id = hold_id;
      e.created_ms = t.clock.now_ms();
      BABYSEA_RETURN_IF_ERROR(u.ledger().insert_entry(e));
      BABYSEA_RETURN_IF_ERROR(u.ledger().add_to_account(debit, amount, 0, pending_delta, 0));
      return u.ledger().add_to_account(credit, 0, amount, 0, pending_delta);
    });
  }
  // A hold row plus its (correct) hold entry; returns its id.
  std::string hold(const std::string& account, Micros amount, const std::string& debit = {}) {
    const std::string id = "tampered-hold-" + std::to_string(++n);
    REQUIRE(t.f.store->transact([&](UnitOfWork& u) {
      HoldRow h;
      h.id = id;
      h.key = id;
      h.account = account;
      h.amount = amount;
      h.deadline_ms = t.clock.now_ms() + 100'000;
      h.created_ms = t.clock.now_ms();
      return u.ledger().insert_hold(h);
    }).ok());
    REQUIRE(entry(EntryKind::hold, debit.empty() ? account : debit, std::string(kEscrowAccount), 0, amount, id).ok());
    return id;
  }
  Status resolve(const std::string& id, HoldState state, Micros settled = 0) {
    return t.f.store->transact(
        [&](UnitOfWork& u) { return u.ledger().resolve_hold(id, state, settled, t.clock.now_ms()); });
  }
  int n = 0;
};

// A ledger with every kind of hold, clean; then one corruption.
std::vector<std::string> audit_after(const std::string& backend, const std::function<void(LedgerFixture&, Tamper&)>& corrupt) {
  LedgerFixture t(backend);
  t.fund(10 * C);
  REQUIRE(t.ledger.create_account("bob").ok());
  REQUIRE(t.ledger.grant("bob", 5 * C, "bob-seed").ok());
  auto settled = t.ledger.reserve("alice", 3 * C, "settled", t.clock.now_ms() + 1000);
  REQUIRE(settled.ok());
  REQUIRE(t.ledger.settle(settled->hold.id, 2 * C).ok());
  auto released = t.ledger.reserve("alice", 1 * C, "released", t.clock.now_ms() + 1000);
  REQUIRE(released.ok());
  REQUIRE(t.ledger.release(released->hold.id).ok());
  REQUIRE(t.ledger.reserve("alice", 2 * C, "pending", t.clock.now_ms() + 1000).ok());
  t.audit_clean();
  Tamper tamper{t};
  corrupt(t, tamper);
  auto report = t.ledger.audit();
  REQUIRE(report.ok());
  INFO(report->to_string());
  for (const auto& v : report->violations) CHECK_FALSE(v.subject.empty());
  return report->invariants();
}

using Invariants = std::vector<std::string>;
const std::string kEscrow(kEscrowAccount), kRevenue(kRevenueAccount), kRefunds(kRefundsAccount);

}  // namespace

// One corruption per invariant, written straight into the store; audit()
// must name exactly the invariants the corruption breaks. Where one
// corruption necessarily breaks two (counters that do not balance also differ
// from the journal; credits stuck in escrow are also a missing leg), the
// expected set says so.
TEST_CASE("ledger: audit names the invariant of each corruption") {
  const std::string backend = BACKENDS;
  INFO(backend);
  SECTION("L1: a counter bumped without an entry") {
    CHECK(audit_after(backend, [](LedgerFixture& t, Tamper&) {
      REQUIRE(t.f.store->transact([](UnitOfWork& u) { return u.ledger().add_to_account("alice", 0, 7 * C, 0, 0); }).ok());
    }) == Invariants{"L1", "L7"});
  }
  SECTION("L2: a journaled debit below zero") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      REQUIRE(x.entry(EntryKind::clawback, "alice", kRefunds, 20 * C, 0).ok());
    }) == Invariants{"L2"});
  }
  SECTION("L4: resolved by a release while its state says expired") {
    CHECK(audit_after(backend, [](LedgerFixture& t, Tamper& x) {
      auto h = t.ledger.reserve("alice", 1 * C, "h4", t.clock.now_ms() + 1000);
      REQUIRE(h.ok());
      REQUIRE(x.entry(EntryKind::release, "alice", kEscrow, 0, -1 * C, h->hold.id).ok());
      REQUIRE(x.resolve(h->hold.id, HoldState::expired).ok());
    }) == Invariants{"L4"});
  }
  SECTION("L5: an entry names a hold that does not exist") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      REQUIRE(x.entry(EntryKind::release, "alice", kEscrow, 0, 0, "no-such-hold").ok());
    }) == Invariants{"L5"});
  }
  SECTION("L6: settled above the held amount") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      const std::string id = x.hold("alice", 1 * C);
      REQUIRE(x.entry(EntryKind::settle, "alice", kEscrow, 2 * C, -1 * C, id).ok());
      REQUIRE(x.entry(EntryKind::settle, kEscrow, kRevenue, 2 * C, 0, id).ok());
      REQUIRE(x.resolve(id, HoldState::settled, 2 * C).ok());
    }) == Invariants{"L6"});
  }
  SECTION("L7: counters drift from the journal while still balancing") {
    CHECK(audit_after(backend, [](LedgerFixture& t, Tamper&) {
      REQUIRE(t.f.store->transact([](UnitOfWork& u) -> Status {
        BABYSEA_RETURN_IF_ERROR(u.ledger().add_to_account("alice", 1 * C, 0, 0, 0));
        return u.ledger().add_to_account("bob", 0, 1 * C, 0, 0);
      }).ok());
    }) == Invariants{"L7"});
  }
  SECTION("L11: escrow posts without a hold") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      REQUIRE(x.entry(EntryKind::clawback, kEscrow, kRevenue, 1 * C, 0).ok());
    }) == Invariants{"L11"});
  }
  SECTION("L12: a hold whose entries debit another account than its own") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) { x.hold("alice", 1 * C, "bob"); }) ==
          Invariants{"L12"});
  }
  SECTION("L13: a settle with two revenue legs") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      const std::string id = x.hold("alice", 2 * C);
      REQUIRE(x.entry(EntryKind::settle, "alice", kEscrow, 2 * C, -2 * C, id).ok());
      REQUIRE(x.entry(EntryKind::settle, kEscrow, kRevenue, 1 * C, 0, id).ok());
      REQUIRE(x.entry(EntryKind::settle, kEscrow, kRevenue, 1 * C, 0, id).ok());
      REQUIRE(x.resolve(id, HoldState::settled, 2 * C).ok());
    }) == Invariants{"L13"});
  }
  SECTION("L11 + L13: a settle whose escrow -> revenue leg is missing (credits stuck in escrow)") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      const std::string id = x.hold("alice", 2 * C);
      REQUIRE(x.entry(EntryKind::settle, "alice", kEscrow, 2 * C, -2 * C, id).ok());
      REQUIRE(x.resolve(id, HoldState::settled, 2 * C).ok());
    }) == Invariants{"L11", "L13"});
  }
  SECTION("L13: a release that keeps part of the hold posted") {
    CHECK(audit_after(backend, [](LedgerFixture&, Tamper& x) {
      const std::string id = x.hold("alice", 2 * C);
      REQUIRE(x.entry(EntryKind::release, "alice", kEscrow, 1 * C, -2 * C, id).ok());
      REQUIRE(x.entry(EntryKind::clawback, kEscrow, kRevenue, 1 * C, 0).ok());  // escrow stays at zero
      REQUIRE(x.resolve(id, HoldState::released).ok());
    }) == Invariants{"L13"});
  }
}
