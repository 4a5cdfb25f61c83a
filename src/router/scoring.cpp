// Adaptive-island scoring (specs/router.md §2) plus babysea's additions.
#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "babysea/router.hpp"
#include "router/nearest_rank.hpp"

namespace babysea {
namespace {

struct Weighted {
  std::int64_t latency;
  double weight;
};

// Nearest-rank p95: the ⌈0.95·n⌉-th smallest latency (integer arithmetic so
// n = 20 gives the 19th, not the 20th through float error).
std::int64_t p95_unweighted(std::vector<Weighted>& v) {
  return router_detail::nearest_rank(v, 95, [](const Weighted& w) { return w.latency; });
}

// Weighted nearest-rank: the smallest latency whose cumulative weight reaches
// 95 % of the total. Equals the unweighted rule when all weights are equal.
std::int64_t p95_weighted(std::vector<Weighted>& v, double total) {
  std::sort(v.begin(), v.end(), [](const Weighted& a, const Weighted& b) { return a.latency < b.latency; });
  const double target = 0.95 * total * (1.0 - 1e-12);
  double cum = 0;
  for (const auto& w : v) {
    cum += w.weight;
    if (cum >= target) return w.latency;
  }
  return v.back().latency;
}

}  // namespace

Ranking compute_ranking(std::span<const ScoreSample> samples, const ScoringOptions& options,
                        std::int64_t now_ms, std::chrono::milliseconds window) {
  std::map<std::string_view, std::vector<const ScoreSample*>> by_provider;
  const bool cut = window.count() > 0;
  const std::int64_t cutoff = now_ms - window.count();
  for (const auto& s : samples) {
    if (cut && s.finished_ms < cutoff) continue;
    by_provider[s.provider].push_back(&s);
  }
  const double half_life = static_cast<double>(options.recency_half_life.count());
  const std::size_t min_samples = std::max<std::size_t>(1, options.min_samples);

  Ranking out;
  out.computed_ms = now_ms;
  std::vector<Weighted> lat;
  for (const auto& [name, list] : by_provider) {
    ProviderScore ps;
    ps.provider = std::string(name);
    ps.samples = list.size();
    out.attempts_total += static_cast<std::int64_t>(list.size());
    double total = 0, used = 0, cost = 0;
    lat.clear();
    for (const ScoreSample* s : list) {
      double w = 1.0;
      if (half_life > 0 && s->finished_ms < now_ms)
        w = std::exp2(-static_cast<double>(now_ms - s->finished_ms) / half_life);
      total += w;
      if (s->outcome == AttemptOutcome::used) used += w;
      cost += w * static_cast<double>(s->cost);
      lat.push_back(Weighted{s->latency_ms, w});
    }
    if (half_life > 0) {
      ps.success_rate = used / total;
      ps.waste_rate = (total - used) / total;
      ps.mean_cost = cost / total;
      ps.p95_ms = p95_weighted(lat, total);
    } else {
      // Exact counts: success_rate + waste_rate == 1 with no rounding drift.
      const auto n = static_cast<double>(list.size());
      std::size_t used_n = 0;
      for (const ScoreSample* s : list) used_n += s->outcome == AttemptOutcome::used ? 1 : 0;
      ps.success_rate = static_cast<double>(used_n) / n;
      ps.waste_rate = static_cast<double>(list.size() - used_n) / n;
      ps.mean_cost = cost / n;
      ps.p95_ms = p95_unweighted(lat);
    }
    ps.ranked = ps.samples >= min_samples;
    out.providers.push_back(std::move(ps));
  }

  std::int64_t max_p95 = 0;
  double max_cost = 0;
  for (const auto& ps : out.providers) {
    if (!ps.ranked) continue;
    max_p95 = std::max(max_p95, ps.p95_ms);
    max_cost = std::max(max_cost, ps.mean_cost);
  }
  for (auto& ps : out.providers) {
    const double norm = max_p95 > 0 ? static_cast<double>(ps.p95_ms) / static_cast<double>(max_p95) : 0.0;
    const double cost_norm = max_cost > 0 ? ps.mean_cost / max_cost : 0.0;
    double score = ps.success_rate - options.waste_weight * ps.waste_rate - options.latency_weight * norm -
                   options.cost_weight * cost_norm;
    if (options.round_scores) score = std::round(score * 1e6) / 1e6;
    ps.score = score;
  }
  std::stable_sort(out.providers.begin(), out.providers.end(), [](const ProviderScore& a, const ProviderScore& b) {
    if (a.ranked != b.ranked) return a.ranked;
    if (!a.ranked) return a.provider < b.provider;
    if (a.score != b.score) return a.score > b.score;
    if (a.p95_ms != b.p95_ms) return a.p95_ms < b.p95_ms;
    return a.provider < b.provider;
  });
  return out;
}

}  // namespace babysea
