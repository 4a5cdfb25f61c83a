// Crash safety (case 15): a worker doing reserve/settle/release on a SQLite
// file is SIGKILLed at random points; after every restart the audit is clean
// and every acknowledged operation is present.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>

#include "babysea/ledger.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"

using namespace babysea;
using namespace babysea::testing;

TEST_CASE("crash: SIGKILL at random points loses no acknowledged operation") {
  const char* worker = std::getenv("BABYSEA_CRASH_WORKER");
  REQUIRE(worker != nullptr);
  TempDir dir;
  const std::string db = dir.file("crash.db");
  const int kills = std::getenv("BABYSEA_CRASH_KILLS") ? std::atoi(std::getenv("BABYSEA_CRASH_KILLS")) : 60;
  std::mt19937 rng(20261125);
  std::size_t total_acks = 0;
  int runs_with_acks = 0;
  for (int run = 0; run < kills; ++run) {
    INFO("run " << run);
    std::string out;
    {
      Child child({worker, db, "run" + std::to_string(run)});
      // Kill while work is in flight: after the first acknowledgement (the
      // worker may start slowly under sanitizers or load), at a random point.
      REQUIRE(child.wait_for_output(30'000));
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
      out = child.kill_and_collect();
    }
    SqliteOptions o;
    o.path = db;
    auto store = open_sqlite_store(o);
    REQUIRE(store.ok());
    Ledger ledger(**store, SystemClock::instance());
    auto report = ledger.audit();
    REQUIRE(report.ok());
    INFO(report->to_string());
    REQUIRE(report->clean());
    // Every acknowledged line must be in the database.
    std::istringstream lines(out);
    std::string line;
    std::size_t acks = 0;
    Status s = (*store)->read([&](UnitOfWork& u) -> Status {
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
    total_acks += acks;
    runs_with_acks += acks > 0;
  }
  // The test must actually have killed work in flight.
  CHECK(runs_with_acks == kills);
  WARN("verified " << total_acks << " acknowledged operations across " << kills << " SIGKILLs");
}
