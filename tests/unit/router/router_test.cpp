#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/router.hpp"
#include "router/router_test_util.hpp"

using namespace babysea;
using namespace babysea::router_test;
using std::chrono::milliseconds;

namespace {

constexpr auto U = AttemptOutcome::used;
constexpr auto F = AttemptOutcome::failed;
constexpr auto D = AttemptOutcome::discarded;

RouterOptions test_options() {
  RouterOptions o;
  o.scoring.min_samples = 1;
  o.scoring.recency_half_life = milliseconds(0);
  o.explore_one_in = 0;  // exploration has its own test
  return o;
}

std::unique_ptr<Router> make(const Clock& clock, RouterOptions o = test_options()) {
  auto r = Router::create(o, clock);
  REQUIRE(r.ok());
  return std::move(r).value();
}

Plan plan_ok(Router& r, std::string_view model, std::string_view region, const RequestedOrder& order) {
  auto p = r.plan(model, region, order);
  REQUIRE(p.ok());
  return std::move(p).value();
}

Plan fastest(Router& r, std::string_view model = "m", std::string_view region = "us") {
  return plan_ok(r, model, region, RequestedOrder::fastest_order());
}

Plan explicit_plan(Router& r, std::vector<std::string_view> order, std::string_view model = "m") {
  return plan_ok(r, model, "us", RequestedOrder::explicit_order(order));
}

using V = std::vector<std::string>;

void record_demo(Router& r, std::int64_t t) {
  struct Row { const char* p; AttemptOutcome o; std::int64_t lat; };
  const Row rows[] = {{"provider_a", U, 6400}, {"provider_a", F, 12000}, {"provider_a", F, 11800},
                      {"provider_b", U, 4200}, {"provider_b", U, 4500},  {"provider_b", U, 4700},
                      {"provider_c", U, 9000}, {"provider_c", D, 9400},  {"provider_c", U, 8800}};
  int i = 0;
  for (const auto& row : rows) {
    // failures are discarded-style waste here so no breaker trips
    auto rr = rec("demo-" + std::to_string(i++), row.p, row.o, row.lat, t, ErrorKind::moderation, "flux");
    if (row.o == U) rr.error = ErrorKind::none;
    REQUIRE(r.record_attempt(rr).value());
  }
}

}  // namespace

TEST_CASE("create validates options", "[router]") {
  ManualClock clock;
  RouterOptions o;
  o.window = milliseconds(0);
  CHECK(Router::create(o, clock).code() == Code::invalid_request);
  o = RouterOptions{};
  o.breaker.failure_rate_threshold = 1.5;
  CHECK(Router::create(o, clock).code() == Code::invalid_request);
  o = RouterOptions{};
  o.scoring.waste_weight = -1;
  CHECK(Router::create(o, clock).code() == Code::invalid_request);
  o = RouterOptions{};
  o.breaker.max_open = milliseconds(1);
  CHECK(Router::create(o, clock).code() == Code::invalid_request);
  CHECK(Router::create(RouterOptions{}, clock).ok());
}

TEST_CASE("set_routes validates", "[router]") {
  ManualClock clock;
  auto r = make(clock);
  std::vector<ModelRoute> bad1 = {{"m", {}}};
  CHECK(r->set_routes(bad1).code() == Code::invalid_request);
  std::vector<ModelRoute> bad2 = {{"m", {"a", "a"}}};
  CHECK(r->set_routes(bad2).code() == Code::invalid_request);
  std::vector<ModelRoute> bad3 = {{"m", {"a"}}, {"m", {"b"}}};
  CHECK(r->set_routes(bad3).code() == Code::invalid_request);
  std::vector<ModelRoute> bad4 = {{"", {"a"}}};
  CHECK(r->set_routes(bad4).code() == Code::invalid_request);
}

TEST_CASE("fastest ranks the demo and falls back when it must", "[router][plan]") {
  ManualClock clock;
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"flux", {"provider_a", "provider_b", "provider_c"}}};
  REQUIRE(r->set_routes(routes).ok());

  SECTION("no ranking yet: static order, source fallback") {
    Plan p = fastest(*r, "flux");
    CHECK(names(p) == V{"provider_a", "provider_b", "provider_c"});
    CHECK(p.source == OrderSource::fallback);
    CHECK(p.fallback_reason == FallbackReason::no_ranking);
    CHECK(order_source_name(p.source) == "fallback");
  }
  record_demo(*r, clock.now_ms());
  SECTION("recorded but not refreshed: still fallback") {
    CHECK(fastest(*r, "flux").source == OrderSource::fallback);
  }
  REQUIRE(r->refresh().ok());
  SECTION("ranking b, c, a") {
    Plan p = fastest(*r, "flux");
    CHECK(names(p) == V{"provider_b", "provider_c", "provider_a"});
    CHECK(p.source == OrderSource::ranking);
    CHECK(order_source_name(p.source) == "ranking");
    auto rk = r->ranking("flux", "us");
    REQUIRE(rk.ok());
    CHECK(rk->providers[0].score == Approx(0.8825));
    CHECK(rk->providers[1].score == Approx(0.265));
    CHECK(rk->providers[2].score == Approx(-0.3));
  }
  SECTION("another region has no ranking") {
    Plan p = fastest(*r, "flux", "eu");
    CHECK(p.source == OrderSource::fallback);
    CHECK(names(p) == V{"provider_a", "provider_b", "provider_c"});
  }
  SECTION("a stale ranking falls back, a refresh restores it") {
    clock.advance(milliseconds(15 * 60'000));
    CHECK(fastest(*r, "flux").source == OrderSource::ranking);  // exactly max age is fresh
    clock.advance(milliseconds(1));
    Plan p = fastest(*r, "flux");
    CHECK(p.source == OrderSource::fallback);
    CHECK(p.fallback_reason == FallbackReason::stale_ranking);
    CHECK(names(p) == V{"provider_a", "provider_b", "provider_c"});
    REQUIRE(r->refresh().ok());
    CHECK(fastest(*r, "flux").source == OrderSource::ranking);
  }
  SECTION("attempts age out of the window") {
    clock.advance(std::chrono::hours(25));
    REQUIRE(r->refresh().ok());
    CHECK(fastest(*r, "flux").source == OrderSource::fallback);
    CHECK(r->ranking("flux", "us").code() == Code::not_found);
  }
  SECTION("unknown model") {
    CHECK(r->plan("nope", "us", RequestedOrder::fastest_order()).code() == Code::model_not_found);
  }
}

TEST_CASE("explicit orders are honoured exactly", "[router][plan]") {
  ManualClock clock;
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"m", {"a", "b", "c"}}};
  REQUIRE(r->set_routes(routes).ok());
  // a ranking exists and must not matter
  for (int i = 0; i < 3; ++i) REQUIRE(r->record_attempt(rec("x" + std::to_string(i), "c", U, 10, clock.now_ms())).ok());
  REQUIRE(r->refresh().ok());
  CHECK(names(fastest(*r)) == V{"c", "a", "b"});

  Plan p = explicit_plan(*r, {"b", "a"});
  CHECK(names(p) == V{"b", "a"});
  CHECK(p.source == OrderSource::explicit_order);
  CHECK(order_source_name(p.source) == "explicit");
  CHECK(names(explicit_plan(*r, {"a", "b", "a", "c"})) == V{"a", "b", "c"});
  std::vector<std::string_view> unknown = {"a", "zz"};
  CHECK(r->plan("m", "us", RequestedOrder::explicit_order(unknown)).code() == Code::invalid_request);
  std::vector<std::string_view> none;
  CHECK(r->plan("m", "us", RequestedOrder::explicit_order(none)).code() == Code::invalid_request);
}

TEST_CASE("fastest: thin providers keep their slot, unseen ones are appended", "[router][plan]") {
  ManualClock clock;
  auto o = test_options();
  o.scoring.min_samples = 3;
  auto r = make(clock, o);
  std::vector<ModelRoute> routes = {{"m", {"a", "b", "c", "d", "e"}}};
  REQUIRE(r->set_routes(routes).ok());
  int id = 0;
  auto put = [&](const char* p, AttemptOutcome out, std::int64_t lat, int n) {
    for (int i = 0; i < n; ++i) {
      auto rr = rec("r" + std::to_string(id++), p, out, lat, clock.now_ms(), ErrorKind::moderation);
      REQUIRE(r->record_attempt(rr).ok());
    }
  };
  put("a", U, 10, 1);    // thin: keeps slot 0
  put("b", U, 500, 3);   // ranked
  put("c", U, 900, 3);   // ranked, slowest
  put("d", U, 100, 3);   // ranked, best
  // e: never seen → appended
  REQUIRE(r->refresh().ok());
  Plan p = fastest(*r);
  CHECK(p.source == OrderSource::ranking);
  CHECK(names(p) == V{"a", "d", "b", "c", "e"});
}

TEST_CASE("a ranking never widens the allow-list", "[router][plan]") {
  ManualClock clock;
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"m", {"a", "b"}}};
  REQUIRE(r->set_routes(routes).ok());
  REQUIRE(r->record_attempt(rec("1", "x", U, 1, clock.now_ms())).ok());
  REQUIRE(r->refresh().ok());
  Plan p = fastest(*r);
  CHECK(names(p) == V{"a", "b"});
  CHECK(p.source == OrderSource::fallback);
  CHECK(p.fallback_reason == FallbackReason::no_overlap);
  REQUIRE(r->record_attempt(rec("2", "b", U, 5, clock.now_ms())).ok());
  REQUIRE(r->refresh().ok());
  CHECK(names(fastest(*r)) == V{"b", "a"});
}

TEST_CASE("imported ranking.v1 documents", "[router][plan][json]") {
  ManualClock clock(1'777'000'000'000);  // 2026-04-24
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"m", {"a", "b", "c"}}};
  REQUIRE(r->set_routes(routes).ok());
  const std::string now_iso = "2026-04-24T03:06:40Z";  // == 1'777'000'000'000
  auto doc = [&](std::string ranked, std::string scores, std::string extra = "", std::string at = "") {
    return "{\"providers_ranked\":" + ranked + ",\"scores\":" + scores +
           ",\"attempts_total\":9,\"window_hours\":24,\"computed_at\":\"" + (at.empty() ? now_iso : at) + "\"" +
           extra + "}";
  };
  SECTION("valid: ranked first, others appended in static order") {
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"b\",\"x\",\"b\"]", "{\"b\":0.5,\"x\":1}")).ok());
    Plan p = fastest(*r);
    CHECK(names(p) == V{"b", "a", "c"});
    CHECK(p.source == OrderSource::ranking);
  }
  SECTION("extra keys and offsets are accepted") {
    CHECK(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}", ",\"extra\":true", "2026-04-24T05:06:40+02:00")).ok());
    CHECK(names(fastest(*r)) == V{"c", "a", "b"});
  }
  SECTION("only unknown providers: fallback no_overlap") {
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"x\"]", "{\"x\":1}")).ok());
    CHECK(fastest(*r).fallback_reason == FallbackReason::no_overlap);
  }
  SECTION("stale import falls back; future is fine") {
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}", "", "2020-01-01T00:00:00Z")).ok());
    CHECK(fastest(*r).fallback_reason == FallbackReason::stale_ranking);
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}", "", "2030-01-01T00:00:00.123456Z")).ok());
    CHECK(fastest(*r).source == OrderSource::ranking);
  }
  SECTION("invalid documents fall back with reason invalid_ranking") {
    const std::vector<std::string> bad = {
        "",
        "{not-json",
        "[]",
        "null",
        doc("[]", "{}"),
        doc("[\"\"]", "{\"\":1}"),
        doc("[\"b\",\"a\"]", "{\"b\":1}"),
        doc("[\"b\"]", "{\"b\":true}"),
        doc("[\"b\"]", "{\"b\":\"1\"}"),
        doc("[\"b\"]", "{\"b\":null}"),
        doc("[\"b\"]", "{\"b\":1e999}"),
        doc("[\"b\"]", "{\"b\":1,\"z\":false}"),
        doc("[\"b\"]", "{\"b\":1}", "", "not-a-date"),
        doc("[\"b\"]", "{\"b\":1}", "", "2026-04-29T00:00:00"),
        doc("[\"b\"]", "{\"b\":1}", "", "2026-02-30T00:00:00Z"),
        doc("[\"b\"]", "{\"b\":1}", "", "2026-04-29T23:59:60Z"),
        doc("[\"b\"]", "{\"b\":1}", "", "2026-04-29t00:00:00Z"),
        doc("[\"b\"]", "{\"b\":1}", "", "2026-04-29T00:00:00z"),
        "{\"providers_ranked\":[\"b\"],\"scores\":{\"b\":1},\"window_hours\":24,\"computed_at\":\"" + now_iso + "\"}",
        "{\"providers_ranked\":[\"b\"],\"scores\":{\"b\":1},\"attempts_total\":-1,\"window_hours\":24,\"computed_at\":\"" + now_iso + "\"}",
        "{\"providers_ranked\":[\"b\"],\"scores\":{\"b\":1},\"attempts_total\":true,\"window_hours\":24,\"computed_at\":\"" + now_iso + "\"}",
        "{\"providers_ranked\":[\"b\"],\"scores\":{\"b\":1},\"attempts_total\":1,\"window_hours\":0,\"computed_at\":\"" + now_iso + "\"}",
        doc("[\"b\"]", "{\"b\":1}") + " {}",
    };
    for (const auto& text : bad) {
      INFO(text);
      // a valid import first, so the invalid one visibly replaces it
      REQUIRE(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}")).ok());
      REQUIRE(fastest(*r).source == OrderSource::ranking);
      CHECK(r->import_ranking_json("m", "us", text).code() == Code::invalid_request);
      Plan p = fastest(*r);
      CHECK(p.source == OrderSource::fallback);
      CHECK(p.fallback_reason == FallbackReason::invalid_ranking);
      CHECK(names(p) == V{"a", "b", "c"});
    }
  }
  SECTION("shared rankings: only imports plan; forgetting one falls back with its reason") {
    REQUIRE(r->record_attempt(rec("1", "b", U, 5, clock.now_ms())).ok());
    REQUIRE(r->refresh().ok());
    CHECK(names(fastest(*r)) == V{"b", "a", "c"});  // its own ranking
    r->set_shared_rankings(true);
    Plan p = fastest(*r);
    CHECK(p.source == OrderSource::fallback);
    CHECK(p.fallback_reason == FallbackReason::no_ranking);
    CHECK(r->ranked_groups() == std::vector<std::pair<std::string, std::string>>{{"m", "us"}});
    CHECK(r->export_ranking_json("m", "us").ok());  // still computed, for export
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}")).ok());
    CHECK(names(fastest(*r)) == V{"c", "a", "b"});
    r->forget_imported_ranking("m", "us", FallbackReason::cache_unavailable);
    CHECK(fastest(*r).fallback_reason == FallbackReason::cache_unavailable);
    CHECK(fallback_reason_name(FallbackReason::cache_unavailable) == "cache_unavailable");
    r->forget_imported_ranking("m", "us");
    p = fastest(*r);
    CHECK(p.fallback_reason == FallbackReason::no_ranking);
    CHECK(names(p) == V{"a", "b", "c"});
    r->set_shared_rankings(false);
    CHECK(names(fastest(*r)) == V{"b", "a", "c"});
  }
  SECTION("a local ranking wins over an import") {
    REQUIRE(r->import_ranking_json("m", "us", doc("[\"c\"]", "{\"c\":1}")).ok());
    REQUIRE(r->record_attempt(rec("1", "b", U, 5, clock.now_ms())).ok());
    REQUIRE(r->refresh().ok());
    CHECK(names(fastest(*r)) == V{"b", "a", "c"});
  }
}

TEST_CASE("export_ranking_json writes ranking.v1 that imports back", "[router][json]") {
  ManualClock clock(1'777'000'000'000);
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"flux", {"provider_a", "provider_b", "provider_c"}}};
  REQUIRE(r->set_routes(routes).ok());
  CHECK(r->export_ranking_json("flux", "us").code() == Code::not_found);
  record_demo(*r, clock.now_ms());
  REQUIRE(r->refresh().ok());
  auto js = r->export_ranking_json("flux", "us");
  REQUIRE(js.ok());
  CHECK(js.value() ==
        "{\"attempts_total\":9,\"computed_at\":\"2026-04-24T03:06:40.000Z\",\"providers_ranked\":[\"provider_b\","
        "\"provider_c\",\"provider_a\"],\"scores\":{\"provider_b\":0.8825,\"provider_c\":0.265,\"provider_a\":-0.3},"
        "\"window_hours\":24}");
  auto r2 = make(clock);
  REQUIRE(r2->set_routes(routes).ok());
  REQUIRE(r2->import_ranking_json("flux", "us", js.value()).ok());
  CHECK(names(fastest(*r2, "flux")) == V{"provider_b", "provider_c", "provider_a"});
}

TEST_CASE("records are validated and de-duplicated", "[router]") {
  ManualClock clock;
  auto r = make(clock);
  auto a = rec("id1", "a", U, 10, clock.now_ms());
  CHECK(r->record_attempt(a).value());
  CHECK_FALSE(r->record_attempt(a).value());
  a.attempt_id = "";
  CHECK(r->record_attempt(a).code() == Code::invalid_request);
  a.attempt_id = "id2";
  a.latency_ms = -1;
  CHECK(r->record_attempt(a).code() == Code::invalid_request);
  REQUIRE(r->refresh().ok());
  auto rk = r->ranking("m", "us");
  REQUIRE(rk.ok());
  CHECK(rk->attempts_total == 1);
}

// ------------------------------------------------------------------ breakers

namespace {

struct BreakerFixture {
  ManualClock clock;
  std::unique_ptr<Router> r;
  int next = 0;
  BreakerFixture(RouterOptions o = test_options()) {
    r = make(clock, o);
    std::vector<ModelRoute> routes = {{"m", {"a", "b", "c"}}, {"m2", {"a", "b"}}};
    REQUIRE(r->set_routes(routes).ok());
  }
  std::string id() { return "att-" + std::to_string(next++); }
  void fail(const char* p, ErrorKind k = ErrorKind::server_error, std::int64_t retry_after = 0,
            std::string attempt = "", const char* model = "m") {
    auto rr = rec(attempt.empty() ? id() : attempt, p, F, 100, clock.now_ms(), k, model);
    rr.retry_after_ms = retry_after;
    REQUIRE(r->record_attempt(rr).ok());
  }
  void ok(const char* p, std::string attempt = "") {
    REQUIRE(r->record_attempt(rec(attempt.empty() ? id() : attempt, p, U, 100, clock.now_ms())).ok());
  }
  BreakerState state(const char* p) { return r->breaker(p, "us").state; }
};

}  // namespace

TEST_CASE("breaker trips on consecutive failures and moves the provider to the end", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 4; ++i) f.fail("a");
  CHECK(f.state("a") == BreakerState::closed);
  CHECK(f.r->admit("a", "us", "m", "x").allowed);
  f.fail("a");
  auto info = f.r->breaker("a", "us");
  CHECK(info.state == BreakerState::open);
  CHECK(info.trips == 1);
  CHECK(info.open_until_ms == f.clock.now_ms() + 10'000);

  Plan p = fastest(*f.r);
  CHECK(names(p) == V{"b", "c", "a"});
  CHECK(p.chain[2].breaker_open);
  CHECK_FALSE(p.chain[0].breaker_open);
  CHECK(names(explicit_plan(*f.r, {"a", "c"})) == V{"c", "a"});
  // only the one provider: it stays (moved to the end of a chain of one)
  CHECK(names(explicit_plan(*f.r, {"a"})) == V{"a"});
  // same provider, other model, same region: shared breaker by default
  CHECK(names(fastest(*f.r, "m2")) == V{"b", "a"});
  // other region: independent
  CHECK(names(fastest(*f.r, "m", "eu")) == V{"a", "b", "c"});

  Admission adm = f.r->admit("a", "us", "m", "y");
  CHECK_FALSE(adm.allowed);
  CHECK(adm.state == BreakerState::open);
  CHECK(adm.retry_at_ms == f.clock.now_ms() + 10'000);
  CHECK(f.r->admit("b", "us", "m", "z").allowed);
}

TEST_CASE("breaker trips on failure rate only with enough volume", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 4; ++i) {
    f.fail("a");
    f.ok("a");
  }
  CHECK(f.state("a") == BreakerState::closed);  // 8 results < min volume 10
  f.fail("a");
  CHECK(f.state("a") == BreakerState::closed);  // 9
  f.ok("a");
  CHECK(f.state("a") == BreakerState::closed);  // successes never trip
  f.fail("a");                                  // 11 results, 6 failed > 50 %
  CHECK(f.state("a") == BreakerState::open);
}

TEST_CASE("caller faults never move a breaker", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 20; ++i) f.fail("a", ErrorKind::moderation);
  for (int i = 0; i < 20; ++i) f.fail("a", ErrorKind::invalid_input);
  for (int i = 0; i < 20; ++i) f.fail("a", ErrorKind::breaker_open);
  for (int i = 0; i < 20; ++i) {
    auto rr = rec(f.id(), "a", AttemptOutcome::cancelled, 10, f.clock.now_ms());
    REQUIRE(f.r->record_attempt(rr).ok());
  }
  CHECK(f.state("a") == BreakerState::closed);
  f.fail("a", ErrorKind::provider_auth);  // our account at the provider: counts
  for (int i = 0; i < 4; ++i) f.fail("a", ErrorKind::timeout);
  CHECK(f.state("a") == BreakerState::open);
}

TEST_CASE("open time grows exponentially, capped, and probes are bounded", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 5; ++i) f.fail("a");
  std::int64_t expected = 10'000;
  for (int trip = 1; trip <= 7; ++trip) {
    INFO("trip " << trip);
    auto info = f.r->breaker("a", "us");
    REQUIRE(info.state == BreakerState::open);
    CHECK(info.trips == static_cast<std::uint32_t>(trip));
    CHECK(info.open_until_ms - f.clock.now_ms() == expected);
    f.clock.advance(milliseconds(expected - 1));
    CHECK_FALSE(f.r->admit("a", "us", "m", "early").allowed);
    CHECK(fastest(*f.r).chain[2].provider == "a");
    f.clock.advance(milliseconds(1));
    // past the deadline: a probe candidate again, in its normal position
    CHECK(names(fastest(*f.r)) == V{"a", "b", "c"});
    CHECK(f.r->breaker("a", "us").state == BreakerState::half_open);
    const std::string probe = "probe-" + std::to_string(trip);
    Admission adm = f.r->admit("a", "us", "m", probe);
    CHECK(adm.allowed);
    CHECK(adm.probe);
    // one probe in flight: the next one is refused and plans move `a` back
    Admission second = f.r->admit("a", "us", "m", "another");
    CHECK_FALSE(second.allowed);
    CHECK(second.state == BreakerState::half_open);
    CHECK(names(fastest(*f.r)) == V{"b", "c", "a"});
    CHECK(f.r->breaker("a", "us").probes_in_flight == 1);
    // a straggler's failure does not count in half-open
    f.fail("a", ErrorKind::server_error);
    CHECK(f.r->breaker("a", "us").state == BreakerState::half_open);
    f.fail("a", ErrorKind::server_error, 0, probe);  // the probe fails: reopen, longer
    expected = std::min<std::int64_t>(expected * 2, 300'000);
  }
}

TEST_CASE("Retry-After is a floor on the open time and extends it", "[router][breaker]") {
  BreakerFixture f;
  f.fail("b", ErrorKind::rate_limited, 60'000);  // a single 429 with Retry-After trips
  auto info = f.r->breaker("b", "us");
  CHECK(info.state == BreakerState::open);
  CHECK(info.open_until_ms == f.clock.now_ms() + 60'000);
  f.clock.advance(milliseconds(50'000));
  f.fail("b", ErrorKind::rate_limited, 30'000);  // a later 429 pushes the deadline
  CHECK(f.r->breaker("b", "us").open_until_ms == f.clock.now_ms() + 30'000);
  f.fail("b", ErrorKind::server_error);  // a plain failure while open changes nothing
  CHECK(f.r->breaker("b", "us").open_until_ms == f.clock.now_ms() + 30'000);
  // cap on absurd values
  f.fail("c", ErrorKind::rate_limited, 10LL * 3'600'000);
  CHECK(f.r->breaker("c", "us").open_until_ms == f.clock.now_ms() + 3'600'000);
}

TEST_CASE("half-open closes after N probe successes; health follows", "[router][breaker][health]") {
  BreakerFixture f;
  auto health_of = [&](const char* p) {
    for (const auto& h : f.r->health("us"))
      if (h.provider == p) return h;
    return ProviderHealth{};
  };
  CHECK(f.r->health("us").empty());
  f.ok("a");
  CHECK(health_of("a").status == HealthState::healthy);
  for (int i = 0; i < 5; ++i) f.fail("a");
  auto h = health_of("a");
  CHECK(h.status == HealthState::degraded);
  CHECK(h.total_attempts == 6);
  CHECK(h.failures == 5);
  CHECK(h.successes == 1);
  CHECK(h.failure_rate == Approx(5.0 / 6.0));
  CHECK(h.duration_seconds == 3600);
  CHECK(health_state_name(h.status) == "degraded");
  f.clock.advance(milliseconds(10'000));
  CHECK(health_of("a").status == HealthState::recovering);
  REQUIRE(f.r->admit("a", "us", "m", "p1").probe);
  f.ok("a", "p1");
  CHECK(f.state("a") == BreakerState::half_open);
  CHECK(f.r->breaker("a", "us").probe_successes == 1);
  REQUIRE(f.r->admit("a", "us", "m", "p2").probe);
  f.ok("a", "p2");
  CHECK(f.state("a") == BreakerState::closed);
  CHECK(health_of("a").status == HealthState::healthy);
  CHECK(f.r->admit("a", "us", "m", "x").allowed);
  CHECK_FALSE(f.r->admit("a", "us", "m", "x").probe);
  // attempts leave the health window: unknown
  f.clock.advance(std::chrono::hours(2));
  CHECK(health_of("a").status == HealthState::unknown);
  // trips are remembered for a while: a new trip right after closing is longer...
  // ...but after trip_memory closed, it starts from base again.
  for (int i = 0; i < 5; ++i) f.fail("a");
  CHECK(f.r->breaker("a", "us").trips == 1);
  CHECK(f.r->breaker("a", "us").open_until_ms == f.clock.now_ms() + 10'000);
}

TEST_CASE("a trip soon after recovery keeps growing", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 5; ++i) f.fail("a");
  f.clock.advance(milliseconds(10'000));
  for (int i = 0; i < 2; ++i) {
    const std::string id = "p" + std::to_string(i);
    REQUIRE(f.r->admit("a", "us", "m", id).probe);
    f.ok("a", id);
  }
  REQUIRE(f.state("a") == BreakerState::closed);
  f.clock.advance(milliseconds(60'000));
  for (int i = 0; i < 5; ++i) f.fail("a");
  CHECK(f.r->breaker("a", "us").trips == 2);
  CHECK(f.r->breaker("a", "us").open_until_ms == f.clock.now_ms() + 20'000);
}

TEST_CASE("a silent probe times out and reopens", "[router][breaker]") {
  BreakerFixture f;
  for (int i = 0; i < 5; ++i) f.fail("a");
  f.clock.advance(milliseconds(10'000));
  REQUIRE(f.r->admit("a", "us", "m", "silent").probe);
  f.clock.advance(milliseconds(119'999));
  CHECK_FALSE(f.r->admit("a", "us", "m", "other").allowed);
  CHECK(f.state("a") == BreakerState::half_open);
  f.clock.advance(milliseconds(1));
  REQUIRE(f.r->refresh().ok());  // the timer sweep reclaims it
  auto info = f.r->breaker("a", "us");
  CHECK(info.state == BreakerState::open);
  CHECK(info.trips == 2);
  CHECK(info.open_until_ms == f.clock.now_ms() + 20'000);
  // the late result of the silent probe is a straggler now
  f.ok("a", "silent");
  CHECK(f.r->breaker("a", "us").state == BreakerState::open);
}

TEST_CASE("per-model breakers are independent", "[router][breaker]") {
  auto o = test_options();
  o.breaker.per_model = true;
  BreakerFixture f(o);
  for (int i = 0; i < 5; ++i) f.fail("a");
  CHECK(f.r->breaker("a", "us", "m").state == BreakerState::open);
  CHECK(f.r->breaker("a", "us", "m2").state == BreakerState::closed);
  CHECK(names(fastest(*f.r, "m")) == V{"b", "c", "a"});
  CHECK(names(fastest(*f.r, "m2")) == V{"a", "b"});
  CHECK_FALSE(f.r->admit("a", "us", "m", "q").allowed);
  CHECK(f.r->admit("a", "us", "m2", "q").allowed);
  // health reports the worst breaker of the provider
  for (const auto& h : f.r->health("us"))
    if (h.provider == "a") CHECK(h.status == HealthState::degraded);
}

// --------------------------------------------------------------- concurrency

TEST_CASE("concurrent plans during snapshot swaps", "[router][concurrency]") {
  ManualClock clock;
  auto r = make(clock);
  std::vector<ModelRoute> routes;
  for (int m = 0; m < 4; ++m) routes.push_back({"m" + std::to_string(m), {"a", "b", "c", "d"}});
  REQUIRE(r->set_routes(routes).ok());
  std::atomic<bool> stop{false};
  std::atomic<long> plans{0}, bad{0};
  auto reader = [&] {
    const std::set<std::string> want = {"a", "b", "c", "d"};
    std::vector<std::string_view> order = {"d", "a"};
    while (!stop.load()) {
      for (int m = 0; m < 4; ++m) {
        const std::string model = "m" + std::to_string(m);
        auto p = r->plan(model, "us", RequestedOrder::fastest_order());
        if (!p.ok() || p->chain.size() != 4) {
          ++bad;
          continue;
        }
        std::set<std::string> got;
        for (const auto& e : p->chain) got.emplace(e.provider);
        if (got != want) ++bad;
        auto e = r->plan(model, "us", RequestedOrder::explicit_order(order));
        if (!e.ok() || e->chain.size() != 2) ++bad;
        plans += 2;
      }
    }
  };
  std::thread t1(reader), t2(reader);
  const char* ps[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 400; ++i) {
    const bool fail = i % 7 == 0;
    auto rr = rec("c" + std::to_string(i), ps[i % 4], fail ? F : U, 10 + (i % 4) * 5, clock.now_ms(),
                  fail ? ErrorKind::server_error : ErrorKind::none, "m" + std::to_string(i % 4), i % 3 ? "us" : "eu");
    REQUIRE(r->record_attempt(rr).ok());
    if (i % 10 == 0) REQUIRE(r->refresh().ok());
    if (i % 50 == 0) REQUIRE(r->set_routes(routes).ok());
    clock.advance(milliseconds(100));
  }
  while (plans.load() < 2000) std::this_thread::yield();
  stop = true;
  t1.join();
  t2.join();
  CHECK(bad.load() == 0);
  CHECK(plans.load() >= 2000);
}

TEST_CASE("exploration puts thin or stale providers first in 1 of N plans", "[router][plan]") {
  ManualClock clock;
  auto o = test_options();
  o.scoring.min_samples = 3;
  o.explore_one_in = 10;
  auto r = make(clock, o);
  std::vector<ModelRoute> routes = {{"m", {"a", "b", "c"}}};
  REQUIRE(r->set_routes(routes).ok());
  int id = 0;
  for (int i = 0; i < 3; ++i) REQUIRE(r->record_attempt(rec("e" + std::to_string(id++), "a", U, 10, clock.now_ms())).ok());
  for (int i = 0; i < 3; ++i) REQUIRE(r->record_attempt(rec("e" + std::to_string(id++), "b", U, 50, clock.now_ms())).ok());
  REQUIRE(r->refresh().ok());
  auto count_first = [&](const char* p) {
    int n = 0;
    for (int i = 0; i < 100; ++i) n += fastest(*r).chain[0].provider == p ? 1 : 0;
    return n;
  };
  CHECK(count_first("c") == 10);  // c never tried: explored in 1 of 10 plans
  CHECK(count_first("a") == 90);
  // a and b go stale (no attempt for 11 min), c gets enough samples
  clock.advance(milliseconds(11 * 60'000));
  for (int i = 0; i < 3; ++i) REQUIRE(r->record_attempt(rec("e" + std::to_string(id++), "c", U, 90, clock.now_ms())).ok());
  REQUIRE(r->refresh().ok());
  CHECK(count_first("a") == 90 + 5);  // a leads and is explored in half of the exploring plans
  CHECK(count_first("b") == 5);
  // exploration never bypasses an open breaker
  for (int i = 0; i < 5; ++i)
    REQUIRE(r->record_attempt(rec("e" + std::to_string(id++), "b", F, 1, clock.now_ms(), ErrorKind::timeout)).ok());
  CHECK(count_first("b") == 0);
}

TEST_CASE("breakers: open_breakers lists openings, open_breaker_until adopts one", "[router][breaker]") {
  ManualClock clock(1'777'000'000'000);
  auto r = make(clock);
  std::vector<ModelRoute> routes = {{"m", {"a", "b"}}};
  REQUIRE(r->set_routes(routes).ok());
  CHECK(r->open_breakers().empty());
  auto tripping = rec("t1", "a", F, 10, clock.now_ms(), ErrorKind::rate_limited);
  tripping.retry_after_ms = 30'000;
  REQUIRE(r->record_attempt(tripping).ok());
  auto open = r->open_breakers();
  REQUIRE(open.size() == 1);
  CHECK(open[0].provider == "a");
  CHECK(open[0].region == "us");
  CHECK(open[0].model.empty());
  CHECK(open[0].open_until_ms == clock.now_ms() + 30'000);

  // b never failed here; another instance saw it open until now + 20 s.
  CHECK(r->open_breaker_until("", "us", "m", clock.now_ms() + 1).code() == Code::invalid_request);
  REQUIRE(r->open_breaker_until("b", "us", "m", clock.now_ms() - 1).ok());  // past: nothing
  CHECK(r->breaker("b", "us").state == BreakerState::closed);
  REQUIRE(r->open_breaker_until("b", "us", "m", clock.now_ms() + 20'000).ok());
  CHECK(r->breaker("b", "us").state == BreakerState::open);
  CHECK(r->breaker("b", "us").trips == 0);
  Plan p = fastest(*r);
  CHECK(p.chain[0].breaker_open);
  CHECK(p.chain[1].breaker_open);
  CHECK(r->admit("b", "us", "m", "x").allowed == false);
  // A shorter deadline does not shorten an opening.
  REQUIRE(r->open_breaker_until("a", "us", "m", clock.now_ms() + 1'000).ok());
  CHECK(r->breaker("a", "us").open_until_ms == clock.now_ms() + 30'000);
  CHECK(r->open_breakers().size() == 2);
  // Past the deadline: half-open, probes local.
  clock.advance(milliseconds(21'000));
  CHECK(r->open_breakers().size() == 1);
  Admission a = r->admit("b", "us", "m", "probe");
  CHECK(a.allowed);
  CHECK(a.probe);
}

TEST_CASE("health reports the successes' latency and the window in slices", "[router][health]") {
  BreakerFixture f;
  const std::int64_t t0 = f.clock.now_ms();
  for (int i = 1; i <= 10; ++i) REQUIRE(f.r->record_attempt(rec(f.id(), "b", U, 10 * i, t0)).ok());
  f.clock.advance(milliseconds(600'000));  // two slices of 300 s later
  REQUIRE(f.r->record_attempt(rec(f.id(), "b", U, 1000, f.clock.now_ms())).ok());
  f.fail("b");
  ProviderHealth b;
  for (const auto& h : f.r->health("us"))
    if (h.provider == "b") b = h;
  CHECK(b.successes == 11);
  CHECK(b.failures == 1);
  // Nearest rank over {10, 20, ..., 100, 1000}: the 6th and the 11th.
  CHECK(b.latency_p50_ms == 60);
  CHECK(b.latency_p95_ms == 1000);
  REQUIRE(b.series.size() == static_cast<std::size_t>(kHealthBuckets));
  const std::int64_t slice = 3'600'000 / kHealthBuckets;
  CHECK(b.series.front().start_ms == f.clock.now_ms() - 3'600'000);
  for (int i = 0; i < kHealthBuckets; ++i) {
    INFO("slice " << i);
    CHECK(b.series[i].start_ms == b.series.front().start_ms + i * slice);
    if (i < 10) CHECK((b.series[i].successes == 0 && b.series[i].failures == 0 && b.series[i].latency_p95_ms == 0));
  }
  CHECK(b.series[10].successes == 10);
  CHECK(b.series[10].failures == 0);
  CHECK(b.series[10].latency_p95_ms == 100);
  CHECK(b.series[11].successes == 1);
  CHECK(b.series[11].failures == 1);
  CHECK(b.series[11].latency_p95_ms == 1000);
  // Failures have no latency; a provider with no successes reports 0.
  f.fail("c");
  for (const auto& h : f.r->health("us"))
    if (h.provider == "c") CHECK((h.latency_p50_ms == 0 && h.latency_p95_ms == 0 && h.series[11].failures == 1));
  // A provider asked about but never seen: unknown, with the same empty slices.
  const std::vector<std::string> also = {"z"};
  const auto all = f.r->health("us", also);
  CHECK(f.r->health("us").size() == 2);
  REQUIRE(all.size() == 3);
  const ProviderHealth& z = all.back();
  CHECK(z.provider == "z");
  CHECK(z.status == HealthState::unknown);
  CHECK(z.total_attempts == 0);
  REQUIRE(z.series.size() == static_cast<std::size_t>(kHealthBuckets));
  CHECK(z.series.front().start_ms == b.series.front().start_ms);
  CHECK(z.series.back().successes + z.series.back().failures == 0);
}
