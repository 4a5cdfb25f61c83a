// Crash safety (case 15): a worker doing reserve/settle/release on a SQLite
// file, or on a PostgreSQL schema (when BABYSEA_TEST_PG names a server), is
// SIGKILLed at random points; after every restart the audit is clean and
// every acknowledged operation is present. Each run must end by our SIGKILL
// (a worker that exits by itself, e.g. _Exit on a ledger error, fails the
// test) after at least kMinAcksPerKill acknowledged operations.
// BABYSEA_CRASH_SEED / BABYSEA_CRASH_KILLS override the seed of the kill
// points and the number of kills (default 60 on SQLite, 30 on PostgreSQL).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include "babysea/ledger.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"
#include "worker_store.hpp"

using namespace babysea;
using namespace babysea::testing;

TEST_CASE("crash: SIGKILL at random points loses no acknowledged operation") {
  const char* worker = std::getenv("BABYSEA_CRASH_WORKER");
  REQUIRE(worker != nullptr);
  auto kind = GENERATE(from_range(store_kinds({"sqlite-file"})));
  INFO(kind);
  // The parent creates the store (a SQLite file, or a fresh schema) and
  // closes it while a worker runs; each worker opens the same one.
  StoreFixture f(kind);
  const std::string spec = kind == "postgres" ? postgres_store_spec(f.pg_options) : sqlite_store_spec(f.options.path);
  f.store.reset();
  const int default_kills = kind == "postgres" ? 30 : 60;
  const int kills = std::getenv("BABYSEA_CRASH_KILLS") ? std::atoi(std::getenv("BABYSEA_CRASH_KILLS")) : default_kills;
  const char* seed_env = std::getenv("BABYSEA_CRASH_SEED");
  const std::uint32_t seed = seed_env && *seed_env ? static_cast<std::uint32_t>(std::stoul(seed_env)) : 20261125u;
  INFO("seed " << seed << " (BABYSEA_CRASH_SEED)");
  std::mt19937 rng(seed);
  // On SQLite the worker acknowledges a few thousand operations a second (4
  // threads, synchronous=FULL); killing no sooner than kMinRunMs after the
  // first acknowledgement leaves room for ~100 of them, so a floor of 10 per
  // kill holds with a wide margin under load or sanitizers, and still fails
  // when the worker stalls or stops acknowledging. On PostgreSQL every unit is
  // several round trips and a flushed commit, serialized on the one account
  // row: a few hundred a second on a small machine, so it runs longer for the
  // same floor.
  const int kMinRunMs = kind == "postgres" ? 150 : 40;
  constexpr std::size_t kMinAcksPerKill = 10;
  REQUIRE(kills > 0);
  std::size_t total_acks = 0;
  std::size_t min_acks = SIZE_MAX;
  for (int run = 0; run < kills; ++run) {
    INFO("run " << run);
    std::string out;
    {
      Child child({worker, spec, "run" + std::to_string(run)});
      // Kill while work is in flight: after the first acknowledgement (the
      // worker may start slowly under sanitizers or load), at a random point.
      REQUIRE(child.wait_for_output(30'000));
      std::this_thread::sleep_for(std::chrono::milliseconds(kMinRunMs + rng() % 150));
      out = child.kill_and_collect();
      // The worker ran until our SIGKILL: it did not exit by itself (bad
      // usage, a failed ledger call, a failed write).
      INFO("worker " << child.how_it_ended());
      REQUIRE(child.killed_by_sigkill());
    }
    // A fresh store for every check: what a restarted process would see.
    f.store = f.reopen();
    Ledger ledger(*f.store, SystemClock::instance());
    auto report = ledger.audit();
    REQUIRE(report.ok());
    INFO(report->to_string());
    REQUIRE(report->clean());
    // Every acknowledged line must be in the database.
    std::istringstream lines(out);
    std::string line;
    std::size_t acks = 0;
    Status s = f.store->read([&](UnitOfWork& u) -> Status {
      // The worker writes each line with one write() below PIPE_BUF, so the
      // pipe holds only whole lines: a malformed one is a failure, not skipped.
      while (std::getline(lines, line)) {
        INFO(line);
        std::istringstream in(line);
        std::string op, a, b, c;
        in >> op >> a >> b >> c;
        HoldRow h;
        if (op == "R") {
          REQUIRE(!c.empty());
          BABYSEA_RETURN_IF_ERROR(u.ledger().find_hold_by_key(a, h));
          CHECK(h.id == b);
          CHECK(h.amount == std::stoll(c));
        } else if (op == "S") {
          REQUIRE(!b.empty());
          BABYSEA_RETURN_IF_ERROR(u.ledger().get_hold(a, h));
          CHECK(h.state == HoldState::settled);
          CHECK(h.settled_amount == std::stoll(b));
        } else {
          REQUIRE(op == "X");
          BABYSEA_RETURN_IF_ERROR(u.ledger().get_hold(a, h));
          CHECK(h.state == HoldState::released);
        }
        ++acks;
      }
      return {};
    });
    REQUIRE(s.ok());
    f.store.reset();
    // The test must actually have killed work in flight.
    CHECK(acks >= kMinAcksPerKill);
    total_acks += acks;
    min_acks = std::min(min_acks, acks);
  }
  WARN(kind << ": verified " << total_acks << " acknowledged operations across " << kills << " SIGKILLs (at least "
                   << min_acks << " per kill)");
}
