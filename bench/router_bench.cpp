// router_bench: cost of Router::plan on the request path.
//
// The shipped catalog's models, each with its own provider stack (data/
// under BABYSEA_SOURCE_DIR, else the source tree's), every (model, provider)
// ranked in region "us" (so `fastest` takes the ranking path on every model
// with two or more providers) and one breaker open. An explicit order is the
// model's stack reversed. Measures per-call latency
// (each call timed with steady_clock, so ~20 ns of timer overhead is
// included in p50/p99) and throughput (untimed tight loop) with 1 and 2
// threads, for explicit orders and `fastest`, then `fastest` p99 while
// another thread refreshes (publishes a new snapshot) continuously.
// Prints one JSON object. `--quick` runs a short smoke version.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "babysea/catalog.hpp"
#include "babysea/clock.hpp"
#include "babysea/router.hpp"

using namespace babysea;
using Steady = std::chrono::steady_clock;

namespace {

struct Fixture {
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Router> router;
  std::vector<ModelRoute> routes;                              // one per catalog model
  std::vector<std::vector<std::string_view>> explicit_orders;  // per model: its stack reversed
  std::size_t bindings = 0;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "router_bench: %s\n", what);
  std::exit(1);
}

void setup(Fixture& f) {
  const char* env = std::getenv("BABYSEA_SOURCE_DIR");
  const std::filesystem::path root = env ? env : BABYSEA_SOURCE_DIR;
  auto cat = Catalog::load_directory(root / "data");
  if (!cat.ok()) die("catalog does not load");
  for (const Model& m : (*cat)->models()) f.routes.push_back(ModelRoute{m.identifier, m.providers});
  RouterOptions opt;  // library defaults
  auto r = Router::create(opt, f.clock);
  if (!r.ok()) die("create");
  f.router = std::move(r).value();
  if (!f.router->set_routes(f.routes).ok()) die("set_routes");
  // 20 attempts per (model, provider) so every provider is ranked.
  int id = 0;
  for (std::size_t m = 0; m < f.routes.size(); ++m) {
    const auto& stack = f.routes[m].providers;
    f.explicit_orders.emplace_back(stack.rbegin(), stack.rend());
    f.bindings += stack.size();
    for (std::size_t p = 0; p < stack.size(); ++p) {
      for (std::size_t i = 0; i < 20; ++i) {
        AttemptRecord a;
        a.attempt_id = "a" + std::to_string(id++);
        a.region = "us";
        a.model = f.routes[m].model;
        a.provider = stack[p];
        a.outcome = (i + p + m) % 9 == 0 ? AttemptOutcome::discarded : AttemptOutcome::used;
        a.latency_ms = static_cast<std::int64_t>(1000 + 137 * ((p * 7 + m * 3 + i) % 23));
        a.finished_ms = f.clock.now_ms();
        if (!f.router->record_attempt(a).ok()) die("record");
      }
    }
  }
  // The first model's last provider has its breaker open in "us" (moved to
  // the end of that model's chains).
  for (int i = 0; i < 5; ++i) {
    AttemptRecord a;
    a.attempt_id = "fail" + std::to_string(i);
    a.region = "us";
    a.model = f.routes[0].model;
    a.provider = f.routes[0].providers.back();
    a.outcome = AttemptOutcome::failed;
    a.error = ErrorKind::server_error;
    a.finished_ms = f.clock.now_ms();
    if (!f.router->record_attempt(a).ok()) die("record");
  }
  if (!f.router->refresh().ok()) die("refresh");
  for (const auto& route : f.routes) {
    auto check = f.router->plan(route.model, "us", RequestedOrder::fastest_order());
    if (!check.ok() || check->chain.size() != route.providers.size() ||
        (route.providers.size() > 1 && check->source != OrderSource::ranking))
      die("fastest setup");
  }
}

struct Latency {
  double p50 = 0, p99 = 0;
};

std::atomic<std::size_t> g_sink{0};

template <typename F>
Latency measure_latency(F&& call, std::size_t samples) {
  std::vector<std::int64_t> ns(samples);
  std::size_t local = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    const auto t0 = Steady::now();
    local += call(i);
    const auto t1 = Steady::now();
    ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  g_sink.fetch_add(local);
  std::sort(ns.begin(), ns.end());
  Latency l;
  l.p50 = static_cast<double>(ns[samples / 2]);
  l.p99 = static_cast<double>(ns[(samples * 99) / 100]);
  return l;
}

// Plans per second over all threads, each running `per_thread` plans.
template <typename F>
double measure_throughput(F&& call, int threads, std::size_t per_thread) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  std::vector<double> secs(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) {
      }
      std::size_t local = 0;
      const auto t0 = Steady::now();
      for (std::size_t i = 0; i < per_thread; ++i) local += call(i + static_cast<std::size_t>(t) * 7);
      secs[static_cast<std::size_t>(t)] = std::chrono::duration<double>(Steady::now() - t0).count();
      g_sink.fetch_add(local);
    });
  }
  while (ready.load() < threads) {
  }
  go.store(true);
  for (auto& t : ts) t.join();
  const double slowest = *std::max_element(secs.begin(), secs.end());
  return static_cast<double>(per_thread) * threads / slowest;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const std::size_t samples = quick ? 20'000 : 1'000'000;
  const std::size_t per_thread = quick ? 200'000 : 10'000'000;

  Fixture f;
  setup(f);
  Router& r = *f.router;
  std::vector<std::string_view> models;
  for (const auto& route : f.routes) models.push_back(route.model);
  const std::size_t n_models = models.size();

  // Each call returns the chain length so the work cannot be optimised away;
  // the callers sum it locally (a shared counter would measure contention).
  auto explicit_call = [&](std::size_t i) -> std::size_t {
    auto p = r.plan(models[i % n_models], "us", RequestedOrder::explicit_order(f.explicit_orders[i % n_models]));
    return p->chain.size();
  };
  auto fastest_call = [&](std::size_t i) -> std::size_t {
    auto p = r.plan(models[i % n_models], "us", RequestedOrder::fastest_order());
    return p->chain.size();
  };
  // warm up
  std::size_t warm = 0;
  for (std::size_t i = 0; i < 100'000; ++i) warm += explicit_call(i) + fastest_call(i);
  g_sink.fetch_add(warm);
  const Latency ex = measure_latency(explicit_call, samples);
  const Latency fa = measure_latency(fastest_call, samples);
  const double ex_1t = measure_throughput(explicit_call, 1, per_thread);
  const double ex_2t = measure_throughput(explicit_call, 2, per_thread);
  const double fa_1t = measure_throughput(fastest_call, 1, per_thread);
  const double fa_2t = measure_throughput(fastest_call, 2, per_thread);

  // p99 of `fastest` while a writer publishes snapshots back to back.
  std::atomic<bool> stop{false};
  std::atomic<long> publishes{0};
  std::thread writer([&] {
    while (!stop.load()) {
      if (!r.refresh().ok()) die("refresh");
      publishes.fetch_add(1);
    }
  });
  const Latency fa_swap = measure_latency(fastest_call, samples);
  stop = true;
  writer.join();

  if (g_sink.load() == 0) die("no plans");
  std::printf(
      "{\"bench\":\"router\",\"models\":%zu,\"providers_per_model\":%.2f,\"quick\":%s,"
      "\"explicit_p50_ns\":%.0f,\"explicit_p99_ns\":%.0f,"
      "\"explicit_plans_per_s_1t\":%.0f,\"explicit_plans_per_s_2t\":%.0f,"
      "\"fastest_p50_ns\":%.0f,\"fastest_p99_ns\":%.0f,"
      "\"fastest_plans_per_s_1t\":%.0f,\"fastest_plans_per_s_2t\":%.0f,"
      "\"fastest_p50_ns_during_swaps\":%.0f,\"fastest_p99_ns_during_swaps\":%.0f,\"snapshot_publishes\":%ld,"
      "\"timer_overhead_included\":true}\n",
      n_models, static_cast<double>(f.bindings) / static_cast<double>(n_models), quick ? "true" : "false", ex.p50, ex.p99, ex_1t, ex_2t, fa.p50, fa.p99, fa_1t, fa_2t,
      fa_swap.p50, fa_swap.p99, publishes.load());
  return 0;
}
