// The five adapters against their provider emulators over real HTTP
// (make_beast_transport on loopback): success by webhook (delivered to a
// loopback receiver run here, then parse_callback), by polling, and
// synchronously; cancel; Retry-After; moderation, lost jobs and resets.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "bfl_emulator.hpp"
#include "emulator_server.hpp"
#include "emulator_test_util.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "runway_emulator.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::provider_tests;
using std::chrono::milliseconds;

namespace {

// Records every POST it receives and answers 200.
class CallbackReceiver {
 public:
  CallbackReceiver() {
    server_.route("POST", "/", [this](const EmuRequest& r) {
      std::lock_guard lock(mu_);
      got_.push_back(r);
      cv_.notify_all();
      return EmuResponse::text(200, "ok");
    });
    server_.start();
  }
  std::string url(const std::string& path) const { return server_.base_url() + path; }
  bool wait(std::size_t n, milliseconds timeout = milliseconds(5'000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  std::vector<EmuRequest> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  EmulatorServer server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EmuRequest> got_;
};

// Hands a received request to the adapter the way the engine would.
Result<ProviderCallback> deliver(Provider& p, const EmuRequest& r) {
  std::vector<CallbackHeader> headers;
  for (const auto& [name, value] : r.headers) headers.push_back({name, value});
  return p.parse_callback(headers, r.body);
}

SubmitRequest request(const NativePayload& p, std::string callback, std::string attempt = "att_1") {
  SubmitRequest r;
  r.generation_id = "gen_1";
  r.attempt_id = std::move(attempt);
  r.payload = &p;
  r.callback_url = std::move(callback);
  return r;
}

}  // namespace

TEST_CASE("emulated replicate: webhook success, polling, cancel, Retry-After", "[providers][emulators]") {
  auto transport = make_beast_transport();
  ReplicateEmulator emu;
  fast(emu);
  emu.start();
  CallbackReceiver receiver;
  ReplicateProviderOptions o;
  o.transport = transport.get();
  o.base_url = emu.base_url();
  o.api_token = emu.options().api_key;
  o.webhook_secrets = {emu.webhook_secret()};
  auto made = make_replicate_provider(o);
  REQUIRE(made.ok());
  Provider& p = **made;
  auto pl = payload("replicate", "black-forest-labs/flux-schnell", "", R"({"input":{"prompt":"a cat"}})");

  SECTION("success by webhook: start and completed events, verified and parsed") {
    auto r = p.submit(request(pl, receiver.url("/cb/replicate")));
    REQUIRE(r.error.ok());
    REQUIRE(receiver.wait(2));
    bool completed = false;
    std::vector<std::string> ids;
    for (const auto& got : receiver.got()) {
      auto cb = deliver(p, got);
      REQUIRE(cb.ok());
      CHECK(cb->job_id == r.job.job_id);
      ids.push_back(cb->message_id);
      if (cb->status.kind == ProviderStatusKind::succeeded) {
        completed = true;
        CHECK_FALSE(cb->status.outputs.empty());
      }
    }
    CHECK(completed);
    REQUIRE(ids.size() >= 2);
    CHECK(ids[0] != ids[1]);
    // A tampered copy of a real delivery is refused.
    auto copy = receiver.got().back();
    copy.body.back() = ' ';
    CHECK(deliver(p, copy).code() == Code::invalid_signature);
    CHECK(emu.faults().submits_for("att_1") == 1);
  }

  SECTION("success by polling") {
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto done = poll_until_final(p, r.job);
    REQUIRE(done.error.ok());
    CHECK(done.status.kind == ProviderStatusKind::succeeded);
    CHECK_FALSE(done.status.outputs.empty());
  }

  SECTION("cancel a running prediction") {
    fast(emu, 20, 5'000);
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    std::this_thread::sleep_for(milliseconds(60));
    auto c = p.cancel(r.job);
    REQUIRE(c.error.ok());
    CHECK(c.outcome == CancelOutcome::requested);
    auto done = poll_until_final(p, r.job);
    CHECK(done.status.kind == ProviderStatusKind::canceled);
    // Canceling again: Replicate answers the (canceled) prediction again.
    auto again = p.cancel(r.job);
    CHECK(again.error.ok());
    CHECK(again.outcome != CancelOutcome::not_found);
  }

  SECTION("429 with Retry-After is reported, nothing created") {
    emu.faults().rate_limit_next(1, 3, Op::submit);
    auto r = p.submit(request(pl, ""));
    CHECK(r.error.kind == ErrorKind::rate_limited);
    CHECK(r.error.retry_after_ms == 3'000);
    CHECK(emu.faults().counters().submits == 0);
  }

  SECTION("moderation and lost predictions") {
    emu.faults().moderate_next(1);
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto done = poll_until_final(p, r.job);
    CHECK(done.status.kind == ProviderStatusKind::failed);
    CHECK(done.status.error.kind == ErrorKind::moderation);
    emu.faults().lose_next(1);
    auto l = p.submit(request(pl, ""));
    REQUIRE(l.error.ok());
    CHECK(poll_until_final(p, l.job).status.kind == ProviderStatusKind::lost);
  }
}

TEST_CASE("emulated fal: Ed25519 webhook over the emulator's JWKS, polling, cancel, faults", "[providers][emulators]") {
  auto transport = make_beast_transport();
  FalEmulator emu;
  fast(emu);
  emu.start();
  CallbackReceiver receiver;
  FalProviderOptions o;
  o.transport = transport.get();
  o.base_url = emu.base_url();
  o.api_key = emu.options().api_key;
  o.jwks_url = emu.jwks_url();
  o.user_id = emu.user_id();
  auto made = make_fal_provider(o);
  REQUIRE(made.ok());
  Provider& p = **made;
  auto pl = payload("fal", "fal-ai/flux/schnell", "", R"({"prompt":"a cat","num_images":1})");

  SECTION("success by webhook") {
    auto r = p.submit(request(pl, receiver.url("/cb/fal?attempt=att_1")));
    REQUIRE(r.error.ok());
    REQUIRE(receiver.wait(1));
    auto cb = deliver(p, receiver.got().front());
    REQUIRE(cb.ok());
    CHECK(cb->job_id == r.job.job_id);
    CHECK(cb->status.kind == ProviderStatusKind::succeeded);
    CHECK_FALSE(cb->status.outputs.empty());
    CHECK(emu.jwks_requests() == 1);

    // Another fal account's adapter refuses the same genuine delivery.
    FalProviderOptions other = o;
    other.user_id = "someone-else";
    auto foreign = make_fal_provider(other);
    REQUIRE(foreign.ok());
    CHECK(deliver(**foreign, receiver.got().front()).code() == Code::invalid_signature);
  }

  SECTION("success by polling, moderation, lost") {
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto done = poll_until_final(p, r.job);
    REQUIRE(done.error.ok());
    CHECK(done.status.kind == ProviderStatusKind::succeeded);
    CHECK_FALSE(done.status.outputs.empty());

    emu.faults().moderate_next(1);
    auto m = p.submit(request(pl, ""));
    REQUIRE(m.error.ok());
    auto md = poll_until_final(p, m.job);
    CHECK(md.status.kind == ProviderStatusKind::failed);
    CHECK(md.status.error.kind == ErrorKind::moderation);

    emu.faults().lose_next(1);
    auto l = p.submit(request(pl, ""));
    REQUIRE(l.error.ok());
    CHECK(poll_until_final(p, l.job).status.kind == ProviderStatusKind::lost);
  }

  SECTION("cancel, Retry-After, connection reset") {
    fast(emu, 20, 5'000);
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto c = p.cancel(r.job);
    REQUIRE(c.error.ok());
    CHECK(c.outcome == CancelOutcome::requested);
    auto done = poll_until_final(p, r.job);
    CHECK(done.status.kind == ProviderStatusKind::canceled);
    CHECK(p.cancel(r.job).outcome == CancelOutcome::already_finished);

    emu.faults().rate_limit_next(1, 2, Op::poll);
    auto limited = p.poll(r.job);
    CHECK(limited.error.kind == ErrorKind::rate_limited);
    CHECK(limited.error.retry_after_ms == 2'000);
    // A reset: over a fresh connection (a pooled transport would retry a
    // reused connection that died before answering, by design).
    BeastTransportOptions no_pool;
    no_pool.pool = false;
    auto plain = make_beast_transport(no_pool);
    FalProviderOptions po = o;
    po.transport = plain.get();
    auto fresh = make_fal_provider(po);
    REQUIRE(fresh.ok());
    emu.faults().reset_next(1, Op::poll);
    CHECK((*fresh)->poll(r.job).error.kind == ErrorKind::connection);
  }
}

TEST_CASE("emulated bfl: polling_url, signed webhook, no cancel, faults", "[providers][emulators]") {
  auto transport = make_beast_transport();
  BflEmulator emu;
  fast(emu);
  emu.start();
  CallbackReceiver receiver;
  BflProviderOptions o;
  o.transport = transport.get();
  o.base_url = emu.base_url();
  o.api_key = emu.options().api_key;
  o.webhook_secret = "bfl-test-webhook-secret";
  auto made = make_bfl_provider(o);
  REQUIRE(made.ok());
  Provider& p = **made;
  auto pl = payload("bfl", "flux-dev", "/v1/flux-dev", R"({"prompt":"a cat","width":1024,"height":1024})");

  SECTION("success by webhook and by polling") {
    auto r = p.submit(request(pl, receiver.url("/cb/bfl")));
    REQUIRE(r.error.ok());
    CHECK(r.job.handle.rfind(emu.base_url(), 0) == 0);
    REQUIRE(receiver.wait(1));
    auto cb = deliver(p, receiver.got().front());
    REQUIRE(cb.ok());
    CHECK(cb->job_id == r.job.job_id);
    CHECK(cb->status.kind == ProviderStatusKind::succeeded);
    CHECK_FALSE(cb->status.outputs.empty());

    auto done = poll_until_final(p, r.job);
    REQUIRE(done.error.ok());
    CHECK(done.status.kind == ProviderStatusKind::succeeded);
    CHECK(p.cancel(r.job).outcome == CancelOutcome::unsupported);
  }

  SECTION("moderation, lost, 402, 503 with Retry-After") {
    emu.faults().moderate_input_next(1);
    auto m = p.submit(request(pl, ""));
    REQUIRE(m.error.ok());
    auto md = poll_until_final(p, m.job);
    CHECK(md.status.error.kind == ErrorKind::moderation);
    emu.faults().lose_next(1);
    auto l = p.submit(request(pl, ""));
    REQUIRE(l.error.ok());
    CHECK(poll_until_final(p, l.job).status.kind == ProviderStatusKind::lost);
    emu.faults().http_error_next(1, 402, Op::submit);
    CHECK(p.submit(request(pl, "")).error.kind == ErrorKind::provider_quota);
    emu.faults().inject(Op::submit, RequestFault{RequestFault::Kind::http_error, 503, 5, false});
    auto busy = p.submit(request(pl, ""));
    CHECK(busy.error.kind == ErrorKind::provider_unavailable);
    CHECK(busy.error.retry_after_ms == 5'000);
  }
}

TEST_CASE("emulated openai: synchronous b64 images, moderation, Retry-After", "[providers][emulators]") {
  auto transport = make_beast_transport();
  OpenAiEmulator emu;
  fast(emu, 10, 20);
  emu.start();
  OpenAIImagesProviderOptions o;
  o.transport = transport.get();
  o.base_url = emu.base_url();
  o.api_key = emu.options().api_key;
  auto made = make_openai_images_provider(o);
  REQUIRE(made.ok());
  Provider& p = **made;
  auto pl = payload("openai", "gpt-image-1", "", R"({"prompt":"a cat","n":2,"size":"1024x1024"})");

  auto r = p.submit(request(pl, ""));
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 2);
  CHECK_FALSE(r.status->outputs[0].data.empty());
  CHECK(r.status->outputs[0].url.empty());

  auto urls = payload("openai", "dall-e-3", "", R"({"prompt":"a cat","response_format":"url"})");
  auto u = p.submit(request(urls, ""));
  REQUIRE(u.error.ok());
  REQUIRE(u.status->outputs.size() == 1);
  CHECK(u.status->outputs[0].url.rfind(emu.base_url(), 0) == 0);

  emu.faults().moderate_next(1);
  CHECK(p.submit(request(pl, "")).error.kind == ErrorKind::moderation);
  emu.faults().rate_limit_next(1, 4, Op::submit);
  auto rl = p.submit(request(pl, ""));
  CHECK(rl.error.kind == ErrorKind::rate_limited);
  CHECK(rl.error.retry_after_ms == 4'000);
  emu.faults().hang_next(1, Op::submit);
  OpenAIImagesProviderOptions impatient = o;
  impatient.request_timeout = milliseconds(300);
  auto quick = make_openai_images_provider(impatient);
  REQUIRE(quick.ok());
  CHECK((*quick)->submit(request(pl, "")).error.kind == ErrorKind::timeout);
}

TEST_CASE("emulated runway: polling at the allowed cadence, throttled, cancel, moderation", "[providers][emulators]") {
  auto transport = make_beast_transport();
  RunwayEmulator emu;
  fast(emu);
  emu.set_min_poll_interval(milliseconds(20));  // real time; the adapter's 5 s run on its own clock
  emu.start();
  ManualClock clock;
  RunwayProviderOptions o;
  o.transport = transport.get();
  o.clock = &clock;
  o.base_url = emu.base_url();
  o.api_key = emu.options().api_key;
  auto made = make_runway_provider(o);
  REQUIRE(made.ok());
  Provider& p = **made;
  auto pl = payload("runway", "gen4_turbo", "image_to_video",
                    R"({"promptImage":"https://example.com/a.png","promptText":"a cat","ratio":"1280:720","duration":5})");

  SECTION("success by polling; a too-early poll costs no request") {
    emu.throttle_next(1);
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto first = p.poll(r.job);
    REQUIRE(first.error.ok());
    CHECK(first.status.kind == ProviderStatusKind::queued);  // THROTTLED
    const auto polls = emu.faults().counters().polls;
    CHECK(p.poll(r.job).status.kind == ProviderStatusKind::queued);
    CHECK(emu.faults().counters().polls == polls);
    auto done = poll_until_final(p, r.job, 100, milliseconds(30), &clock, milliseconds(5'000));
    REQUIRE(done.error.ok());
    CHECK(done.status.kind == ProviderStatusKind::succeeded);
    CHECK_FALSE(done.status.outputs.empty());
    CHECK(emu.faults().counters().poll_violations == 0);
  }

  SECTION("cancel a running task; a finished task is not deleted") {
    fast(emu, 20, 5'000);
    auto r = p.submit(request(pl, ""));
    REQUIRE(r.error.ok());
    auto c = p.cancel(r.job);
    REQUIRE(c.error.ok());
    CHECK(c.outcome == CancelOutcome::requested);
    clock.advance(milliseconds(5'000));
    CHECK(poll_until_final(p, r.job, 50, milliseconds(30), &clock, milliseconds(5'000)).status.kind ==
          ProviderStatusKind::canceled);

    fast(emu);
    auto d = p.submit(request(pl, ""));
    REQUIRE(d.error.ok());
    auto done = poll_until_final(p, d.job, 100, milliseconds(30), &clock, milliseconds(5'000));
    REQUIRE(done.status.kind == ProviderStatusKind::succeeded);
    CHECK(p.cancel(d.job).outcome == CancelOutcome::already_finished);
    clock.advance(milliseconds(5'000));
    CHECK(p.poll(d.job).status.kind == ProviderStatusKind::succeeded);  // still there
  }

  SECTION("moderation and Retry-After") {
    emu.faults().moderate_input_next(1);
    auto m = p.submit(request(pl, ""));
    REQUIRE(m.error.ok());
    auto md = poll_until_final(p, m.job, 100, milliseconds(30), &clock, milliseconds(5'000));
    CHECK(md.status.kind == ProviderStatusKind::failed);
    CHECK(md.status.error.kind == ErrorKind::moderation);
    CHECK(md.status.error.code == "SAFETY.INPUT.TEXT");
    emu.faults().rate_limit_next(1, 6, Op::submit);
    auto rl = p.submit(request(pl, ""));
    CHECK(rl.error.kind == ErrorKind::rate_limited);
    CHECK(rl.error.retry_after_ms == 6'000);
  }
}
