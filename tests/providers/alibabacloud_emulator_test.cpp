// The alibabacloud (DashScope) adapter over real HTTP against its emulator:
// image and video tasks by polling, the synchronous Qwen-Image endpoint,
// failures, moderation, lost tasks, cancel while PENDING, Retry-After and
// transport faults.
#include <catch2/catch.hpp>

#include <thread>

#include "alibabacloud_emulator.hpp"
#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "emulator_test_util.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::provider_tests;
using std::chrono::milliseconds;

namespace {

const std::string kImage = AlibabaCloudEmulator::kImagePath;
const std::string kVideo = AlibabaCloudEmulator::kVideoPath;
const std::string kSync = AlibabaCloudEmulator::kSyncPath;

NativePayload native(std::string model, std::string endpoint, std::string json) {
  return payload("alibabacloud", std::move(model), std::move(endpoint), std::move(json));
}

SubmitRequest request(const NativePayload& p, std::string attempt = "att_1") {
  SubmitRequest r;
  r.generation_id = "gen_1";
  r.attempt_id = std::move(attempt);
  r.payload = &p;
  return r;
}

// The adapter on `transport` (a pooled one unless given) against `emu`.
struct Rig {
  AlibabaCloudEmulator emu{EmulatorOptions{.api_key = "sk-emu"}};
  std::unique_ptr<Transport> transport = make_beast_transport();
  std::shared_ptr<Provider> p;
  Rig(int queued_ms = 50, int running_ms = 100) {
    fast(emu, queued_ms, running_ms);
    emu.start();
    p = make(transport.get());
  }
  std::shared_ptr<Provider> make(Transport* t, milliseconds timeout = milliseconds(10'000)) {
    AlibabaCloudProviderOptions o;
    o.transport = t;
    o.base_url = emu.base_url();
    o.api_key = emu.options().api_key;
    o.request_timeout = timeout;
    auto made = make_alibabacloud_provider(o);
    REQUIRE(made.ok());
    return *made;
  }
  ProviderJob submit(const NativePayload& pl, std::string attempt = "att_1") {
    auto r = p->submit(request(pl, std::move(attempt)));
    INFO(r.error.message);
    REQUIRE(r.error.ok());
    REQUIRE_FALSE(r.status.has_value());
    return r.job;
  }
  PollResult until_final(const ProviderJob& job) { return poll_until_final(*p, job, 200, milliseconds(20)); }
};

NativePayload image(int n = 1) {
  return native("wan2.2-t2i-flash", kImage,
                R"({"input":{"prompt":"a fox"},"parameters":{"size":"1024*1024","n":)" + std::to_string(n) + "}}");
}
NativePayload video() {
  return native("wan2.5-t2v-preview", kVideo, R"({"input":{"prompt":"waves"},"parameters":{"size":"1280*720","duration":5}})");
}
NativePayload qwen() {
  return native("qwen-image-plus", kSync,
                R"({"input":{"messages":[{"role":"user","content":[{"text":"a fox"}]}]},"parameters":{"size":"1328*1328"}})");
}

}  // namespace

TEST_CASE("emulated alibabacloud: image and video tasks succeed by polling", "[alibabacloud][providers][emulators]") {
  Rig rig;
  auto job = rig.submit(image(2));
  auto emu_job = rig.emu.job(job.job_id);
  REQUIRE(emu_job);
  CHECK(emu_job->model == "wan2.2-t2i-flash");  // the adapter added the model
  auto first = rig.p->poll(job);
  REQUIRE(first.error.ok());
  CHECK(first.status.kind == ProviderStatusKind::queued);
  auto done = rig.until_final(job);
  REQUIRE(done.error.ok());
  CHECK(done.status.kind == ProviderStatusKind::succeeded);
  REQUIRE(done.status.outputs.size() == 2);
  CHECK(done.status.outputs[0].url == emu_job->outputs[0]);
  CHECK(done.status.outputs[1].url == emu_job->outputs[1]);

  auto v = rig.submit(video(), "att_2");
  auto vdone = rig.until_final(v);
  REQUIRE(vdone.status.kind == ProviderStatusKind::succeeded);
  REQUIRE(vdone.status.outputs.size() == 1);
  CHECK(vdone.status.outputs[0].url.rfind(rig.emu.base_url() + "/files/", 0) == 0);
  CHECK(vdone.status.outputs[0].url.ends_with(".mp4"));
  CHECK(rig.emu.faults().submits_for("att_1") == 1);
  CHECK(rig.emu.faults().max_submits_per_tag() == 1);
}

TEST_CASE("emulated alibabacloud: Qwen-Image answers at submit", "[alibabacloud][providers][emulators]") {
  Rig rig(10, 20);
  auto pl = qwen();
  auto r = rig.p->submit(request(pl));
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 1);
  auto job = rig.emu.job(r.job.job_id);  // the request_id is the emulator's job
  REQUIRE(job);
  CHECK(r.status->outputs[0].url == job->outputs[0]);
  CHECK(job->model == "qwen-image-plus");

  rig.emu.faults().moderate_next(1);
  auto m = rig.p->submit(request(pl));
  CHECK(m.error.kind == ErrorKind::moderation);
  CHECK(m.error.code == "DataInspectionFailed");
  rig.emu.faults().fail_next(1);
  CHECK(rig.p->submit(request(pl)).error.kind == ErrorKind::server_error);
  // A hung answer: the adapter's request timeout.
  rig.emu.faults().hang_next(1, Op::submit);
  auto impatient = rig.make(rig.transport.get(), milliseconds(300));
  CHECK(impatient->submit(request(pl)).error.kind == ErrorKind::timeout);
}

TEST_CASE("emulated alibabacloud: failed, moderated, partial and lost tasks", "[alibabacloud][providers][emulators]") {
  Rig rig(20, 40);
  rig.emu.faults().fail_next(1);
  auto failed = rig.until_final(rig.submit(image()));
  CHECK(failed.status.kind == ProviderStatusKind::failed);
  CHECK(failed.status.error.kind == ErrorKind::server_error);
  CHECK(failed.status.error.code == "InternalError");

  rig.emu.faults().moderate_input_next(1);
  auto input = rig.until_final(rig.submit(video()));
  CHECK(input.status.kind == ProviderStatusKind::failed);
  CHECK(input.status.error.kind == ErrorKind::moderation);
  CHECK(input.status.error.code == "DataInspectionFailed");

  rig.emu.partial_failure_next(1);
  auto partial = rig.until_final(rig.submit(image(2)));
  CHECK(partial.status.kind == ProviderStatusKind::succeeded);
  CHECK(partial.status.outputs.size() == 1);
  rig.emu.partial_failure_next(1);
  auto none = rig.until_final(rig.submit(image(1)));
  CHECK(none.status.kind == ProviderStatusKind::failed);
  CHECK(none.status.error.kind == ErrorKind::moderation);

  rig.emu.faults().lose_next(1);
  auto lost = rig.until_final(rig.submit(image()));
  CHECK(lost.status.kind == ProviderStatusKind::lost);
  CHECK(rig.p->poll(ProviderJob{"never-submitted", ""}).status.kind == ProviderStatusKind::lost);
}

TEST_CASE("emulated alibabacloud: cancel while PENDING; later cancels are settled", "[alibabacloud][providers][emulators]") {
  Rig rig(3'000, 3'000);
  auto job = rig.submit(image());
  auto c = rig.p->cancel(job);
  REQUIRE(c.error.ok());
  CHECK(c.outcome == CancelOutcome::requested);
  CHECK(rig.p->poll(job).status.kind == ProviderStatusKind::canceled);
  auto again = rig.p->cancel(job);  // refused (not PENDING); the task says CANCELED
  REQUIRE(again.error.ok());
  CHECK(again.outcome == CancelOutcome::already_finished);

  fast(rig.emu, 10, 5'000);
  auto running = rig.submit(video());
  std::this_thread::sleep_for(milliseconds(60));
  REQUIRE(rig.p->poll(running).status.kind == ProviderStatusKind::running);
  auto late = rig.p->cancel(running);
  REQUIRE(late.error.ok());
  CHECK(late.outcome == CancelOutcome::already_finished);
  CHECK(rig.p->poll(running).status.kind == ProviderStatusKind::running);  // DashScope lets it run

  auto unknown = rig.p->cancel(ProviderJob{"never-submitted", ""});
  REQUIRE(unknown.error.ok());
  CHECK(unknown.outcome == CancelOutcome::not_found);
  CHECK(rig.emu.faults().counters().cancels == 4);
}

TEST_CASE("emulated alibabacloud: Retry-After, 503, malformed answers and resets", "[alibabacloud][providers][emulators]") {
  Rig rig;
  auto pl = image();
  rig.emu.faults().rate_limit_next(1, 3, Op::submit);
  auto rl = rig.p->submit(request(pl));
  CHECK(rl.error.kind == ErrorKind::rate_limited);
  CHECK(rl.error.retry_after_ms == 3'000);
  CHECK(rl.error.code == "Throttling.RateQuota");
  CHECK(rig.emu.faults().counters().submits == 0);

  auto job = rig.submit(pl);
  rig.emu.faults().inject(Op::poll, RequestFault{RequestFault::Kind::http_error, 503, 5, false});
  auto busy = rig.p->poll(job);
  CHECK(busy.error.kind == ErrorKind::provider_unavailable);
  CHECK(busy.error.retry_after_ms == 5'000);
  rig.emu.faults().http_error_next(1, 402, Op::submit);
  CHECK(rig.p->submit(request(pl)).error.kind == ErrorKind::provider_quota);
  rig.emu.faults().malformed_next(1, Op::submit);
  CHECK(rig.p->submit(request(pl)).error.kind == ErrorKind::malformed_response);

  // Resets over fresh connections (a pooled transport retries a dead reused one).
  BeastTransportOptions no_pool;
  no_pool.pool = false;
  auto plain = make_beast_transport(no_pool);
  auto fresh = rig.make(plain.get());
  rig.emu.faults().reset_next(1, Op::poll);
  CHECK(fresh->poll(job).error.kind == ErrorKind::connection);
  rig.emu.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  auto ambiguous = fresh->submit(request(pl, "att_amb"));
  CHECK(ambiguous.error.kind == ErrorKind::connection);
  CHECK(rig.emu.faults().submits_for("att_amb") == 1);  // created; the adapter did not resend
  CHECK(rig.until_final(job).status.kind == ProviderStatusKind::succeeded);
}
