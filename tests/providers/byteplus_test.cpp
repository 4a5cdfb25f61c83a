// BytePlus ModelArk adapter over the scripted FakeTransport: Seedream images
// answered at once (URLs, b64_json, per-image errors), Seedance tasks
// (statuses, cancel only while queued), the error codes and the shared
// HTTP / transport matrix, concurrent polls.
#include <atomic>
#include <set>

#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kImages = "/api/v3/images/generations";
const std::string kTasks = "/api/v3/contents/generations/tasks";
const std::string kVideoBody =
    R"({"content":[{"type":"text","text":"a dog runs in the sun"},)"
    R"({"type":"image_url","image_url":{"url":"https://example.com/first.png"},"role":"first_frame"}],)"
    R"("ratio":"16:9","duration":5,"resolution":"720p","seed":7,"watermark":false})";

struct Fixture {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  NativePayload image = payload("byteplus", "seedream-4-0-250828", kImages,
                                R"({"prompt":"a lighthouse at dusk","size":"2K","seed":42,"watermark":false,"response_format":"url"})");
  NativePayload video = payload("byteplus", "seedance-1-0-pro-250528", kTasks, kVideoBody);

  Fixture() {
    BytePlusProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "ark-secret-key";
    auto r = make_byteplus_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }

  // Submits the image payload `body` answered by `answer` (with headers).
  SubmitResult images(std::string body, std::string answer, std::vector<HttpHeader> headers = {}) {
    image.json = std::move(body);
    headers.push_back({"Content-Type", "application/json"});
    t.respond(200, std::move(answer), std::move(headers));
    return p->submit(submit_request(image));
  }
  ProviderStatus poll_with(std::string body, int status = 200) {
    t.json(status, std::move(body));
    auto r = p->poll(ProviderJob{"cgt-20250331175019-68d9t", ""});
    REQUIRE(r.error.ok());
    return r.status;
  }
  std::vector<std::string> methods() const {
    std::vector<std::string> out;
    for (const auto& r : t.requests()) out.push_back(r.request.method);
    return out;
  }
};

const ProviderJob kTask{"cgt-20250331175019-68d9t", ""};

}  // namespace

TEST_CASE("byteplus: identity, options and no callbacks", "[byteplus]") {
  Fixture f;
  CHECK(f.p->id() == "byteplus");
  CHECK(f.p->delivery() == DeliveryMode::polling);
  CHECK(f.p->can_cancel());
  CHECK(f.p->parse_callback({}, R"({"id":"cgt-1","status":"succeeded"})").code() == Code::unsupported);
  CHECK(f.p->find_job("att_1").code() == Code::unsupported);
  CHECK(BytePlusProviderOptions{}.request_timeout == std::chrono::milliseconds{180'000});
  CHECK(BytePlusProviderOptions{}.base_url == "https://ark.ap-southeast.bytepluses.com");

  BytePlusProviderOptions o;
  o.api_key = "k";
  CHECK(make_byteplus_provider(o).code() == Code::invalid_request);  // no transport
  o.transport = &f.t;
  o.api_key.clear();
  CHECK(make_byteplus_provider(o).code() == Code::invalid_request);
  o.api_key = "k";
  o.base_url = "ark.ap-southeast.bytepluses.com";
  CHECK(make_byteplus_provider(o).code() == Code::invalid_request);
  CHECK(f.t.count() == 0);
}

TEST_CASE("byteplus: a Seedream request is one exchange whose answer is final", "[byteplus]") {
  Fixture f;
  auto r = f.images(f.image.json,
                    R"({"model":"seedream-4-0-250828","created":1757321139,"data":[)"
                    R"({"url":"https://ark-content-generation-ap-southeast-1.tos.example.com/a.jpeg","size":"2048x2048"},)"
                    R"({"url":"https://ark-content-generation-ap-southeast-1.tos.example.com/b.jpeg","size":"2048x2048"}],)"
                    R"("usage":{"generated_images":2,"output_tokens":32768,"total_tokens":32768}})",
                    {{"X-Request-Id", "021757321139385abcdef"}});
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 2);
  CHECK(r.status->outputs[0].url == "https://ark-content-generation-ap-southeast-1.tos.example.com/a.jpeg");
  CHECK(r.status->outputs[1].url == "https://ark-content-generation-ap-southeast-1.tos.example.com/b.jpeg");
  CHECK(r.status->outputs[0].data.empty());
  CHECK(r.job.job_id == "021757321139385abcdef");
  CHECK(r.job.handle == "images");

  REQUIRE(f.t.count() == 1);
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url == kBase + kImages);
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer ark-secret-key"));
  CHECK(sent.header("Content-Type") == std::optional<std::string>("application/json"));
  CHECK(sent.header("X-Babysea-Attempt-Id") == std::optional<std::string>("att_1"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "model") == "seedream-4-0-250828");
  CHECK(str(body, "prompt") == "a lighthouse at dusk");
  CHECK(str(body, "size") == "2K");
  CHECK(body.find("seed")->integer == 42);
  CHECK(str(body, "response_format") == "url");
  CHECK(body.find("callback_url") == nullptr);  // the request had one; BytePlus never gets it

  // The answered job has nothing to poll or cancel, and no I/O is spent.
  auto polled = f.p->poll(r.job);
  CHECK(polled.error.ok());
  CHECK(polled.status.kind == ProviderStatusKind::lost);
  CHECK(f.p->cancel(r.job).outcome == CancelOutcome::already_finished);
  CHECK(f.t.count() == 1);
}

TEST_CASE("byteplus: b64_json images are decoded and typed by output_format", "[byteplus]") {
  Fixture f;
  // Sized from the literals (embedded NULs included, the terminator not), and their base64.
  static constexpr char kJpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0 jpeg bytes";
  static constexpr char kPng[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR png bytes";
  const std::string jpeg(kJpeg, sizeof kJpeg - 1);
  const std::string png(kPng, sizeof kPng - 1);
  const std::string jpeg64 = "/9j/4AAQSkZJRgAganBlZyBieXRlcw==";
  const std::string png64 = "iVBORw0KGgoAAAANSUhEUiBwbmcgYnl0ZXM=";

  auto r = f.images(R"({"prompt":"x","response_format":"b64_json"})",
                    R"({"model":"m","created":1,"data":[{"b64_json":")" + jpeg64 + R"(","size":"1024x1024"}]})",
                    {});
  REQUIRE(r.error.ok());
  REQUIRE(r.status->outputs.size() == 1);
  CHECK(r.status->outputs[0].data == jpeg);
  CHECK(r.status->outputs[0].url.empty());
  CHECK(r.status->outputs[0].content_type == "image/jpeg");  // the documented default
  CHECK(r.job.job_id == "att_1");                             // no X-Request-Id, no id

  auto p = f.images(R"({"prompt":"x","response_format":"b64_json","output_format":"png"})",
                    R"({"id":"img-77","data":[{"b64_json":")" + png64 + R"("}]})");
  REQUIRE(p.error.ok());
  CHECK(p.status->outputs[0].data == png);
  CHECK(p.status->outputs[0].content_type == "image/png");
  CHECK(p.job.job_id == "img-77");
  // A request id that is not one path segment is not used.
  auto q = f.images(R"({"prompt":"x"})", R"({"data":[{"url":"https://x.example/a.jpeg"}]})",
                    {{"X-Request-Id", "a/b"}});
  REQUIRE(q.error.ok());
  CHECK(q.job.job_id == "att_1");
}

TEST_CASE("byteplus: per-image errors: some images, none, or a top-level error", "[byteplus]") {
  Fixture f;
  auto partial = f.images(f.image.json,
                          R"({"data":[{"error":{"code":"OutputImageSensitiveContentDetected","message":"flagged"}},)"
                          R"({"url":"https://x.example/2.jpeg","size":"2048x2048"}]})");
  REQUIRE(partial.error.ok());
  CHECK(partial.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(partial.status->outputs.size() == 1);
  CHECK(partial.status->outputs[0].url == "https://x.example/2.jpeg");

  auto none = f.images(f.image.json,
                       R"({"data":[{"error":{"code":"OutputImageSensitiveContentDetected","message":"flagged"}},)"
                       R"({"error":{"code":"InternalServiceError","message":"boom"}}]})");
  REQUIRE(none.error.ok());
  CHECK(none.status->kind == ProviderStatusKind::failed);
  CHECK(none.status->error.kind == ErrorKind::moderation);
  CHECK(none.status->error.code == "OutputImageSensitiveContentDetected");
  CHECK(none.status->error.message == "flagged");
  CHECK(none.status->outputs.empty());
  CHECK(none.job.job_id == "att_1");

  auto generic = f.images(f.image.json, R"({"data":[{"error":{}}]})");
  REQUIRE(generic.error.ok());
  CHECK(generic.status->error.kind == ErrorKind::server_error);
  CHECK(generic.status->error.code == "image_failed");

  auto top = f.images(f.image.json, R"({"data":[],"error":{"code":"InvalidParameter.Size","message":"bad size"}})");
  REQUIRE(top.error.ok());
  CHECK(top.status->kind == ProviderStatusKind::failed);
  CHECK(top.status->error.kind == ErrorKind::invalid_input);
  CHECK(top.status->error.code == "InvalidParameter.Size");
}

TEST_CASE("byteplus: malformed Seedream answers", "[byteplus]") {
  Fixture f;
  for (const char* answer : {R"({"data":[]})", R"({"created":1})", R"({"data":{"url":"https://x/a"}})",
                             R"({"data":["https://x/a.jpeg"]})", R"({"data":[{"size":"1K"}]})",
                             R"({"data":[{"url":"ftp://x/a.jpeg"}]})", R"({"data":[{"b64_json":"aGVsbG8"}]})",
                             R"({"data":[{"b64_json":"aGVs*G8="}]})", R"([1,2])"}) {
    INFO(answer);
    auto r = f.images(f.image.json, answer);
    CHECK(r.error.kind == ErrorKind::malformed_response);
    CHECK_FALSE(r.status.has_value());
    CHECK(r.job.job_id.empty());
  }
}

TEST_CASE("byteplus: only the two documented endpoints, refused without I/O", "[byteplus]") {
  Fixture f;
  for (const char* endpoint : {"", "/api/v3/chat/completions", "/api/v3/images/generations/../x",
                               "/api/v3/contents/generations/tasks/cgt-1", "api/v3/images/generations",
                               "https://evil.example/api/v3/images/generations"}) {
    INFO(endpoint);
    auto r = f.p->submit(submit_request(payload("byteplus", "seedream-4-0-250828", endpoint, R"({"prompt":"x"})")));
    CHECK(r.error.kind == ErrorKind::invalid_input);
    CHECK(r.error.code == "bad_endpoint");
  }
  CHECK(f.p->submit(submit_request(payload("byteplus", "m", kTasks, "[1]"))).error.code == "bad_payload");
  CHECK(f.p->submit(submit_request(payload("alibabacloud", "m", kTasks, "{}"))).error.kind == ErrorKind::invalid_input);
  CHECK(f.t.count() == 0);

  // A body that names its model keeps it.
  f.t.json(200, R"({"id":"cgt-2"})");
  REQUIRE(f.p->submit(submit_request(payload("byteplus", "seedance-1-0-lite-t2v-250428", kTasks,
                                             R"({"model":"ep-20250101-abcde","content":[{"type":"text","text":"x"}]})")))
              .error.ok());
  CHECK(str(parse(f.t.last().request.body), "model") == "ep-20250101-abcde");
}

TEST_CASE("byteplus: a Seedance task is created with the documented body and no callback", "[byteplus]") {
  Fixture f;
  f.t.json(200, R"({"id":"cgt-20250331175019-68d9t"})");
  auto r = f.p->submit(submit_request(f.video));
  REQUIRE(r.error.ok());
  CHECK_FALSE(r.status.has_value());
  CHECK(r.job.job_id == "cgt-20250331175019-68d9t");
  CHECK(r.job.handle.empty());
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url == kBase + kTasks);
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer ark-secret-key"));
  CHECK(sent.header("X-Babysea-Attempt-Id") == std::optional<std::string>("att_1"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "model") == "seedance-1-0-pro-250528");
  CHECK(body.find("callback_url") == nullptr);
  const json::Value* content = body.find("content");
  REQUIRE(content != nullptr);
  REQUIRE(content->array.size() == 2);
  CHECK(str(content->array[0], "text") == "a dog runs in the sun");
  CHECK(str(content->array[1], "role") == "first_frame");
  CHECK(str(body, "ratio") == "16:9");
  CHECK(body.find("duration")->integer == 5);

  for (const char* answer : {R"({})", R"({"id":""})", R"({"id":"cgt-1/../x"})", R"({"id":42})", R"(["cgt-1"])"}) {
    INFO(answer);
    f.t.json(200, answer);
    auto bad = f.p->submit(submit_request(f.video));
    CHECK(bad.error.kind == ErrorKind::malformed_response);
    CHECK(bad.job.job_id.empty());
  }
}

TEST_CASE("byteplus: every task status maps", "[byteplus]") {
  Fixture f;
  CHECK(f.poll_with(R"({"id":"cgt-1","model":"m","status":"queued","created_at":1743414619})").kind ==
        ProviderStatusKind::queued);
  auto sent = f.t.last();
  CHECK(sent.request.method == "GET");
  CHECK(sent.request.url == kBase + kTasks + "/cgt-20250331175019-68d9t");
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer ark-secret-key"));
  CHECK(f.poll_with(R"({"id":"cgt-1","status":"running"})").kind == ProviderStatusKind::running);

  auto ok = f.poll_with(R"({"id":"cgt-1","status":"succeeded","content":{"video_url":"https://ark.example/v.mp4"},)"
                        R"("usage":{"completion_tokens":108900},"seed":7,"resolution":"720p"})");
  CHECK(ok.kind == ProviderStatusKind::succeeded);
  REQUIRE(ok.outputs.size() == 1);
  CHECK(ok.outputs[0].url == "https://ark.example/v.mp4");
  auto framed = f.poll_with(R"({"status":"succeeded","content":{"video_url":"https://ark.example/v.mp4",)"
                            R"("last_frame_url":"https://ark.example/last.png"}})");
  REQUIRE(framed.outputs.size() == 2);
  CHECK(framed.outputs[1].url == "https://ark.example/last.png");

  auto failed = f.poll_with(R"({"status":"failed","error":{"code":"InternalServiceError","message":"boom"}})");
  CHECK(failed.kind == ProviderStatusKind::failed);
  CHECK(failed.error.kind == ErrorKind::server_error);
  CHECK(failed.error.code == "InternalServiceError");
  CHECK(failed.error.message == "boom");
  for (const char* code : {"InputTextSensitiveContentDetected", "InputImageSensitiveContentDetected",
                           "OutputVideoSensitiveContentDetected", "SensitiveContentDetected.SevereViolation",
                           "OutputVideoRiskDetection"}) {
    INFO(code);
    auto m = f.poll_with(std::string(R"({"status":"failed","error":{"code":")") + code + R"(","message":"x"}})");
    CHECK(m.kind == ProviderStatusKind::failed);
    CHECK(m.error.kind == ErrorKind::moderation);
    CHECK(m.error.code == code);
  }
  CHECK(f.poll_with(R"({"status":"failed","error":{"code":"InvalidParameter.Duration","message":"x"}})").error.kind ==
        ErrorKind::invalid_input);
  auto bare = f.poll_with(R"({"status":"failed"})");
  CHECK(bare.error.kind == ErrorKind::server_error);
  CHECK(bare.error.code == "task_failed");
  CHECK(f.poll_with(R"({"status":"cancelled"})").kind == ProviderStatusKind::canceled);
  auto expired = f.poll_with(R"({"status":"expired"})");
  CHECK(expired.kind == ProviderStatusKind::failed);
  CHECK(expired.error.kind == ErrorKind::timeout);
  CHECK(expired.error.code == "expired");
  auto lost = f.poll_with(R"({"error":{"code":"ResourceNotFound","message":"not found"}})", 404);
  CHECK(lost.kind == ProviderStatusKind::lost);
  CHECK(lost.error.code == "job_lost");

  for (const char* answer : {R"({"status":"SUCCEEDED"})", R"({"status":"succeeded"})",
                             R"({"status":"succeeded","content":{"video_url":"/v.mp4"}})", R"({})", R"([])"}) {
    INFO(answer);
    f.t.json(200, answer);
    CHECK(f.p->poll(kTask).error.kind == ErrorKind::malformed_response);
  }
  // A task id that is not one path segment is refused before any I/O.
  const std::size_t before = f.t.count();
  CHECK(f.p->poll(ProviderJob{"../images/generations", ""}).error.kind == ErrorKind::invalid_input);
  CHECK(f.p->cancel(ProviderJob{"cgt-1?x=1", ""}).error.kind == ErrorKind::invalid_input);
  CHECK(f.t.count() == before);
}

TEST_CASE("byteplus: cancel deletes only a queued task", "[byteplus]") {
  Fixture f;
  SECTION("queued: read, then DELETE") {
    f.t.json(200, R"({"status":"queued"})");
    f.t.json(200, "{}");
    auto c = f.p->cancel(kTask);
    CHECK(c.error.ok());
    CHECK(c.outcome == CancelOutcome::requested);
    CHECK(f.methods() == std::vector<std::string>{"GET", "DELETE"});
    const auto deleted = f.t.last();
    CHECK(deleted.request.url == kBase + kTasks + "/cgt-20250331175019-68d9t");
    CHECK(deleted.header("Authorization") == std::optional<std::string>("Bearer ark-secret-key"));
  }
  SECTION("an empty 2xx DELETE is accepted too") {
    f.t.json(200, R"({"status":"queued"})");
    f.t.respond(204, "");
    CHECK(f.p->cancel(kTask).outcome == CancelOutcome::requested);
  }
  SECTION("running: BytePlus cannot stop it") {
    f.t.json(200, R"({"status":"running"})");
    auto c = f.p->cancel(kTask);
    CHECK(c.error.ok());
    CHECK(c.outcome == CancelOutcome::unsupported);
    CHECK(f.methods() == std::vector<std::string>{"GET"});
  }
  SECTION("final: never deleted (a DELETE would remove the record)") {
    for (const char* status : {"succeeded", "failed", "expired", "cancelled"}) {
      INFO(status);
      f.t.clear();
      f.t.json(200, std::string(R"({"status":")") + status +
                        R"(","content":{"video_url":"https://x.example/v.mp4"},"error":{"code":"E"}})");
      auto c = f.p->cancel(kTask);
      CHECK(c.error.ok());
      CHECK(c.outcome == CancelOutcome::already_finished);
      CHECK(f.methods() == std::vector<std::string>{"GET"});
    }
  }
  SECTION("unknown: not_found on the read or on the DELETE") {
    f.t.json(404, R"({"error":{"code":"ResourceNotFound","message":"x"}})");
    CHECK(f.p->cancel(kTask).outcome == CancelOutcome::not_found);
    f.t.json(200, R"({"status":"queued"})");
    f.t.json(404, R"({"error":{"code":"ResourceNotFound","message":"x"}})");
    CHECK(f.p->cancel(kTask).outcome == CancelOutcome::not_found);
  }
  SECTION("a refused DELETE is settled by reading the task again") {
    const std::string refusal =
        R"({"error":{"code":"OperationDenied.UnsupportedPhase","message":"not in this phase","type":"Forbidden"}})";
    f.t.json(200, R"({"status":"queued"})").json(403, refusal).json(200, R"({"status":"running"})");
    auto running = f.p->cancel(kTask);
    CHECK(running.error.ok());
    CHECK(running.outcome == CancelOutcome::unsupported);
    CHECK(f.methods() == std::vector<std::string>{"GET", "DELETE", "GET"});

    f.t.json(200, R"({"status":"queued"})").json(400, refusal).json(200, R"({"status":"cancelled"})");
    CHECK(f.p->cancel(kTask).outcome == CancelOutcome::already_finished);
    f.t.json(200, R"({"status":"queued"})").json(409, R"({"error":{"code":"Conflict"}})").json(404, "{}");
    CHECK(f.p->cancel(kTask).outcome == CancelOutcome::not_found);
    // Still queued after a refusal: the refusal is the answer (the engine retries later).
    f.t.json(200, R"({"status":"queued"})").json(403, refusal).json(200, R"({"status":"queued"})");
    auto stuck = f.p->cancel(kTask);
    CHECK(stuck.error.kind == ErrorKind::invalid_input);
    CHECK(stuck.error.code == "OperationDenied.UnsupportedPhase");
  }
  SECTION("failed calls are errors, to be retried") {
    f.t.json(429, R"({"error":{"code":"RateLimitExceeded.EndpointRPMExceeded","message":"slow"}})");
    CHECK(f.p->cancel(kTask).error.kind == ErrorKind::rate_limited);
    f.t.fail(Code::unavailable);
    CHECK(f.p->cancel(kTask).error.kind == ErrorKind::connection);
    f.t.json(200, R"({"status":"queued"})").json(500, R"({"error":{"code":"InternalServiceError"}})");
    CHECK(f.p->cancel(kTask).error.kind == ErrorKind::server_error);
    f.t.json(200, R"({"status":"queued"})").json(401, R"({"error":{"code":"AuthenticationError"}})");
    CHECK(f.p->cancel(kTask).error.kind == ErrorKind::provider_auth);
    CHECK(f.t.pending() == 0);
  }
}

TEST_CASE("byteplus: error codes refine the HTTP status", "[byteplus]") {
  struct Row {
    int status;
    const char* code;
    ErrorKind expected;
  };
  const Row rows[] = {
      {400, "InputTextSensitiveContentDetected", ErrorKind::moderation},
      {400, "InputImageSensitiveContentDetected", ErrorKind::moderation},
      {400, "SensitiveContentDetected", ErrorKind::moderation},
      {400, "SensitiveContentDetected.Violence", ErrorKind::moderation},
      {400, "InputTextRiskDetection", ErrorKind::moderation},
      {400, "MissingParameter", ErrorKind::invalid_input},
      {400, "InvalidParameter.Size", ErrorKind::invalid_input},
      {400, "InvalidEndpoint.ClosedEndpoint", ErrorKind::model_unavailable},
      {401, "AuthenticationError", ErrorKind::provider_auth},
      {403, "AccountOverdueError", ErrorKind::provider_quota},
      {403, "OperationDenied.ServiceOverdue", ErrorKind::provider_quota},
      {403, "OperationDenied.ServiceNotOpen", ErrorKind::model_unavailable},
      {403, "AccessDenied", ErrorKind::provider_auth},
      {404, "ModelNotOpen", ErrorKind::model_unavailable},
      {404, "InvalidEndpointOrModel.NotFound", ErrorKind::model_unavailable},
      {404, "InvalidEndpoint.NotFound", ErrorKind::model_unavailable},
      {429, "RateLimitExceeded.EndpointRPMExceeded", ErrorKind::rate_limited},
      {429, "ModelAccountTpmRateLimitExceeded", ErrorKind::rate_limited},
      {429, "QuotaExceeded", ErrorKind::provider_quota},
      {429, "SetLimitExceeded", ErrorKind::provider_quota},
      {429, "ServerOverloaded", ErrorKind::provider_unavailable},
      {500, "InternalServiceError", ErrorKind::server_error},
      {400, "SomethingNew", ErrorKind::invalid_input},
  };
  for (const auto& row : rows) {
    for (const std::string& endpoint : {kImages, kTasks}) {
      INFO(row.code << " on " << endpoint);
      Fixture f;
      f.t.respond(row.status,
                  std::string(R"({"error":{"code":")") + row.code +
                      R"(","message":"The request failed. Request id: 0217","param":"","type":"BadRequest"}})",
                  {{"Content-Type", "application/json"}, {"Retry-After", "3"}});
      auto r = f.p->submit(submit_request(endpoint == kImages ? f.image : f.video));
      CHECK(r.error.kind == row.expected);
      CHECK(r.error.code == row.code);
      CHECK(r.error.retry_after_ms == 3'000);
      CHECK(r.error.message.find("The request failed") != std::string::npos);
      CHECK(r.error.message.find("ark-secret-key") == std::string::npos);
      CHECK_FALSE(r.status.has_value());
    }
  }
  // On a poll the same codes apply (a 404 is the lost task instead).
  Fixture f;
  f.t.json(403, R"({"error":{"code":"AccountOverdueError","message":"overdue"}})");
  CHECK(f.p->poll(kTask).error.kind == ErrorKind::provider_quota);
  f.t.json(429, R"({"error":{"code":"ServerOverloaded","message":"busy"}})");
  CHECK(f.p->poll(kTask).error.kind == ErrorKind::provider_unavailable);
}

TEST_CASE("byteplus: the shared HTTP and transport matrix on both endpoints and on polls", "[byteplus]") {
  for (const auto& c : error_matrix()) {
    for (const std::string& endpoint : {kImages, kTasks}) {
      INFO(c.name << " on " << endpoint);
      Fixture f;
      script(f.t, c);
      auto r = f.p->submit(submit_request(endpoint == kImages ? f.image : f.video));
      CHECK(r.error.kind == c.expected);
      CHECK(r.error.retry_after_ms == c.expected_retry_ms);
      CHECK(r.job.job_id.empty());
      CHECK_FALSE(r.status.has_value());
      CHECK(f.t.count() == 1);  // never retried by the adapter
    }
    INFO(c.name << " on a poll");
    Fixture f;
    script(f.t, c);
    auto p = f.p->poll(kTask);
    if (c.status == 404) {
      CHECK(p.error.ok());
      CHECK(p.status.kind == ProviderStatusKind::lost);
    } else {
      CHECK(p.error.kind == c.expected);
      CHECK(p.error.retry_after_ms == c.expected_retry_ms);
    }
    CHECK(f.t.count() == 1);
  }
}

TEST_CASE("byteplus: concurrent polls of many tasks from many threads", "[byteplus]") {
  Fixture f;
  constexpr int kThreads = 8, kPolls = 50;
  for (int i = 0; i < kThreads * kPolls; ++i) f.t.json(200, R"({"status":"running"})");
  std::atomic<int> ok{0};
  on_threads(kThreads, [&](int t) {
    for (int i = 0; i < kPolls; ++i) {
      auto r = f.p->poll(ProviderJob{"cgt-" + std::to_string(t) + "-" + std::to_string(i), ""});
      if (r.error.ok() && r.status.kind == ProviderStatusKind::running) ok.fetch_add(1);
    }
  });
  CHECK(ok.load() == kThreads * kPolls);
  std::set<std::string> urls;
  for (const auto& r : f.t.requests()) urls.insert(r.request.url);
  CHECK(urls.size() == static_cast<std::size_t>(kThreads * kPolls));
  CHECK(urls.count(kBase + kTasks + "/cgt-7-49") == 1);
}
