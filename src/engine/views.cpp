// Engine reads: views, list, estimate, usage, health, metrics (the wire
// documents are rendered by src/service/render.hpp).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>

#include "engine/engine_impl.hpp"

namespace babysea {

namespace {

// The output URLs as a client receives them at `now_ms` (never stored).
std::vector<std::string> client_urls(const Generation& g, const AssetStore& assets, std::int64_t now_ms) {
  std::vector<std::string> out;
  out.reserve(g.outputs.size());
  for (const auto& u : g.outputs) out.push_back(assets.client_url(u, now_ms));
  return out;
}

}  // namespace

GenerationView make_view(const Generation& g, const AssetStore& assets, std::int64_t now_ms) {
  GenerationView v;
  v.id = g.id;
  v.account = g.account;
  v.model = g.model;
  v.type = g.type;
  v.status = g.status;
  v.provider_order = g.chain;
  if (!g.attempts.empty()) v.provider_initialized = g.attempts.front().provider;
  if (g.status == GenerationStatus::succeeded) v.provider_used = g.provider_used;
  v.prediction_id = g.prediction_id;
  v.params_json = g.params_json;
  if (!g.removed) v.outputs = client_urls(g, assets, now_ms);
  v.error = g.error;
  v.error_code = g.error_code;
  v.created_ms = g.created_ms;
  v.started_ms = g.started_ms;
  v.completed_ms = g.completed_ms;
  v.predict_ms = g.predict_ms;
  v.removed = g.removed;
  v.credits_refunded = g.credits_refunded;
  v.held = g.held;
  v.cost = g.settled;
  for (const auto& a : g.attempts) {
    AttemptView av;
    av.id = a.id;
    av.order = a.order;
    av.provider = a.provider;
    av.state = attempt_status_name(a.status);
    if (a.outcome) av.outcome = attempt_outcome_name(*a.outcome);
    av.job_id = a.job.job_id;
    if (a.error != ErrorKind::none) av.error_kind = error_kind_name(a.error);
    av.error_message = a.error_message;
    av.submits = a.submits;
    av.resubmitted = a.resubmitted;
    v.attempts.push_back(std::move(av));
  }
  return v;
}




void LatencyHistogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  auto line = [&](std::string_view suffix, std::string_view le, std::string value) {
    out += name;
    out += suffix;
    out += '{';
    out += labels;
    if (!le.empty()) {
      if (!labels.empty()) out += ',';
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += "} ";
    out += value;
    out += '\n';
  };
  for (std::size_t i = 0; i < kBuckets; ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBoundsMs[i] / 1000.0);
    line("_bucket", le, std::to_string(counts_[i].load(std::memory_order_relaxed)));
  }
  const auto count = count_.load(std::memory_order_relaxed);
  line("_bucket", "+Inf", std::to_string(count));
  char sum[48];
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  line("_sum", "", sum);
  line("_count", "", std::to_string(count));
}

// ---------------------------------------------------------------- Engine reads

Result<GenerationView> Engine::get(const Principal& principal, std::string_view generation_id) {
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::generation_read));
  auto g = impl_->load_owned(principal, generation_id);
  if (!g.ok()) return g.status();
  return make_view(*g, *impl_->config.assets, impl_->now());
}

Result<GenerationPage> Engine::list(const Principal& principal, std::int64_t limit, std::int64_t offset) {
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::generation_read));
  if (limit < 1 || limit > 100)
    return Status(Code::invalid_request, "limit must be 1..100", {FieldIssue{"limit", "out_of_range", "1..100"}});
  if (offset < 0)
    return Status(Code::invalid_request, "offset must be >= 0", {FieldIssue{"offset", "out_of_range", ">= 0"}});
  std::vector<GenerationRow> rows;
  GenerationPage page;
  page.limit = limit;
  page.offset = offset;
  BABYSEA_RETURN_IF_ERROR(impl_->config.store->read([&](UnitOfWork& uow) {
    return uow.generations().list_for_account(principal.account, offset, limit, rows, page.total);
  }));
  for (const auto& row : rows) {
    auto g = decode_generation(row.doc);
    if (!g.ok()) return g.status();
    page.generations.push_back(make_view(*g, *impl_->config.assets, impl_->now()));
  }
  return page;
}

Result<Estimate> Engine::estimate(const Principal& principal, std::string_view model, EstimateParams params) {
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::generation_read));
  const Model* m = impl_->config.catalog->find(model);
  if (m == nullptr) return Status(Code::model_not_found, "unknown model " + std::string(model));
  if (!params.balance) {
    auto b = impl_->ledger->balance(principal.account);
    if (b.ok()) params.balance = b->available();
  }
  return babysea::estimate(*m, params);
}

Result<Usage> Engine::usage(const Principal& principal, std::int64_t days) {
  BABYSEA_RETURN_IF_ERROR(require_scope(principal, Scope::account_read));
  if (days < 1 || days > 366)
    return Status(Code::invalid_request, "days must be 1..366", {FieldIssue{"days", "out_of_range", "1..366"}});
  Usage u;
  u.days = days;
  std::map<std::string, UsageCounts> by_model;
  std::map<std::string, ProviderUsage> by_provider;
  Status decode_error;
  const std::int64_t since = impl_->now() - days * 86'400'000;
  BABYSEA_RETURN_IF_ERROR(impl_->config.store->read([&](UnitOfWork& uow) -> Status {
    if (Status s = uow.request_log().summarize(principal.account, since, u.by_endpoint); !s.ok()) return s;
    return uow.generations().for_each_since(principal.account, since, [&](const GenerationRow& row) {
      auto g = decode_generation(row.doc);
      if (!g.ok()) {
        decode_error = g.status();
        return;
      }
      auto count = [&](UsageCounts& c) {
        ++c.requests;
        switch (g->status) {
          case GenerationStatus::succeeded: ++c.succeeded; c.credits_used += g->settled; break;
          case GenerationStatus::failed: ++c.failed; break;
          case GenerationStatus::canceled: ++c.cancelled; break;
          default: ++c.pending; break;
        }
      };
      count(u.total);
      count(by_model[g->model]);
      auto est = checked_mul(g->cost_per_output, std::max<std::int64_t>(1, g->max_outputs));
      const Micros attempt_cost = est.ok() ? *est : g->held;
      for (const auto& a : g->attempts) {
        if (a.submits == 0) continue;
        ProviderUsage& p = by_provider[a.provider];
        p.provider = a.provider;
        ++p.attempts;
        // Only attempts a provider accepted can have cost anything.
        const bool ran = !a.job.job_id.empty();
        if (ran) p.estimated_cost += attempt_cost;
        if (!a.outcome) continue;
        switch (*a.outcome) {
          case AttemptOutcome::used: ++p.used; break;
          case AttemptOutcome::failed: ++p.failed; break;
          case AttemptOutcome::cancelled: ++p.cancelled; break;
          case AttemptOutcome::discarded: ++p.discarded; break;
        }
        if (ran && *a.outcome != AttemptOutcome::used) p.wasted_cost += attempt_cost;
      }
    });
  }));
  if (!decode_error.ok()) return decode_error;
  std::map<std::string, std::int64_t> error_codes;
  for (const auto& e : u.by_endpoint) {
    u.requests.total += e.total;
    u.requests.success += e.success;
    u.requests.client_errors += e.client_errors;
    u.requests.server_errors += e.server_errors;
    for (const auto& [code, n] : e.error_codes) error_codes[code] += n;
  }
  u.requests.error_codes.assign(error_codes.begin(), error_codes.end());
  for (auto& [k, v] : by_model) u.by_model.emplace_back(k, v);
  for (auto& [k, v] : by_provider) u.by_provider.push_back(v);
  return u;
}

namespace {

CacheHealth no_cache_health() {
  CacheHealth h;
  h.error = "no shared cache configured";  // configured and healthy stay false
  return h;
}

}  // namespace

EngineHealth Engine::health() const {
  const Impl& I = *impl_;
  EngineHealth h;
  h.instance_id = I.instance_id;
  h.cache = I.cache ? I.cache->health() : no_cache_health();
  std::vector<std::string> configured;
  for (const auto& [id, p] : I.providers) configured.push_back(id);
  const auto seen = I.router->health(I.config.options.region, configured);
  for (const std::string& id : configured) {
    ProviderHealth ph;
    for (const auto& s : seen)
      if (s.provider == id) ph = s;
    h.providers.push_back(ph);
    h.breakers.emplace_back(id, I.router->breaker(id, I.config.options.region));
    if (ph.status == HealthState::degraded) h.healthy = false;
  }
  for (const auto& m : I.config.catalog->models()) {
    ModelAvailability a;
    a.model = m.identifier;
    a.type = std::string(model_type_name(m.type));
    if (m.pricing.unit == PriceUnit::per_generation && m.pricing.flat) a.flat_price = *m.pricing.flat;
    for (const auto& b : m.bindings) {
      a.providers.emplace_back(b.provider, b.native_model);
      if (I.providers.count(b.provider) == 0) continue;
      const BreakerInfo info = I.router->breaker(b.provider, I.config.options.region, m.identifier);
      if (info.state != BreakerState::open) a.providers_available.push_back(b.provider);
    }
    a.available = !a.providers_available.empty();
    h.models.push_back(std::move(a));
  }
  if (I.providers.empty()) h.healthy = false;
  return h;
}

std::string Engine::metrics_text() {
  Impl& I = *impl_;
  std::string out;
  std::vector<std::int64_t> counts;
  (void)I.config.store->read([&](UnitOfWork& uow) { return uow.generations().count_by_status(counts); });
  out += "# HELP babysea_generations Generations by status.\n# TYPE babysea_generations gauge\n";
  for (int s = 0; s < 5; ++s) {
    out += "babysea_generations{status=\"";
    out += generation_status_name(static_cast<GenerationStatus>(s));
    out += "\"} ";
    out += std::to_string(s < static_cast<int>(counts.size()) ? counts[static_cast<std::size_t>(s)] : 0);
    out += '\n';
  }
  {
    std::lock_guard lock(I.metrics.mu);
    out += "# HELP babysea_attempts_total Finished provider attempts by outcome.\n# TYPE babysea_attempts_total counter\n";
    for (const auto& [key, n] : I.metrics.attempts_by_outcome)
      out += "babysea_attempts_total{provider=\"" + key.first + "\",outcome=\"" + key.second + "\"} " +
             std::to_string(n) + "\n";
    out += "# HELP babysea_provider_submits_total Submits sent to providers.\n# TYPE babysea_provider_submits_total counter\n";
    for (const auto& [p, n] : I.metrics.submits_by_provider)
      out += "babysea_provider_submits_total{provider=\"" + p + "\"} " + std::to_string(n) + "\n";
    out += "# HELP babysea_submit_errors_total Failed submits by error kind.\n# TYPE babysea_submit_errors_total counter\n";
    for (const auto& [k, n] : I.metrics.submit_errors_by_kind)
      out += "babysea_submit_errors_total{kind=\"" + k + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP babysea_breaker_state Circuit breaker state (0 closed, 1 open, 2 half-open).\n# TYPE babysea_breaker_state gauge\n";
  for (const auto& [id, p] : I.providers) {
    (void)p;
    const BreakerInfo b = I.router->breaker(id, I.config.options.region);
    out += "babysea_breaker_state{provider=\"" + id + "\"} " + std::to_string(static_cast<int>(b.state)) + "\n";
  }
  std::int64_t outbox_pending = 0;
  if (I.config.store->read([&](UnitOfWork& uow) { return uow.outbox().count_pending(outbox_pending); }).ok()) {
    out += "# HELP babysea_outbox_pending Outbox events not yet delivered.\n# TYPE babysea_outbox_pending gauge\n";
    out += "babysea_outbox_pending " + std::to_string(outbox_pending) + "\n";
  }
  if (auto escrow = I.ledger->balance(kEscrowAccount); escrow.ok()) {
    out += "# HELP babysea_holds_pending_micros Credits held by open reservations.\n# TYPE babysea_holds_pending_micros gauge\n";
    out += "babysea_holds_pending_micros " + std::to_string(escrow->pending_credits) + "\n";
  }
  out += "# HELP babysea_lifecycle_steps_total Lifecycle steps that changed state.\n# TYPE babysea_lifecycle_steps_total counter\n";
  out += "babysea_lifecycle_steps_total " + std::to_string(I.metrics.steps_applied.load()) + "\n";
  out += "# HELP babysea_callbacks_duplicate_total Provider callbacks already seen.\n# TYPE babysea_callbacks_duplicate_total counter\n";
  out += "babysea_callbacks_duplicate_total " + std::to_string(I.metrics.callbacks_duplicate.load()) + "\n";
  out += "# HELP babysea_effect_failures_total Events that could not be applied.\n# TYPE babysea_effect_failures_total counter\n";
  out += "babysea_effect_failures_total " + std::to_string(I.metrics.effect_failures.load()) + "\n";
  out += "# HELP babysea_instance_info This engine's instance id.\n# TYPE babysea_instance_info gauge\n";
  out += "babysea_instance_info{instance=\"" + I.instance_id + "\"} 1\n";
  out += "# HELP babysea_recovered_from_dead_total Generations taken over from instances whose heartbeat lapsed.\n"
         "# TYPE babysea_recovered_from_dead_total counter\n";
  out += "babysea_recovered_from_dead_total " + std::to_string(I.metrics.recovered_from_dead.load()) + "\n";
  out += "# HELP babysea_instance_reregistered_total Heartbeats that found this instance declared dead.\n"
         "# TYPE babysea_instance_reregistered_total counter\n";
  out += "babysea_instance_reregistered_total " + std::to_string(I.metrics.reregistered.load()) + "\n";
  out += "# HELP babysea_submits_skipped_total Submits not sent: another instance had taken the generation over.\n"
         "# TYPE babysea_submits_skipped_total counter\n";
  out += "babysea_submits_skipped_total " + std::to_string(I.metrics.submits_skipped.load()) + "\n";
  if (I.cache)
    I.cache->render_metrics(out);
  else
    ClusterCache::render_metrics(out, no_cache_health(), 0);
  out += "# HELP babysea_submit_seconds Engine submit() latency.\n# TYPE babysea_submit_seconds histogram\n";
  I.metrics.submit_latency.render(out, "babysea_submit_seconds", "");
  out += "# HELP babysea_generation_seconds Acceptance to terminal state.\n# TYPE babysea_generation_seconds histogram\n";
  I.metrics.generation_latency.render(out, "babysea_generation_seconds", "");
  out += "# HELP babysea_provider_call_seconds Provider submit and poll calls.\n# TYPE babysea_provider_call_seconds histogram\n";
  I.metrics.provider_latency.render(out, "babysea_provider_call_seconds", "");
  return out;
}

}  // namespace babysea
