// Engine over SQLite (PostgreSQL under engine_test_postgres, see
// test_store_kind) with scripted providers and a manual clock: every
// delivery mode, failover, fail-fast, deadlines, cancel, idempotency,
// callbacks, recovery; each test ends with the ledger and lifecycle
// invariants checked.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <sodium.h>

#include "babysea/schema.hpp"
#include "engine/rig.hpp"
#include "service/render.hpp"

using namespace babysea;
using namespace babysea::testing;

namespace {

void require_clean(Rig& rig) {
  const std::string v = rig.check_invariants();
  INFO(v);
  REQUIRE(v.empty());
}

std::string job_of(const GenerationView& g, int order) {
  for (const auto& a : g.attempts)
    if (a.order == order) return a.job_id;
  return {};
}

}  // namespace

TEST_CASE("webhook provider: submit, callbacks, stored outputs, settlement", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  auto s = rig.submit();
  REQUIRE(s.ok());
  CHECK_FALSE(s->replayed);
  const std::string id = s->generation.id;
  CHECK(s->generation.status == GenerationStatus::pending);
  CHECK(rig.available() == before - s->generation.held);
  CHECK(s->generation.held == 3'000);  // flux-schnell: 0.003 credits, one output

  rig.run();  // the submit effect
  CHECK(rig.first().submit_calls() == 1);
  CHECK(rig.first().last_callback_url() == "https://babysea.test/v1/providers/callback/replicate");
  auto g = rig.get(id);
  CHECK(g.status == GenerationStatus::processing);
  const std::string job = job_of(g, 1);
  REQUIRE_FALSE(job.empty());
  CHECK(g.prediction_id == job);

  auto r1 = rig.callback("replicate", "m1|" + job + "|running");
  REQUIRE(r1.ok());
  CHECK(r1->applied);
  CHECK(r1->generation_id == id);
  auto r2 = rig.callback("replicate", "m2|" + job + "|succeeded");
  REQUIRE(r2.ok());
  rig.run();  // asset copy
  g = rig.get(id);
  REQUIRE(g.status == GenerationStatus::succeeded);
  CHECK(g.provider_used == "replicate");
  REQUIRE(g.outputs.size() == 1);
  CHECK(g.outputs[0].rfind("https://assets.babysea.test/", 0) == 0);
  CHECK(g.cost == 3'000);
  CHECK(rig.available() == before - 3'000);

  // Duplicate delivery of the same message: not applied, nothing changes.
  auto dup = rig.callback("replicate", "m2|" + job + "|succeeded");
  REQUIRE(dup.ok());
  CHECK_FALSE(dup->applied);
  // Tampered: refused before anything is read.
  auto bad = rig.engine().handle_provider_callback("replicate", {}, "m3|" + job + "|failed");
  CHECK(bad.code() == Code::invalid_signature);
  auto unknown = rig.callback("replicate", "m4|no-such-job|succeeded");
  CHECK(unknown.code() == Code::not_found);
  auto foreign = rig.callback("nobody", "m5|" + job + "|succeeded");
  CHECK(foreign.code() == Code::not_found);
  // A late failure after success changes nothing.
  REQUIRE(rig.callback("replicate", "m6|" + job + "|failed").ok());
  rig.run();
  CHECK(rig.get(id).status == GenerationStatus::succeeded);
  CHECK(rig.available() == before - 3'000);
  require_clean(rig);
}

TEST_CASE("polling provider: polls at its interval until success", "[engine]") {
  RigOptions o;
  o.first_mode = DeliveryMode::polling;
  Rig rig(o);
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  CHECK(rig.first().poll_calls() == 0);
  rig.first().poll_status(ScriptedProvider::status(ProviderStatusKind::running));
  rig.first().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/x.png"));
  rig.run(1'000);  // before the 2 s interval: no poll
  CHECK(rig.first().poll_calls() == 0);
  rig.run(1'000);
  CHECK(rig.first().poll_calls() == 1);
  CHECK(rig.get(s->generation.id).status == GenerationStatus::processing);
  rig.run(2'000);
  CHECK(rig.first().poll_calls() == 2);
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(g.predict_ms == 1500);
  require_clean(rig);
}

TEST_CASE("webhook provider is backed by reconciliation polls", "[engine]") {
  Rig rig;  // replicate: webhook, backup poll every 30 s
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  rig.first().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/y.png"));
  rig.run(29'000);
  CHECK(rig.first().poll_calls() == 0);
  rig.run(1'000);
  CHECK(rig.first().poll_calls() == 1);
  CHECK(rig.get(s->generation.id).status == GenerationStatus::succeeded);
  require_clean(rig);
}

TEST_CASE("synchronous provider answers with the result", "[engine]") {
  RigOptions o;
  o.first_mode = DeliveryMode::synchronous;
  Rig rig(o);
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(rig.first().poll_calls() == 0);
  CHECK(rig.first().last_callback_url().empty());
  require_clean(rig);
}

TEST_CASE("failover: a failing provider hands over to the next, same hold", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  rig.first().fail_submit(ErrorKind::model_unavailable);
  rig.second().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/z.png"));
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  auto g = rig.get(s->generation.id);
  REQUIRE(g.attempts.size() == 2);
  CHECK(g.attempts[0].state == "failed");
  CHECK(g.attempts[0].outcome == "failed");
  CHECK(g.attempts[1].provider == "fal");
  rig.run(2'000);
  g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(g.provider_used == "fal");
  CHECK(g.provider_initialized == "replicate");
  CHECK(rig.available() == before - 3'000);
  require_clean(rig);
}

TEST_CASE("retry_same submit errors are retried, honoring Retry-After", "[engine]") {
  Rig rig;
  rig.first().fail_submit(ErrorKind::rate_limited, 5'000);
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  CHECK(rig.first().submit_calls() == 1);
  rig.run(4'000);
  CHECK(rig.first().submit_calls() == 1);
  rig.run(1'000);
  CHECK(rig.first().submit_calls() == 2);
  auto g = rig.get(s->generation.id);
  CHECK(g.attempts.size() == 1);
  CHECK(g.status == GenerationStatus::processing);
  CHECK(g.attempts[0].submits == 2);
  require_clean(rig);
}

TEST_CASE("every provider failing: failed, BSE4001, hold released", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  rig.first().fail_submit(ErrorKind::provider_unavailable);
  rig.second().fail_submit(ErrorKind::model_unavailable);
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::failed);
  CHECK(g.error_code == "BSE4001");
  CHECK(g.credits_refunded);
  CHECK(rig.available() == before);
  require_clean(rig);
}

TEST_CASE("moderation fails fast without trying the next provider", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  const std::string job = job_of(rig.get(s->generation.id), 1);
  REQUIRE(rig.callback("replicate", "m1|" + job + "|moderated").ok());
  rig.run();
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::failed);
  CHECK(g.error_code == "BSE4003");
  CHECK(g.attempts.size() == 1);
  CHECK(rig.second().submit_calls() == 0);
  CHECK(rig.available() == before);
  require_clean(rig);
}

TEST_CASE("a silent provider is abandoned at its deadline and the next one serves", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();  // replicate accepted, then never says anything (polls: queued)
  rig.second().set_default_poll(ScriptedProvider::succeeded("https://cdn.provider.test/late.png"));
  for (int i = 0; i < 12; ++i) rig.run(30'000);  // past the 300 s start deadline
  auto g = rig.get(s->generation.id);
  REQUIRE(g.attempts.size() == 2);
  CHECK(g.attempts[0].state == "timed_out");
  CHECK(rig.first().cancel_calls() >= 1);  // abandoned job canceled where possible
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(g.provider_used == "fal");
  require_clean(rig);
}

TEST_CASE("an output URL that expired before the copy fails over, never succeeds without assets", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  const std::string job = job_of(rig.get(s->generation.id), 1);
  rig.second().set_default_poll(ScriptedProvider::succeeded("https://cdn.provider.test/fine.png"));
  REQUIRE(rig.callback("replicate", "m1|" + job + "|succeeded|https://cdn.provider.test/expired.png").ok());
  rig.run();
  auto g = rig.get(s->generation.id);
  REQUIRE(g.attempts.size() == 2);
  CHECK(g.attempts[0].state == "failed");
  rig.run(2'000);
  g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(g.provider_used == "fal");
  require_clean(rig);
}

TEST_CASE("cancel: refund at once, provider cancel sent, late success discarded", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  const std::string id = s->generation.id;
  const std::string job = job_of(rig.get(id), 1);
  auto c = rig.engine().cancel(rig.principal(), id);
  REQUIRE(c.ok());
  CHECK(c->credits_refunded);
  CHECK(c->provider_cancel_sent);
  CHECK(rig.available() == before);
  rig.run();
  CHECK(rig.first().cancel_calls() == 1);
  auto again = rig.engine().cancel(rig.principal(), id);
  CHECK(again.code() == Code::invalid_state);
  REQUIRE(rig.callback("replicate", "m9|" + job + "|succeeded").ok());
  rig.run();
  auto g = rig.get(id);
  CHECK(g.status == GenerationStatus::canceled);
  CHECK(g.attempts[0].state == "discarded");
  CHECK(g.outputs.empty());
  CHECK(rig.available() == before);
  auto u = rig.engine().usage(rig.principal(), 30);
  REQUIRE(u.ok());
  REQUIRE(u->by_provider.size() == 1);
  CHECK(u->by_provider[0].cancelled == 1);
  CHECK(u->total.cancelled == 1);
  require_clean(rig);
}

TEST_CASE("cancel racing a success whose copy is in flight", "[engine]") {
  Rig rig;
  const Micros before = rig.available();
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  const std::string id = s->generation.id;
  const std::string job = job_of(rig.get(id), 1);
  REQUIRE(rig.callback("replicate", "m1|" + job + "|succeeded").ok());  // copy queued, not run
  REQUIRE(rig.engine().cancel(rig.principal(), id).ok());
  rig.run();  // the copy finishes after the cancel: files dropped
  auto g = rig.get(id);
  CHECK(g.status == GenerationStatus::canceled);
  CHECK(g.attempts[0].outcome == "discarded");
  CHECK(rig.assets().file_count() == 0);
  CHECK(rig.available() == before);
  require_clean(rig);
}

TEST_CASE("delete: only terminal generations; files removed, record kept", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  auto early = rig.engine().remove(rig.principal(), s->generation.id);
  CHECK(early.code() == Code::invalid_state);
  rig.run();
  REQUIRE(rig.callback("replicate", "m1|" + job_of(rig.get(s->generation.id), 1) + "|succeeded").ok());
  rig.run();
  REQUIRE(rig.assets().file_count() == 1);
  auto d = rig.engine().remove(rig.principal(), s->generation.id);
  REQUIRE(d.ok());
  CHECK(d->files_deleted == 1);
  auto g = rig.get(s->generation.id);
  CHECK(g.removed);
  CHECK(g.outputs.empty());
  CHECK(rig.assets().file_count() == 0);
  CHECK(render::generation(g).find("\"generation_removed\":true") != std::string::npos);
  require_clean(rig);
}

TEST_CASE("idempotency: replay, conflict, canceled form, validation stores nothing", "[engine]") {
  Rig rig;
  auto a = rig.submit("job:unit-test-1");
  REQUIRE(a.ok());
  auto b = rig.submit("job:unit-test-1");
  REQUIRE(b.ok());
  CHECK(b->replayed);
  CHECK(b->generation.id == a->generation.id);
  auto c = rig.submit("job:unit-test-1", "a different prompt");
  CHECK(c.code() == Code::idempotency_conflict);
  auto bad_key = rig.submit("has space");
  CHECK(bad_key.code() == Code::invalid_request);
  // Same key on another account is a different namespace.
  auto key2 = rig.engine().api_keys().issue(IssueKeyRequest{"acct_other", kFullAccess, "", 0});
  REQUIRE(key2.ok());
  auto p2 = rig.engine().authenticate(key2->key);
  REQUIRE(p2.ok());
  auto other = rig.engine().submit(*p2, kRigModel, "{\"generation_prompt\":\"a lighthouse at dawn\"}", "job:unit-test-1");
  CHECK(other.code() == Code::insufficient_credits);  // a new write for that account (no credits), not a replay
  // Validation refusal stores nothing: the key stays free.
  auto invalid = rig.engine().submit(rig.principal(), kRigModel, "{\"generation_prompt\":\"\"}", "job:k2");
  CHECK(invalid.code() == Code::invalid_request);
  auto valid = rig.submit("job:k2");
  REQUIRE(valid.ok());
  CHECK_FALSE(valid->replayed);
  REQUIRE(rig.engine().cancel(rig.principal(), a->generation.id).ok());
  auto d = rig.submit("job:unit-test-1");
  REQUIRE(d.ok());
  CHECK(d->replayed);
  CHECK(d->generation.status == GenerationStatus::canceled);
  CHECK(render::create_response(d->generation) ==
        "{\"generation_id\":\"" + a->generation.id + "\",\"generation_status\":\"canceled\"}");
  // After the TTL the key is free again.
  rig.run(25 * 3'600'000LL);
  auto e = rig.submit("job:unit-test-1");
  REQUIRE(e.ok());
  CHECK_FALSE(e->replayed);
  CHECK(e->generation.id != a->generation.id);
  rig.run();
  require_clean(rig);
}

TEST_CASE("idempotency: a record from before the BLAKE2b fingerprint still replays, or conflicts", "[engine]") {
  Rig rig;
  auto a = rig.submit("job:legacy");
  REQUIRE(a.ok());
  IdempotencyRow row;
  auto load = [&] {
    REQUIRE(rig.store().read([&](UnitOfWork& u) { return u.generations().get_idempotency(rig.account(), "job:legacy", row); }).ok());
  };
  auto store = [&] { REQUIRE(rig.store().transact([&](UnitOfWork& u) { return u.generations().put_idempotency(row); }).ok()); };
  load();
  REQUIRE(row.fingerprint.rfind("b2:", 0) == 0);
  CHECK(row.fingerprint.size() == 3 + 64);
  // The earlier form: a bare hex SHA-256 of the same text.
  NormalizeOptions no;
  no.payloads = PayloadMode::none;
  auto req = normalize(rig.catalog(), kRigModel, "{\"generation_prompt\":\"a lighthouse at dawn\"}", no);
  REQUIRE(req.ok());
  const std::string text = "POST /v1/generate/" + std::string(model_type_name(req->model().type)) + "/" +
                           req->model().identifier + "\n" + req->canonical_json();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  row.fingerprint = hex;
  store();
  auto b = rig.submit("job:legacy");
  REQUIRE(b.ok());
  CHECK(b->replayed);
  CHECK(b->generation.id == a->generation.id);
  CHECK(rig.submit("job:legacy", "another prompt").code() == Code::idempotency_conflict);
  row.fingerprint = std::string(64, '0');  // a legacy fingerprint of some other request
  store();
  CHECK(rig.submit("job:legacy").code() == Code::idempotency_conflict);
  rig.run();
  require_clean(rig);
}

TEST_CASE("insufficient credits: nothing is written", "[engine]") {
  RigOptions o;
  o.grant = 1'000;  // less than one flux-schnell generation
  Rig rig(o);
  auto s = rig.submit("job:poor");
  CHECK(s.code() == Code::insufficient_credits);
  auto page = rig.engine().list(rig.principal(), 10, 0);
  REQUIRE(page.ok());
  CHECK(page->total == 0);
  CHECK(rig.available() == 1'000);
  rig.run();
  CHECK(rig.first().submit_calls() == 0);
  REQUIRE(rig.ledger().grant(rig.account(), 10'000, "top-up").ok());
  auto retry = rig.submit("job:poor");  // the key was not consumed
  REQUIRE(retry.ok());
  CHECK_FALSE(retry->replayed);
  require_clean(rig);
}

TEST_CASE("accounts are isolated: another account's generation is not found", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  auto key2 = rig.engine().api_keys().issue(IssueKeyRequest{"acct_other", kFullAccess, "", 0});
  REQUIRE(key2.ok());
  auto p2 = rig.engine().authenticate(key2->key);
  REQUIRE(p2.ok());
  auto g = rig.engine().get(*p2, s->generation.id);
  auto missing = rig.engine().get(*p2, "00000000-0000-7000-8000-000000000000");
  CHECK(g.code() == Code::not_found);
  CHECK(missing.code() == Code::not_found);
  CHECK(g.status().message() == missing.status().message());
  CHECK(rig.engine().cancel(*p2, s->generation.id).code() == Code::not_found);
  CHECK(rig.engine().remove(*p2, s->generation.id).code() == Code::not_found);
  auto page = rig.engine().list(*p2, 10, 0);
  REQUIRE(page.ok());
  CHECK(page->total == 0);
  // Scopes.
  auto ro = rig.engine().api_keys().issue(IssueKeyRequest{rig.account(), ScopeSet{Scope::generation_read}, "", 0});
  REQUIRE(ro.ok());
  auto pr = rig.engine().authenticate(ro->key);
  REQUIRE(pr.ok());
  CHECK(rig.engine().submit(*pr, kRigModel, "{\"generation_prompt\":\"x\"}", {}).code() == Code::forbidden);
  CHECK(rig.engine().cancel(*pr, s->generation.id).code() == Code::forbidden);
  CHECK(rig.engine().get(*pr, s->generation.id).ok());
  rig.run();
}

TEST_CASE("list is newest first and paginated", "[engine]") {
  Rig rig;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto s = rig.submit();
    REQUIRE(s.ok());
    ids.push_back(s->generation.id);
    rig.clock().advance(std::chrono::milliseconds(10));
  }
  auto p = rig.engine().list(rig.principal(), 2, 1);
  REQUIRE(p.ok());
  CHECK(p->total == 5);
  REQUIRE(p->generations.size() == 2);
  CHECK(p->generations[0].id == ids[3]);
  CHECK(p->generations[1].id == ids[2]);
  CHECK(rig.engine().list(rig.principal(), 0, 0).code() == Code::invalid_request);
  CHECK(rig.engine().list(rig.principal(), 101, 0).code() == Code::invalid_request);
  CHECK(rig.engine().list(rig.principal(), 10, -1).code() == Code::invalid_request);
  rig.run();
}

TEST_CASE("restart: an engine destroyed before the submit recovers and submits once", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.restart();  // the submit effect never ran
  rig.run();
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::processing);
  CHECK(rig.first().submit_calls() == 1);
  // Restart with the job durable: the next engine polls it.
  rig.first().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/r.png"));
  rig.restart();
  rig.run();
  CHECK(rig.first().poll_calls() == 1);
  CHECK(rig.get(s->generation.id).status == GenerationStatus::succeeded);
  CHECK(rig.first().max_submits_per_attempt() == 1);
  require_clean(rig);
}

TEST_CASE("restart: the generation deadline fails what the providers never finished", "[engine]") {
  Rig rig;
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  rig.stop();
  rig.clock().advance(std::chrono::hours(2));
  rig.start();
  rig.run();
  auto g = rig.get(s->generation.id);
  CHECK(g.status == GenerationStatus::failed);
  CHECK(g.error_code == "BSE4002");
  require_clean(rig);
}

// An endpoint of the rig's account that wants every event: the engine
// appends lifecycle events to the outbox only for such an account.
void subscribe(Rig& rig) {
  WebhookEndpointRow ep;
  ep.id = "we_engine_test";
  ep.account = rig.principal().account;
  ep.url = "https://hooks.example/babysea";
  ep.secret = "whsec_engine_test_secret";
  ep.created_ms = ep.updated_ms = 1;
  REQUIRE(rig.store().transact([&](UnitOfWork& u) { return u.webhook_endpoints().insert(ep); }).ok());
}

// Submits one generation and carries it to success through replicate's
// callback `message_id`; returns its id.
std::string succeed_by_callback(Rig& rig, const std::string& message_id) {
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  REQUIRE(rig.callback("replicate", message_id + "|" + job_of(rig.get(s->generation.id), 1) + "|succeeded").ok());
  rig.run();
  REQUIRE(rig.get(s->generation.id).status == GenerationStatus::succeeded);
  return s->generation.id;
}

TEST_CASE("without an endpoint that wants them, lifecycle events reach the host but not the outbox", "[engine]") {
  Rig rig;
  std::atomic<int> seen{0};
  rig.engine().set_event_callback([&](const LifecycleEvent&) { ++seen; });
  succeed_by_callback(rig, "m1");
  CHECK(seen.load() == 2);
  std::vector<OutboxRow> rows;
  REQUIRE(rig.store().read([&](UnitOfWork& uow) { return uow.outbox().list(0, 100, rows); }).ok());
  CHECK(rows.empty());
  // An endpoint filtering to other events wants none of these either.
  WebhookEndpointRow ep;
  ep.id = "we_other_events";
  ep.account = rig.principal().account;
  ep.url = "https://hooks.example/other";
  ep.secret = "whsec_engine_test_secret";
  ep.events = "generation.canceled";
  REQUIRE(rig.store().transact([&](UnitOfWork& u) { return u.webhook_endpoints().insert(ep); }).ok());
  succeed_by_callback(rig, "m2");
  rows.clear();
  REQUIRE(rig.store().read([&](UnitOfWork& uow) { return uow.outbox().list(0, 100, rows); }).ok());
  CHECK(rows.empty());
}

// The durable units a generation costs (issue: the served path). Each one
// is needed for crash safety:
//  - the submit: key claim, hold, generation row (before any provider work);
//  - a synchronous provider's answer: its outputs are copied first, then the
//    answer, the success, the settlement, the attempt record and the outbox
//    rows are one unit;
//  - an asynchronous provider: its acknowledgement (the job id, so a restart
//    polls the job instead of sending it again), its result (the status, and
//    the callback's de-duplication row), and the outputs' arrival with the
//    success and the settlement.
// A step that changes nothing (a duplicate status, a poll still running)
// costs no unit.
TEST_CASE("durable units per generation", "[engine][units]") {
  SECTION("synchronous provider: two") {
    RigOptions o;
    o.first_mode = DeliveryMode::synchronous;
    Rig rig(o);
    const auto before = rig.units().units;
    auto s = rig.submit();
    REQUIRE(s.ok());
    CHECK(rig.units().units - before == 1);
    rig.run();
    REQUIRE(rig.get(s->generation.id).status == GenerationStatus::succeeded);
    CHECK(rig.units().units - before == 2);
    CHECK(rig.check_invariants().empty());
  }
  SECTION("webhook provider: submit, ack, each new status, outputs; a repeated status only its de-duplication row") {
    Rig rig;
    const auto before = rig.units().units;
    auto s = rig.submit();
    REQUIRE(s.ok());
    rig.run();
    CHECK(rig.units().units - before == 2);
    const std::string job = job_of(rig.get(s->generation.id), 1);
    REQUIRE(rig.callback("replicate", "m1|" + job + "|running").ok());
    CHECK(rig.units().units - before == 3);
    // The same status again under a new message id changes nothing: no unit
    // beyond the callback's de-duplication row.
    REQUIRE(rig.callback("replicate", "m2|" + job + "|running").ok());
    CHECK(rig.units().units - before == 4);
    REQUIRE(rig.callback("replicate", "m3|" + job + "|succeeded").ok());
    rig.run();
    REQUIRE(rig.get(s->generation.id).status == GenerationStatus::succeeded);
    CHECK(rig.units().units - before == 6);
    CHECK(rig.check_invariants().empty());
  }
}

TEST_CASE("lifecycle events reach the host callback and the outbox", "[engine]") {
  Rig rig;
  subscribe(rig);
  std::mutex mu;
  std::vector<std::string> seen;
  rig.engine().set_event_callback([&](const LifecycleEvent& ev) {
    std::lock_guard lock(mu);
    seen.push_back(ev.type + ":" + std::string(generation_status_name(ev.status)));
  });
  const std::string id = succeed_by_callback(rig, "m1");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == "generation.started:processing");
  CHECK(seen[1] == "generation.completed:succeeded");
  std::vector<OutboxRow> rows;
  REQUIRE(rig.store().read([&](UnitOfWork& uow) { return uow.outbox().list(0, 100, rows); }).ok());
  int gen_events = 0;
  for (const auto& r : rows)
    if (r.topic.rfind("generation.", 0) == 0) {
      ++gen_events;
      CHECK(r.payload.find(id) != std::string::npos);
    }
  CHECK(gen_events == 2);
  const auto pending = std::count_if(rows.begin(), rows.end(),
                                     [](const OutboxRow& r) { return r.state == OutboxState::pending; });
  CHECK(pending >= 2);  // nothing fans the outbox out in this rig
  const std::string metrics = rig.engine().metrics_text();
  CHECK(metrics.find("babysea_outbox_pending " + std::to_string(pending) + "\n") != std::string::npos);
  CHECK(metrics.find("babysea_generations{status=\"succeeded\"} 1") != std::string::npos);
  CHECK(metrics.find("babysea_attempts_total{provider=\"replicate\",outcome=\"used\"} 1") != std::string::npos);
  auto h = rig.engine().health();
  CHECK(h.providers.size() == 2);
  require_clean(rig);
}

TEST_CASE("50 concurrent identical submits: one generation, one hold, one provider submit", "[engine][threads]") {
  RigOptions o;
  o.workers = true;
  Rig rig(o);
  const Micros before = rig.available();
  std::atomic<int> ok{0}, in_progress{0}, other{0};
  std::set<std::string> ids;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] {
      auto r = rig.submit("job:concurrent");
      if (r.ok()) {
        ++ok;
        std::lock_guard lock(mu);
        ids.insert(r->generation.id);
      } else if (r.code() == Code::idempotency_in_progress) {
        ++in_progress;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  rig.engine().drain();
  CHECK(other == 0);
  CHECK(ok + in_progress == 50);
  CHECK(ids.size() == 1);
  auto page = rig.engine().list(rig.principal(), 100, 0);
  REQUIRE(page.ok());
  CHECK(page->total == 1);
  CHECK(rig.first().submit_calls() == 1);
  CHECK(rig.available() == before - 3'000);
  require_clean(rig);
}

namespace {

// A host thread pool lent to the engine; only the host starts and stops it.
class HostPool final : public Executor {
 public:
  explicit HostPool(int n) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this] {
        for (;;) {
          std::function<void()> job;
          {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
          }
          job();
          ++ran;
        }
      });
  }
  ~HostPool() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void post(std::function<void()> work) override {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(work));
    }
    cv_.notify_one();
  }
  std::atomic<int> ran{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

bool wait_terminal(Rig& rig, const std::vector<std::string>& ids, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    bool all = true;
    for (const auto& id : ids)
      if (!is_terminal(rig.get(id).status)) all = false;
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("an executor lent by the host runs the provider work; the engine never stops it", "[engine][threads]") {
  HostPool pool(2);
  RigOptions o;
  o.workers = true;
  o.first_mode = DeliveryMode::synchronous;
  o.executor = &pool;
  Rig rig(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto s = rig.submit();
    REQUIRE(s.ok());
    ids.push_back(s->generation.id);
  }
  REQUIRE(wait_terminal(rig, ids, 30));
  for (const auto& id : ids) CHECK(rig.get(id).status == GenerationStatus::succeeded);
  // One submit per generation ran on the pool (its count moves just after
  // the task that made the generation terminal returns).
  for (int i = 0; i < 500 && pool.ran < 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(pool.ran >= 10);
  rig.stop();  // the engine is gone; the pool still works for the host
  std::atomic<bool> ran{false};
  pool.post([&] { ran = true; });
  for (int i = 0; i < 500 && !ran; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(ran);
  rig.start();
  require_clean(rig);
}

TEST_CASE("destroying the engine mid-flight loses nothing", "[engine][threads]") {
  RigOptions o;
  o.workers = true;
  o.first_mode = DeliveryMode::synchronous;
  Rig rig(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    auto s = rig.submit();
    REQUIRE(s.ok());
    ids.push_back(s->generation.id);
  }
  rig.restart();  // immediately, while the submits are queued or running
  REQUIRE(wait_terminal(rig, ids, 60));
  for (const auto& id : ids) CHECK(rig.get(id).status == GenerationStatus::succeeded);
  CHECK(rig.first().max_submits_per_attempt() <= 2);
  for (const auto& id : ids) {
    auto g = rig.get(id);
    for (const auto& a : g.attempts)
      if (rig.first().submits_for(a.id) > 1) CHECK(a.resubmitted);  // only the crash window re-sends
  }
  require_clean(rig);
}

TEST_CASE("signed asset URLs: views and webhook data sign at render time, rows keep plain URLs", "[engine]") {
  std::array<unsigned char, AssetUrlSigner::kKeyBytes> key{};
  key.fill(7);
  RigOptions o;
  o.url_signer = std::make_shared<const AssetUrlSigner>(key, std::chrono::seconds(600));
  Rig rig(o);
  subscribe(rig);
  std::mutex mu;
  std::vector<std::string> events;
  rig.engine().set_event_callback([&](const LifecycleEvent& ev) {
    std::lock_guard lock(mu);
    events.push_back(ev.data_json);
  });
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.run();
  REQUIRE(rig.callback("replicate", "m1|" + job_of(rig.get(s->generation.id), 1) + "|succeeded").ok());
  rig.run();
  const std::string id = s->generation.id;

  // The stored row keeps the plain URL the asset store returned.
  GenerationRow row;
  REQUIRE(rig.store().read([&](UnitOfWork& u) { return u.generations().get(id, row); }).ok());
  auto stored = decode_generation(row.doc);
  REQUIRE(stored.ok());
  REQUIRE(stored->outputs.size() == 1);
  const std::string plain = stored->outputs[0];
  CHECK(plain == "https://assets.babysea.test/" + id + "/0.png");
  CHECK(row.doc.find("signature=") == std::string::npos);

  // Every get signs afresh at the engine's clock; the link verifies for its path.
  const std::string path = "/" + id + "/0.png";
  auto params_of = [&](const std::string& url) {
    REQUIRE(url.rfind(plain + "?expires=", 0) == 0);
    const auto amp = url.find("&signature=");
    REQUIRE(amp != std::string::npos);
    const std::string expires = url.substr(plain.size() + 9, amp - plain.size() - 9);
    return std::make_pair(expires, url.substr(amp + 11));
  };
  const std::int64_t t0 = rig.clock().now_ms();
  auto g1 = rig.get(id);
  REQUIRE(g1.outputs.size() == 1);
  auto [e1, sig1] = params_of(g1.outputs[0]);
  CHECK(e1 == std::to_string(t0 / 1000 + 600));
  CHECK(o.url_signer->verify(path, e1, sig1, t0) == AssetUrlSigner::Check::valid);
  CHECK(o.url_signer->verify(path, e1, sig1, t0 + 600'000) == AssetUrlSigner::Check::expired);
  CHECK(rig.assets().get(g1.outputs[0]));  // the memory store serves the signed link's file
  rig.clock().advance(std::chrono::seconds(30));
  auto g2 = rig.get(id);
  REQUIRE(g2.outputs.size() == 1);
  auto [e2, sig2] = params_of(g2.outputs[0]);
  CHECK(e2 == std::to_string(t0 / 1000 + 630));
  CHECK(sig2 != sig1);
  auto page = rig.engine().list(rig.principal(), 10, 0);
  REQUIRE(page.ok());
  REQUIRE(page->generations.size() == 1);
  CHECK(page->generations[0].outputs == g2.outputs);
  CHECK(render::generation(g2).find(g2.outputs[0]) != std::string::npos);

  // The completed event (host callback and outbox) carries a link signed when it was rendered.
  std::string completed;
  {
    std::lock_guard lock(mu);
    for (const auto& e : events)
      if (e.find("generation_output_file") != std::string::npos) completed = e;
  }
  REQUIRE_FALSE(completed.empty());
  CHECK(completed.find(plain + "?expires=") != std::string::npos);
  std::vector<OutboxRow> rows;
  REQUIRE(rig.store().read([&](UnitOfWork& uow) { return uow.outbox().list(0, 100, rows); }).ok());
  bool outbox_signed = false;
  for (const auto& r : rows)
    if (r.topic == "generation.completed") outbox_signed = r.payload.find(plain + "?expires=") != std::string::npos;
  CHECK(outbox_signed);

  // Delete: no outputs to sign.
  REQUIRE(rig.engine().remove(rig.principal(), id).ok());
  CHECK(rig.get(id).outputs.empty());
  require_clean(rig);
}

TEST_CASE("usage: request counts come from the usage log, generations from generations", "[engine]") {
  Rig rig;
  const std::int64_t now = rig.clock().now_ms();
  auto row = [&](std::int64_t age_ms, std::string account, const char* route, int status, const char* code) {
    return RequestLogRow{now - age_ms, std::move(account), "key1", "GET", route, status, code, 100};
  };
  REQUIRE(rig.store().transact([&](UnitOfWork& u) {
    return u.request_log().append({
        row(1'000, rig.account(), "/v1/generate/image/{model}", 200, ""),
        row(2'000, rig.account(), "/v1/generate/image/{model}", 402, "BSE1004"),
        row(3'000, rig.account(), "/v1/content/{id}", 404, "BSE3001"),
        row(4'000, rig.account(), "/v1/content/{id}", 503, "BSE5000"),
        row(5'000, rig.account(), "/v1/content/{id}", 404, "BSE3001"),
        row(8LL * 86'400'000, rig.account(), "/v1/usage", 200, ""),  // before a 7-day period
        row(1'000, "acct_other", "/v1/usage", 500, "BSE5000"),       // another account
    });
  }).ok());
  REQUIRE(rig.submit().ok());
  auto u = rig.engine().usage(rig.principal(), 7);
  REQUIRE(u.ok());
  CHECK(u->total.requests == 1);  // one generation
  CHECK(u->requests.total == 5);
  CHECK(u->requests.success == 1);
  CHECK(u->requests.client_errors == 3);
  CHECK(u->requests.server_errors == 1);
  CHECK(u->requests.error_codes ==
        std::vector<std::pair<std::string, std::int64_t>>{{"BSE1004", 1}, {"BSE3001", 2}, {"BSE5000", 1}});
  REQUIRE(u->by_endpoint.size() == 2);
  CHECK(u->by_endpoint[0] == RouteRequestCounts{"/v1/content/{id}", 3, 0, 2, 1, {{"BSE3001", 2}, {"BSE5000", 1}}});
  CHECK(u->by_endpoint[1] == RouteRequestCounts{"/v1/generate/image/{model}", 2, 1, 1, 0, {{"BSE1004", 1}}});

  const std::string j = render::usage(*u, "acct", std::nullopt);
  INFO(j);
  CHECK(j.find(R"("usage_total_requests":5,"usage_total_success":1,"usage_total_client_errors":3,)"
               R"("usage_total_server_errors":1,"usage_total_generations":1)") != std::string::npos);
  CHECK(j.find(R"({"endpoint":"/v1/content/{id}","total_requests":3,"success_count":0,"client_error_count":2,)"
               R"("server_error_count":1,"error_codes":{"BSE3001":2,"BSE5000":1}})") != std::string::npos);
  CHECK(j.find(R"("endpoint":"/v1/generate/image/{model}")") != std::string::npos);
  CHECK(j.find("/v1/usage") == std::string::npos);

  auto month = rig.engine().usage(rig.principal(), 30);
  REQUIRE(month.ok());
  CHECK(month->requests.total == 6);
  CHECK(month->by_endpoint.size() == 3);
  require_clean(rig);
}

// ------------------------------------------------------------- instances

namespace {

std::vector<InstanceRow> instances_of(Store& store) {
  std::vector<InstanceRow> rows;
  REQUIRE(store.read([&](UnitOfWork& u) { return u.instances().list(rows); }).ok());
  return rows;
}

bool has_instance(Store& store, std::string_view id) {
  for (const auto& r : instances_of(store))
    if (r.id == id) return true;
  return false;
}

// Runs `e`'s due work in steps of `step_ms` until generation `id` is terminal.
GenerationView run_until_terminal(Rig& rig, Engine& e, const std::string& id, std::int64_t step_ms = 5'000) {
  for (int i = 0; i < 200; ++i) {
    auto g = e.get(rig.principal(), id);
    REQUIRE(g.ok());
    if (is_terminal(g->status)) return *g;
    rig.clock().advance(std::chrono::milliseconds(step_ms));
    REQUIRE(e.run_due().ok());
  }
  FAIL("generation " << id << " did not finish");
  return {};
}

}  // namespace

TEST_CASE("instances: a living instance takes over the in-flight work of one whose heartbeat lapsed", "[engine][instances]") {
  RigOptions o;
  o.instance_id = "a";
  Rig rig(o);
  auto s = rig.submit();
  REQUIRE(s.ok());  // a's submit is queued, never sent: a goes silent here
  auto b = rig.spawn("b");
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 0);  // a is alive: nothing to take over
  CHECK(has_instance(rig.store(), "a"));
  CHECK(has_instance(rig.store(), "b"));

  rig.clock().advance(std::chrono::seconds(11));  // past instance_ttl (10 s)
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 1);  // b recovered and sent it
  CHECK(!has_instance(rig.store(), "a"));  // everything a owned is taken over
  CHECK(b->health().instance_id == "b");

  // a wakes up: it registers again and does not send the submit it no
  // longer owns.
  REQUIRE(rig.engine().run_due().ok());
  CHECK(rig.first().submit_calls() == 1);
  CHECK(has_instance(rig.store(), "a"));
  const std::string ma = rig.engine().metrics_text();
  CHECK(ma.find("babysea_instance_reregistered_total 1\n") != std::string::npos);
  CHECK(ma.find("babysea_submits_skipped_total 1\n") != std::string::npos);
  CHECK(b->metrics_text().find("babysea_recovered_from_dead_total 1\n") != std::string::npos);

  rig.first().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/r.png"));
  auto g = run_until_terminal(rig, *b, s->generation.id);
  CHECK(g.status == GenerationStatus::succeeded);
  CHECK(rig.first().max_submits_per_attempt() == 1);
  CHECK(rig.check_invariants().empty());
}

TEST_CASE("instances: a cleanly stopped instance hands its unsent work over at once", "[engine][instances]") {
  RigOptions o;
  o.instance_id = "a";
  Rig rig(o);
  auto b = rig.spawn("b");
  auto s = rig.submit();
  REQUIRE(s.ok());
  rig.stop();  // the submit was never dispatched; a marks itself dead
  rig.clock().advance(std::chrono::seconds(1));  // one heartbeat period, not instance_ttl
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 1);
  CHECK(rig.first().max_submits_per_attempt() == 1);
  rig.first().poll_status(ScriptedProvider::succeeded("https://cdn.provider.test/r.png"));
  CHECK(run_until_terminal(rig, *b, s->generation.id).status == GenerationStatus::succeeded);
  b.reset();
  rig.start();
  CHECK(rig.check_invariants().empty());
}

TEST_CASE("instances: an instance restarted under its id recovers its own work at start", "[engine][instances]") {
  RigOptions o;
  o.instance_id = "a";
  Rig rig(o);
  auto b = rig.spawn("b");
  auto s = rig.submit();
  REQUIRE(s.ok());
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 0);  // a's, and a is alive
  rig.restart();                           // same id: its own rows are recovered at once
  rig.run();
  CHECK(rig.first().submit_calls() == 1);
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 1);
}

TEST_CASE("instances: the same Idempotency-Key on two instances at once makes one generation", "[engine][instances][threads]") {
  RigOptions o;
  o.instance_id = "a";
  Rig rig(o);
  auto b = rig.spawn("b");
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> ids;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Engine& e = i % 2 == 0 ? rig.engine() : *b;
      auto r = e.submit(rig.principal(), kRigModel, "{\"generation_prompt\":\"same\"}", "same-key-1");
      if (r.ok()) {
        ++ok;
        std::lock_guard lock(mu);
        ids.insert(r->generation.id);
      } else {
        CHECK(r.code() == Code::idempotency_in_progress);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok >= 1);
  CHECK(ids.size() == 1);
  rig.run();
  REQUIRE(b->run_due().ok());
  CHECK(rig.first().submit_calls() == 1);
  CHECK(rig.check_invariants().empty());
}

TEST_CASE("instances: a malformed instance id is refused at create", "[engine][instances]") {
  Rig rig;
  for (const std::string& bad : {std::string("has space"), std::string(65, 'x'), std::string("semi;colon")}) {
    INFO(bad);
    auto e = rig.try_spawn(bad);
    REQUIRE(!e.ok());
    CHECK(e.code() == Code::invalid_request);
  }
  CHECK(rig.try_spawn(std::string(64, 'x')).ok());
}
