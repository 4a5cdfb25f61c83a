// The BytePlus adapter over real HTTP (make_beast_transport on loopback)
// against its emulator: Seedream images answered at once, Seedance tasks by
// polling, cancel only while queued, moderation, lost and expired tasks,
// Retry-After, account and model refusals, transport faults.
#include <thread>

#include "byteplus_emulator.hpp"
#include "emulator_test_util.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::provider_tests;
using std::chrono::milliseconds;

namespace {

const std::string kImages = "/api/v3/images/generations";
const std::string kTasks = "/api/v3/contents/generations/tasks";

struct Setup {
  std::unique_ptr<Transport> transport = make_beast_transport();
  BytePlusEmulator emu{EmulatorOptions{.api_key = "ark-emulated-key"}};
  std::shared_ptr<Provider> p;
  NativePayload image = payload("byteplus", "seedream-4-0-250828", kImages,
                                R"({"prompt":"a lighthouse","size":"2K","seed":42,"watermark":false,"response_format":"url"})");
  NativePayload video =
      payload("byteplus", "seedance-1-0-pro-250528", kTasks,
              R"({"content":[{"type":"text","text":"a dog runs"},{"type":"image_url","image_url":)"
              R"({"url":"https://example.com/a.png"},"role":"first_frame"}],"ratio":"16:9","duration":5})");

  explicit Setup(milliseconds request_timeout = milliseconds(10'000)) {
    timing(30, 60);
    emu.start();
    BytePlusProviderOptions o;
    o.transport = transport.get();
    o.base_url = emu.base_url();
    o.api_key = emu.options().api_key;
    o.request_timeout = request_timeout;
    auto made = make_byteplus_provider(o);
    REQUIRE(made.ok());
    p = *made;
  }
  void timing(int queued_ms, int running_ms) { fast(emu, queued_ms, running_ms); }
  SubmitResult submit(const NativePayload& pl, std::string attempt = "att_1") {
    SubmitRequest r = submit_request(pl);  // carries a callback URL: the adapter must not pass it on
    r.attempt_id = std::move(attempt);
    return p->submit(r);
  }
  // Submits the video payload and polls it to a final status.
  PollResult run_video() {
    auto r = submit(video);
    REQUIRE(r.error.ok());
    return poll_until_final(r.job);
  }
  // Polls every 20 ms until a final status, 200 polls (4 s) at most.
  PollResult poll_until_final(const ProviderJob& job) {
    return provider_tests::poll_until_final(*p, job, 200, milliseconds(20));
  }
};

bool on_emulator(const Setup& s, const ProviderOutput& o) { return o.url.rfind(s.emu.base_url() + "/files/", 0) == 0; }

}  // namespace

TEST_CASE("emulated byteplus: Seedream images answer at once", "[providers][emulators][byteplus]") {
  Setup s;
  auto r = s.submit(s.image);
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 1);
  CHECK(on_emulator(s, r.status->outputs[0]));
  CHECK(r.job.job_id.size() == 32);  // the X-Request-Id header
  CHECK(r.job.handle == "images");
  CHECK(s.emu.faults().submits_for("att_1") == 1);
  const auto requests = s.emu.faults().counters().requests;
  CHECK(s.p->poll(r.job).status.kind == ProviderStatusKind::lost);
  CHECK(s.p->cancel(r.job).outcome == CancelOutcome::already_finished);
  CHECK(s.emu.faults().counters().requests == requests);  // neither call reached the provider

  auto b64 = payload("byteplus", "seedream-4-0-250828", kImages,
                     R"({"prompt":"a comic","response_format":"b64_json","output_format":"png",)"
                     R"("sequential_image_generation":"auto","sequential_image_generation_options":{"max_images":3}})");
  auto inline_images = s.submit(b64, "att_2");
  REQUIRE(inline_images.error.ok());
  REQUIRE(inline_images.status->outputs.size() == 3);
  for (const auto& o : inline_images.status->outputs) {
    CHECK(o.url.empty());
    CHECK(o.data == EmulatorBase::png_bytes());
    CHECK(o.content_type == "image/png");
  }

  SECTION("moderation of the prompt, of every image, of one image") {
    s.emu.faults().moderate_input_next();
    auto in = s.submit(s.image);
    CHECK(in.error.kind == ErrorKind::moderation);
    CHECK(in.error.code == "InputTextSensitiveContentDetected");
    s.emu.faults().moderate_next();
    auto out = s.submit(b64);
    REQUIRE(out.error.ok());
    CHECK(out.status->kind == ProviderStatusKind::failed);
    CHECK(out.status->error.kind == ErrorKind::moderation);
    CHECK(out.status->error.code == "OutputImageSensitiveContentDetected");
    s.emu.partial_moderation_next(1);
    auto partial = s.submit(b64);
    REQUIRE(partial.error.ok());
    CHECK(partial.status->kind == ProviderStatusKind::succeeded);
    CHECK(partial.status->outputs.size() == 2);
  }
  SECTION("provider failure, account, model, rate limit, hang") {
    s.emu.faults().fail_next();
    CHECK(s.submit(s.image).error.kind == ErrorKind::server_error);
    s.emu.overdue_next(1);
    auto overdue = s.submit(s.image);
    CHECK(overdue.error.kind == ErrorKind::provider_quota);
    CHECK(overdue.error.code == "AccountOverdueError");
    s.emu.set_open_models({"seedance-1-0-pro-250528"});
    auto closed = s.submit(s.image);
    CHECK(closed.error.kind == ErrorKind::model_unavailable);
    CHECK(closed.error.code == "ModelNotOpen");
    s.emu.set_open_models({});
    s.emu.faults().rate_limit_next(1, 4, Op::submit);
    auto limited = s.submit(s.image);
    CHECK(limited.error.kind == ErrorKind::rate_limited);
    CHECK(limited.error.retry_after_ms == 4'000);
    CHECK(limited.error.code == "RateLimitExceeded.EndpointRPMExceeded");
    Setup impatient(milliseconds(300));
    impatient.emu.faults().hang_next(1, Op::submit);
    CHECK(impatient.submit(impatient.image).error.kind == ErrorKind::timeout);
  }
}

TEST_CASE("emulated byteplus: Seedance tasks by polling, never with a callback", "[providers][emulators][byteplus]") {
  Setup s;
  s.timing(200, 60);
  auto r = s.submit(s.video);
  REQUIRE(r.error.ok());
  CHECK_FALSE(r.status.has_value());
  CHECK(r.job.job_id.rfind("cgt-", 0) == 0);
  auto first = s.p->poll(r.job);
  REQUIRE(first.error.ok());
  CHECK(first.status.kind == ProviderStatusKind::queued);
  auto done = s.poll_until_final(r.job);
  REQUIRE(done.error.ok());
  CHECK(done.status.kind == ProviderStatusKind::succeeded);
  REQUIRE(done.status.outputs.size() == 1);
  CHECK(on_emulator(s, done.status.outputs[0]));
  CHECK(done.status.outputs[0].url.ends_with(".mp4"));
  auto job = s.emu.job(r.job.job_id);
  REQUIRE(job.has_value());
  CHECK(job->callback_url.empty());
  CHECK(job->model == "seedance-1-0-pro-250528");
  CHECK(s.emu.faults().counters().callbacks_sent == 0);
  s.timing(30, 60);

  SECTION("the last frame, when the body asks for it") {
    s.video.json = R"({"content":[{"type":"text","text":"x"}],"return_last_frame":true})";
    auto framed = s.run_video();
    REQUIRE(framed.status.outputs.size() == 2);
    CHECK(framed.status.outputs[1].url.ends_with("-last.png"));
  }
  SECTION("failed, moderated, lost and expired tasks") {
    s.emu.faults().fail_next();
    auto failed = s.run_video();
    CHECK(failed.status.kind == ProviderStatusKind::failed);
    CHECK(failed.status.error.kind == ErrorKind::server_error);
    CHECK(failed.status.error.code == "InternalServiceError");
    s.emu.faults().moderate_input_next();
    auto in = s.run_video();
    CHECK(in.status.error.kind == ErrorKind::moderation);
    CHECK(in.status.error.code == "InputTextSensitiveContentDetected");
    s.emu.faults().moderate_next();
    auto out = s.run_video();
    CHECK(out.status.error.kind == ErrorKind::moderation);
    CHECK(out.status.error.code == "OutputVideoSensitiveContentDetected");
    s.emu.faults().lose_next();
    CHECK(s.run_video().status.kind == ProviderStatusKind::lost);
    s.emu.expire_next(1);
    auto expired = s.run_video();
    CHECK(expired.status.kind == ProviderStatusKind::failed);
    CHECK(expired.status.error.kind == ErrorKind::timeout);
  }
  SECTION("submit and poll faults") {
    s.emu.faults().reset_next(1, Op::submit, /*after_accept=*/true);
    auto lost_answer = s.submit(s.video, "att_amb");
    CHECK(lost_answer.error.kind == ErrorKind::connection);
    CHECK(s.emu.faults().submits_for("att_amb") == 1);  // the task exists; the engine decides
    s.emu.faults().inject(Op::submit, RequestFault{RequestFault::Kind::http_error, 503, 5, false});
    auto busy = s.submit(s.video);
    CHECK(busy.error.kind == ErrorKind::provider_unavailable);
    CHECK(busy.error.retry_after_ms == 5'000);
    s.emu.faults().malformed_next(1, Op::poll);
    CHECK(s.p->poll(r.job).error.kind == ErrorKind::malformed_response);
    s.emu.faults().rate_limit_next(1, 2, Op::poll);
    auto limited = s.p->poll(r.job);
    CHECK(limited.error.kind == ErrorKind::rate_limited);
    CHECK(limited.error.retry_after_ms == 2'000);
    CHECK(s.p->poll(r.job).status.kind == ProviderStatusKind::succeeded);
  }
}

TEST_CASE("emulated byteplus: cancel deletes only a queued task", "[providers][emulators][byteplus]") {
  Setup s;
  SECTION("queued: canceled") {
    s.timing(5'000, 100);
    auto r = s.submit(s.video);
    REQUIRE(r.error.ok());
    auto c = s.p->cancel(r.job);
    REQUIRE(c.error.ok());
    CHECK(c.outcome == CancelOutcome::requested);
    CHECK(s.p->poll(r.job).status.kind == ProviderStatusKind::canceled);
    CHECK(s.emu.faults().counters().cancels == 1);
    // Cancelling again: the task is final, nothing is deleted.
    CHECK(s.p->cancel(r.job).outcome == CancelOutcome::already_finished);
    CHECK(s.emu.faults().counters().cancels == 1);
  }
  SECTION("running: BytePlus cannot stop it; it runs to its end") {
    s.timing(10, 1'000);
    auto r = s.submit(s.video);
    REQUIRE(r.error.ok());
    std::this_thread::sleep_for(milliseconds(100));
    auto c = s.p->cancel(r.job);
    REQUIRE(c.error.ok());
    CHECK(c.outcome == CancelOutcome::unsupported);
    CHECK(s.emu.faults().counters().cancels == 0);
    CHECK(s.poll_until_final(r.job).status.kind == ProviderStatusKind::succeeded);
  }
  SECTION("finished: not deleted, still readable; unknown: not_found") {
    auto done = s.run_video();
    REQUIRE(done.status.kind == ProviderStatusKind::succeeded);
    auto r = s.emu.job_ids();
    REQUIRE(r.size() == 1);
    const ProviderJob job{r[0], ""};
    CHECK(s.p->cancel(job).outcome == CancelOutcome::already_finished);
    CHECK(s.p->poll(job).status.kind == ProviderStatusKind::succeeded);
    CHECK(s.emu.faults().counters().cancels == 0);
    CHECK(s.p->cancel(ProviderJob{"cgt-20990101000000-000000", ""}).outcome == CancelOutcome::not_found);
  }
}
