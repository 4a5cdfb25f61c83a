// Concurrency: parallel reserves never overdraw; racing resolutions resolve
// once: threads on one store, then processes each with its own store on one
// SQLite file or one PostgreSQL schema (BABYSEA_CONCURRENCY_WORKER names the
// worker binary).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "babysea/ledger.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"
#include "worker_store.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

// A fresh ledger with one customer, "alice", granted `credits`.
void fund_alice(Ledger& ledger, Micros credits) {
  REQUIRE(ledger.init().ok());
  REQUIRE(ledger.create_account("alice").ok());
  REQUIRE(ledger.grant("alice", credits, "seed").ok());
}

// The audit is clean and `pending` holds are still open.
void check_audit(Ledger& ledger, std::size_t pending) {
  auto report = ledger.audit();
  REQUIRE(report.ok());
  INFO(report->to_string());
  CHECK(report->clean());
  CHECK(report->pending_holds == pending);
}
constexpr Micros C = kMicrosPerCredit;
}

TEST_CASE("concurrency: 100 threads reserving against a balance that funds exactly 10 (case 1)") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  INFO(kind);
  ManualClock clock;
  StoreFixture f(kind);
  Ledger ledger(*f.store, clock);
  fund_alice(ledger, 10 * 7 * C);
  std::atomic<int> ok{0}, insufficient{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&, i] {
      auto r = ledger.reserve("alice", 7 * C, "gen-" + std::to_string(i), clock.now_ms() + 60'000);
      if (r.ok()) ++ok;
      else if (r.code() == Code::insufficient_credits) ++insufficient;
      else ++other;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 10);
  CHECK(insufficient == 90);
  CHECK(other == 0);
  CHECK(ledger.balance("alice")->available() == 0);
  check_audit(ledger, 10);
}

TEST_CASE("concurrency: 1,000 racing settle/release calls resolve each hold once") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  INFO(kind);
  ManualClock clock;
  StoreFixture f(kind);
  Ledger ledger(*f.store, clock);
  fund_alice(ledger, 1000 * C);
  constexpr int kHolds = 250;
  std::vector<std::string> holds;
  for (int i = 0; i < kHolds; ++i) {
    auto h = ledger.reserve("alice", 2 * C, "h" + std::to_string(i), clock.now_ms() + 60'000);
    REQUIRE(h.ok());
    holds.push_back(h->hold.id);
  }
  // Four contenders per hold: two settles (same amount), a release, an expiry sweep.
  std::atomic<int> next{0};
  std::vector<std::atomic<int>> wins(kHolds);
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        int k = next.fetch_add(1);
        if (k >= kHolds * 4) return;
        int h = k / 4;
        Result<HoldResult> r = Status(Code::internal, "unset");
        switch (k % 4) {
          case 0:
          case 1: r = ledger.settle(holds[h], 1 * C); break;
          case 2: r = ledger.release(holds[h]); break;
          case 3: {
            auto n = ledger.expire_due(clock.now_ms() + 120'000, 1);
            if (!n.ok()) ++unexpected;
            continue;
          }
        }
        if (r.ok()) {
          if (!r->replayed) ++wins[h];
        } else if (r.code() != Code::invalid_state) {
          ++unexpected;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(unexpected == 0);
  int resolved_by_call = 0;
  for (auto& w : wins) {
    CHECK(w <= 1);
    resolved_by_call += w;
  }
  check_audit(ledger, 0);
  // Every hold was resolved exactly once: by a settle/release call or by the sweep.
  int swept = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    return u.ledger().for_each_hold([&](const HoldRow& hr) { swept += hr.state == HoldState::expired; });
  }).ok());
  CHECK(resolved_by_call + swept == kHolds);
}

// ------------------------------------------------ several processes, one store
//
// The same races with the calls spread over four worker processes
// (ledger_concurrency_worker), each with its own Store and connections on the
// store the test created: one SQLite file, or one PostgreSQL schema (several
// engine instances sharing a database, specs/ledger.md §3).

namespace {

using babysea::testing::Child;
using babysea::testing::TempDir;

constexpr int kProcesses = 4;

std::string store_spec(const StoreFixture& f) {
  return f.kind == "postgres" ? babysea::testing::postgres_store_spec(f.pg_options)
                              : babysea::testing::sqlite_store_spec(f.options.path);
}

// Starts one worker per argument list (the worker path, store spec and a go
// file are put in front), waits until every one is ready, then lets them all
// go at once. Returns the lines each printed after "ready"; every worker must
// have exited 0.
std::vector<std::string> race_workers(const StoreFixture& f, const std::vector<std::vector<std::string>>& args) {
  const char* worker = std::getenv("BABYSEA_CONCURRENCY_WORKER");
  REQUIRE(worker != nullptr);
  TempDir dir;
  const std::string go = dir.file("go");
  std::vector<std::unique_ptr<Child>> children;
  for (const auto& a : args) {
    std::vector<std::string> argv{worker, store_spec(f), go};
    argv.insert(argv.end(), a.begin(), a.end());
    children.push_back(std::make_unique<Child>(argv));
  }
  for (auto& c : children) REQUIRE(c->wait_for_output(60'000));  // "ready"
  { std::ofstream(go).put('\n'); }
  std::vector<std::string> lines;
  for (auto& c : children) {
    std::istringstream out(c->wait_and_collect(120'000));
    INFO("worker " << c->how_it_ended());
    REQUIRE(c->exited_ok());
    std::string line;
    REQUIRE(std::getline(out, line));
    REQUIRE(line == "ready");
    while (std::getline(out, line)) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("concurrency: 100 reserves from 4 processes, each with its own store, funded for exactly 10 (case 1)") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Ledger ledger(*f.store, SystemClock::instance());
  fund_alice(ledger, 10 * 7 * C);
  std::vector<std::vector<std::string>> args;
  for (int p = 0; p < kProcesses; ++p)
    args.push_back({"reserve", "alice", std::to_string(7 * C), std::to_string(p * 25), "25"});
  const auto lines = race_workers(f, args);
  int ok = 0, insufficient = 0, other = 0;
  std::map<std::string, std::string> hold_of_key;  // the keys that got a hold
  std::set<std::string> keys;
  for (const auto& line : lines) {
    INFO(line);
    std::istringstream in(line);
    std::string r, key, outcome, hold;
    in >> r >> key >> outcome >> hold;
    REQUIRE(r == "R");
    CHECK(keys.insert(key).second);
    if (outcome == "ok") {
      ++ok;
      hold_of_key[key] = hold;
    } else if (outcome == "insufficient") {
      ++insufficient;
    } else {
      ++other;
      FAIL_CHECK("unexpected outcome: " << line);
    }
  }
  CHECK(keys.size() == 100);
  CHECK(ok == 10);
  CHECK(insufficient == 90);
  CHECK(other == 0);
  auto balance = ledger.balance("alice");
  REQUIRE(balance.ok());
  CHECK(balance->available() == 0);
  CHECK(balance->pending_debits == 10 * 7 * C);
  // The holds in the store are exactly the acknowledged ones.
  std::map<std::string, std::string> stored;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    stored.clear();
    return u.ledger().for_each_hold([&](const HoldRow& h) { stored[h.key] = h.id; });
  }).ok());
  CHECK(stored == hold_of_key);
  check_audit(ledger, 10);
}

TEST_CASE("concurrency: 1,000 settle/release/expire calls from 4 processes resolve each hold once") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"sqlite-file"})));
  INFO(kind);
  StoreFixture f(kind);
  Ledger ledger(*f.store, SystemClock::instance());
  fund_alice(ledger, 1000 * C);
  constexpr int kHolds = 250;
  std::set<std::string> holds;
  for (int i = 0; i < kHolds; ++i) {
    auto h = ledger.reserve("alice", 2 * C, "h" + std::to_string(i), SystemClock::instance().now_ms() + 60'000);
    REQUIRE(h.ok());
    holds.insert(h->hold.id);
  }
  // Process p plays role (h + p) % 4 on hold h: each hold's two settles, its
  // release and a sweep come from four different processes.
  std::vector<std::vector<std::string>> args;
  for (int p = 0; p < kProcesses; ++p)
    args.push_back({"resolve", std::to_string(p), std::to_string(kProcesses), "4"});
  const auto lines = race_workers(f, args);
  std::map<std::string, int> wins;
  std::map<std::string, char> winner;  // 'S' or 'X'
  int calls = 0, unexpected = 0;
  std::size_t swept_by_calls = 0;
  for (const auto& line : lines) {
    INFO(line);
    std::istringstream in(line);
    std::string op, a, b;
    in >> op >> a >> b;
    ++calls;
    if (op == "E") {
      if (a == "error") {
        ++unexpected;
        FAIL_CHECK("sweep failed: " << line);
      } else {
        swept_by_calls += std::stoul(a);
      }
      continue;
    }
    REQUIRE((op == "S" || op == "X"));
    CHECK(holds.count(a) == 1);
    if (b == "won") {
      ++wins[a];
      winner[a] = op[0];
    } else if (b != "replayed" && b != "refused") {
      ++unexpected;
      FAIL_CHECK("unexpected outcome: " << line);
    }
  }
  CHECK(calls == kHolds * 4);
  CHECK(unexpected == 0);
  std::size_t resolved_by_call = 0;
  for (const auto& [id, n] : wins) {
    INFO(id);
    CHECK(n == 1);
    resolved_by_call += static_cast<std::size_t>(n);
  }
  check_audit(ledger, 0);
  // Every hold was resolved exactly once, and the way the winning call says:
  // a settle (1 credit), a release, or else the sweep.
  std::size_t swept = 0, rows = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    swept = rows = 0;
    return u.ledger().for_each_hold([&](const HoldRow& h) {
      INFO("hold " << h.id);
      ++rows;
      auto w = winner.find(h.id);
      if (w == winner.end()) {
        CHECK(h.state == HoldState::expired);
        swept += h.state == HoldState::expired;
      } else if (w->second == 'S') {
        CHECK(h.state == HoldState::settled);
        CHECK(h.settled_amount == 1 * C);
      } else {
        CHECK(h.state == HoldState::released);
      }
    });
  }).ok());
  CHECK(rows == static_cast<std::size_t>(kHolds));
  CHECK(swept == swept_by_calls);
  CHECK(resolved_by_call + swept == static_cast<std::size_t>(kHolds));
  auto balance = ledger.balance("alice");
  REQUIRE(balance.ok());
  CHECK(balance->pending_debits == 0);
}
