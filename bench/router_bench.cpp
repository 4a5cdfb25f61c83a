// router_bench: cost of Router::plan on the request path.
//
// 50 models x 8 providers, every model ranked in region "us" (so `fastest`
// takes the ranking path) and a few breakers open. Measures per-call latency
// (each call timed with steady_clock, so ~20 ns of timer overhead is
// included in p50/p99) and throughput (untimed tight loop) with 1 and 2
// threads, for explicit orders and `fastest`, then `fastest` p99 while
// another thread refreshes (publishes a new snapshot) continuously.
// Prints one JSON object. `--quick` runs a short smoke version.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/router.hpp"

using namespace babysea;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int kModels = 50;
constexpr int kProviders = 8;

struct Fixture {
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Router> router;
  std::vector<std::string> models;
  std::vector<std::string> providers;
  std::vector<std::string_view> explicit_order;  // 3 of the 8
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "router_bench: %s\n", what);
  std::exit(1);
}

void setup(Fixture& f) {
  RouterOptions opt;  // library defaults
  auto r = Router::create(opt, f.clock);
  if (!r.ok()) die("create");
  f.router = std::move(r).value();
  for (int p = 0; p < kProviders; ++p) f.providers.push_back("provider-" + std::to_string(p));
  std::vector<ModelRoute> routes;
  for (int m = 0; m < kModels; ++m) {
    f.models.push_back("vendor/model-" + std::to_string(m));
    routes.push_back(ModelRoute{f.models.back(), f.providers});
  }
  if (!f.router->set_routes(routes).ok()) die("set_routes");
  // 20 attempts per (model, provider) so every provider is ranked.
  int id = 0;
  for (int m = 0; m < kModels; ++m) {
    for (int p = 0; p < kProviders; ++p) {
      for (int i = 0; i < 20; ++i) {
        AttemptRecord a;
        a.attempt_id = "a" + std::to_string(id++);
        a.region = "us";
        a.model = f.models[static_cast<std::size_t>(m)];
        a.provider = f.providers[static_cast<std::size_t>(p)];
        a.outcome = (i + p + m) % 9 == 0 ? AttemptOutcome::discarded : AttemptOutcome::used;
        a.latency_ms = 1000 + 137 * ((p * 7 + m * 3 + i) % 23);
        a.finished_ms = f.clock.now_ms();
        if (!f.router->record_attempt(a).ok()) die("record");
      }
    }
  }
  // provider-7 has its breaker open in "us" (moved to the end of every chain)
  for (int i = 0; i < 5; ++i) {
    AttemptRecord a;
    a.attempt_id = "fail" + std::to_string(i);
    a.region = "us";
    a.model = f.models[0];
    a.provider = f.providers[7];
    a.outcome = AttemptOutcome::failed;
    a.error = ErrorKind::server_error;
    a.finished_ms = f.clock.now_ms();
    if (!f.router->record_attempt(a).ok()) die("record");
  }
  if (!f.router->refresh().ok()) die("refresh");
  f.explicit_order = {f.providers[7], f.providers[2], f.providers[5]};
  auto check = f.router->plan(f.models[3], "us", RequestedOrder::fastest_order());
  if (!check.ok() || check->source != OrderSource::ranking || check->chain.size() != kProviders) die("fastest setup");
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
  std::vector<std::string_view> models(f.models.begin(), f.models.end());

  // Each call returns the chain length so the work cannot be optimised away;
  // the callers sum it locally (a shared counter would measure contention).
  auto explicit_call = [&](std::size_t i) -> std::size_t {
    auto p = r.plan(models[i % kModels], "us", RequestedOrder::explicit_order(f.explicit_order));
    return p->chain.size();
  };
  auto fastest_call = [&](std::size_t i) -> std::size_t {
    auto p = r.plan(models[i % kModels], "us", RequestedOrder::fastest_order());
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
      "{\"bench\":\"router\",\"models\":%d,\"providers_per_model\":%d,\"quick\":%s,"
      "\"explicit_p50_ns\":%.0f,\"explicit_p99_ns\":%.0f,"
      "\"explicit_plans_per_s_1t\":%.0f,\"explicit_plans_per_s_2t\":%.0f,"
      "\"fastest_p50_ns\":%.0f,\"fastest_p99_ns\":%.0f,"
      "\"fastest_plans_per_s_1t\":%.0f,\"fastest_plans_per_s_2t\":%.0f,"
      "\"fastest_p50_ns_during_swaps\":%.0f,\"fastest_p99_ns_during_swaps\":%.0f,\"snapshot_publishes\":%ld,"
      "\"timer_overhead_included\":true}\n",
      kModels, kProviders, quick ? "true" : "false", ex.p50, ex.p99, ex_1t, ex_2t, fa.p50, fa.p99, fa_1t, fa_2t,
      fa_swap.p50, fa_swap.p99, publishes.load());
  return 0;
}
