// OpenAI Images (synchronous, b64_json decoding) and Runway (tasks, 5 s
// polling rule, cancel without deleting finished tasks).
#include <atomic>

#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

struct OpenAI {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  OpenAI() {
    OpenAIImagesProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "sk-secret";
    o.project = "proj_1";
    auto r = make_openai_images_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
};

struct Runway {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  explicit Runway(std::chrono::milliseconds min_poll = std::chrono::milliseconds{5'000}) {
    RunwayProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "rw_secret";
    o.min_poll_interval = min_poll;
    o.timing.poll_interval = std::chrono::milliseconds{1'000};
    auto r = make_runway_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
  // Each call polls a fresh task id, so the 5 s rule does not interfere.
  int n = 0;
  ProviderStatus poll_with(std::string body, int status = 200) {
    t.json(status, std::move(body));
    auto r = p->poll(ProviderJob{"task_" + std::to_string(++n), ""});
    REQUIRE(r.error.ok());
    return r.status;
  }
};

}  // namespace

TEST_CASE("openai: synchronous submit decodes b64_json into inline bytes") {
  OpenAI f;
  CHECK(f.p->delivery() == DeliveryMode::synchronous);
  CHECK_FALSE(f.p->can_cancel());
  // Sized from the literals (embedded NULs included, the terminator not):
  // a hand-counted length read past the end (ASan).
  static constexpr char kPng[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR-bytes";
  static constexpr char kJpg[] = "\xff\xd8\xff\xe0 second image";
  const std::string png(kPng, sizeof kPng - 1);
  const std::string jpg(kJpg, sizeof kJpg - 1);
  auto pl = payload("openai", "gpt-image-1", "", R"({"prompt":"a cat","n":2,"size":"1024x1024"})");
  f.t.respond(200,
              R"({"created":1713833628,"data":[{"b64_json":")" + b64(png) + R"("},{"b64_json":")" + b64(jpg) +
                  R"("}],"output_format":"png","usage":{"total_tokens":100}})",
              {{"x-request-id", "req_abc123"}});
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 2);
  CHECK(r.status->outputs[0].data == png);
  CHECK(r.status->outputs[1].data == jpg);
  CHECK(r.status->outputs[0].url.empty());
  CHECK(r.status->outputs[0].content_type == "image/png");
  CHECK(r.job.job_id == "req_abc123");
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + "/v1/images/generations");
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer sk-secret"));
  CHECK(sent.header("OpenAI-Project") == std::optional<std::string>("proj_1"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "model") == "gpt-image-1");
  CHECK(body.find("n")->integer == 2);
}

TEST_CASE("openai: URL outputs, the requested format, malformed answers") {
  OpenAI f;
  auto pl = payload("openai", "dall-e-3", "", R"({"model":"dall-e-3","prompt":"x","output_format":"webp"})");
  f.t.json(200, R"({"created":1,"data":[{"url":"https://oaidalleapiprodscus.blob.core.windows.net/a.png"}]})");
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  REQUIRE(r.status->outputs.size() == 1);
  CHECK(r.status->outputs[0].url == "https://oaidalleapiprodscus.blob.core.windows.net/a.png");
  CHECK(r.job.job_id == "att_1");  // no x-request-id: the attempt id

  f.t.json(200, R"({"created":1,"data":[{"b64_json":"aGVsbG8"}]})");  // missing padding
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::malformed_response);
  f.t.json(200, R"({"created":1,"data":[{"b64_json":"aGVs*G8="}]})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::malformed_response);
  f.t.json(200, R"({"created":1,"data":[]})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::malformed_response);
  f.t.json(200, R"({"created":1,"data":[{"revised_prompt":"x"}]})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::malformed_response);

  f.t.json(200, R"({"created":1,"data":[{"b64_json":"aGVsbG8="}]})");
  auto fmt = f.p->submit(submit_request(pl));
  REQUIRE(fmt.error.ok());
  CHECK(fmt.status->outputs[0].content_type == "image/webp");  // from the payload
  CHECK(f.p->submit(submit_request(payload("openai", "m", "/v1/chat/completions", "{}"))).error.kind ==
        ErrorKind::invalid_input);
}

TEST_CASE("openai: moderation, quota and rate-limit errors") {
  OpenAI f;
  auto pl = payload("openai", "gpt-image-1", "", R"({"prompt":"x"})");
  f.t.json(400, R"({"error":{"message":"Your request was rejected by the safety system.","type":"image_generation_user_error","param":null,"code":"moderation_blocked"}})");
  auto m = f.p->submit(submit_request(pl));
  CHECK(m.error.kind == ErrorKind::moderation);
  CHECK(m.error.code == "moderation_blocked");
  f.t.json(400, R"({"error":{"message":"bad size","type":"invalid_request_error","code":"invalid_value"}})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::invalid_input);
  f.t.json(429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::provider_quota);
  f.t.respond(429, R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})",
              {{"retry-after", "20"}});
  auto rl = f.p->submit(submit_request(pl));
  CHECK(rl.error.kind == ErrorKind::rate_limited);
  CHECK(rl.error.retry_after_ms == 20'000);
  f.t.json(404, R"({"error":{"message":"The model does not exist","code":"model_not_found"}})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::model_unavailable);
}

TEST_CASE("openai: nothing to poll, cancel or call back") {
  OpenAI f;
  auto p = f.p->poll(ProviderJob{"req_1", ""});
  CHECK(p.status.kind == ProviderStatusKind::lost);
  CHECK(f.p->cancel(ProviderJob{"req_1", ""}).outcome == CancelOutcome::unsupported);
  CHECK(f.p->parse_callback({}, "{}").code() == Code::unsupported);
  CHECK(f.t.count() == 0);
}

TEST_CASE("runway: submit with the version header, the model and the endpoint") {
  Runway f;
  CHECK(f.p->delivery() == DeliveryMode::polling);
  CHECK(f.p->timing().min_poll_interval >= std::chrono::milliseconds{5'000});
  CHECK(f.p->timing().poll_interval >= std::chrono::milliseconds{5'000});
  auto pl = payload("runway", "gen4_turbo", "image_to_video",
                    R"({"promptImage":"https://x/y.png","promptText":"a cat","ratio":"1280:720","duration":5})");
  f.t.json(200, R"({"id":"17f20503-6c24-4c16-946b-35dbbce2af2f"})");
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  CHECK(r.job.job_id == "17f20503-6c24-4c16-946b-35dbbce2af2f");
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + "/v1/image_to_video");
  CHECK(sent.header("X-Runway-Version") == std::optional<std::string>("2024-11-06"));
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer rw_secret"));
  CHECK(str(parse(sent.request.body), "model") == "gen4_turbo");
  f.t.json(200, R"({"id":"t2"})");
  REQUIRE(f.p->submit(submit_request(payload("runway", "gen4_image", "/v1/text_to_image", "{}"))).error.ok());
  CHECK(f.t.last().request.url == kBase + "/v1/text_to_image");
  CHECK(f.p->submit(submit_request(payload("runway", "m", "tasks/../x", "{}"))).error.kind == ErrorKind::invalid_input);
  CHECK(f.p->parse_callback({}, "{}").code() == Code::unsupported);
}

TEST_CASE("runway: every task status maps") {
  Runway f;
  CHECK(f.poll_with(R"({"id":"t","status":"PENDING","createdAt":"2024-06-27T19:49:32.334Z"})").kind ==
        ProviderStatusKind::queued);
  CHECK(f.t.last().request.url == kBase + "/v1/tasks/task_1");
  CHECK(f.t.last().header("X-Runway-Version") == std::optional<std::string>("2024-11-06"));
  CHECK(f.poll_with(R"({"id":"t","status":"THROTTLED"})").kind == ProviderStatusKind::queued);
  auto running = f.poll_with(R"({"id":"t","status":"RUNNING","progress":0.4})");
  CHECK(running.kind == ProviderStatusKind::running);
  CHECK(running.progress == Approx(0.4));
  auto ok = f.poll_with(R"({"id":"t","status":"SUCCEEDED","output":["https://dnznrvs05pmza.cloudfront.net/v.mp4"]})");
  CHECK(ok.kind == ProviderStatusKind::succeeded);
  REQUIRE(ok.outputs.size() == 1);
  CHECK(ok.outputs[0].url == "https://dnznrvs05pmza.cloudfront.net/v.mp4");
  auto safety = f.poll_with(R"({"id":"t","status":"FAILED","failure":"prompt rejected","failureCode":"SAFETY.INPUT.TEXT"})");
  CHECK(safety.kind == ProviderStatusKind::failed);
  CHECK(safety.error.kind == ErrorKind::moderation);
  CHECK(safety.error.code == "SAFETY.INPUT.TEXT");
  CHECK(f.poll_with(R"({"id":"t","status":"FAILED","failureCode":"SAFETY.OUTPUT.VIDEO"})").error.kind ==
        ErrorKind::moderation);
  CHECK(f.poll_with(R"({"id":"t","status":"FAILED","failureCode":"INTERNAL.BAD_OUTPUT.CODE01"})").error.kind ==
        ErrorKind::server_error);
  CHECK(f.poll_with(R"({"id":"t","status":"FAILED","failureCode":"ASSET.INVALID"})").error.kind ==
        ErrorKind::invalid_input);
  CHECK(f.poll_with(R"({"id":"t","status":"FAILED"})").error.kind == ErrorKind::server_error);
  CHECK(f.poll_with(R"({"id":"t","status":"CANCELLED"})").kind == ProviderStatusKind::canceled);
  CHECK(f.poll_with(R"({"error":"Task not found"})", 404).kind == ProviderStatusKind::lost);
  f.t.json(200, R"({"id":"t","status":"DONE"})");
  CHECK(f.p->poll(ProviderJob{"task_x", ""}).error.kind == ErrorKind::malformed_response);
}

TEST_CASE("runway: a task is polled at most once per 5 s, even when configured faster") {
  Runway f(std::chrono::milliseconds{100});
  const ProviderJob job{"task_a", ""};
  f.t.json(200, R"({"id":"task_a","status":"RUNNING","progress":0.1})");
  CHECK(f.p->poll(job).status.kind == ProviderStatusKind::running);
  f.clock.advance(std::chrono::milliseconds{4'999});
  auto cached = f.p->poll(job);
  CHECK(cached.status.kind == ProviderStatusKind::running);
  CHECK(cached.status.progress == Approx(0.1));
  CHECK(f.t.count() == 1);
  f.clock.advance(std::chrono::milliseconds{1});
  f.t.json(200, R"({"id":"task_a","status":"RUNNING","progress":0.6})");
  CHECK(f.p->poll(job).status.progress == Approx(0.6));
  CHECK(f.t.count() == 2);
  // Other tasks are not held back; a failed poll is not cached.
  f.t.fail(Code::timeout);
  CHECK(f.p->poll(ProviderJob{"task_b", ""}).error.kind == ErrorKind::timeout);
  f.t.json(200, R"({"id":"task_b","status":"PENDING"})");
  CHECK(f.p->poll(ProviderJob{"task_b", ""}).status.kind == ProviderStatusKind::queued);
  CHECK(f.t.count() == 4);
}

TEST_CASE("runway: cancel deletes only unfinished tasks") {
  Runway f;
  const ProviderJob job{"task_c", ""};
  f.t.json(200, R"({"id":"task_c","status":"RUNNING"})");
  f.t.respond(204, "");
  auto c = f.p->cancel(job);
  CHECK(c.error.ok());
  CHECK(c.outcome == CancelOutcome::requested);
  auto reqs = f.t.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].request.method == "GET");
  CHECK(reqs[1].request.method == "DELETE");
  CHECK(reqs[1].request.url == kBase + "/v1/tasks/task_c");

  f.t.clear();
  f.t.json(200, R"({"id":"task_c","status":"SUCCEEDED","output":["https://x/v.mp4"]})");
  CHECK(f.p->cancel(job).outcome == CancelOutcome::already_finished);
  CHECK(f.t.count() == 1);  // no DELETE: it would remove the finished outputs

  f.t.clear();
  f.t.json(404, R"({"error":"Task not found"})");
  CHECK(f.p->cancel(job).outcome == CancelOutcome::not_found);
  f.t.json(200, R"({"id":"task_c","status":"THROTTLED"})");
  f.t.json(429, R"({"error":"slow"})");
  CHECK(f.p->cancel(job).error.kind == ErrorKind::rate_limited);
  f.t.fail(Code::unavailable);
  CHECK(f.p->cancel(job).error.kind == ErrorKind::connection);
}

TEST_CASE("runway: concurrent polls of many tasks from many threads") {
  Runway f;
  constexpr int kThreads = 8, kPolls = 40;
  for (int i = 0; i < kThreads * kPolls; ++i) f.t.json(200, R"({"id":"t","status":"RUNNING","progress":0.5})");
  std::atomic<int> ok{0};
  on_threads(kThreads, [&](int t) {
    for (int i = 0; i < kPolls; ++i) {
      auto r = f.p->poll(ProviderJob{"task_" + std::to_string(t) + "_" + std::to_string(i), ""});
      if (r.error.ok() && r.status.kind == ProviderStatusKind::running) ok.fetch_add(1);
      // A second poll of the same task at once is answered from memory.
      auto again = f.p->poll(ProviderJob{"task_" + std::to_string(t) + "_" + std::to_string(i), ""});
      if (again.error.ok() && again.status.kind == ProviderStatusKind::running) ok.fetch_add(1);
    }
  });
  CHECK(ok.load() == 2 * kThreads * kPolls);
  CHECK(f.t.count() == static_cast<std::size_t>(kThreads * kPolls));
}
