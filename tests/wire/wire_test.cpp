// The real wire: the Engine over a SQLite file (synchronous FULL; under
// wire_test_postgres a fresh PostgreSQL schema per case, see
// test_store_kind), the Beast transport and the real provider adapters
// against the provider emulators on loopback, with the engine's own workers
// on the system clock. Provider callbacks go to a loopback receiver here that
// hands the raw headers and body to Engine::handle_provider_callback, as a
// host would.
//
// Cases: failover (5xx on submit, model error), a silent provider abandoned at
// its deadline (job never starts: timed_out + provider cancel; submit that
// hangs: timed_out at the submit-ack deadline), a lost job, an output URL
// that expires before the copy, success by webhook / polling / synchronously,
// duplicate and reordered callbacks. Every case ends with the ledger audit
// clean and each terminal generation's hold resolved to match its state.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "alibabacloud_emulator.hpp"
#include "bfl_emulator.hpp"
#include "byteplus_emulator.hpp"
#include "cloudflare_emulator.hpp"
#include "emulator_server.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "runway_emulator.hpp"
#include "support/stores.hpp"
#include "support/testing.hpp"
#include "wire/wire_stack.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::wire;
using std::chrono::milliseconds;

namespace {

// Receives provider callbacks at /cb/<provider> and applies them to the engine.
class CallbackReceiver {
 public:
  CallbackReceiver() {
    server_.route("POST", "/cb/", [this](const EmuRequest& r) {
      Engine* e = engine_.load();
      if (e == nullptr) return EmuResponse::text(503, "no engine");
      std::vector<CallbackHeader> headers;
      for (const auto& [name, value] : r.headers) headers.push_back({name, value});
      auto res = e->handle_provider_callback(r.path.substr(4), headers, r.body);
      std::lock_guard lock(mu_);
      ++received_;
      if (res.ok() && res->applied) ++applied_;
      if (!res.ok() && res.code() == Code::not_found) ++unknown_;  // ack not durable yet: the provider retries
      if (!res.ok() && res.code() != Code::not_found) {
        ++refused_;
        last_error_ = res.status().to_string();
      }
      const int status = res.ok() ? 200 : res.code() == Code::not_found ? 404 : 400;
      return EmuResponse::text(status, res.ok() ? "ok" : "refused");
    });
    server_.start();
  }
  ~CallbackReceiver() { server_.stop(); }
  std::string base_url() const { return server_.base_url() + "/cb"; }
  void attach(Engine* e) { engine_.store(e); }
  int received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  int applied() {
    std::lock_guard lock(mu_);
    return applied_;
  }
  int unknown_job() {
    std::lock_guard lock(mu_);
    return unknown_;
  }
  // Refused for a bad signature or body (an unknown job is not counted).
  int refused() {
    std::lock_guard lock(mu_);
    return refused_;
  }
  std::string last_error() {
    std::lock_guard lock(mu_);
    return last_error_;
  }
  void stop() {
    engine_.store(nullptr);
    server_.stop();
  }

 private:
  EmulatorServer server_;
  std::atomic<Engine*> engine_{nullptr};
  std::mutex mu_;
  int received_ = 0, applied_ = 0, refused_ = 0, unknown_ = 0;
  std::string last_error_;
};

struct WireOptions {
  bool callbacks = false;
  ProviderTiming timing = fast_timing();
  milliseconds request_timeout{3'000};
  int max_asset_tries = 2;
};

// Eight emulators, a receiver and a Stack on a fresh SQLite file (or a fresh
// store of the kind test_store_kind names).
struct Wire {
  explicit Wire(WireOptions o = {}) {
    for (EmulatorBase* e : emulators()) {
      e->faults().set_job_timing(JobTiming{milliseconds(50), milliseconds(150)});
      e->start();
    }
    StackOptions so;
    if (const std::string kind = babysea::testing::test_store_kind(); kind == "sqlite-file") {
      so.db_path = dir.file("wire.db");
    } else {
      fixture = std::make_unique<babysea::testing::StoreFixture>(kind);
      so.store = fixture->store.get();
    }
    so.assets_dir = dir.path() / "assets";
    so.catalog_dir = (babysea::testing::source_dir() / "data").string();
    so.replicate = {rep.base_url(), rep.options().api_key, rep.webhook_secret(), "", "", ""};
    so.fal = {fal.base_url(), fal.options().api_key, "", fal.jwks_url(), fal.user_id(), ""};
    so.bfl = {bfl.base_url(), bfl.options().api_key, "bfl-wire-webhook-secret", "", "", ""};
    so.openai = {oai.base_url(), oai.options().api_key, "", "", "", ""};
    so.runway = {rw.base_url(), rw.options().api_key, "", "", "", ""};
    so.alibabacloud = {ali.base_url(), ali.options().api_key, "", "", "", ""};
    so.byteplus = {bp.base_url(), bp.options().api_key, "", "", "", ""};
    so.cloudflare = {cf.base_url(), cf.options().api_key, "", "", "", cf.account_id()};
    if (o.callbacks) so.callback_base_url = receiver.base_url();
    so.timing = o.timing;
    so.request_timeout = o.request_timeout;
    so.max_asset_tries = o.max_asset_tries;
    stack = std::make_unique<Stack>(so);
    receiver.attach(&stack->engine());
    stack->login("acct_wire", 100 * kMicrosPerCredit);
    stack->engine().set_event_callback([this](const LifecycleEvent& ev) {
      std::lock_guard lock(events_mu);
      ++events[ev.generation_id + " " + ev.type];
      events_cv.notify_all();
    });
  }
  ~Wire() {
    receiver.stop();
    stack.reset();
    for (EmulatorBase* e : emulators()) e->stop();
  }
  std::vector<EmulatorBase*> emulators() { return {&rep, &fal, &bfl, &oai, &rw, &ali, &bp, &cf}; }

  std::string submit(std::string_view model, const std::string& order, const std::string& extra = {}) {
    std::string body = R"({"generation_prompt":"a lighthouse at dawn")";
    if (!order.empty()) body += R"(,"generation_provider_order":")" + order + "\"";
    body += extra + "}";
    auto s = stack->engine().submit(stack->principal(), model, body, {});
    INFO(s.status().to_string());
    REQUIRE(s.ok());
    return s->generation.id;
  }
  GenerationView finish(const std::string& id, milliseconds timeout = milliseconds(30'000)) {
    GenerationView g;
    bool done = stack->wait_terminal(id, timeout, &g);
    INFO("generation " << id << " status " << generation_status_name(g.status));
    REQUIRE(done);
    return g;
  }
  // Events of `type` the host was told of for a generation that is already
  // terminal. The engine tells the host after the commit that a reader may
  // already see, so this first waits (bounded) for the terminal event.
  int event_count(const std::string& id, const std::string& type) {
    std::unique_lock lock(events_mu);
    auto count = [&](const std::string& t) {
      auto it = events.find(id + " " + t);
      return it == events.end() ? 0 : it->second;
    };
    events_cv.wait_for(lock, milliseconds(10'000), [&] {
      return count("generation.completed") + count("generation.failed") + count("generation.canceled") > 0;
    });
    return count(type);
  }
  void check() {
    auto v = stack->check_invariants();
    INFO(v);
    CHECK(v.empty());
  }

  babysea::testing::TempDir dir;
  std::unique_ptr<babysea::testing::StoreFixture> fixture;  // the lent store, when not a SQLite file
  ReplicateEmulator rep;
  FalEmulator fal;
  BflEmulator bfl;
  OpenAiEmulator oai;
  RunwayEmulator rw;
  AlibabaCloudEmulator ali;
  BytePlusEmulator bp;
  CloudflareEmulator cf;
  CallbackReceiver receiver;
  std::unique_ptr<Stack> stack;
  std::mutex events_mu;
  std::condition_variable events_cv;
  std::map<std::string, int> events;
};

std::string describe(const GenerationView& g) {
  std::string s = std::string(generation_status_name(g.status)) + " used=" + g.provider_used + " error=" + g.error;
  for (const auto& a : g.attempts)
    s += " | #" + std::to_string(a.order) + " " + a.provider + " " + a.state + "/" + a.outcome + " " + a.error_kind +
         " submits=" + std::to_string(a.submits) + " " + a.error_message;
  return s;
}

bool wait_for(const std::function<bool()>& pred, milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("wire: a failing first provider fails over to the next", "[wire]") {
  Wire w;
  SECTION("5xx on every submit") {
    w.rep.faults().http_error_next(10, 503, Op::submit);
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "fal");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].provider == "replicate");
    CHECK(g.attempts[0].state == "failed");
    CHECK(g.attempts[0].outcome == "failed");
    CHECK(g.attempts[1].outcome == "used");
    CHECK(w.rep.faults().counters().submits == 0);  // no job was ever created there
    CHECK(w.rep.faults().counters().submit_requests == static_cast<std::uint64_t>(g.attempts[0].submits));
    CHECK(w.fal.faults().submits_for(g.attempts[1].id) == 1);
  }
  SECTION("the model fails at the provider") {
    w.bfl.faults().fail_next(1);
    auto g = w.finish(w.submit("bfl/flux-dev", "bfl, replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "replicate");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].provider == "bfl");
    CHECK(g.attempts[0].state == "failed");
    CHECK(g.attempts[0].outcome == "failed");
    CHECK(w.bfl.faults().submits_for(g.attempts[0].id) == 1);
    CHECK(w.rep.faults().submits_for(g.attempts[1].id) == 1);
  }
  SECTION("every provider fails: failed, hold released") {
    w.rep.faults().fail_next(1);
    w.fal.faults().http_error_next(10, 500, Op::submit);
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    CHECK(g.status == GenerationStatus::failed);
    CHECK(g.provider_used.empty());
    CHECK(g.attempts.size() == 2);
    CHECK(g.credits_refunded);
  }
  w.check();
}

TEST_CASE("wire: a silent provider is abandoned at its deadline", "[wire]") {
  SECTION("job accepted but never started: timed_out, canceled at the provider, next provider serves") {
    WireOptions o;
    o.timing.start_timeout = milliseconds(1'000);
    Wire w(o);
    w.rep.faults().set_job_timing(JobTiming{milliseconds(120'000), milliseconds(100)});
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "fal");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].state == "timed_out");
    CHECK(g.attempts[0].outcome == "failed");
    // Replicate can cancel: the abandoned prediction gets a cancel.
    CHECK(wait_for([&] { return w.rep.faults().counters().cancels >= 1; }, milliseconds(5'000)));
    auto job = w.rep.job(g.attempts[0].job_id);
    REQUIRE(job.has_value());
    CHECK(job->canceled);
    CHECK(w.rep.faults().submits_for(g.attempts[0].id) == 1);
    w.check();
  }
  SECTION("job started but never finishes: timed_out, canceled at the provider, next provider serves") {
    WireOptions o;
    o.timing.finish_timeout = milliseconds(1'000);
    Wire w(o);
    w.fal.faults().set_job_timing(JobTiming{milliseconds(20), milliseconds(120'000)});
    auto g = w.finish(w.submit("bfl/flux-schnell", "fal, replicate"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "replicate");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].provider == "fal");
    CHECK(g.attempts[0].state == "timed_out");
    CHECK(wait_for([&] { return w.fal.faults().counters().cancels >= 1; }, milliseconds(5'000)));
    CHECK(w.fal.faults().submits_for(g.attempts[0].id) == 1);
    w.check();
  }
  SECTION("submit that never answers: timed_out at the submit-ack deadline, next provider serves") {
    WireOptions o;
    o.timing.submit_ack_timeout = milliseconds(800);
    o.request_timeout = milliseconds(4'000);
    Wire w(o);
    w.bfl.faults().hang_next(1, Op::submit);
    auto g = w.finish(w.submit("bfl/flux-dev", "bfl, replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "replicate");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].provider == "bfl");
    CHECK(g.attempts[0].state == "timed_out");
    CHECK(w.bfl.faults().counters().submits == 0);
    // The hung request ends (transport timeout) after the attempt closed: nothing changes.
    std::this_thread::sleep_for(milliseconds(4'000));
    auto again = w.stack->engine().get(w.stack->principal(), g.id);
    REQUIRE(again.ok());
    CHECK(again->status == GenerationStatus::succeeded);
    CHECK(again->provider_used == "replicate");
    w.check();
  }
}

TEST_CASE("wire: a provider that accepts then loses the job", "[wire]") {
  Wire w;
  SECTION("lost at the first provider: failover, never succeeded from that attempt") {
    w.rep.faults().lose_next(1);
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "fal");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].state != "succeeded");
    CHECK(g.attempts[0].outcome == "failed");
    CHECK(w.rep.faults().submits_for(g.attempts[0].id) == 1);
  }
  SECTION("lost everywhere: failed") {
    w.rep.faults().lose_next(1);
    w.fal.faults().lose_next(1);
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    CHECK(g.status == GenerationStatus::failed);
    for (const auto& a : g.attempts) CHECK(a.state != "succeeded");
  }
  w.check();
}

TEST_CASE("wire: an output URL that expires before the copy", "[wire]") {
  Wire w;
  SECTION("expired at the first provider: failover, the stored files are the second's") {
    w.rep.faults().set_output_ttl(milliseconds(1));
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "fal");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].outcome == "failed");
    CHECK(w.rep.faults().counters().files >= 1);  // the copy was tried
    CHECK(w.stack->asset_files(g.id) == g.outputs.size());
  }
  SECTION("expired everywhere: failed, no files") {
    w.rep.faults().set_output_ttl(milliseconds(1));
    w.fal.faults().set_output_ttl(milliseconds(1));
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g));
    CHECK(g.status == GenerationStatus::failed);
    CHECK(g.outputs.empty());
    w.stack->engine().drain();
    CHECK(w.stack->asset_files(g.id) == 0);
  }
  w.check();
}

TEST_CASE("wire: success by webhook, by polling and synchronously", "[wire]") {
  WireOptions o;
  o.callbacks = true;
  o.timing.backup_poll_interval = milliseconds(60'000);  // a webhook success is not a poll's
  Wire w(o);
  SECTION("replicate webhooks (Standard Webhooks) delivered to the engine") {
    auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
    INFO(describe(g) << " receiver: " << w.receiver.last_error());
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "replicate");
    CHECK(w.receiver.applied() >= 1);
    CHECK(w.receiver.refused() == 0);
    CHECK(w.rep.faults().counters().polls == 0);
    CHECK(w.event_count(g.id, "generation.completed") == 1);
  }
  SECTION("fal webhooks (Ed25519 over the JWKS) delivered to the engine") {
    auto g = w.finish(w.submit("bfl/flux-schnell", "fal, replicate"));
    INFO(describe(g) << " receiver: " << w.receiver.last_error());
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "fal");
    CHECK(w.receiver.applied() >= 1);
    CHECK(w.receiver.refused() == 0);
  }
  SECTION("bfl by polling") {
    WireOptions po;
    Wire p(po);  // no callback URL: polling only
    auto g = p.finish(p.submit("bfl/flux-dev", "bfl, replicate, fal"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "bfl");
    CHECK(p.bfl.faults().counters().polls >= 1);
    CHECK(p.bfl.faults().submits_for(g.attempts[0].id) == 1);
    p.check();
  }
  SECTION("runway video by polling (at Runway's 5 s cadence)") {
    WireOptions ro;
    ro.timing.start_timeout = milliseconds(20'000);
    ro.timing.finish_timeout = milliseconds(20'000);
    Wire r(ro);
    std::string input = r.rw.publish_file("input.png", EmulatorBase::png_bytes(), "image/png",
                                          std::chrono::steady_clock::now(), std::nullopt);
    auto g = r.finish(r.submit("runway/gen4-turbo", "runway",
                               R"(,"generation_duration":5,"generation_input_file":[")" + input + "\"]"),
                      milliseconds(40'000));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "runway");
    CHECK(r.rw.faults().counters().polls >= 1);
    CHECK(r.rw.faults().counters().poll_violations == 0);
    CHECK(r.stack->asset_files(g.id) == 1);
    r.check();
  }
  SECTION("openai synchronously") {
    auto g = w.finish(w.submit("openai/gpt-image-1", "openai, replicate"));
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == "openai");
    CHECK(w.oai.faults().counters().polls == 0);
    CHECK(w.oai.faults().submits_for(g.attempts[0].id) == 1);
  }
  w.check();
}

TEST_CASE("wire: Alibaba Cloud, BytePlus and Cloudflare on the wire", "[wire]") {
  Wire w;
  auto succeeded_on = [&](const std::string& id, const char* provider) {
    auto g = w.finish(id);
    INFO(describe(g));
    REQUIRE(g.status == GenerationStatus::succeeded);
    CHECK(g.provider_used == provider);
    CHECK(w.stack->asset_files(g.id) == 1);
    return g;
  };
  SECTION("alibabacloud: a DashScope image task, polled") {
    auto g = succeeded_on(w.submit("alibaba/wan-2.2-t2i-flash", "alibabacloud"), "alibabacloud");
    CHECK(w.ali.faults().counters().polls >= 1);
    CHECK(w.ali.faults().submits_for(g.attempts[0].id) == 1);
  }
  SECTION("alibabacloud: a DashScope video task, polled") {
    succeeded_on(w.submit("alibaba/wan-2.1-t2v-turbo", "alibabacloud", R"(,"generation_duration":5)"), "alibabacloud");
  }
  SECTION("alibabacloud: Qwen-Image answers at submit") {
    succeeded_on(w.submit("alibaba/qwen-image", "alibabacloud, fal"), "alibabacloud");
    CHECK(w.ali.faults().counters().polls == 0);
  }
  SECTION("byteplus: Seedream answers at submit") {
    succeeded_on(w.submit("bytedance/seedream-4", "byteplus, fal"), "byteplus");
    CHECK(w.bp.faults().counters().polls == 0);
  }
  SECTION("byteplus: a Seedance video task, polled") {
    succeeded_on(w.submit("bytedance/seedance-1-lite", "byteplus", R"(,"generation_duration":5)"), "byteplus");
    CHECK(w.bp.faults().counters().polls >= 1);
  }
  SECTION("cloudflare: raw image bytes, synchronously") {
    succeeded_on(w.submit("stability/sdxl", "cloudflare, replicate"), "cloudflare");
  }
  SECTION("a failing new provider fails over: cloudflare 503 -> replicate") {
    w.cf.faults().http_error_next(10, 503, Op::submit);
    auto g = succeeded_on(w.submit("stability/sdxl", "cloudflare, replicate"), "replicate");
    REQUIRE(g.attempts.size() == 2);
    CHECK(g.attempts[0].provider == "cloudflare");
    CHECK(g.attempts[0].outcome == "failed");
  }
  SECTION("a failing new provider fails over: byteplus 503 -> fal") {
    w.bp.faults().http_error_next(10, 503, Op::submit);
    succeeded_on(w.submit("bytedance/seedream-4", "byteplus, fal"), "fal");
  }
  SECTION("alibabacloud: a task canceled while pending, refunded") {
    w.ali.faults().set_job_timing(JobTiming{milliseconds(120'000), milliseconds(100)});
    auto id = w.submit("alibaba/wan-2.2-t2i-flash", "alibabacloud");
    REQUIRE(wait_for([&] { return w.ali.faults().counters().submits >= 1; }, milliseconds(10'000)));
    auto c = w.stack->engine().cancel(w.stack->principal(), id);
    INFO(c.status().to_string());
    REQUIRE(c.ok());
    CHECK(c->credits_refunded);
    auto g = w.finish(id);
    CHECK(g.status == GenerationStatus::canceled);
    CHECK(wait_for([&] { return w.ali.faults().counters().cancels >= 1; }, milliseconds(10'000)));
  }
  w.check();
}

TEST_CASE("wire: duplicate and reordered callbacks change nothing", "[wire]") {
  WireOptions o;
  o.callbacks = true;
  o.timing.backup_poll_interval = milliseconds(60'000);
  Wire w(o);
  w.rep.faults().duplicate_callbacks_next(2, 3);
  w.rep.faults().reorder_callbacks_next(2);
  auto id1 = w.submit("bfl/flux-schnell", "replicate, fal");
  auto id2 = w.submit("bfl/flux-schnell", "replicate, fal");
  auto g1 = w.finish(id1);
  auto g2 = w.finish(id2);
  INFO(describe(g1) << " / " << describe(g2));
  REQUIRE(g1.status == GenerationStatus::succeeded);
  REQUIRE(g2.status == GenerationStatus::succeeded);
  // Let every duplicate arrive.
  REQUIRE(wait_for([&] { return w.rep.faults().counters().callbacks_sent >= 2 * (2 + 3); }, milliseconds(10'000)));
  w.stack->engine().drain();
  auto balance_before = w.stack->engine().ledger().balance("acct_wire");
  REQUIRE(balance_before.ok());

  // Replaying every delivery again (signed as sent) applies nothing.
  for (const auto& rec : w.rep.callbacks()) {
    std::vector<CallbackHeader> headers;
    for (const auto& [name, value] : rec.headers) headers.push_back({name, value});
    auto r = w.stack->engine().handle_provider_callback("replicate", headers, rec.body);
    INFO(rec.body);
    REQUIRE(r.ok());
    CHECK_FALSE(r->applied);
  }
  w.stack->engine().drain();
  for (const auto& id : {id1, id2}) {
    auto g = w.stack->engine().get(w.stack->principal(), id);
    REQUIRE(g.ok());
    CHECK(g->status == GenerationStatus::succeeded);
    CHECK(g->provider_used == "replicate");
    CHECK(g->attempts.size() == 1);
    CHECK(w.event_count(id, "generation.completed") == 1);
    CHECK(w.event_count(id, "generation.failed") == 0);
  }
  auto balance_after = w.stack->engine().ledger().balance("acct_wire");
  REQUIRE(balance_after.ok());
  CHECK(balance_after->available() == balance_before->available());
  CHECK(w.receiver.refused() == 0);
  w.check();
}

// Regression: with no callback_base_url no provider is asked for callbacks,
// so webhook providers must be polled at poll_interval, not at the backup
// interval (Engine::create maps their delivery to polling).
TEST_CASE("wire: with no callback URL, webhook providers are polled at poll_interval", "[wire]") {
  WireOptions o;
  o.callbacks = false;
  o.timing.backup_poll_interval = milliseconds(10'000);
  o.timing.start_timeout = milliseconds(20'000);
  Wire w(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto g = w.finish(w.submit("bfl/flux-schnell", "replicate, fal"));
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  INFO(describe(g) << " took " << took.count() << " ms");
  REQUIRE(g.status == GenerationStatus::succeeded);
  CHECK(g.provider_used == "replicate");
  // The job is done after ~200 ms; poll_interval is 150 ms.
  CHECK(took < milliseconds(3'000));
  w.check();
}
