// The pure lifecycle machine (lifecycle.hpp, specs/lifecycle.md): every
// transition of the generation and attempt machines, driven by hand-set
// times, and the rules of §3 (absorbing terminal states, failover with the
// same hold, fail-fast, bounded submit retries, per-stage and generation
// deadlines, cancel, races, poll scheduling, asset copies, recovery, timers).
//
// Property checked for every generation a test drives (the Life harness, on
// destruction): over its whole life exactly one settle-or-release effect when
// it ends terminal (settle iff succeeded, amount <= held), none otherwise. A
// seeded random walk over events checks the same property plus monotone
// attempt states after every single step.
#include <algorithm>
#include <catch2/catch.hpp>
#include <exception>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "babysea/lifecycle.hpp"

using namespace babysea;
using namespace std::chrono_literals;

namespace {

ProviderTiming test_timing() {
  ProviderTiming t;
  t.poll_interval = 2'000ms;
  t.backup_poll_interval = 30'000ms;
  t.min_poll_interval = 500ms;
  t.submit_ack_timeout = 10'000ms;
  t.start_timeout = 20'000ms;
  t.finish_timeout = 50'000ms;
  t.max_submit_retries = 2;
  t.max_poll_failures = 3;
  return t;
}

std::size_t count_of(const std::vector<Effect>& effects, EffectKind kind, std::string_view attempt = {}) {
  return static_cast<std::size_t>(std::count_if(effects.begin(), effects.end(), [&](const Effect& e) {
    return e.kind == kind && (attempt.empty() || e.attempt_id == attempt);
  }));
}

const Effect* find_effect(const std::vector<Effect>& effects, EffectKind kind, std::string_view attempt = {}) {
  for (const auto& e : effects)
    if (e.kind == kind && (attempt.empty() || e.attempt_id == attempt)) return &e;
  return nullptr;
}

bool emitted(const std::vector<Effect>& effects, std::string_view type) {
  return std::any_of(effects.begin(), effects.end(),
                     [&](const Effect& e) { return e.kind == EffectKind::emit && e.event_type == type; });
}

std::size_t money_effects(const std::vector<Effect>& effects) {
  return count_of(effects, EffectKind::settle) + count_of(effects, EffectKind::release);
}

// The outcome recorded for `attempt` in these effects (at most one expected).
std::optional<AttemptOutcome> outcome_in(const std::vector<Effect>& effects, std::string_view attempt) {
  std::optional<AttemptOutcome> o;
  for (const auto& e : effects)
    if (e.kind == EffectKind::record_outcome && e.attempt_id == attempt) o = e.outcome;
  return o;
}

// ---------------------------------------------------------------- events

Event of_kind(EventKind kind) {
  Event e;
  e.kind = kind;
  return e;
}
Event accepted() { return of_kind(EventKind::accepted); }
Event timer() { return of_kind(EventKind::timer); }
Event cancel() { return of_kind(EventKind::cancel_requested); }
Event recovered() { return of_kind(EventKind::recovered); }

ProviderStatus st(ProviderStatusKind kind) {
  ProviderStatus s;
  s.kind = kind;
  return s;
}
ProviderStatus succeeded_with(int urls, int inline_outputs = 0) {
  ProviderStatus s = st(ProviderStatusKind::succeeded);
  for (int i = 0; i < urls; ++i) {
    ProviderOutput o;
    o.url = "https://cdn.test/out" + std::to_string(i);
    s.outputs.push_back(std::move(o));
  }
  for (int i = 0; i < inline_outputs; ++i) {
    ProviderOutput o;
    o.data = "PNG";
    o.content_type = "image/png";
    s.outputs.push_back(std::move(o));
  }
  s.predict_ms = 1234;
  return s;
}
ProviderStatus failed_with(ErrorKind kind, std::string message = "boom") {
  ProviderStatus s = st(ProviderStatusKind::failed);
  s.error.kind = kind;
  s.error.message = std::move(message);
  return s;
}

Event submit_ok(const std::string& aid, const std::string& job, std::optional<ProviderStatus> status = std::nullopt) {
  Event e;
  e.kind = EventKind::submit_ok;
  e.attempt_id = aid;
  e.job.job_id = job;
  e.job.handle = "https://api.test/jobs/" + job;
  e.status = std::move(status);
  return e;
}
Event submit_error(const std::string& aid, ErrorKind kind, std::int64_t retry_after_ms = 0) {
  Event e;
  e.kind = EventKind::submit_error;
  e.attempt_id = aid;
  e.error.kind = kind;
  e.error.retry_after_ms = retry_after_ms;
  e.error.code = "E" + std::to_string(static_cast<int>(kind));
  e.error.message = std::string(error_kind_name(kind));
  return e;
}
Event status(const std::string& aid, ProviderStatus s) {
  Event e;
  e.kind = EventKind::provider_status;
  e.attempt_id = aid;
  e.status = std::move(s);
  return e;
}
Event poll_error(const std::string& aid, ErrorKind kind, std::int64_t retry_after_ms = 0) {
  Event e;
  e.kind = EventKind::poll_error;
  e.attempt_id = aid;
  e.error.kind = kind;
  e.error.retry_after_ms = retry_after_ms;
  e.error.message = "poll failed";
  return e;
}
Event stored(const std::string& aid, int n) {
  Event e;
  e.kind = EventKind::assets_stored;
  e.attempt_id = aid;
  for (int i = 0; i < n; ++i) e.urls.push_back("https://assets.test/gen1/" + std::to_string(i) + ".png");
  return e;
}
Event assets_failed(const std::string& aid, bool retryable, ErrorKind kind = ErrorKind::connection) {
  Event e;
  e.kind = EventKind::assets_failed;
  e.attempt_id = aid;
  e.retryable = retryable;
  e.error.kind = kind;
  e.error.message = "copy failed";
  return e;
}
Event cancel_ack(const std::string& aid, CancelOutcome outcome, ErrorKind error = ErrorKind::none) {
  Event e;
  e.kind = EventKind::provider_cancel_ack;
  e.attempt_id = aid;
  e.cancel = outcome;
  e.error.kind = error;
  return e;
}

// One generation driven through step(), with every effect it ever produced.
// Providers: alpha (polling, can cancel), beta (webhook, cannot cancel),
// gamma (synchronous), slow (polling with a high minimum poll interval),
// hook (webhook with a high minimum poll interval); others get defaults.
class Life {
 public:
  explicit Life(std::vector<std::string> chain) {
    g.id = "gen1";
    g.account = "acct_1";
    g.region = "us";
    g.model = "flux-schnell";
    g.chain = std::move(chain);
    g.hold_id = "hold_1";
    g.held = 1'000;
    g.cost_per_output = 300;
    g.max_outputs = 2;
    g.created_ms = 1'000;
    providers["alpha"] = ProviderPolicy{DeliveryMode::polling, true, test_timing()};
    providers["beta"] = ProviderPolicy{DeliveryMode::webhook, false, test_timing()};
    providers["gamma"] = ProviderPolicy{DeliveryMode::synchronous, false, test_timing()};
    ProviderTiming slow = test_timing();
    slow.poll_interval = 100ms;
    slow.backup_poll_interval = 100ms;
    slow.min_poll_interval = 5'000ms;
    providers["slow"] = ProviderPolicy{DeliveryMode::polling, true, slow};
    providers["hook"] = ProviderPolicy{DeliveryMode::webhook, true, slow};
    policy.provider = [this](std::string_view p) {
      auto it = providers.find(std::string(p));
      return it == providers.end() ? ProviderPolicy{} : it->second;
    };
    policy.max_asset_tries = 3;
    policy.retry_delay_ms = 2'000;
    policy.max_cancel_tries = 3;
    policy.max_audit = 8;
  }
  Life(const Life&) = delete;
  Life& operator=(const Life&) = delete;

  // The property: one settle-or-release over the whole life, matching the end state.
  ~Life() {
    if (std::uncaught_exceptions() > 0) return;
    check_money();
  }

  void check_money() const {
    INFO("generation status " << generation_status_name(g.status));
    const auto settles = count_of(log, EffectKind::settle);
    const auto releases = count_of(log, EffectKind::release);
    if (!is_terminal(g.status)) {
      CHECK(settles + releases == 0);
      return;
    }
    CHECK(settles + releases == 1);
    if (g.status == GenerationStatus::succeeded) {
      CHECK(settles == 1);
      if (const Effect* s = find_effect(log, EffectKind::settle)) {
        CHECK(s->amount <= g.held);
        CHECK(s->amount == g.settled);
      }
      CHECK_FALSE(g.credits_refunded);
    } else {
      CHECK(releases == 1);
      CHECK(g.credits_refunded);
      CHECK(g.settled == 0);
    }
  }

  const StepResult& on(const Event& e, std::int64_t now) {
    last = step(g, e, now, policy);
    log.insert(log.end(), last.effects.begin(), last.effects.end());
    return last;
  }
  const std::vector<Effect>& fx() const { return last.effects; }

  static std::string aid(int order) { return attempt_id_for("gen1", order); }
  Attempt& at(int order) {
    REQUIRE(g.attempts.size() >= static_cast<std::size_t>(order));
    return g.attempts[static_cast<std::size_t>(order - 1)];
  }

  // accepted at 1000, ack at 1500 (job "job-1"), running at 2000.
  void to_running() {
    on(accepted(), 1'000);
    on(submit_ok(aid(1), "job-1"), 1'500);
    on(status(aid(1), st(ProviderStatusKind::running)), 2'000);
    REQUIRE(at(1).status == AttemptStatus::running);
  }

  Generation g;
  std::map<std::string, ProviderPolicy> providers;
  LifecyclePolicy policy;
  std::vector<Effect> log;
  StepResult last;
};

const std::string A1 = Life::aid(1);
const std::string A2 = Life::aid(2);
const std::string A3 = Life::aid(3);

}  // namespace

// ------------------------------------------------------------ happy paths

TEST_CASE("lifecycle: pending -> processing -> succeeded through every attempt state (polling)") {
  Life L({"alpha", "beta"});
  CHECK(A1 == "gen1.1");

  auto r = L.on(accepted(), 1'000);
  CHECK(r.changed);
  CHECK(r.status.ok());
  REQUIRE(L.fx().size() == 1);
  CHECK(L.fx()[0].kind == EffectKind::submit);
  CHECK(L.fx()[0].attempt_id == A1);
  CHECK_FALSE(L.fx()[0].resubmit);
  CHECK(L.g.status == GenerationStatus::pending);
  REQUIRE(L.g.attempts.size() == 1);
  CHECK(L.at(1).status == AttemptStatus::intent);
  CHECK(L.at(1).provider == "alpha");
  CHECK(L.at(1).order == 1);
  CHECK(L.at(1).submits == 1);
  CHECK(L.at(1).submit_in_flight);
  CHECK(L.at(1).created_ms == 1'000);
  CHECK(L.at(1).deadline_ms == 11'000);  // submit-ack deadline
  CHECK(wake_ms(L.g) == 11'000);

  r = L.on(submit_ok(A1, "job-1"), 1'500);
  CHECK(r.changed);
  CHECK(L.g.status == GenerationStatus::processing);
  CHECK(L.g.started_ms == 1'500);
  CHECK(L.g.prediction_id == "job-1");
  CHECK(L.at(1).status == AttemptStatus::submitted);
  CHECK(L.at(1).job.job_id == "job-1");
  CHECK_FALSE(L.at(1).submit_in_flight);
  CHECK(L.at(1).submitted_ms == 1'500);
  CHECK(L.at(1).deadline_ms == 21'500);  // start deadline
  CHECK(L.at(1).next_poll_ms == 3'500);  // poll_interval
  CHECK(emitted(L.fx(), "generation.started"));
  CHECK(count_of(L.fx(), EffectKind::poll) == 0);
  CHECK(wake_ms(L.g) == 3'500);

  // Nothing due yet: a timer is a pure no-op.
  r = L.on(timer(), 3'499);
  CHECK_FALSE(r.changed);
  CHECK(L.fx().empty());

  r = L.on(timer(), 3'500);
  CHECK(r.changed);
  CHECK(count_of(L.fx(), EffectKind::poll, A1) == 1);
  CHECK(L.at(1).next_poll_ms == 5'500);

  r = L.on(status(A1, st(ProviderStatusKind::running)), 4'000);
  CHECK(r.changed);
  CHECK(L.at(1).status == AttemptStatus::running);
  CHECK(L.at(1).started_ms == 4'000);
  CHECK(L.at(1).deadline_ms == 54'000);  // finish deadline
  CHECK(L.fx().empty());
  CHECK(count_of(L.log, EffectKind::emit) == 1);  // started, once

  r = L.on(status(A1, succeeded_with(2)), 6'000);
  CHECK(r.changed);
  CHECK(L.at(1).status == AttemptStatus::succeeded);
  CHECK(L.at(1).asset_in_flight);
  CHECK(L.at(1).asset_tries == 1);
  CHECK(L.at(1).next_poll_ms == 0);
  CHECK(L.at(1).deadline_ms == 0);
  CHECK(L.at(1).predict_ms == 1234);
  CHECK(L.g.status == GenerationStatus::processing);  // not until the outputs are stored
  const Effect* fetch = find_effect(L.fx(), EffectKind::fetch_assets, A1);
  REQUIRE(fetch != nullptr);
  REQUIRE(fetch->outputs.size() == 2);
  CHECK(fetch->outputs[0].url == "https://cdn.test/out0");
  CHECK(money_effects(L.log) == 0);
  CHECK(wake_ms(L.g) == 0);

  r = L.on(stored(A1, 2), 6'500);
  CHECK(r.changed);
  CHECK(L.g.status == GenerationStatus::succeeded);
  CHECK(L.g.completed_ms == 6'500);
  CHECK(L.g.provider_used == "alpha");
  CHECK(L.g.outputs.size() == 2);
  CHECK(L.g.predict_ms == 1234);
  CHECK(L.g.settled == 600);
  CHECK(L.at(1).status == AttemptStatus::succeeded);
  CHECK(L.at(1).outcome == AttemptOutcome::used);
  CHECK(L.at(1).finished_ms == 6'500);
  CHECK_FALSE(L.at(1).asset_in_flight);
  const Effect* settle = find_effect(L.fx(), EffectKind::settle);
  REQUIRE(settle != nullptr);
  CHECK(settle->amount == 600);
  CHECK(outcome_in(L.fx(), A1) == AttemptOutcome::used);
  CHECK(emitted(L.fx(), "generation.completed"));
  CHECK(count_of(L.fx(), EffectKind::release) == 0);
  CHECK(wake_ms(L.g) == 0);
  CHECK(L.g.attempts.size() == 1);
}

TEST_CASE("lifecycle: submitted -> succeeded directly, and a synchronous submit carrying its result") {
  SECTION("polling provider reports success without a running status first") {
    Life L({"alpha"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'100);
    L.on(status(A1, succeeded_with(1)), 1'200);
    CHECK(L.at(1).status == AttemptStatus::succeeded);
    L.on(stored(A1, 1), 1'300);
    CHECK(L.g.status == GenerationStatus::succeeded);
    CHECK(L.g.settled == 300);
  }
  SECTION("synchronous provider: submit_ok with the final status") {
    Life L({"gamma"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "sync-1", succeeded_with(0, 2)), 4'000);
    CHECK(L.at(1).status == AttemptStatus::succeeded);
    CHECK(L.at(1).inline_outputs == 2);
    CHECK(L.at(1).next_poll_ms == 0);  // synchronous never polls
    const Effect* f = find_effect(L.fx(), EffectKind::fetch_assets, A1);
    REQUIRE(f != nullptr);
    CHECK(f->outputs.size() == 2);
    CHECK(emitted(L.fx(), "generation.started"));
    L.on(stored(A1, 2), 4'100);
    CHECK(L.g.status == GenerationStatus::succeeded);
    CHECK(L.g.provider_used == "gamma");
  }
}

// ----------------------------------------------------------- settlement

TEST_CASE("lifecycle: settle = cost_per_output x min(outputs, max_outputs), capped at the hold") {
  struct Case {
    const char* name;
    Micros cost_per_output;
    std::int64_t max_outputs;
    int stored;
    Micros expect;
  };
  const Case c = GENERATE(Case{"one output", 300, 2, 1, 300},
                          Case{"more outputs than max_outputs are not charged", 300, 2, 5, 600},
                          Case{"price above the hold is capped at the hold", 800, 2, 2, 1'000},
                          Case{"overflowing product is capped at the hold", std::numeric_limits<Micros>::max() / 2, 4, 4,
                               1'000});
  INFO(c.name);
  Life L({"alpha"});
  L.g.cost_per_output = c.cost_per_output;
  L.g.max_outputs = c.max_outputs;
  L.to_running();
  L.on(status(A1, succeeded_with(c.stored)), 3'000);
  L.on(stored(A1, c.stored), 3'100);
  const Effect* s = find_effect(L.fx(), EffectKind::settle);
  REQUIRE(s != nullptr);
  CHECK(s->amount == c.expect);
  CHECK(L.g.settled == c.expect);
}

// ------------------------------------------------------ terminal absorbs

TEST_CASE("lifecycle: terminal states absorb every later event") {
  Life L({"alpha", "beta"});
  L.to_running();
  L.on(status(A1, succeeded_with(1)), 3'000);
  L.on(stored(A1, 1), 3'100);
  REQUIRE(L.g.status == GenerationStatus::succeeded);
  const Generation before = L.g;
  const std::string doc = encode_generation(before);

  SECTION("cancel of a succeeded generation: invalid_state, nothing changed") {
    auto r = L.on(cancel(), 4'000);
    CHECK(r.status.code() == Code::invalid_state);
    CHECK_FALSE(r.changed);
    CHECK(r.effects.empty());
    CHECK(encode_generation(L.g) == doc);
  }
  SECTION("later statuses, duplicates and timers change nothing") {
    for (const auto& e : {status(A1, failed_with(ErrorKind::server_error)), status(A1, st(ProviderStatusKind::running)),
                          status(A1, succeeded_with(1)), status(A1, st(ProviderStatusKind::canceled)), timer(),
                          submit_ok(A1, "job-1"), submit_error(A1, ErrorKind::server_error),
                          poll_error(A1, ErrorKind::connection), assets_failed(A1, true), accepted(), recovered()}) {
      INFO(event_kind_name(e.kind));
      auto r = L.on(e, 5'000);
      CHECK(r.effects.empty());
      CHECK(L.g.status == GenerationStatus::succeeded);
      CHECK(L.at(1).status == AttemptStatus::succeeded);
      CHECK(L.g.attempts.size() == 1);
      CHECK(L.g.settled == 300);
    }
    CHECK(wake_ms(L.g) == 0);
  }
  SECTION("a second assets_stored neither settles again nor removes the used assets") {
    auto r = L.on(stored(A1, 1), 5'000);
    CHECK(money_effects(r.effects) == 0);
    CHECK(count_of(r.effects, EffectKind::remove_assets) == 0);
    CHECK(L.g.outputs == before.outputs);
  }
}

TEST_CASE("lifecycle: a failed generation absorbs; a late success is discarded, never settled") {
  Life L({"alpha"});
  L.to_running();
  L.on(status(A1, failed_with(ErrorKind::provider_unavailable)), 3'000);
  REQUIRE(L.g.status == GenerationStatus::failed);
  CHECK(L.g.error_code == "BSE4001");
  CHECK(L.at(1).status == AttemptStatus::failed);
  CHECK(L.at(1).error == ErrorKind::provider_unavailable);

  auto r = L.on(status(A1, succeeded_with(1)), 4'000);
  CHECK(r.changed);  // only the audit trail and the discarded mark
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::discarded);
  CHECK(L.at(1).outcome == AttemptOutcome::failed);  // recorded once, not again
  CHECK(L.g.status == GenerationStatus::failed);
  REQUIRE_FALSE(L.g.audit.empty());
  CHECK(L.g.audit.back().find("discarded") != std::string::npos);

  // Duplicate late success: nothing more.
  r = L.on(status(A1, succeeded_with(1)), 4'100);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::discarded);

  // Cancel now is refused.
  r = L.on(cancel(), 4'200);
  CHECK(r.status.code() == Code::invalid_state);
  CHECK(r.effects.empty());
}

TEST_CASE("lifecycle: the audit trail is capped and counts what it dropped") {
  Life L({"alpha"});
  L.to_running();
  L.on(cancel(), 2'500);
  for (int i = 0; i < 20; ++i) L.on(status(A1, st(ProviderStatusKind::running)), 3'000 + i);
  CHECK(L.g.audit.size() == L.policy.max_audit);
  CHECK(L.g.audit_dropped == 20 - static_cast<std::int64_t>(L.policy.max_audit));
  CHECK(L.g.audit.back().rfind("3019 ", 0) == 0);  // newest last, stamped with `now`
}

// --------------------------------------------------------------- failover

TEST_CASE("lifecycle: fail_over errors move to the next provider with the same hold") {
  Life L({"alpha", "beta", "gamma"});
  L.on(accepted(), 1'000);

  SECTION("submit error of class fail_over") {
    const ErrorKind kind = GENERATE(ErrorKind::provider_unavailable, ErrorKind::model_unavailable,
                                    ErrorKind::breaker_open, ErrorKind::malformed_response, ErrorKind::timeout,
                                    ErrorKind::unknown);
    INFO(error_kind_name(kind));
    REQUIRE(error_class_of(kind) == ErrorClass::fail_over);
    auto r = L.on(submit_error(A1, kind), 1'200);
    CHECK(r.changed);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(L.at(1).error == kind);
    CHECK(L.at(1).error_code == "E" + std::to_string(static_cast<int>(kind)));
    CHECK(L.at(1).finished_ms == 1'200);
    CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
    REQUIRE(L.g.attempts.size() == 2);
    CHECK(L.at(2).provider == "beta");
    CHECK(L.at(2).order == 2);
    CHECK(L.at(2).status == AttemptStatus::intent);
    CHECK(L.at(2).deadline_ms == 11'200);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
    CHECK(money_effects(r.effects) == 0);
    CHECK(L.g.hold_id == "hold_1");
    CHECK(L.g.status == GenerationStatus::pending);
    CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // no job to cancel
  }
  SECTION("provider status failed / canceled / lost while processing") {
    L.on(submit_ok(A1, "job-1"), 1'100);
    ProviderStatus s = GENERATE(failed_with(ErrorKind::server_error), failed_with(ErrorKind::none),
                                st(ProviderStatusKind::canceled), st(ProviderStatusKind::lost));
    INFO(provider_status_name(s.kind));
    auto r = L.on(status(A1, s), 1'500);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(L.at(1).error != ErrorKind::none);
    CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
    REQUIRE(L.g.attempts.size() == 2);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
    CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // the job is over at the provider
    CHECK(L.g.status == GenerationStatus::processing);    // processing stays (no backwards move)
    CHECK(money_effects(r.effects) == 0);
  }
  SECTION("success without outputs is a broken answer: fail over") {
    L.on(submit_ok(A1, "job-1"), 1'100);
    auto r = L.on(status(A1, st(ProviderStatusKind::succeeded)), 1'500);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(L.at(1).error == ErrorKind::malformed_response);
    CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  }
  SECTION("the whole chain exhausted: failed BSE4001, one release") {
    L.on(submit_error(A1, ErrorKind::provider_unavailable), 1'100);
    L.on(submit_error(A2, ErrorKind::model_unavailable), 1'200);
    REQUIRE(L.g.attempts.size() == 3);
    CHECK(L.at(3).provider == "gamma");
    auto r = L.on(submit_error(A3, ErrorKind::provider_unavailable), 1'300);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4001");
    CHECK(L.g.completed_ms == 1'300);
    CHECK(L.g.credits_refunded);
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(emitted(r.effects, "generation.failed"));
    CHECK(L.g.attempts.size() == 3);
    CHECK(count_of(L.log, EffectKind::submit) == 3);
    CHECK(wake_ms(L.g) == 0);
  }
}

TEST_CASE("lifecycle: an empty chain fails at once with one release") {
  Life L(std::vector<std::string>{});
  auto r = L.on(accepted(), 1'000);
  CHECK(L.g.status == GenerationStatus::failed);
  CHECK(L.g.error_code == "BSE4001");
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  CHECK(count_of(r.effects, EffectKind::submit) == 0);
  // accepted again: nothing
  r = L.on(accepted(), 1'100);
  CHECK_FALSE(r.changed);
  CHECK(r.effects.empty());
}

TEST_CASE("lifecycle: accepted twice starts one attempt") {
  Life L({"alpha"});
  L.on(accepted(), 1'000);
  auto r = L.on(accepted(), 1'001);
  CHECK_FALSE(r.changed);
  CHECK(r.effects.empty());
  CHECK(L.g.attempts.size() == 1);
}

// -------------------------------------------------------------- fail fast

TEST_CASE("lifecycle: fail_fast ends the generation with one release and never fails over") {
  Life L({"alpha", "beta"});
  L.on(accepted(), 1'000);
  SECTION("moderation reported by the provider: BSE4003") {
    L.on(submit_ok(A1, "job-1"), 1'100);
    auto r = L.on(status(A1, failed_with(ErrorKind::moderation, "nsfw")), 1'500);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4003");
    CHECK(L.g.error == "nsfw");
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(L.at(1).error == ErrorKind::moderation);
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(count_of(r.effects, EffectKind::submit) == 0);
    CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
    CHECK(emitted(r.effects, "generation.failed"));
    CHECK(L.g.attempts.size() == 1);
  }
  SECTION("moderation at submit: BSE4003") {
    auto r = L.on(submit_error(A1, ErrorKind::moderation), 1'100);
    CHECK(L.g.error_code == "BSE4003");
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(L.g.attempts.size() == 1);
  }
  SECTION("other fail_fast kinds at submit: BSE4004") {
    const ErrorKind kind = GENERATE(ErrorKind::invalid_input, ErrorKind::provider_auth, ErrorKind::provider_quota);
    INFO(error_kind_name(kind));
    REQUIRE(error_class_of(kind) == ErrorClass::fail_fast);
    auto r = L.on(submit_error(A1, kind), 1'100);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4004");
    CHECK(L.g.error == error_kind_name(kind));  // the event message
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(count_of(r.effects, EffectKind::submit) == 0);
    CHECK(L.g.attempts.size() == 1);
  }
  SECTION("fail_fast from a poll: BSE4004, the job is canceled where possible") {
    L.on(submit_ok(A1, "job-1"), 1'100);
    auto r = L.on(poll_error(A1, ErrorKind::provider_auth), 1'500);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4004");
    CHECK(L.at(1).status == AttemptStatus::timed_out);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(count_of(r.effects, EffectKind::release) == 1);
  }
}

// ------------------------------------------------------ retry_same submit

TEST_CASE("lifecycle: retry_same submit errors are retried with backoff, then fail over") {
  Life L({"alpha", "beta"});
  L.on(accepted(), 1'000);

  // 1st failure honors Retry-After (5 s > 1 s backoff).
  auto r = L.on(submit_error(A1, ErrorKind::rate_limited, 5'000), 1'200);
  CHECK(r.changed);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::intent);
  CHECK_FALSE(L.at(1).submit_in_flight);
  CHECK(L.at(1).submit_due_ms == 6'200);
  CHECK(L.at(1).deadline_ms == 0);
  CHECK(L.at(1).error == ErrorKind::rate_limited);
  CHECK(wake_ms(L.g) == 6'200);

  r = L.on(timer(), 6'199);
  CHECK(r.effects.empty());
  r = L.on(timer(), 6'200);
  CHECK(count_of(r.effects, EffectKind::submit, A1) == 1);
  CHECK_FALSE(r.effects[0].resubmit);
  CHECK(L.at(1).submits == 2);
  CHECK(L.at(1).submit_in_flight);
  CHECK(L.at(1).submit_due_ms == 0);
  CHECK(L.at(1).deadline_ms == 16'200);

  // 2nd failure: no Retry-After → exponential backoff (2 s for the 2nd submit).
  r = L.on(submit_error(A1, ErrorKind::server_error), 7'000);
  CHECK(L.at(1).submit_due_ms == 9'000);
  CHECK(r.effects.empty());
  r = L.on(timer(), 9'000);
  CHECK(count_of(r.effects, EffectKind::submit, A1) == 1);
  CHECK(L.at(1).submits == 3);

  // 3rd failure: max_submit_retries (2) used up → fail over to beta.
  r = L.on(submit_error(A1, ErrorKind::connection), 9'500);
  CHECK(L.at(1).status == AttemptStatus::failed);
  CHECK(L.at(1).error == ErrorKind::connection);
  CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
  REQUIRE(L.g.attempts.size() == 2);
  CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  CHECK(money_effects(L.log) == 0);
  CHECK(count_of(L.log, EffectKind::submit, A1) == 3);

  // A late duplicate of an old submit error for attempt 1 changes nothing but the audit.
  r = L.on(submit_error(A1, ErrorKind::server_error), 9'600);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::failed);
  CHECK(L.g.attempts.size() == 2);
}

TEST_CASE("lifecycle: a submit retry with Retry-After shorter than the backoff uses the backoff") {
  Life L({"alpha"});
  L.on(accepted(), 1'000);
  L.on(submit_error(A1, ErrorKind::rate_limited, 100), 2'000);
  CHECK(L.at(1).submit_due_ms == 3'000);  // max(100, 1 s)
}

// -------------------------------------------------------------- deadlines

TEST_CASE("lifecycle: per-stage deadlines abandon a silent provider and try the next") {
  SECTION("submit-ack deadline: timed_out, no job to cancel") {
    Life L({"alpha", "beta"});
    L.on(accepted(), 1'000);
    auto r = L.on(timer(), 10'999);
    CHECK_FALSE(r.changed);
    r = L.on(timer(), 11'000);
    CHECK(L.at(1).status == AttemptStatus::timed_out);
    CHECK(L.at(1).error == ErrorKind::timeout);
    CHECK_FALSE(L.at(1).submit_in_flight);
    CHECK(L.at(1).cancel == CancelState::none);
    CHECK(count_of(r.effects, EffectKind::cancel) == 0);
    CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
    CHECK(L.g.status == GenerationStatus::pending);
  }
  SECTION("start deadline: timed_out and the provider cancel is sent (alpha can cancel)") {
    Life L({"alpha", "beta"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'500);
    // polls keep coming but the job never starts
    auto r = L.on(timer(), 21'499);
    CHECK(count_of(r.effects, EffectKind::poll, A1) == 1);
    r = L.on(timer(), 21'500);
    CHECK(L.at(1).status == AttemptStatus::timed_out);
    CHECK(L.at(1).error_message == "the job did not start before the deadline");
    CHECK(L.at(1).cancel == CancelState::pending);
    CHECK(L.at(1).cancel_tries == 1);
    CHECK(L.at(1).next_poll_ms == 0);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(count_of(r.effects, EffectKind::poll) == 0);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
    CHECK(money_effects(r.effects) == 0);
  }
  SECTION("finish deadline on a provider that cannot cancel: unsupported, no cancel effect") {
    Life L({"beta", "alpha"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'500);
    L.on(status(A1, st(ProviderStatusKind::running)), 2'000);
    CHECK(L.at(1).deadline_ms == 52'000);
    auto r = L.on(timer(), 52'000);
    CHECK(L.at(1).status == AttemptStatus::timed_out);
    CHECK(L.at(1).error_message == "the job did not finish before the deadline");
    CHECK(L.at(1).cancel == CancelState::unsupported);
    CHECK(count_of(r.effects, EffectKind::cancel) == 0);
    REQUIRE(L.g.attempts.size() == 2);
    CHECK(L.at(2).provider == "alpha");
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  }
  SECTION("the last provider timing out fails the generation with BSE4001 and one release") {
    Life L({"alpha"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'500);
    auto r = L.on(timer(), 21'500);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4001");
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  }
}

TEST_CASE("lifecycle: the generation deadline fails it with BSE4002") {
  Life L({"alpha", "beta"});
  L.g.deadline_ms = 100'000;
  L.on(accepted(), 1'000);
  L.on(submit_ok(A1, "job-1"), 1'500);
  L.on(status(A1, st(ProviderStatusKind::running)), 2'000);
  L.at(1).deadline_ms = 0;  // a provider with no finish deadline of its own
  L.at(1).next_poll_ms = 0;
  CHECK(wake_ms(L.g) == 100'000);
  auto r = L.on(timer(), 99'999);
  CHECK_FALSE(r.changed);
  r = L.on(timer(), 100'000);
  CHECK(L.g.status == GenerationStatus::failed);
  CHECK(L.g.error_code == "BSE4002");
  CHECK(L.g.completed_ms == 100'000);
  CHECK(L.at(1).status == AttemptStatus::timed_out);
  CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
  CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  CHECK(count_of(r.effects, EffectKind::submit) == 0);  // no failover past the deadline
  CHECK(emitted(r.effects, "generation.failed"));
  // Only the provider cancel retry remains pending.
  CHECK(wake_ms(L.g) == L.at(1).next_cancel_ms);
  CHECK(L.at(1).next_cancel_ms == 102'000);
}

TEST_CASE("lifecycle: the generation deadline while pending (submit in flight)") {
  Life L({"alpha"});
  L.g.deadline_ms = 5'000;
  L.on(accepted(), 1'000);
  auto r = L.on(timer(), 6'000);
  CHECK(L.g.status == GenerationStatus::failed);
  CHECK(L.g.error_code == "BSE4002");
  CHECK(L.at(1).status == AttemptStatus::timed_out);
  CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // no job id yet
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  CHECK(wake_ms(L.g) == 0);

  // The late ack names a job we no longer want: it is canceled.
  r = L.on(submit_ok(A1, "job-late"), 6'500);
  CHECK(L.at(1).job.job_id == "job-late");
  CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  CHECK(L.at(1).cancel == CancelState::pending);
  CHECK(L.g.status == GenerationStatus::failed);
  CHECK(money_effects(r.effects) == 0);
}

// ----------------------------------------------------------------- cancel

TEST_CASE("lifecycle: cancel releases at once and retries the provider cancel") {
  Life L({"alpha", "beta"});
  L.to_running();
  auto r = L.on(cancel(), 3'000);
  CHECK(r.status.ok());
  CHECK(r.changed);
  CHECK(L.g.status == GenerationStatus::canceled);
  CHECK(L.g.completed_ms == 3'000);
  CHECK(L.g.credits_refunded);
  CHECK(L.at(1).status == AttemptStatus::canceled);
  CHECK(outcome_in(r.effects, A1) == AttemptOutcome::cancelled);
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  CHECK(emitted(r.effects, "generation.canceled"));
  CHECK(L.at(1).cancel == CancelState::pending);
  CHECK(L.at(1).cancel_tries == 1);
  CHECK(L.at(1).next_cancel_ms == 5'000);
  CHECK(L.at(1).next_poll_ms == 0);
  CHECK(wake_ms(L.g) == 5'000);

  SECTION("the provider confirms") {
    r = L.on(cancel_ack(A1, CancelOutcome::requested), 3'100);
    CHECK(L.at(1).cancel == CancelState::confirmed);
    CHECK(L.at(1).next_cancel_ms == 0);
    CHECK(wake_ms(L.g) == 0);
    r = L.on(timer(), 10'000);
    CHECK(r.effects.empty());
    // a duplicate ack: nothing
    r = L.on(cancel_ack(A1, CancelOutcome::requested), 3'200);
    CHECK_FALSE(r.changed);
  }
  SECTION("the provider cannot cancel after all") {
    L.on(cancel_ack(A1, CancelOutcome::unsupported), 3'100);
    CHECK(L.at(1).cancel == CancelState::unsupported);
    CHECK(wake_ms(L.g) == 0);
  }
  SECTION("cancel calls fail: retried with backoff until max_cancel_tries, then given_up") {
    r = L.on(cancel_ack(A1, CancelOutcome::requested, ErrorKind::connection), 3'100);
    CHECK(r.changed);
    CHECK(L.at(1).cancel == CancelState::pending);
    CHECK(L.g.audit.back().find("cancel") != std::string::npos);
    r = L.on(timer(), 4'999);
    CHECK(r.effects.empty());
    r = L.on(timer(), 5'000);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(L.at(1).cancel_tries == 2);
    CHECK(L.at(1).next_cancel_ms == 9'000);  // 2 s, then 4 s
    r = L.on(timer(), 9'000);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(L.at(1).cancel_tries == 3);
    r = L.on(timer(), 20'000);
    CHECK(r.effects.empty());
    CHECK(L.at(1).cancel == CancelState::given_up);
    CHECK(wake_ms(L.g) == 0);
    CHECK(count_of(L.log, EffectKind::cancel) == 3);  // max_cancel_tries
  }
  SECTION("a later success is discarded and never charged") {
    r = L.on(status(A1, succeeded_with(2)), 3'500);
    CHECK(L.at(1).status == AttemptStatus::discarded);
    CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
    CHECK(money_effects(r.effects) == 0);
    CHECK(L.g.status == GenerationStatus::canceled);
  }
  SECTION("a second cancel: invalid_state") {
    r = L.on(cancel(), 3'500);
    CHECK(r.status.code() == Code::invalid_state);
    CHECK(r.effects.empty());
  }
  // No failover after a cancel.
  CHECK(L.g.attempts.size() == 1);
}

TEST_CASE("lifecycle: the provider reporting a terminal state ends the provider cancel retries") {
  // specs/lifecycle.md §3.5: retried until the provider confirms *or reports a terminal state*.
  Life L({"alpha"});
  L.to_running();
  L.on(cancel(), 3'000);
  REQUIRE(L.at(1).cancel == CancelState::pending);
  const ProviderStatus terminal = GENERATE(st(ProviderStatusKind::canceled), failed_with(ErrorKind::unknown),
                                           succeeded_with(1), st(ProviderStatusKind::lost));
  INFO(provider_status_name(terminal.kind));
  L.on(status(A1, terminal), 3'500);
  CHECK(L.at(1).cancel != CancelState::pending);
  CHECK(L.at(1).next_cancel_ms == 0);
  CHECK(wake_ms(L.g) == 0);
  auto r = L.on(timer(), 60'000);
  CHECK(count_of(r.effects, EffectKind::cancel) == 0);
  CHECK(count_of(L.log, EffectKind::cancel) == 1);
}

TEST_CASE("lifecycle: cancel while pending (intent, submit in flight)") {
  Life L({"alpha", "beta"});
  L.on(accepted(), 1'000);
  auto r = L.on(cancel(), 1'100);
  CHECK(L.g.status == GenerationStatus::canceled);
  CHECK(L.at(1).status == AttemptStatus::canceled);
  CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // no job id to cancel yet
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  CHECK(wake_ms(L.g) == 0);
  // The ack arrives: the job is canceled at the provider; nothing else.
  r = L.on(submit_ok(A1, "job-1"), 1'200);
  CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  CHECK(L.g.status == GenerationStatus::canceled);
  CHECK(L.g.prediction_id.empty());
  // A duplicate ack: no second cancel.
  r = L.on(submit_ok(A1, "job-1"), 1'300);
  CHECK(r.effects.empty());
}

// ------------------------------------------------------------------ races

TEST_CASE("lifecycle race: success then cancel (assets in flight)") {
  Life L({"alpha"});
  L.to_running();
  L.on(status(A1, succeeded_with(1)), 3'000);
  auto r = L.on(cancel(), 3'100);
  CHECK(L.g.status == GenerationStatus::canceled);
  CHECK(L.at(1).status == AttemptStatus::discarded);
  CHECK(outcome_in(r.effects, A1) == AttemptOutcome::discarded);
  CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // the job is finished
  CHECK(count_of(r.effects, EffectKind::release) == 1);
  // The copy finishes afterwards: the files are dropped, nothing is charged.
  r = L.on(stored(A1, 1), 3'200);
  CHECK(count_of(r.effects, EffectKind::remove_assets, A1) == 1);
  CHECK(money_effects(r.effects) == 0);
  CHECK(L.g.status == GenerationStatus::canceled);
  CHECK(L.g.outputs.empty());
  // Or the copy fails afterwards: nothing.
  r = L.on(assets_failed(A1, true), 3'300);
  CHECK(r.effects.empty());
}

TEST_CASE("lifecycle race: cancel then success") {
  Life L({"alpha"});
  L.to_running();
  L.on(cancel(), 3'000);
  auto r = L.on(status(A1, succeeded_with(1)), 3'050);
  CHECK(L.at(1).status == AttemptStatus::discarded);
  CHECK(L.at(1).outcome == AttemptOutcome::cancelled);
  CHECK(r.effects.empty());
  CHECK(L.g.status == GenerationStatus::canceled);
}

TEST_CASE("lifecycle race: failover vs a late success of the abandoned attempt") {
  Life L({"alpha", "beta"});
  L.on(accepted(), 1'000);
  L.on(submit_ok(A1, "job-1"), 1'500);
  L.on(timer(), 21'500);  // start deadline: abandon alpha
  REQUIRE(L.g.attempts.size() == 2);
  L.on(submit_ok(A2, "job-2"), 22'000);
  REQUIRE(L.at(2).status == AttemptStatus::submitted);

  auto r = L.on(status(A1, succeeded_with(2)), 22'500);
  CHECK(L.at(1).status == AttemptStatus::discarded);
  CHECK(r.effects.empty());  // not fetched, not charged, no outcome again
  CHECK(L.at(1).outcome == AttemptOutcome::failed);
  CHECK(L.at(2).status == AttemptStatus::submitted);
  CHECK(L.g.status == GenerationStatus::processing);
  CHECK(L.g.prediction_id == "job-1");  // the first job id stays the prediction id

  // Other late statuses of the abandoned attempt are ignored too.
  r = L.on(status(A1, st(ProviderStatusKind::running)), 22'600);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::discarded);

  // The new attempt finishes normally and is the one used.
  L.on(status(A2, succeeded_with(1)), 23'000);
  L.on(stored(A2, 1), 23'100);
  CHECK(L.g.status == GenerationStatus::succeeded);
  CHECK(L.g.provider_used == "beta");
  CHECK(L.at(2).outcome == AttemptOutcome::used);
  CHECK(L.g.settled == 300);
}

TEST_CASE("lifecycle race: a late submit ack carrying success for an abandoned attempt is discarded") {
  // A synchronous provider answered after our submit-ack deadline.
  Life L({"gamma", "alpha"});
  L.on(accepted(), 1'000);
  L.on(timer(), 11'000);
  REQUIRE(L.at(1).status == AttemptStatus::timed_out);
  REQUIRE(L.g.attempts.size() == 2);
  auto r = L.on(submit_ok(A1, "sync-1", succeeded_with(1)), 11'500);
  CHECK(L.at(1).job.job_id == "sync-1");
  CHECK(L.at(1).status == AttemptStatus::discarded);
  CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
  CHECK(count_of(r.effects, EffectKind::cancel) == 0);  // nothing left to cancel
  CHECK(money_effects(r.effects) == 0);
  CHECK(L.at(2).status == AttemptStatus::intent);
}

TEST_CASE("lifecycle: duplicate and out-of-order statuses") {
  Life L({"alpha"});
  L.to_running();
  const std::string doc = encode_generation(L.g);

  SECTION("running twice, queued after running: no-ops") {
    auto r = L.on(status(A1, st(ProviderStatusKind::running)), 2'500);
    CHECK_FALSE(r.changed);
    CHECK(r.effects.empty());
    r = L.on(status(A1, st(ProviderStatusKind::queued)), 2'600);
    CHECK_FALSE(r.changed);
    CHECK(encode_generation(L.g) == doc);
    CHECK(L.at(1).started_ms == 2'000);
  }
  SECTION("a duplicate ack is a no-op") {
    auto r = L.on(submit_ok(A1, "job-1"), 2'500);
    CHECK_FALSE(r.changed);
    CHECK(r.effects.empty());
    CHECK(encode_generation(L.g) == doc);
  }
  SECTION("running after succeeded is ignored; a duplicate success fetches once") {
    L.on(status(A1, succeeded_with(1)), 3'000);
    auto r = L.on(status(A1, st(ProviderStatusKind::running)), 3'100);
    CHECK(r.effects.empty());
    CHECK(L.at(1).status == AttemptStatus::succeeded);
    r = L.on(status(A1, succeeded_with(1)), 3'200);
    CHECK(r.effects.empty());
    CHECK(count_of(L.log, EffectKind::fetch_assets) == 1);
    r = L.on(status(A1, failed_with(ErrorKind::server_error)), 3'300);
    CHECK(r.effects.empty());
    CHECK(L.at(1).status == AttemptStatus::succeeded);
    L.on(stored(A1, 1), 3'400);
    CHECK(L.g.status == GenerationStatus::succeeded);
  }
  SECTION("a status for an unknown attempt, or without a status, is ignored") {
    auto r = L.on(status("gen1.9", succeeded_with(1)), 2'500);
    CHECK_FALSE(r.changed);
    Event e;
    e.kind = EventKind::provider_status;
    e.attempt_id = A1;
    r = L.on(e, 2'600);
    CHECK_FALSE(r.changed);
    r = L.on(submit_ok("other.1", "x"), 2'700);
    CHECK_FALSE(r.changed);
    r = L.on(stored("other.1", 1), 2'800);
    CHECK_FALSE(r.changed);
    CHECK(encode_generation(L.g) == doc);
  }
}

TEST_CASE("lifecycle: a status before the ack is only audited") {
  Life L({"alpha"});
  L.on(accepted(), 1'000);
  auto r = L.on(status(A1, succeeded_with(1)), 1'100);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::intent);
  REQUIRE_FALSE(L.g.audit.empty());
  CHECK(L.g.audit.back().find("before ack") != std::string::npos);
}

TEST_CASE("lifecycle race: a stage deadline and a success at the same instant") {
  SECTION("success first: the deadline no longer applies") {
    Life L({"alpha", "beta"});
    L.to_running();
    const std::int64_t t = L.at(1).deadline_ms;
    L.on(status(A1, succeeded_with(1)), t);
    auto r = L.on(timer(), t);
    CHECK_FALSE(r.changed);
    CHECK(L.at(1).status == AttemptStatus::succeeded);
    CHECK(L.g.attempts.size() == 1);
    L.on(stored(A1, 1), t + 1);
    CHECK(L.g.status == GenerationStatus::succeeded);
  }
  SECTION("deadline first: abandoned, the success is discarded") {
    Life L({"alpha", "beta"});
    L.to_running();
    const std::int64_t t = L.at(1).deadline_ms;
    L.on(timer(), t);
    REQUIRE(L.at(1).status == AttemptStatus::timed_out);
    auto r = L.on(status(A1, succeeded_with(1)), t);
    CHECK(L.at(1).status == AttemptStatus::discarded);
    CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
    CHECK(L.g.attempts.size() == 2);
  }
  SECTION("generation deadline at the instant the outputs are stored") {
    Life L({"alpha"});
    L.g.deadline_ms = 10'000;
    L.to_running();
    L.on(status(A1, succeeded_with(1)), 9'000);
    SECTION("stored first: succeeded, the deadline timer absorbs") {
      L.on(stored(A1, 1), 10'000);
      auto r = L.on(timer(), 10'000);
      CHECK(r.effects.empty());
      CHECK(L.g.status == GenerationStatus::succeeded);
    }
    SECTION("deadline first: failed BSE4002, the stored copy is removed") {
      auto r = L.on(timer(), 10'000);
      CHECK(L.g.status == GenerationStatus::failed);
      CHECK(L.g.error_code == "BSE4002");
      CHECK(L.at(1).status == AttemptStatus::discarded);
      CHECK(outcome_in(r.effects, A1) == AttemptOutcome::discarded);
      r = L.on(stored(A1, 1), 10'000);
      CHECK(count_of(r.effects, EffectKind::remove_assets, A1) == 1);
      CHECK(money_effects(r.effects) == 0);
    }
  }
}

// ---------------------------------------------------------------- polling

TEST_CASE("lifecycle: poll scheduling per delivery mode") {
  struct Case {
    const char* provider;
    std::int64_t interval;
  };
  const Case c = GENERATE(Case{"alpha", 2'000},   // polling: poll_interval
                          Case{"beta", 30'000},   // webhook: backup_poll_interval
                          Case{"slow", 5'000},    // polling, never below min_poll_interval
                          Case{"hook", 5'000});   // webhook, never below min_poll_interval
  INFO(c.provider);
  Life L({c.provider});
  L.on(accepted(), 1'000);
  L.on(submit_ok(A1, "job-1"), 1'000);
  CHECK(L.at(1).next_poll_ms == 1'000 + c.interval);
  // Running: the finish deadline (50 s) is later than the backup poll (30 s).
  L.on(status(A1, st(ProviderStatusKind::running)), 1'000);
  CHECK(L.at(1).next_poll_ms == 1'000 + c.interval);
  auto r = L.on(timer(), 1'000 + c.interval);
  CHECK(count_of(r.effects, EffectKind::poll, A1) == 1);
  CHECK(L.at(1).next_poll_ms == 1'000 + 2 * c.interval);
}

TEST_CASE("lifecycle: synchronous providers never poll; submit_ok without a status fails over") {
  Life L({"gamma", "alpha"});
  L.on(accepted(), 1'000);
  auto r = L.on(submit_ok(A1, "sync-1"), 1'500);
  CHECK(L.at(1).status == AttemptStatus::failed);
  CHECK(L.at(1).error == ErrorKind::malformed_response);
  CHECK(L.at(1).next_poll_ms == 0);
  CHECK(count_of(r.effects, EffectKind::poll) == 0);
  REQUIRE(L.g.attempts.size() == 2);
  CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  CHECK(L.g.status == GenerationStatus::processing);  // an attempt did get a job id
  // No poll ever for the synchronous attempt.
  L.on(timer(), 100'000'000);
  CHECK(count_of(L.log, EffectKind::poll, A1) == 0);
}

TEST_CASE("lifecycle: poll errors back off, then abandon the job") {
  Life L({"alpha", "beta"});
  L.on(accepted(), 1'000);
  L.on(submit_ok(A1, "job-1"), 1'000);
  auto r = L.on(poll_error(A1, ErrorKind::server_error), 3'000);
  CHECK(r.changed);
  CHECK(L.at(1).poll_failures == 1);
  CHECK(L.at(1).next_poll_ms == 5'000);  // 2 s
  r = L.on(poll_error(A1, ErrorKind::rate_limited, 9'000), 5'000);
  CHECK(L.at(1).next_poll_ms == 14'000);  // Retry-After 9 s > 4 s backoff
  r = L.on(poll_error(A1, ErrorKind::connection), 14'000);
  CHECK(L.at(1).poll_failures == 3);
  CHECK(L.at(1).next_poll_ms == 22'000);  // 8 s
  CHECK(L.at(1).status == AttemptStatus::submitted);
  // A good answer (running) resets the count.
  L.on(status(A1, st(ProviderStatusKind::running)), 15'000);
  CHECK(L.at(1).poll_failures == 0);
  for (int i = 1; i <= 3; ++i) L.on(poll_error(A1, ErrorKind::connection), 15'000 + i);
  CHECK(L.at(1).status == AttemptStatus::running);
  r = L.on(poll_error(A1, ErrorKind::connection), 16'000);  // the 4th > max_poll_failures (3)
  CHECK(L.at(1).status == AttemptStatus::timed_out);
  CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
  CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  // A poll error for a closed attempt changes nothing.
  r = L.on(poll_error(A1, ErrorKind::connection), 16'100);
  CHECK_FALSE(r.changed);
}

// ---------------------------------------------------------------- assets

TEST_CASE("lifecycle: asset copy retried up to max_asset_tries, then fail over") {
  Life L({"alpha", "beta"});
  L.to_running();
  L.on(status(A1, succeeded_with(2)), 3'000);
  auto r = L.on(assets_failed(A1, true), 3'100);
  CHECK(r.changed);
  CHECK(r.effects.empty());
  CHECK(L.at(1).status == AttemptStatus::succeeded);
  CHECK_FALSE(L.at(1).asset_in_flight);
  CHECK(L.at(1).asset_due_ms == 5'100);  // retry_delay
  CHECK(wake_ms(L.g) == 5'100);
  r = L.on(timer(), 5'099);
  CHECK(r.effects.empty());
  r = L.on(timer(), 5'100);
  const Effect* f = find_effect(r.effects, EffectKind::fetch_assets, A1);
  REQUIRE(f != nullptr);
  REQUIRE(f->outputs.size() == 2);
  CHECK(f->outputs[1].url == "https://cdn.test/out1");
  CHECK(L.at(1).asset_tries == 2);
  CHECK(L.at(1).asset_in_flight);
  CHECK(wake_ms(L.g) == 0);

  r = L.on(assets_failed(A1, true), 5'200);
  CHECK(L.at(1).asset_due_ms == 9'200);  // 4 s
  L.on(timer(), 9'200);
  CHECK(L.at(1).asset_tries == 3);
  r = L.on(assets_failed(A1, true), 9'300);  // the 3rd failure: max_asset_tries
  CHECK(L.at(1).status == AttemptStatus::failed);
  CHECK(L.at(1).output_urls.empty());
  CHECK(outcome_in(r.effects, A1) == AttemptOutcome::failed);
  CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  CHECK(count_of(L.log, EffectKind::fetch_assets, A1) == 3);
  CHECK(money_effects(L.log) == 0);
}

TEST_CASE("lifecycle: asset failures not worth retrying fail over at once") {
  Life L({"alpha", "beta"});
  L.to_running();
  SECTION("not retryable") {
    L.on(status(A1, succeeded_with(1)), 3'000);
    auto r = L.on(assets_failed(A1, false, ErrorKind::invalid_input), 3'100);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(L.at(1).error == ErrorKind::invalid_input);
    // invalid_input is fail_fast: the generation ends (an output we refuse to store is not retried elsewhere)
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(count_of(r.effects, EffectKind::release) == 1);
  }
  SECTION("not retryable, fail_over kind") {
    L.on(status(A1, succeeded_with(1)), 3'000);
    auto r = L.on(assets_failed(A1, false, ErrorKind::none), 3'100);
    CHECK(L.at(1).error == ErrorKind::malformed_response);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  }
  SECTION("inline outputs are not durable: never retried") {
    L.on(status(A1, succeeded_with(1, 1)), 3'000);
    CHECK(L.at(1).inline_outputs == 1);
    auto r = L.on(assets_failed(A1, true), 3'100);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  }
  SECTION("a duplicate asset failure is ignored") {
    L.on(status(A1, succeeded_with(1)), 3'000);
    L.on(assets_failed(A1, true), 3'100);
    auto r = L.on(assets_failed(A1, true), 3'150);
    CHECK_FALSE(r.changed);
    CHECK(L.at(1).asset_due_ms == 5'100);
  }
}

// --------------------------------------------------------------- recovery

TEST_CASE("lifecycle recovery: each durable point") {
  SECTION("accepted but never stepped: the first attempt starts") {
    Life L({"alpha"});
    auto r = L.on(recovered(), 2'000);
    CHECK(count_of(r.effects, EffectKind::submit, A1) == 1);
    CHECK_FALSE(r.effects[0].resubmit);
  }
  SECTION("intent in flight (crash window): resubmit, counted") {
    Life L({"alpha"});
    L.on(accepted(), 1'000);
    auto r = L.on(recovered(), 5'000);
    const Effect* s = find_effect(r.effects, EffectKind::submit, A1);
    REQUIRE(s != nullptr);
    CHECK(s->resubmit);
    CHECK(L.at(1).resubmitted);
    CHECK(L.at(1).submits == 2);
    CHECK(L.at(1).submit_in_flight);
    CHECK(L.at(1).deadline_ms == 15'000);
    // the ack for the resubmission proceeds normally
    L.on(submit_ok(A1, "job-1"), 5'100);
    CHECK(L.at(1).status == AttemptStatus::submitted);
  }
  SECTION("intent not in flight (a submit retry scheduled): submitted when due, not resubmitted") {
    Life L({"alpha"});
    L.on(accepted(), 1'000);
    L.on(submit_error(A1, ErrorKind::server_error), 1'100);
    REQUIRE(L.at(1).submit_due_ms == 2'100);
    auto r = L.on(recovered(), 2'000);  // not yet due
    CHECK(count_of(r.effects, EffectKind::submit) == 0);
    CHECK(wake_ms(L.g) == 2'100);
    r = L.on(recovered(), 3'000);  // due
    const Effect* s = find_effect(r.effects, EffectKind::submit, A1);
    REQUIRE(s != nullptr);
    CHECK_FALSE(s->resubmit);
    CHECK_FALSE(L.at(1).resubmitted);
    CHECK(L.at(1).submits == 2);
  }
  SECTION("submitted / running: polled now") {
    Life L({"alpha"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'100);
    const bool running = GENERATE(false, true);
    if (running) L.on(status(A1, st(ProviderStatusKind::running)), 1'200);
    auto r = L.on(recovered(), 1'300);
    CHECK(count_of(r.effects, EffectKind::poll, A1) == 1);
    CHECK(count_of(r.effects, EffectKind::submit) == 0);
    CHECK(L.at(1).next_poll_ms == 3'300);
  }
  SECTION("synchronous submitted: no poll") {
    Life L({"gamma"});
    L.on(accepted(), 1'000);
    // A synchronous ack with a running status (an odd provider): stays submitted→running.
    L.on(submit_ok(A1, "sync-1", st(ProviderStatusKind::running)), 1'100);
    REQUIRE(L.at(1).status == AttemptStatus::running);
    auto r = L.on(recovered(), 1'300);
    CHECK(count_of(r.effects, EffectKind::poll) == 0);
  }
  SECTION("succeeded with the asset copy in flight: fetched again") {
    Life L({"alpha"});
    L.to_running();
    L.on(status(A1, succeeded_with(2)), 3'000);
    auto r = L.on(recovered(), 4'000);
    const Effect* f = find_effect(r.effects, EffectKind::fetch_assets, A1);
    REQUIRE(f != nullptr);
    CHECK(f->outputs.size() == 2);
    CHECK(L.at(1).asset_tries == 2);
    CHECK(L.at(1).asset_in_flight);
    L.on(stored(A1, 2), 4'500);
    CHECK(L.g.status == GenerationStatus::succeeded);
  }
  SECTION("succeeded with inline outputs in flight: lost with the crash, fail over") {
    Life L({"alpha", "beta"});
    L.to_running();
    L.on(status(A1, succeeded_with(0, 1)), 3'000);
    auto r = L.on(recovered(), 4'000);
    CHECK(L.at(1).status == AttemptStatus::failed);
    CHECK(count_of(r.effects, EffectKind::fetch_assets) == 0);
    CHECK(count_of(r.effects, EffectKind::submit, A2) == 1);
  }
  SECTION("a pending provider cancel is retried at once (terminal generation)") {
    Life L({"alpha"});
    L.to_running();
    L.on(cancel(), 3'000);
    auto r = L.on(recovered(), 3'500);  // before the scheduled retry
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(L.at(1).cancel_tries == 2);
    CHECK(money_effects(r.effects) == 0);
    CHECK(L.g.status == GenerationStatus::canceled);
  }
  SECTION("a pending provider cancel of an abandoned attempt while the next one runs") {
    Life L({"alpha", "beta"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'100);
    L.on(timer(), 21'100);  // start deadline: alpha abandoned, cancel pending
    REQUIRE(L.at(1).cancel == CancelState::pending);
    L.on(submit_ok(A2, "job-2"), 21'200);
    auto r = L.on(recovered(), 21'300);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(count_of(r.effects, EffectKind::poll, A2) == 1);
  }
  SECTION("asset copy in flight and a pending cancel of an abandoned attempt: both resumed at once") {
    Life L({"alpha", "beta"});
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'100);
    L.on(timer(), 21'100);  // alpha abandoned, its cancel pending
    L.on(submit_ok(A2, "job-2"), 21'200);
    L.on(status(A2, succeeded_with(1)), 21'300);
    auto r = L.on(recovered(), 21'400);
    CHECK(count_of(r.effects, EffectKind::fetch_assets, A2) == 1);
    CHECK(count_of(r.effects, EffectKind::cancel, A1) == 1);
    CHECK(L.at(1).next_cancel_ms > 21'400);
  }
  SECTION("asset copy in flight past the generation deadline: failed on recovery") {
    Life L({"alpha"});
    L.g.deadline_ms = 50'000;
    L.to_running();
    L.on(status(A1, succeeded_with(1)), 3'000);
    auto r = L.on(recovered(), 60'000);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4002");
    CHECK(count_of(r.effects, EffectKind::release) == 1);
  }
  SECTION("terminal without pending work: nothing") {
    Life L({"alpha"});
    L.to_running();
    L.on(status(A1, succeeded_with(1)), 3'000);
    L.on(stored(A1, 1), 3'100);
    auto r = L.on(recovered(), 4'000);
    CHECK(r.effects.empty());
    CHECK_FALSE(r.changed);
  }
  SECTION("the generation deadline passed while down: failed on recovery") {
    Life L({"alpha"});
    L.g.deadline_ms = 50'000;
    L.on(accepted(), 1'000);
    L.on(submit_ok(A1, "job-1"), 1'100);
    auto r = L.on(recovered(), 60'000);
    CHECK(L.g.status == GenerationStatus::failed);
    CHECK(L.g.error_code == "BSE4002");
    CHECK(count_of(r.effects, EffectKind::release) == 1);
    CHECK(count_of(r.effects, EffectKind::poll) == 0);
  }
}

// ---------------------------------------------------------------- wake_ms

TEST_CASE("lifecycle: wake_ms is the earliest pending timer") {
  Life L({"alpha", "beta"});
  CHECK(wake_ms(L.g) == 0);
  L.g.deadline_ms = 40'000;
  CHECK(wake_ms(L.g) == 40'000);
  L.on(accepted(), 1'000);
  CHECK(wake_ms(L.g) == 11'000);  // submit-ack deadline before the generation deadline
  L.on(submit_ok(A1, "job-1"), 1'000);
  CHECK(wake_ms(L.g) == 3'000);  // next poll
  L.at(1).next_poll_ms = 0;
  CHECK(wake_ms(L.g) == 21'000);  // start deadline
  L.at(1).deadline_ms = 0;
  CHECK(wake_ms(L.g) == 40'000);
  // A cancel retry of a closed attempt counts, a stale due time of a closed attempt does not.
  const Attempt copy = L.at(1);
  L.g.attempts.push_back(copy);
  L.g.attempts[0].status = AttemptStatus::timed_out;
  L.g.attempts[0].cancel = CancelState::pending;
  L.g.attempts[0].next_cancel_ms = 30'000;
  L.g.attempts[0].submit_due_ms = 5'000;
  L.g.attempts[0].asset_due_ms = 6'000;
  L.g.attempts[1].id = A2;
  CHECK(wake_ms(L.g) == 30'000);
  L.g.attempts[0].cancel = CancelState::confirmed;
  CHECK(wake_ms(L.g) == 40'000);
  // Terminal: the generation deadline no longer counts; pending cancels still do.
  L.g.status = GenerationStatus::canceled;
  L.g.attempts[1].status = AttemptStatus::canceled;
  CHECK(wake_ms(L.g) == 0);
  L.g.attempts[1].cancel = CancelState::pending;
  L.g.attempts[1].next_cancel_ms = 45'000;
  CHECK(wake_ms(L.g) == 45'000);
  L.g.status = GenerationStatus::pending;  // keep the money property honest: nothing happened
}

TEST_CASE("lifecycle: wake_ms drives a whole life with timers only at wake times") {
  // A polling provider that never answers polls: the engine only fires timers at wake_ms.
  Life L({"alpha", "beta"});
  L.g.deadline_ms = 200'000;
  L.on(accepted(), 1'000);
  L.on(submit_ok(A1, "job-1"), 1'000);
  int timers = 0;
  while (!is_terminal(L.g.status) && timers < 1'000) {
    const std::int64_t w = wake_ms(L.g);
    REQUIRE(w > 0);
    auto r = L.on(timer(), w);
    CHECK(r.changed);  // something was due at the wake time
    ++timers;
    for (const auto& e : r.effects)
      if (e.kind == EffectKind::submit) L.on(submit_ok(e.attempt_id, "job-" + e.attempt_id), w);
  }
  CHECK(L.g.status == GenerationStatus::failed);
  // beta's start deadline (webhook, can't cancel) or the generation deadline ends it.
  CHECK(L.g.completed_ms <= 200'000);
  CHECK(L.g.attempts.size() == 2);
}

// ---------------------------------------------- property: random walks

namespace {

int rank_of(AttemptStatus s) {
  switch (s) {
    case AttemptStatus::intent: return 0;
    case AttemptStatus::submitted: return 1;
    case AttemptStatus::running: return 2;
    case AttemptStatus::succeeded: return 3;
    case AttemptStatus::failed:
    case AttemptStatus::canceled:
    case AttemptStatus::timed_out: return 4;
    case AttemptStatus::discarded: return 5;
  }
  return -1;
}

}  // namespace

TEST_CASE("lifecycle property: random event sequences keep one settle-or-release and monotone attempts") {
  const std::vector<std::vector<std::string>> chains = {{"alpha"}, {"alpha", "beta"}, {"gamma", "alpha", "beta"},
                                                        {"beta", "slow"}};
  const std::vector<ErrorKind> kinds = {ErrorKind::rate_limited,   ErrorKind::server_error, ErrorKind::connection,
                                        ErrorKind::timeout,        ErrorKind::provider_unavailable,
                                        ErrorKind::moderation,     ErrorKind::invalid_input, ErrorKind::unknown,
                                        ErrorKind::malformed_response};
  constexpr std::uint32_t kWalks = 400;
  std::map<GenerationStatus, std::uint32_t> ends;
  for (std::uint32_t seed = 1; seed <= kWalks; ++seed) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    Life L(chains[pick(chains.size())]);
    L.g.deadline_ms = (seed % 3 == 0) ? 0 : 150'000;
    // Half of the walks are calmer: shorter pauses, and most failure events
    // become progress (a success status or a stored copy), so that enough
    // walks end succeeded; the others keep the full mix.
    const bool calm = (seed / 3) % 2 == 0;
    std::int64_t now = 1'000;
    L.on(accepted(), now);
    for (int i = 0; i < 60; ++i) {
      now += static_cast<std::int64_t>(pick(calm ? 2'000 : 8'000));
      std::string aid = L.g.attempts.empty() ? A1 : L.g.attempts[pick(L.g.attempts.size())].id;
      if (pick(20) == 0) aid = "gen1.9";
      Event e;
      std::size_t what = pick(12);
      if (calm && (what == 1 || what == 4 || what == 5 || what == 7) && pick(8) != 0) what = pick(2) == 0 ? 3 : 6;
      switch (what) {
        case 0: e = submit_ok(aid, "job-" + aid, pick(3) == 0 ? std::optional(succeeded_with(1)) : std::nullopt); break;
        case 1: e = submit_error(aid, kinds[pick(kinds.size())], static_cast<std::int64_t>(pick(3'000))); break;
        case 2: e = status(aid, st(ProviderStatusKind::running)); break;
        case 3: e = status(aid, succeeded_with(static_cast<int>(pick(3)), static_cast<int>(pick(2)))); break;
        case 4: e = status(aid, failed_with(kinds[pick(kinds.size())])); break;
        case 5: e = poll_error(aid, kinds[pick(kinds.size())]); break;
        case 6: e = stored(aid, 1 + static_cast<int>(pick(3))); break;
        case 7: e = assets_failed(aid, pick(2) == 0); break;
        case 8: e = pick(4) == 0 ? cancel() : timer(); break;
        case 9: e = cancel_ack(aid, CancelOutcome::requested, pick(2) ? ErrorKind::none : ErrorKind::connection); break;
        case 10: e = recovered(); break;
        default: {
          const std::int64_t w = wake_ms(L.g);
          if (w > 0) now = std::max(now, w);
          e = timer();
        }
      }
      std::vector<AttemptStatus> before;
      for (const auto& a : L.g.attempts) before.push_back(a.status);
      const GenerationStatus gen_before = L.g.status;
      L.on(e, now);
      INFO("step " << i << " event " << event_kind_name(e.kind));
      REQUIRE(money_effects(L.log) <= 1);
      REQUIRE(money_effects(L.log) == (is_terminal(L.g.status) ? 1u : 0u));
      if (is_terminal(gen_before)) REQUIRE(L.g.status == gen_before);
      REQUIRE(L.g.attempts.size() >= before.size());
      REQUIRE(L.g.attempts.size() <= L.g.chain.size());
      for (std::size_t k = 0; k < before.size(); ++k) REQUIRE(rank_of(L.g.attempts[k].status) >= rank_of(before[k]));
      // At most one open attempt, and none once terminal.
      const auto open = std::count_if(L.g.attempts.begin(), L.g.attempts.end(), [](const Attempt& a) { return a.open(); });
      REQUIRE(open <= 1);
      if (is_terminal(L.g.status) && L.g.status != GenerationStatus::succeeded) REQUIRE(open == 0);
      // The codec carries every reachable state.
      auto back = decode_generation(encode_generation(L.g));
      REQUIRE(back.ok());
      REQUIRE(encode_generation(*back) == encode_generation(L.g));
    }
    // Time alone ends every generation that has a deadline.
    if (L.g.deadline_ms > 0 && !is_terminal(L.g.status)) {
      L.on(timer(), std::max<std::int64_t>(now, L.g.deadline_ms));
      CHECK(is_terminal(L.g.status));
    }
    // Each outcome is recorded at most once per attempt.
    for (const auto& a : L.g.attempts) CHECK(count_of(L.log, EffectKind::record_outcome, a.id) <= 1);
    ++ends[L.g.status];
  }
  // The walks reach every terminal state in a healthy mix, so the properties
  // above were checked on the way into each of them.
  for (GenerationStatus s : {GenerationStatus::succeeded, GenerationStatus::failed, GenerationStatus::canceled}) {
    INFO(generation_status_name(s) << ": " << ends[s] << " of " << kWalks << " walks");
    CHECK(ends[s] >= kWalks / 10);
  }
}
