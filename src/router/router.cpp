// The router: attempt window, rankings, breakers and wait-free planning.
#include "babysea/router.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "babysea/storage.hpp"
#include "router/breaker.hpp"
#include "router/nearest_rank.hpp"
#include "router/ranking_json.hpp"
#include "router/snapshot_cell.hpp"

namespace babysea {

using router_detail::Breaker;
using router_detail::BreakerEvent;
using router_detail::ReadGuard;
using router_detail::SnapshotCell;

// ------------------------------------------------------------------ names

std::string_view breaker_state_name(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

std::string_view health_state_name(HealthState s) noexcept {
  switch (s) {
    case HealthState::healthy: return "healthy";
    case HealthState::degraded: return "degraded";
    case HealthState::recovering: return "recovering";
    case HealthState::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view order_source_name(OrderSource s) noexcept {
  switch (s) {
    case OrderSource::ranking: return "ranking";
    case OrderSource::fallback: return "fallback";
    case OrderSource::explicit_order: return "explicit";
  }
  return "unknown";
}

std::string_view fallback_reason_name(FallbackReason r) noexcept {
  switch (r) {
    case FallbackReason::none: return "none";
    case FallbackReason::no_ranking: return "no_ranking";
    case FallbackReason::stale_ranking: return "stale_ranking";
    case FallbackReason::invalid_ranking: return "invalid_ranking";
    case FallbackReason::no_overlap: return "no_overlap";
    case FallbackReason::cache_unavailable: return "cache_unavailable";
  }
  return "unknown";
}

// ------------------------------------------------------------------ chain

void ProviderChain::push_back(PlannedProvider p) {
  if (size_ < kInline) {
    inline_[size_++] = p;
    return;
  }
  if (size_ == kInline) heap_.assign(inline_.begin(), inline_.end());
  heap_.push_back(p);
  ++size_;
}

std::vector<std::string> ProviderChain::names() const {
  std::vector<std::string> out;
  out.reserve(size_);
  for (const auto& p : *this) out.emplace_back(p.provider);
  return out;
}

// --------------------------------------------------------------- snapshot

namespace {

constexpr std::size_t kMaxProviders = 64;
enum SlotKind : std::uint8_t { kMissing = 0, kRanked = 1, kPinned = 2 };

struct RegionView {
  std::string_view region;
  bool has_ranking = false;
  FallbackReason reason = FallbackReason::no_ranking;
  std::int64_t computed_ms = 0;
  std::vector<std::uint8_t> ranked;  // slots in rank order
  std::vector<std::uint8_t> kind;    // per slot
  std::vector<Breaker*> breakers;    // per slot; null = no history (closed)
  std::vector<std::uint8_t> explore; // under-sampled or stale slots
};

thread_local std::uint64_t t_explore_counter = 0;

struct ModelView {
  std::vector<std::string_view> providers;  // static order
  std::vector<RegionView> regions;
};

struct Snapshot {
  std::unordered_map<std::string_view, ModelView> models;
};

struct Sample {
  std::int64_t finished_ms = 0;
  std::int64_t latency_ms = 0;
  Micros cost = 0;
  AttemptOutcome outcome = AttemptOutcome::used;
  ErrorKind error = ErrorKind::none;
};

using GroupKey = std::pair<std::string, std::string>;  // (model, region)

struct BreakerEntry {
  std::string provider;
  std::string region;
  std::string model;  // empty unless per-model breakers
  std::unique_ptr<Breaker> breaker;
};

struct Import {
  bool valid = false;
  FallbackReason reason = FallbackReason::invalid_ranking;  // when not valid
  std::vector<std::string> ranked;
  std::int64_t computed_ms = 0;
};

Status validate_record(const AttemptRecord& r) {
  if (r.attempt_id.empty() || r.region.empty() || r.model.empty() || r.provider.empty())
    return Status(Code::invalid_request, "attempt record needs attempt_id, region, model and provider");
  if (r.latency_ms < 0) return Status(Code::invalid_request, "attempt record has a negative latency");
  return Status();
}

BreakerEvent event_of(const AttemptRecord& r) {
  switch (r.outcome) {
    case AttemptOutcome::used: return BreakerEvent::success;
    case AttemptOutcome::failed:
      return counts_against_provider(r.error) || r.error == ErrorKind::none ? BreakerEvent::failure
                                                                              : BreakerEvent::neutral;
    case AttemptOutcome::discarded:
    case AttemptOutcome::cancelled: return BreakerEvent::neutral;
  }
  return BreakerEvent::neutral;
}

int severity(HealthState s) {
  switch (s) {
    case HealthState::degraded: return 3;
    case HealthState::recovering: return 2;
    case HealthState::healthy: return 1;
    case HealthState::unknown: return 0;
  }
  return 0;
}

}  // namespace

struct Router::Impl {
  Impl(const RouterOptions& o, const Clock& c, Store* s) : opt(o), clock(c), store(s) {}

  RouterOptions opt;
  const Clock& clock;
  Store* store;

  mutable std::mutex mu;
  std::unordered_set<std::string> names;  // interned; node addresses are stable
  std::vector<std::pair<const std::string*, std::vector<const std::string*>>> routes;
  std::map<GroupKey, std::map<std::string, std::deque<Sample>>> windows;
  std::set<std::string> regions;
  std::unordered_map<std::string, BreakerEntry> breakers;
  std::unordered_set<std::string> ids;  // node addresses are stable: id_order points into it
  std::deque<std::pair<std::int64_t, const std::string*>> id_order;  // oldest first
  std::map<GroupKey, Ranking> rankings;
  std::map<GroupKey, Import> imports;
  std::int64_t last_refresh_ms = 0;
  bool shared_rankings = false;
  SnapshotCell<Snapshot> cell;

  const std::string& intern(std::string_view s) { return *names.emplace(s).first; }

  std::string breaker_key(std::string_view provider, std::string_view region, std::string_view model) const {
    std::string k;
    k.reserve(provider.size() + region.size() + model.size() + 2);
    k.append(provider).push_back('\x1f');
    k.append(region).push_back('\x1f');
    if (opt.breaker.per_model) k.append(model);
    return k;
  }

  Breaker* find_breaker_locked(std::string_view provider, std::string_view region, std::string_view model) const {
    auto it = breakers.find(breaker_key(provider, region, model));
    return it == breakers.end() ? nullptr : it->second.breaker.get();
  }

  void publish_locked() {
    auto snap = std::make_unique<Snapshot>();
    for (const auto& route : routes) {
      // Named references, not structured bindings: clang 14 cannot capture
      // those in the lambda below.
      const auto& model = route.first;
      const auto& provs = route.second;
      ModelView mv;
      const std::size_t n = provs.size();
      for (const std::string* p : provs) mv.providers.emplace_back(*p);
      auto slot_of = [&](std::string_view name) -> int {
        for (std::size_t i = 0; i < n; ++i)
          if (*provs[i] == name) return static_cast<int>(i);
        return -1;
      };
      for (const std::string& region : regions) {
        RegionView rv;
        rv.region = intern(region);
        rv.kind.assign(n, kMissing);
        rv.breakers.resize(n);
        for (std::size_t i = 0; i < n; ++i) rv.breakers[i] = find_breaker_locked(*provs[i], region, *model);
        const GroupKey key{*model, region};
        if (auto it = shared_rankings ? rankings.end() : rankings.find(key); it != rankings.end()) {
          bool ranked_outside = false;
          for (const auto& ps : it->second.providers) {
            const int slot = slot_of(ps.provider);
            if (slot < 0) {
              ranked_outside = ranked_outside || ps.ranked;
              continue;
            }
            if (ps.ranked) {
              rv.ranked.push_back(static_cast<std::uint8_t>(slot));
              rv.kind[static_cast<std::size_t>(slot)] = kRanked;
            } else {
              rv.kind[static_cast<std::size_t>(slot)] = kPinned;
            }
          }
          if (!rv.ranked.empty()) {
            rv.has_ranking = true;
            rv.computed_ms = it->second.computed_ms;
          } else {
            rv.reason = ranked_outside ? FallbackReason::no_overlap : FallbackReason::no_ranking;
          }
        }
        if (!rv.has_ranking) {
          if (auto it = imports.find(key); it != imports.end()) {
            rv.kind.assign(n, kMissing);
            rv.ranked.clear();
            if (!it->second.valid) {
              rv.reason = it->second.reason;
            } else {
              for (const auto& name : it->second.ranked) {
                const int slot = slot_of(name);
                if (slot < 0) continue;  // a ranking never widens the allow-list
                rv.ranked.push_back(static_cast<std::uint8_t>(slot));
                rv.kind[static_cast<std::size_t>(slot)] = kRanked;
              }
              if (rv.ranked.empty()) {
                rv.reason = FallbackReason::no_overlap;
              } else {
                rv.has_ranking = true;
                rv.computed_ms = it->second.computed_ms;
              }
            }
          }
        }
        if (rv.has_ranking && opt.explore_one_in > 0) {
          auto wit = windows.find(key);
          const std::size_t min_samples = std::max<std::size_t>(1, opt.scoring.min_samples);
          for (std::size_t i = 0; i < n; ++i) {
            const std::deque<Sample>* dq = nullptr;
            if (wit != windows.end()) {
              auto pit = wit->second.find(*provs[i]);
              if (pit != wit->second.end()) dq = &pit->second;
            }
            std::int64_t newest = 0;
            if (dq)
              for (const Sample& smp : *dq) newest = std::max(newest, smp.finished_ms);
            const bool thin = !dq || dq->size() < min_samples;
            const bool stale = dq && newest < last_refresh_ms - opt.explore_stale_after.count();
            if (thin || stale) rv.explore.push_back(static_cast<std::uint8_t>(i));
          }
        }
        mv.regions.push_back(std::move(rv));
      }
      snap->models.emplace(std::string_view(*model), std::move(mv));
    }
    cell.publish(std::move(snap));
  }

  void forget_oldest_id() {
    ids.erase(ids.find(*id_order.front().second));
    id_order.pop_front();
  }

  // Applies one attempt in memory; `breaker_now` is the time the breaker sees.
  Result<bool> observe(const AttemptRecord& r, std::int64_t breaker_now) {
    BABYSEA_RETURN_IF_ERROR(validate_record(r));
    std::lock_guard lock(mu);
    auto [id, fresh] = ids.insert(r.attempt_id);
    if (!fresh) return false;
    id_order.emplace_back(r.finished_ms, &*id);
    while (id_order.size() > opt.max_remembered_ids) forget_oldest_id();
    bool structure_changed = regions.insert(r.region).second;
    auto& window = windows[GroupKey{r.model, r.region}][r.provider];
    window.push_back(Sample{r.finished_ms, r.latency_ms, r.cost, r.outcome, r.error});
    while (window.size() > opt.max_samples_per_key) window.pop_front();

    const std::string key = breaker_key(r.provider, r.region, r.model);
    auto it = breakers.find(key);
    if (it == breakers.end()) {
      BreakerEntry e{r.provider, r.region, opt.breaker.per_model ? r.model : std::string(),
                     std::make_unique<Breaker>(opt.breaker)};
      it = breakers.emplace(key, std::move(e)).first;
      structure_changed = true;
    }
    it->second.breaker->on_result(r.attempt_id, event_of(r), r.retry_after_ms, breaker_now);
    if (structure_changed) publish_locked();
    return true;
  }

  void refresh_locked(std::int64_t now) {
    last_refresh_ms = now;
    const std::int64_t cutoff = now - opt.window.count();
    while (!id_order.empty() && id_order.front().first < cutoff) forget_oldest_id();
    rankings.clear();
    std::vector<ScoreSample> samples;
    for (auto git = windows.begin(); git != windows.end();) {
      auto& providers = git->second;
      samples.clear();
      for (auto pit = providers.begin(); pit != providers.end();) {
        auto& dq = pit->second;
        std::erase_if(dq, [cutoff](const Sample& s) { return s.finished_ms < cutoff; });
        if (dq.empty()) {
          pit = providers.erase(pit);
          continue;
        }
        for (const Sample& s : dq) samples.push_back(ScoreSample{pit->first, s.outcome, s.latency_ms, s.cost, s.finished_ms});
        ++pit;
      }
      if (providers.empty()) {
        git = windows.erase(git);
        continue;
      }
      rankings.emplace(git->first, compute_ranking(samples, opt.scoring, now, opt.window));
      ++git;
    }
    for (auto& [k, e] : breakers) e.breaker->sweep(now);
    publish_locked();
  }
};

// ----------------------------------------------------------------- router

Router::Router(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Router::~Router() = default;

const RouterOptions& Router::options() const noexcept { return impl_->opt; }

Result<std::unique_ptr<Router>> Router::create(const RouterOptions& o, const Clock& clock, Store* store) {
  auto bad = [](const char* what) { return Status(Code::invalid_request, std::string("router options: ") + what); };
  const auto& s = o.scoring;
  const auto& b = o.breaker;
  if (!(std::isfinite(s.waste_weight) && s.waste_weight >= 0) || !(std::isfinite(s.latency_weight) && s.latency_weight >= 0) ||
      !(std::isfinite(s.cost_weight) && s.cost_weight >= 0))
    return bad("weights must be finite and >= 0");
  if (s.recency_half_life.count() < 0) return bad("recency_half_life must be >= 0");
  if (o.window.count() <= 0) return bad("window must be > 0");
  if (o.max_samples_per_key == 0 || o.max_remembered_ids == 0 || o.restore_page == 0)
    return bad("max_samples_per_key, max_remembered_ids and restore_page must be > 0");
  if (o.max_ranking_age.count() < 0 || o.health_window.count() <= 0) return bad("bad max_ranking_age or health_window");
  if (!(b.failure_rate_threshold > 0 && b.failure_rate_threshold <= 1)) return bad("failure_rate_threshold must be in (0, 1]");
  if (b.rate_window_size == 0 || b.consecutive_failures == 0 || b.rate_window.count() <= 0)
    return bad("rate_window_size, consecutive_failures and rate_window must be > 0");
  if (b.base_open.count() <= 0 || b.max_open < b.base_open || !(b.open_multiplier >= 1.0) ||
      b.max_retry_after.count() < 0 || b.trip_memory.count() < 0)
    return bad("open times must satisfy 0 < base_open <= max_open, multiplier >= 1");
  if (b.half_open_max_probes == 0 || b.half_open_successes_to_close == 0 || b.probe_timeout.count() <= 0)
    return bad("half-open probes, successes and probe_timeout must be > 0");
  auto impl = std::make_unique<Impl>(o, clock, store);
  {
    std::lock_guard lock(impl->mu);
    impl->publish_locked();
  }
  return std::unique_ptr<Router>(new Router(std::move(impl)));
}

Status Router::set_routes(std::span<const ModelRoute> routes) {
  std::set<std::string_view> models;
  for (const auto& r : routes) {
    if (r.model.empty()) return Status(Code::invalid_request, "route with an empty model");
    if (!models.insert(r.model).second) return Status(Code::invalid_request, "duplicate route for " + r.model);
    if (r.providers.empty() || r.providers.size() > kMaxProviders)
      return Status(Code::invalid_request, "route " + r.model + " needs 1 to 64 providers");
    std::set<std::string_view> seen;
    for (const auto& p : r.providers)
      if (p.empty() || !seen.insert(p).second)
        return Status(Code::invalid_request, "route " + r.model + " has an empty or duplicate provider");
  }
  std::lock_guard lock(impl_->mu);
  impl_->routes.clear();
  for (const auto& r : routes) {
    std::vector<const std::string*> provs;
    for (const auto& p : r.providers) provs.push_back(&impl_->intern(p));
    impl_->routes.emplace_back(&impl_->intern(r.model), std::move(provs));
  }
  impl_->publish_locked();
  return Status();
}

Result<Plan> Router::plan(std::string_view model, std::string_view region, const RequestedOrder& order) const {
  return plan_at(model, region, order, impl_->clock.now_ms());
}

Result<Plan> Router::plan_at(std::string_view model, std::string_view region, const RequestedOrder& order,
                             std::int64_t now_ms) const {
  ReadGuard guard;
  const Snapshot* snap = impl_->cell.load();
  auto mit = snap->models.find(model);
  if (mit == snap->models.end()) return Status(Code::model_not_found, "no route for model " + std::string(model));
  const ModelView& mv = mit->second;
  const RegionView* rv = nullptr;
  for (const auto& r : mv.regions) {
    if (r.region == region) {
      rv = &r;
      break;
    }
  }
  const std::size_t n = mv.providers.size();
  std::uint8_t order_buf[kMaxProviders];
  std::size_t count = 0;
  Plan plan;
  if (!order.fastest) {
    if (order.providers.empty()) return Status(Code::invalid_request, "explicit provider order is empty");
    std::uint64_t seen = 0;
    for (std::string_view name : order.providers) {
      std::size_t slot = n;
      for (std::size_t i = 0; i < n; ++i) {
        if (mv.providers[i] == name) {
          slot = i;
          break;
        }
      }
      if (slot == n)
        return Status(Code::invalid_request,
                      "provider " + std::string(name) + " does not serve model " + std::string(model));
      if ((seen >> slot) & 1u) continue;
      seen |= std::uint64_t{1} << slot;
      order_buf[count++] = static_cast<std::uint8_t>(slot);
    }
    plan.source = OrderSource::explicit_order;
  } else {
    const std::int64_t max_age = impl_->opt.max_ranking_age.count();
    const bool fresh = rv && rv->has_ranking && (max_age == 0 || now_ms - rv->computed_ms <= max_age);
    if (fresh) {
      plan.source = OrderSource::ranking;
      std::size_t r = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (rv->kind[i] == kRanked) {
          order_buf[count++] = rv->ranked[r++];
        } else if (rv->kind[i] == kPinned) {
          order_buf[count++] = static_cast<std::uint8_t>(i);
        }
      }
      for (std::size_t i = 0; i < n; ++i)
        if (rv->kind[i] == kMissing) order_buf[count++] = static_cast<std::uint8_t>(i);
      const std::uint32_t every = impl_->opt.explore_one_in;
      if (every > 0 && !rv->explore.empty()) {
        const std::uint64_t c = ++t_explore_counter;
        if (c % every == 0) {
          const std::uint8_t slot = rv->explore[(c / every) % rv->explore.size()];
          std::size_t at = 0;
          while (order_buf[at] != slot) ++at;
          for (; at > 0; --at) order_buf[at] = order_buf[at - 1];
          order_buf[0] = slot;
        }
      }
    } else {
      plan.source = OrderSource::fallback;
      plan.fallback_reason = !rv ? FallbackReason::no_ranking
                             : rv->has_ranking ? FallbackReason::stale_ranking
                                               : rv->reason;
      for (std::size_t i = 0; i < n; ++i) order_buf[count++] = static_cast<std::uint8_t>(i);
    }
  }
  std::uint64_t blocked = 0;
  if (rv) {
    for (std::size_t i = 0; i < count; ++i) {
      const Breaker* b = rv->breakers[order_buf[i]];
      if (b && b->blocks(now_ms)) blocked |= std::uint64_t{1} << i;
    }
  }
  for (std::size_t i = 0; i < count; ++i)
    if (!((blocked >> i) & 1u)) plan.chain.push_back(PlannedProvider{mv.providers[order_buf[i]], false});
  for (std::size_t i = 0; i < count; ++i)
    if ((blocked >> i) & 1u) plan.chain.push_back(PlannedProvider{mv.providers[order_buf[i]], true});
  return plan;
}

Admission Router::admit(std::string_view provider, std::string_view region, std::string_view model,
                        std::string_view attempt_id) {
  Breaker* b = nullptr;
  bool found_route = false;
  {
    ReadGuard guard;
    const Snapshot* snap = impl_->cell.load();
    if (auto mit = snap->models.find(model); mit != snap->models.end()) {
      const ModelView& mv = mit->second;
      for (const auto& r : mv.regions) {
        if (r.region != region) continue;
        for (std::size_t i = 0; i < mv.providers.size(); ++i) {
          if (mv.providers[i] == provider) {
            b = r.breakers[i];
            found_route = true;
            break;
          }
        }
        break;
      }
    }
  }
  if (!found_route) {
    std::lock_guard lock(impl_->mu);
    b = impl_->find_breaker_locked(provider, region, model);
  }
  if (!b) return Admission{};  // no history: closed
  return b->admit(attempt_id, impl_->clock.now_ms());
}

BreakerInfo Router::breaker(std::string_view provider, std::string_view region, std::string_view model) const {
  std::lock_guard lock(impl_->mu);
  const Breaker* b = impl_->find_breaker_locked(provider, region, model);
  return b ? b->info(impl_->clock.now_ms()) : BreakerInfo{};
}

Result<bool> Router::persist_attempt(UnitOfWork& uow, const AttemptRecord& record) {
  BABYSEA_RETURN_IF_ERROR(validate_record(record));
  return uow.attempt_stats().record(attempt_to_row(record));
}

Result<bool> Router::observe_attempt(const AttemptRecord& record) {
  return impl_->observe(record, impl_->clock.now_ms());
}

Result<bool> Router::record_attempt(const AttemptRecord& record) {
  BABYSEA_RETURN_IF_ERROR(validate_record(record));
  bool fresh = true;
  if (impl_->store) {
    auto work = [&](UnitOfWork& uow) -> Status {
      auto r = persist_attempt(uow, record);
      if (!r.ok()) return r.status();
      fresh = r.value();
      return Status();
    };
    BABYSEA_RETURN_IF_ERROR(impl_->store->transact(work));
  }
  auto applied = observe_attempt(record);
  if (!applied.ok()) return applied;
  return fresh && applied.value();
}

Status Router::refresh() { return refresh_at(impl_->clock.now_ms()); }

Status Router::refresh_at(std::int64_t now_ms) {
  std::lock_guard lock(impl_->mu);
  impl_->refresh_locked(now_ms);
  return Status();
}

Result<std::size_t> Router::restore() { return restore_since(0); }

Result<std::size_t> Router::restore_since(std::int64_t since_ms) {
  if (!impl_->store) return Status(Code::invalid_state, "router has no store");
  const std::int64_t now = impl_->clock.now_ms();
  std::int64_t cursor = std::max(now - impl_->opt.window.count(), since_ms);
  std::size_t limit = impl_->opt.restore_page;
  std::size_t applied = 0;
  std::vector<AttemptStatRow> rows;
  for (;;) {
    rows.clear();
    auto work = [&](UnitOfWork& uow) -> Status { return uow.attempt_stats().since(cursor, limit, rows); };
    BABYSEA_RETURN_IF_ERROR(impl_->store->read(work));
    for (const auto& row : rows) {
      auto rec = attempt_from_row(row);
      if (!rec.ok()) continue;  // a row this version cannot read is skipped, not fatal
      auto r = impl_->observe(rec.value(), row.finished_ms);
      if (r.ok() && r.value()) ++applied;
    }
    if (rows.size() < limit) break;
    if (rows.back().finished_ms == cursor) {
      limit *= 2;  // a page full of one millisecond: widen instead of looping
    } else {
      cursor = rows.back().finished_ms;
    }
  }
  BABYSEA_RETURN_IF_ERROR(refresh_at(now));
  return applied;
}

Result<std::size_t> Router::prune_store() {
  if (!impl_->store) return Status(Code::invalid_state, "router has no store");
  const std::int64_t before = impl_->clock.now_ms() - impl_->opt.window.count();
  std::size_t pruned = 0;
  auto work = [&](UnitOfWork& uow) -> Status {
    auto r = uow.attempt_stats().prune(before);
    if (!r.ok()) return r.status();
    pruned = r.value();
    return Status();
  };
  BABYSEA_RETURN_IF_ERROR(impl_->store->transact(work));
  return pruned;
}

Status Router::import_ranking_json(std::string_view model, std::string_view region, std::string_view json) {
  auto parsed = router_detail::parse_ranking_v1(json);
  std::lock_guard lock(impl_->mu);
  impl_->regions.insert(std::string(region));
  Import& imp = impl_->imports[GroupKey{std::string(model), std::string(region)}];
  if (!parsed.ok()) {
    imp = Import{};
    impl_->publish_locked();
    return parsed.status();
  }
  imp.valid = true;
  imp.ranked = std::move(parsed.value().providers_ranked);
  imp.computed_ms = parsed.value().computed_ms;
  impl_->publish_locked();
  return Status();
}

Result<std::string> Router::export_ranking_json(std::string_view model, std::string_view region) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rankings.find(GroupKey{std::string(model), std::string(region)});
  if (it == impl_->rankings.end() ||
      std::none_of(it->second.providers.begin(), it->second.providers.end(), [](const auto& p) { return p.ranked; }))
    return Status(Code::not_found, "nothing ranked for this model and region");
  const std::int64_t hours = std::max<std::int64_t>(1, (impl_->opt.window.count() + 3'599'999) / 3'600'000);
  return router_detail::write_ranking_v1(it->second, hours);
}

void Router::set_shared_rankings(bool on) {
  std::lock_guard lock(impl_->mu);
  if (impl_->shared_rankings == on) return;
  impl_->shared_rankings = on;
  impl_->publish_locked();
}

void Router::forget_imported_ranking(std::string_view model, std::string_view region, FallbackReason why) {
  std::lock_guard lock(impl_->mu);
  const GroupKey key{std::string(model), std::string(region)};
  auto it = impl_->imports.find(key);
  if (why == FallbackReason::no_ranking) {
    if (it == impl_->imports.end()) return;
    impl_->imports.erase(it);
  } else {
    if (it != impl_->imports.end() && !it->second.valid && it->second.reason == why) return;
    impl_->regions.insert(std::string(region));
    Import& imp = impl_->imports[key];
    imp = Import{};
    imp.reason = why;
  }
  impl_->publish_locked();
}

std::vector<std::pair<std::string, std::string>> Router::ranked_groups() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(impl_->rankings.size());
  for (const auto& [key, r] : impl_->rankings) {
    (void)r;
    out.push_back(key);
  }
  return out;
}

std::vector<OpenBreaker> Router::open_breakers() const {
  const std::int64_t now = impl_->clock.now_ms();
  std::lock_guard lock(impl_->mu);
  std::vector<OpenBreaker> out;
  for (const auto& [key, e] : impl_->breakers) {
    (void)key;
    const BreakerInfo info = e.breaker->info(now);
    if (info.state == BreakerState::open) out.push_back(OpenBreaker{e.provider, e.region, e.model, info.open_until_ms});
  }
  std::sort(out.begin(), out.end(), [](const OpenBreaker& a, const OpenBreaker& b) {
    return std::tie(a.provider, a.region, a.model) < std::tie(b.provider, b.region, b.model);
  });
  return out;
}

Status Router::open_breaker_until(std::string_view provider, std::string_view region, std::string_view model,
                                  std::int64_t until_ms) {
  if (provider.empty() || region.empty()) return Status(Code::invalid_request, "breaker needs a provider and a region");
  const std::int64_t now = impl_->clock.now_ms();
  if (until_ms <= now) return Status();
  std::lock_guard lock(impl_->mu);
  const std::string key = impl_->breaker_key(provider, region, model);
  auto it = impl_->breakers.find(key);
  bool created = false;
  if (it == impl_->breakers.end()) {
    BreakerEntry e{std::string(provider), std::string(region),
                   impl_->opt.breaker.per_model ? std::string(model) : std::string(),
                   std::make_unique<Breaker>(impl_->opt.breaker)};
    it = impl_->breakers.emplace(key, std::move(e)).first;
    created = true;
  }
  it->second.breaker->force_open(until_ms, now);
  if (created || impl_->regions.insert(std::string(region)).second) impl_->publish_locked();
  return Status();
}

Result<Ranking> Router::ranking(std::string_view model, std::string_view region) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rankings.find(GroupKey{std::string(model), std::string(region)});
  if (it == impl_->rankings.end()) return Status(Code::not_found, "nothing ranked for this model and region");
  return it->second;
}

std::vector<ProviderHealth> Router::health(std::string_view region, std::span<const std::string> also) const {
  const std::int64_t now = impl_->clock.now_ms();
  const std::int64_t since = now - impl_->opt.health_window.count();
  std::lock_guard lock(impl_->mu);
  const std::int64_t window_ms = std::max<std::int64_t>(impl_->opt.health_window.count(), kHealthBuckets);
  const std::int64_t slice_ms = window_ms / kHealthBuckets;
  const std::int64_t first_ms = now - slice_ms * kHealthBuckets;
  std::map<std::string, ProviderHealth> by;
  auto p_rank = [](std::vector<std::int64_t>& v, int pct) -> std::int64_t {
    return v.empty() ? 0 : router_detail::nearest_rank(v, pct, [](std::int64_t x) { return x; });
  };
  // The successes' latencies, per provider and slice.
  std::map<std::string, std::array<std::vector<std::int64_t>, kHealthBuckets>> latencies;
  auto entry = [&](const std::string& name) -> ProviderHealth& {
    ProviderHealth& h = by[name];
    if (h.series.empty()) {
      h.series.resize(kHealthBuckets);
      for (int i = 0; i < kHealthBuckets; ++i) h.series[i].start_ms = first_ms + i * slice_ms;
    }
    return h;
  };
  for (const auto& [key, providers] : impl_->windows) {
    if (key.second != region) continue;
    for (const auto& [name, samples] : providers) {
      ProviderHealth& h = entry(name);
      for (const Sample& s : samples) {
        if (s.finished_ms < since) continue;
        const auto slice = static_cast<std::size_t>(
            std::clamp<std::int64_t>((s.finished_ms - first_ms) / slice_ms, 0, kHealthBuckets - 1));
        if (s.outcome == AttemptOutcome::used) {
          ++h.successes;
          ++h.series[slice].successes;
          latencies[name][slice].push_back(s.latency_ms);
        }
        if (s.outcome == AttemptOutcome::failed) {
          ++h.failures;
          ++h.series[slice].failures;
        }
      }
    }
  }
  for (const std::string& name : also) entry(name);
  std::map<std::string, HealthState> breaker_state;
  for (const auto& [key, e] : impl_->breakers) {
    if (e.region != region) continue;
    entry(e.provider);
    const BreakerInfo info = e.breaker->info(now);
    HealthState hs = HealthState::unknown;
    if (info.state == BreakerState::open) hs = HealthState::degraded;
    if (info.state == BreakerState::half_open) hs = HealthState::recovering;
    auto [it, inserted] = breaker_state.emplace(e.provider, hs);
    if (!inserted && severity(hs) > severity(it->second)) it->second = hs;
  }
  std::vector<ProviderHealth> out;
  for (auto& [name, h] : by) {
    h.provider = name;
    h.total_attempts = h.successes + h.failures;
    h.failure_rate = h.total_attempts ? static_cast<double>(h.failures) / static_cast<double>(h.total_attempts) : 0.0;
    h.duration_seconds = impl_->opt.health_window.count() / 1000;
    std::vector<std::int64_t> all;
    for (int i = 0; i < kHealthBuckets; ++i) {
      auto& slice = latencies[name][static_cast<std::size_t>(i)];
      all.insert(all.end(), slice.begin(), slice.end());
      h.series[i].latency_p95_ms = p_rank(slice, 95);
    }
    h.latency_p50_ms = p_rank(all, 50);
    h.latency_p95_ms = p_rank(all, 95);
    auto bs = breaker_state.find(name);
    if (bs != breaker_state.end() && bs->second != HealthState::unknown) {
      h.status = bs->second;
    } else {
      h.status = h.total_attempts > 0 ? HealthState::healthy : HealthState::unknown;
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace babysea
