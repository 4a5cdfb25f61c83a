// Seeded randomized simulation of the engine: random provider outcomes,
// duplicate / late / out-of-order callbacks, cancels, clock jumps past
// deadlines and engine restarts on the same database. After every run the
// invariants of specs/lifecycle.md §5 must hold.
//
// BABYSEA_SIM_SEEDS=<n> (default 2000) seeds on the memory store plus n/20
// on the durable store (a SQLite file, or what test_store_kind names);
// BABYSEA_SIM_SEED=<s> replays one seed (both stores). On PostgreSQL
// (engine_sim_test_postgres) the memory seeds are skipped, engine_sim_test
// runs them, and BABYSEA_SIM_PG_SEEDS (default 60) seeds run on the server:
// each costs a fresh schema and a round trip per unit of work.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <random>

#include "engine/rig.hpp"

using namespace babysea;
using namespace babysea::testing;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? def : std::strtoull(v, nullptr, 10);
}

struct SimStats {
  std::int64_t generations = 0, restarts = 0, by_status[5] = {0, 0, 0, 0, 0};
};
SimStats g_stats;

// One simulated run; returns the first violated invariant, empty when all hold.
std::string simulate(std::uint64_t seed, const std::string& store) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  RigOptions o;
  o.store = store;
  const DeliveryMode modes[] = {DeliveryMode::webhook, DeliveryMode::polling, DeliveryMode::synchronous};
  o.first_mode = modes[pick(3)];
  o.second_mode = modes[pick(3)];
  o.grant = (pick(4) == 0 ? 5 : 200) * 1'000;  // sometimes too poor for every submit
  Rig rig(o);
  std::vector<std::string> ids;
  int msg = 0;
  const int steps = 20 + pick(30);
  for (int step = 0; step < steps; ++step) {
    ScriptedProvider& p = pick(2) == 0 ? rig.first() : rig.second();
    switch (pick(12)) {
      case 0:
      case 1: {  // submit (sometimes with a reused key)
        const std::string key = pick(3) == 0 ? "k" + std::to_string(pick(3)) : std::string();
        auto r = rig.submit(key, pick(2) ? "a red fox" : "a blue whale", pick(4) == 0 ? "fal, replicate" : "");
        if (r.ok()) {
          ids.push_back(r->generation.id);
        } else if (r.code() != Code::insufficient_credits && r.code() != Code::idempotency_conflict) {
          return "submit failed: " + r.status().to_string();
        }
        break;
      }
      case 2: {  // script a submit failure of some class
        const ErrorKind kinds[] = {ErrorKind::rate_limited, ErrorKind::server_error, ErrorKind::model_unavailable,
                                   ErrorKind::moderation, ErrorKind::timeout};
        p.fail_submit(kinds[pick(5)], pick(2) ? 0 : 3'000);
        break;
      }
      case 3: {  // script a poll answer
        const int k = pick(5);
        if (k == 0) p.poll_status(ScriptedProvider::status(ProviderStatusKind::running));
        else if (k == 1) p.poll_status(ScriptedProvider::succeeded(pick(4) == 0 ? "https://cdn.provider.test/expired.png"
                                                                                : "https://cdn.provider.test/ok.png"));
        else if (k == 2) p.poll_status(ScriptedProvider::failed(ErrorKind::server_error));
        else if (k == 3) p.poll_error(ErrorKind::server_error);
        else p.poll_status(ScriptedProvider::status(ProviderStatusKind::lost));
        break;
      }
      case 4:
      case 5: {  // a callback about some job ever handed out (duplicates and late ones included)
        auto jobs = p.jobs();
        if (jobs.empty()) break;
        const std::string job = jobs[static_cast<std::size_t>(pick(static_cast<int>(jobs.size())))];
        const char* statuses[] = {"running", "succeeded", "failed", "moderated", "canceled", "queued"};
        const std::string id = pick(3) == 0 && msg > 0 ? "m" + std::to_string(pick(msg)) : "m" + std::to_string(msg++);
        auto r = rig.callback(p.id(), id + "|" + job + "|" + statuses[pick(6)]);
        if (!r.ok() && r.code() != Code::not_found) return "callback: " + r.status().to_string();
        break;
      }
      case 6: {  // cancel
        if (ids.empty()) break;
        auto r = rig.engine().cancel(rig.principal(), ids[static_cast<std::size_t>(pick(static_cast<int>(ids.size())))]);
        if (!r.ok() && r.code() != Code::invalid_state) return "cancel: " + r.status().to_string();
        break;
      }
      case 7: {  // restart, with or without running due work first
        if (pick(2)) rig.run();
        rig.restart();
        ++g_stats.restarts;
        break;
      }
      case 8: {  // a big clock jump (deadlines)
        rig.clock().advance(std::chrono::milliseconds(60'000 * (1 + pick(10))));
        break;
      }
      default: {
        rig.run(pick(5'000));
        break;
      }
    }
  }
  // Let everything finish: every generation must reach a terminal state by
  // its deadline (plus the recovery interval).
  for (int i = 0; i < 30; ++i) {
    rig.run(5 * 60'000);
    if (pick(5) == 0) rig.restart();
  }
  rig.run(2 * 3'600'000);
  for (const auto& id : ids) {
    auto g = rig.engine().get(rig.principal(), id);
    if (!g.ok()) return "get: " + g.status().to_string();
    if (!is_terminal(g->status)) return "generation " + id + " still " + std::string(generation_status_name(g->status));
    ++g_stats.generations;
    ++g_stats.by_status[static_cast<int>(g->status)];
  }
  for (ScriptedProvider* p : {&rig.first(), &rig.second()}) {
    // Each attempt reaches its provider once plus bounded retry_same retries.
    if (p->max_submits_per_attempt() > 1 + ProviderTiming{}.max_submit_retries)
      return std::string(p->id()) + " saw an attempt " + std::to_string(p->max_submits_per_attempt()) + " times";
  }
  return rig.check_invariants();
}

}  // namespace

TEST_CASE("randomized engine simulation holds the lifecycle invariants", "[engine][sim]") {
  const std::uint64_t one = env_u64("BABYSEA_SIM_SEED", 0);
  const std::uint64_t n = one != 0 ? 1 : env_u64("BABYSEA_SIM_SEEDS", 2000);
  const std::uint64_t base = one != 0 ? one : env_u64("BABYSEA_SIM_BASE", 1);
  const std::string durable = test_store_kind();
  const bool postgres = durable == "postgres";
  const std::uint64_t memory_runs = one != 0 ? 1 : postgres ? 0 : n;
  const std::uint64_t durable_runs = one != 0   ? 1
                                     : postgres ? env_u64("BABYSEA_SIM_PG_SEEDS", 60)
                                                : std::max<std::uint64_t>(1, n / 20);
  for (std::uint64_t s = base; s < base + memory_runs; ++s) {
    const std::string v = simulate(s, "memory");
    if (!v.empty()) {
      std::cerr << "engine sim failed: replay with BABYSEA_SIM_SEED=" << s << " (memory store): " << v << "\n";
      FAIL("seed " << s << " (memory): " << v);
    }
  }
  for (std::uint64_t s = base; s < base + durable_runs; ++s) {
    const std::string v = simulate(s, durable);
    if (!v.empty()) {
      std::cerr << "engine sim failed: replay with BABYSEA_SIM_SEED=" << s << " (" << durable << " store): " << v
                << "\n";
      FAIL("seed " << s << " (" << durable << "): " << v);
    }
  }
  std::cerr << "engine sim: " << g_stats.generations << " generations (succeeded " << g_stats.by_status[2]
            << ", failed " << g_stats.by_status[3] << ", canceled " << g_stats.by_status[4] << "), "
            << g_stats.restarts << " restarts\n";
  // A simulation that never reaches every terminal state tests nothing.
  CHECK(g_stats.by_status[2] > 0);
  CHECK(g_stats.by_status[3] > 0);
  CHECK(g_stats.by_status[4] > 0);
  SUCCEED(memory_runs << " memory seeds and " << durable_runs << " " << durable << " seeds from " << base);
}
