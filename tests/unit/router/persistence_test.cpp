#include <catch2/catch.hpp>

#include "babysea/clock.hpp"
#include "babysea/router.hpp"
#include "babysea/storage.hpp"
#include "router/router_test_util.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace babysea::router_test;
using std::chrono::milliseconds;

namespace {

constexpr auto U = AttemptOutcome::used;
constexpr auto F = AttemptOutcome::failed;

RouterOptions opts(std::size_t page = 5000) {
  RouterOptions o;
  o.scoring.min_samples = 1;
  o.scoring.recency_half_life = milliseconds(0);
  o.restore_page = page;
  o.explore_one_in = 0;
  return o;
}

std::unique_ptr<Router> make(const Clock& clock, Store& store, RouterOptions o = opts()) {
  auto r = Router::create(o, clock, &store);
  REQUIRE(r.ok());
  auto router = std::move(r).value();
  std::vector<ModelRoute> routes = {{"m", {"a", "b", "c"}}};
  REQUIRE(router->set_routes(routes).ok());
  return router;
}

// b best, c middle, a with five server errors in a row (its breaker trips).
void record_history(Router& r, ManualClock& clock) {
  int id = 0;
  auto put = [&](const char* p, AttemptOutcome o, std::int64_t lat) {
    REQUIRE(r.record_attempt(rec("h" + std::to_string(id++), p, o, lat, clock.now_ms())).value());
  };
  put("b", U, 100);
  put("b", U, 120);
  put("c", U, 300);
  put("c", U, 310);
  clock.advance(milliseconds(1000));
  for (int i = 0; i < 5; ++i) put("a", F, 50);  // same millisecond: exercises paging
  REQUIRE(r.refresh().ok());
}

std::vector<std::string> order(Router& r) {
  auto p = r.plan("m", "us", RequestedOrder::fastest_order());
  REQUIRE(p.ok());
  return p->chain.names();
}

void check_restored(Store& store, ManualClock& clock, std::size_t page) {
  auto r2 = make(clock, store, opts(page));
  auto restored = r2->restore();
  REQUIRE(restored.ok());
  CHECK(restored.value() == 9);
  CHECK(order(*r2) == std::vector<std::string>{"b", "c", "a"});
  auto rk = r2->ranking("m", "us");
  REQUIRE(rk.ok());
  CHECK(rk->attempts_total == 9);
  auto info = r2->breaker("a", "us");
  CHECK(info.state == BreakerState::open);  // rebuilt by replaying the attempts
  CHECK(info.trips == 1);
  // already persisted: the store de-duplicates even a fresh router
  CHECK_FALSE(r2->record_attempt(rec("h0", "b", U, 100, clock.now_ms())).value());
  // restoring twice applies nothing new
  CHECK(r2->restore().value() == 0);
}

}  // namespace

TEST_CASE("router history survives a restart (memory store)", "[router][persistence]") {
  ManualClock clock;
  auto store = open_memory_store();
  auto r = make(clock, *store);
  record_history(*r, clock);
  REQUIRE(order(*r) == std::vector<std::string>{"b", "c", "a"});
  CHECK_FALSE(r->record_attempt(rec("h0", "b", U, 100, clock.now_ms())).value());
  check_restored(*store, clock, 5000);
  check_restored(*store, clock, 2);  // tiny pages, five rows in one millisecond
}

TEST_CASE("router history survives a restart (SQLite file)", "[router][persistence]") {
  babysea::testing::TempDir dir;
  SqliteOptions so;
  so.path = dir.file("router.db");
  ManualClock clock;
  {
    auto store = open_sqlite_store(so);
    REQUIRE(store.ok());
    auto r = make(clock, *store.value());
    record_history(*r, clock);
  }
  auto store = open_sqlite_store(so);
  REQUIRE(store.ok());
  check_restored(*store.value(), clock, 3);

  // attempts older than the window are neither restored nor kept
  clock.advance(std::chrono::hours(25));
  auto r3 = make(clock, *store.value());
  CHECK(r3->restore().value() == 0);
  CHECK(r3->prune_store().value() == 9);
  CHECK(r3->prune_store().value() == 0);
}

TEST_CASE("persist_attempt inside the host's unit of work", "[router][persistence]") {
  ManualClock clock;
  auto store = open_memory_store();
  auto r = make(clock, *store);
  const AttemptRecord a = rec("u1", "c", U, 10, clock.now_ms());
  bool fresh = false;
  auto work = [&](UnitOfWork& uow) -> Status {
    auto res = Router::persist_attempt(uow, a);
    if (!res.ok()) return res.status();
    fresh = res.value();
    return Status();
  };
  REQUIRE(store->transact(work).ok());
  CHECK(fresh);
  CHECK(r->observe_attempt(a).value());
  CHECK_FALSE(r->observe_attempt(a).value());
  REQUIRE(store->transact(work).ok());
  CHECK_FALSE(fresh);
  // a failing unit leaves nothing behind
  const AttemptRecord b = rec("u2", "c", U, 10, clock.now_ms());
  auto failing = [&](UnitOfWork& uow) -> Status {
    auto res = Router::persist_attempt(uow, b);
    if (!res.ok()) return res.status();
    return Status(Code::internal, "rolled back");
  };
  CHECK(store->transact(failing).code() == Code::internal);
  auto r2 = make(clock, *store);
  CHECK(r2->restore().value() == 1);
}

TEST_CASE("restore needs a store", "[router][persistence]") {
  ManualClock clock;
  auto r = Router::create(opts(), clock);
  REQUIRE(r.ok());
  CHECK(r.value()->restore().code() == Code::invalid_state);
  CHECK(r.value()->prune_store().code() == Code::invalid_state);
}

TEST_CASE("restore_since reads only what finished since; what it holds is skipped", "[router][persistence]") {
  ManualClock clock;
  auto store = open_memory_store();
  auto writer = make(clock, *store);
  auto reader = make(clock, *store);
  REQUIRE(writer->record_attempt(rec("s1", "b", U, 100, clock.now_ms())).value());
  const std::int64_t mark = clock.now_ms() + 500;
  clock.advance(milliseconds(1000));
  REQUIRE(writer->record_attempt(rec("s2", "c", U, 100, clock.now_ms())).value());
  REQUIRE(writer->record_attempt(rec("s3", "c", U, 100, clock.now_ms())).value());
  auto n = reader->restore_since(mark);
  REQUIRE(n.ok());
  CHECK(n.value() == 2);
  CHECK(order(*reader) == std::vector<std::string>{"c", "a", "b"});  // b's attempt is older than mark
  n = reader->restore_since(0);  // the whole window: only s1 is new
  REQUIRE(n.ok());
  CHECK(n.value() == 1);
  ManualClock other;
  auto no_store = Router::create(opts(), other);
  REQUIRE(no_store.ok());
  CHECK(no_store.value()->restore_since(0).code() == Code::invalid_state);
}
