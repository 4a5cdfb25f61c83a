// Simulation: three providers whose health changes over simulated time, an
// engine-like loop (plan → admit → attempt → record → fail over), and the
// traffic share each provider gets. Deterministic (seeded), no real time.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <queue>
#include <random>

#include "babysea/clock.hpp"
#include "babysea/router.hpp"

using namespace babysea;
using std::chrono::milliseconds;

namespace {

constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kDeadline = 30'000;      // our per-attempt deadline
constexpr std::int64_t kArrivalEvery = 250;     // 4 generations per second
constexpr std::int64_t kRefreshEvery = 5'000;   // ranking timer
constexpr std::int64_t kEnd = 60 * kMin;

struct Answer {
  AttemptOutcome outcome;
  ErrorKind error;
  std::int64_t latency;
  std::int64_t retry_after;
};

// The world: what each provider does at simulated time t (ms since start).
//   c: fastest (1 s); fails with HTTP 500 in [5, 15) min; slow (6 s) from 25 min.
//   a: 1.5 s; silent from 35 min on (never answers; our deadline ends it).
//   b: 2 s; 429 with Retry-After 60 s in [38, 50) min.
// Everyone also fails 1 % of calls at random with a 500.
struct World {
  std::mt19937_64 rng{20260506};
  Answer call(const std::string& p, std::int64_t t) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double jitter = 0.8 + 0.4 * u(rng);
    const bool random_fail = u(rng) < 0.01;
    auto ok = [&](double base) {
      return Answer{AttemptOutcome::used, ErrorKind::none, static_cast<std::int64_t>(base * jitter), 0};
    };
    const Answer e500{AttemptOutcome::failed, ErrorKind::server_error, static_cast<std::int64_t>(200 * jitter), 0};
    if (p == "c") {
      if (t >= 5 * kMin && t < 15 * kMin) return e500;
      if (random_fail) return e500;
      return ok(t >= 25 * kMin ? 6000 : 1000);
    }
    if (p == "a") {
      if (t >= 35 * kMin) return Answer{AttemptOutcome::failed, ErrorKind::timeout, kDeadline, 0};
      if (random_fail) return e500;
      return ok(1500);
    }
    if (t >= 38 * kMin && t < 50 * kMin)
      return Answer{AttemptOutcome::failed, ErrorKind::rate_limited, static_cast<std::int64_t>(150 * jitter), 60'000};
    if (random_fail) return e500;
    return ok(2000);
  }
};

enum class Ev { arrival, attempt, done, refresh };

struct Event {
  std::int64_t t;
  std::uint64_t seq;
  Ev kind;
  int gen;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct Gen {
  std::vector<std::string> chain;
  std::size_t next = 0;
  std::string provider;  // of the attempt in flight
  std::string attempt_id;
  Answer answer{};
  bool succeeded = false;
};

struct Sent {
  std::int64_t t;
  std::string provider;
  bool probe;
};

}  // namespace

TEST_CASE("simulation: failing providers lose traffic fast and win it back through probes", "[router][sim]") {
  ManualClock clock(1'800'000'000'000);
  const std::int64_t t0 = clock.now_ms();
  RouterOptions opt;  // library defaults: min_samples 5, recency 2 h, breakers as documented
  auto created = Router::create(opt, clock);
  REQUIRE(created.ok());
  Router& r = *created.value();
  // the catalog default order: c, then a, then b
  std::vector<ModelRoute> routes = {{"flux", {"c", "a", "b"}}};
  REQUIRE(r.set_routes(routes).ok());

  World world;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> q;
  std::uint64_t seq = 0;
  std::vector<Gen> gens;
  std::vector<Sent> sent;
  std::map<OrderSource, int> sources;
  int failed_gens = 0, probes = 0;

  for (std::int64_t t = 0; t < kEnd; t += kArrivalEvery) q.push({t, seq++, Ev::arrival, -1});
  for (std::int64_t t = kRefreshEvery; t < kEnd + kDeadline * 4; t += kRefreshEvery) q.push({t, seq++, Ev::refresh, -1});

  while (!q.empty()) {
    Event ev = q.top();
    q.pop();
    clock.set_ms(t0 + ev.t);
    switch (ev.kind) {
      case Ev::refresh:
        REQUIRE(r.refresh().ok());
        break;
      case Ev::arrival: {
        auto p = r.plan("flux", "us", RequestedOrder::fastest_order());
        REQUIRE(p.ok());
        REQUIRE(p->chain.size() == 3);
        ++sources[p->source];
        Gen g;
        g.chain = p->chain.names();
        gens.push_back(std::move(g));
        q.push({ev.t, seq++, Ev::attempt, static_cast<int>(gens.size() - 1)});
        break;
      }
      case Ev::attempt: {
        Gen& g = gens[static_cast<std::size_t>(ev.gen)];
        bool launched = false;
        while (g.next < g.chain.size() && !launched) {
          const std::string& prov = g.chain[g.next++];
          const std::string id = "g" + std::to_string(ev.gen) + "-" + std::to_string(g.next);
          Admission adm = r.admit(prov, "us", "flux", id);
          if (!adm.allowed) continue;  // breaker says no: fail over without sending
          probes += adm.probe ? 1 : 0;
          g.provider = prov;
          g.attempt_id = id;
          g.answer = world.call(prov, ev.t);
          sent.push_back({ev.t, prov, adm.probe});
          q.push({ev.t + g.answer.latency, seq++, Ev::done, ev.gen});
          launched = true;
        }
        if (!launched) ++failed_gens;
        break;
      }
      case Ev::done: {
        Gen& g = gens[static_cast<std::size_t>(ev.gen)];
        AttemptRecord rec;
        rec.attempt_id = g.attempt_id;
        rec.region = "us";
        rec.model = "flux";
        rec.provider = g.provider;
        rec.outcome = g.answer.outcome;
        rec.error = g.answer.error;
        rec.latency_ms = g.answer.latency;
        rec.finished_ms = clock.now_ms();
        rec.retry_after_ms = g.answer.retry_after;
        REQUIRE(r.record_attempt(rec).value());
        if (g.answer.outcome == AttemptOutcome::used) {
          g.succeeded = true;
        } else {
          q.push({ev.t, seq++, Ev::attempt, ev.gen});  // fail over now
        }
        break;
      }
    }
  }

  // Share of attempts sent to `p` among attempts sent in [from, to), skipping
  // the first `skip` attempts sent after `from`.
  auto share = [&](const std::string& p, std::int64_t from, std::int64_t to, std::size_t skip = 0) {
    std::size_t n = 0, hit = 0, seen = 0;
    for (const auto& s : sent) {
      if (s.t < from || s.t >= to) continue;
      if (seen++ < skip) continue;
      ++n;
      hit += s.provider == p ? 1 : 0;
    }
    return n ? static_cast<double>(hit) / static_cast<double>(n) : 0.0;
  };
  // The worst share of `p` over consecutive blocks of `block` attempts.
  auto worst_block = [&](const std::string& p, std::int64_t from, std::int64_t to, std::size_t skip,
                         std::size_t block) {
    std::vector<int> hits;
    std::size_t seen = 0;
    for (const auto& s : sent) {
      if (s.t < from || s.t >= to) continue;
      if (seen++ < skip) continue;
      hits.push_back(s.provider == p ? 1 : 0);
    }
    double worst = 0;
    for (std::size_t i = 0; i + block <= hits.size(); i += block) {
      int h = 0;
      for (std::size_t j = i; j < i + block; ++j) h += hits[j];
      worst = std::max(worst, static_cast<double>(h) / static_cast<double>(block));
    }
    return worst;
  };

  const double c_before = share("c", 2 * kMin, 5 * kMin);
  const double c_out = worst_block("c", 5 * kMin, 15 * kMin, 50, 200);
  const double c_back = share("c", 21 * kMin, 25 * kMin);
  const double a_primary = share("a", 30 * kMin, 35 * kMin);
  const double a_silent = worst_block("a", 35 * kMin, kEnd, 400, 200);
  const double b_429 = worst_block("b", 38 * kMin, 50 * kMin, 50, 200);
  const double b_back = share("b", 56 * kMin, kEnd);
  std::printf(
      "router sim: attempts %zu generations %zu failed %d probes %d | c before %.3f, during 500s (worst block) %.3f, "
      "after recovery %.3f | a primary %.3f, silent (worst block) %.3f | b during 429 (worst block) %.3f, after %.3f | "
      "plans ranking %d fallback %d\n",
      sent.size(), gens.size(), failed_gens, probes, c_before, c_out, c_back, a_primary, a_silent, b_429, b_back,
      sources[OrderSource::ranking], sources[OrderSource::fallback]);

  CHECK(c_before > 0.9);   // c is fastest: it gets the traffic
  CHECK(c_out < 0.05);     // c fails: < 5 % within the first 50 attempts after onset
  CHECK(c_back > 0.8);     // c recovered: probes close its breaker, traffic returns
  CHECK(a_primary > 0.8);  // c slowed down: a leads
  CHECK(a_silent < 0.05);  // a goes silent: < 5 % once its first deadline has passed
  CHECK(b_429 < 0.05);     // b returns 429 + Retry-After: traffic stays away
  CHECK(b_back > 0.8);     // b recovered (a silent, c slow): b leads again
  CHECK(probes > 10);
  // every generation had a healthy provider left somewhere in its chain
  int ok = 0;
  for (const auto& g : gens) ok += g.succeeded ? 1 : 0;
  CHECK(ok >= static_cast<int>(gens.size()) - static_cast<int>(gens.size() / 100));
  CHECK(sources[OrderSource::ranking] > sources[OrderSource::fallback]);
}
