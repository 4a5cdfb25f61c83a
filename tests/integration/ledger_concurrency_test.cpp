// Concurrency: parallel reserves never overdraw; racing resolutions resolve once.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "babysea/ledger.hpp"
#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {
constexpr Micros C = kMicrosPerCredit;
}

TEST_CASE("concurrency: 100 threads reserving against a balance that funds exactly 10 (case 1)") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  INFO(kind);
  ManualClock clock;
  StoreFixture f(kind);
  Ledger ledger(*f.store, clock);
  REQUIRE(ledger.init().ok());
  REQUIRE(ledger.create_account("alice").ok());
  REQUIRE(ledger.grant("alice", 10 * 7 * C, "seed").ok());
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
  auto report = ledger.audit();
  REQUIRE(report.ok());
  INFO(report->to_string());
  CHECK(report->clean());
  CHECK(report->pending_holds == 10);
}

TEST_CASE("concurrency: 1,000 racing settle/release calls resolve each hold once") {
  auto kind = GENERATE(from_range(babysea::testing::store_kinds({"memory", "sqlite-file"})));
  INFO(kind);
  ManualClock clock;
  StoreFixture f(kind);
  Ledger ledger(*f.store, clock);
  REQUIRE(ledger.init().ok());
  REQUIRE(ledger.create_account("alice").ok());
  REQUIRE(ledger.grant("alice", 1000 * C, "seed").ok());
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
  auto report = ledger.audit();
  REQUIRE(report.ok());
  INFO(report->to_string());
  CHECK(report->clean());
  CHECK(report->pending_holds == 0);
  // Every hold was resolved exactly once: by a settle/release call or by the sweep.
  int swept = 0;
  REQUIRE(f.store->read([&](UnitOfWork& u) {
    return u.ledger().for_each_hold([&](const HoldRow& hr) { swept += hr.state == HoldState::expired; });
  }).ok());
  CHECK(resolved_by_call + swept == kHolds);
}
