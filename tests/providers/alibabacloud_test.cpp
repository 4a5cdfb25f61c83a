// Alibaba Cloud Model Studio (DashScope) adapter over a scripted transport:
// async task endpoints, the synchronous Qwen-Image endpoint, task statuses,
// error codes, cancel (PENDING only) and concurrent use.
#include <atomic>

#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kImage = "/api/v1/services/aigc/text2image/image-synthesis";
const std::string kVideo = "/api/v1/services/aigc/video-generation/video-synthesis";
const std::string kSync = "/api/v1/services/aigc/multimodal-generation/generation";

struct DashScope {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  DashScope() {
    AlibabaCloudProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "sk-dashscope-secret";
    auto r = make_alibabacloud_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
  ProviderStatus poll_with(std::string body, int status = 200) {
    t.json(status, std::move(body));
    auto r = p->poll(ProviderJob{"task-1", ""});
    INFO(r.error.message);
    REQUIRE(r.error.ok());
    return r.status;
  }
  // The scripted answer read by a poll: 404 -> lost, otherwise the error.
  void check_poll(int status, ErrorKind kind, std::int64_t retry_ms) {
    auto r = p->poll(ProviderJob{"task-1", ""});
    if (status == 404) {
      CHECK(r.status.kind == ProviderStatusKind::lost);
    } else {
      CHECK(r.error.kind == kind);
      CHECK(r.error.retry_after_ms == retry_ms);
    }
  }
  // A task answer with `output` members.
  static std::string task(std::string output) {
    return R"({"request_id":"r-1","output":{"task_id":"task-1",)" + output + "}}";
  }
};

NativePayload image_payload() {
  return payload("alibabacloud", "wan2.2-t2i-flash", kImage,
                 R"({"input":{"prompt":"a fox"},"parameters":{"size":"1024*1024","n":2,"seed":42}})");
}

NativePayload sync_payload() {
  return payload("alibabacloud", "qwen-image-plus", kSync,
                 R"({"input":{"messages":[{"role":"user","content":[{"text":"a fox"}]}]},"parameters":{"size":"1328*1328"}})");
}

}  // namespace

TEST_CASE("alibabacloud: async submit with the Bearer key, the async header and the model", "[alibabacloud]") {
  DashScope f;
  CHECK(f.p->id() == "alibabacloud");
  CHECK(f.p->delivery() == DeliveryMode::polling);
  CHECK(f.p->can_cancel());
  auto pl = image_payload();
  f.t.json(200, R"({"output":{"task_status":"PENDING","task_id":"0385dc79-5ff8-4d82-bcb6-1a2b3c"},"request_id":"4909100c"})");
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  CHECK(r.job.job_id == "0385dc79-5ff8-4d82-bcb6-1a2b3c");
  CHECK_FALSE(r.status.has_value());
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url == kBase + kImage);
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer sk-dashscope-secret"));
  CHECK(sent.header("X-DashScope-Async") == std::optional<std::string>("enable"));
  CHECK(sent.header("Content-Type") == std::optional<std::string>("application/json"));
  CHECK(sent.header("X-Babysea-Attempt-Id") == std::optional<std::string>("att_1"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "model") == "wan2.2-t2i-flash");
  CHECK(str(*body.find("input"), "prompt") == "a fox");
  CHECK(str(*body.find("parameters"), "size") == "1024*1024");
  CHECK(body.find("parameters")->find("n")->integer == 2);
  CHECK(body.find("callback_url") == nullptr);  // DashScope is polled

  // Video: the payload's own model wins.
  auto video = payload("alibabacloud", "wan2.5-t2v-preview", kVideo,
                       R"({"model":"wan2.6-t2v","input":{"prompt":"waves"},"parameters":{"size":"1280*720","duration":5}})");
  f.t.json(200, R"({"output":{"task_status":"PENDING","task_id":"v-1"},"request_id":"r"})");
  REQUIRE(f.p->submit(submit_request(video)).error.ok());
  CHECK(f.t.last().request.url == kBase + kVideo);
  CHECK(f.t.last().header("X-DashScope-Async") == std::optional<std::string>("enable"));
  CHECK(str(parse(f.t.last().request.body), "model") == "wan2.6-t2v");
}

TEST_CASE("alibabacloud: the synchronous Qwen-Image endpoint answers the final status", "[alibabacloud]") {
  DashScope f;
  auto pl = sync_payload();
  f.t.json(200, R"({"output":{"choices":[{"finish_reason":"stop","message":{"role":"assistant","content":[
      {"image":"https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/a.png?Expires=1","type":"image"},
      {"type":"text","text":"ignored"}]}},{"finish_reason":"stop","message":{"role":"assistant","content":[
      {"image":"https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/b.png?Expires=1"}]}}],"finished":true},
      "usage":{"image_count":2,"size":"1328*1328"},"request_id":"a3f4befe-cacd-49c9"})");
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  CHECK(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 2);
  CHECK(r.status->outputs[0].url == "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/a.png?Expires=1");
  CHECK(r.status->outputs[1].url == "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/b.png?Expires=1");
  CHECK(r.status->outputs[0].data.empty());
  CHECK(r.job.job_id == "a3f4befe-cacd-49c9");
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + kSync);
  CHECK_FALSE(sent.header("X-DashScope-Async").has_value());
  CHECK(str(parse(sent.request.body), "model") == "qwen-image-plus");

  // No usable request_id: the attempt id.
  f.t.json(200, R"({"output":{"choices":[{"message":{"content":[{"image":"https://x.example/c.png"}]}}]},"request_id":"a/b"})");
  auto fallback = f.p->submit(submit_request(pl));
  REQUIRE(fallback.error.ok());
  CHECK(fallback.job.job_id == "att_1");

  // Answers without an image URL are malformed.
  for (const char* bad : {R"({"output":{"choices":[]},"request_id":"r"})",
                          R"({"output":{"choices":[{"message":{"content":[{"image":"ftp://x/y.png"}]}}]}})",
                          R"({"output":{"choices":[{"message":{"content":[{"text":"no"}]}}]}})",
                          R"({"request_id":"r"})", R"([1,2])"}) {
    INFO(bad);
    f.t.json(200, bad);
    auto m = f.p->submit(submit_request(pl));
    CHECK(m.error.kind == ErrorKind::malformed_response);
    CHECK_FALSE(m.status.has_value());
  }
  // The engine never polls a final status; were the request id polled, the
  // tasks API would not know it.
  f.t.json(200, DashScope::task(R"("task_status":"UNKNOWN")"));
  CHECK(f.p->poll(r.job).status.kind == ProviderStatusKind::lost);
}

TEST_CASE("alibabacloud: bad endpoints, payloads and submit answers", "[alibabacloud]") {
  DashScope f;
  for (const char* endpoint : {"", "/api/v1/services/aigc/image2image/image-synthesis", "/api/v1/tasks/x",
                               "/api/v1/services/aigc/text2image/image-synthesis/../x"}) {
    INFO(endpoint);
    auto r = f.p->submit(submit_request(payload("alibabacloud", "wan2.2-t2i-flash", endpoint, R"({"input":{}})")));
    CHECK(r.error.kind == ErrorKind::invalid_input);
    CHECK(r.error.code == "bad_endpoint");
  }
  auto not_object = f.p->submit(submit_request(payload("alibabacloud", "wan2.2-t2i-flash", kImage, "[1]")));
  CHECK(not_object.error.kind == ErrorKind::invalid_input);
  CHECK(not_object.error.code == "bad_payload");
  CHECK(f.t.count() == 0);

  auto pl = image_payload();
  for (const char* bad : {R"({"output":{"task_status":"PENDING"},"request_id":"r"})",
                          R"({"output":{"task_id":"../../v1/x","task_status":"PENDING"}})",
                          R"({"output":{"task_id":7}})", R"({"output":"x"})", R"({"request_id":"r"})"}) {
    INFO(bad);
    f.t.json(200, bad);
    auto r = f.p->submit(submit_request(pl));
    CHECK(r.error.kind == ErrorKind::malformed_response);
    CHECK(r.job.job_id.empty());
  }
  // A 200 that carries DashScope's error shape is read as that error.
  f.t.json(200, R"({"request_id":"r","code":"DataInspectionFailed","message":"Input data may contain inappropriate content."})");
  auto flagged = f.p->submit(submit_request(pl));
  CHECK(flagged.error.kind == ErrorKind::moderation);
  CHECK(flagged.error.code == "DataInspectionFailed");
  CHECK(f.t.count() == 6);
}

TEST_CASE("alibabacloud: every task status maps", "[alibabacloud]") {
  DashScope f;
  CHECK(f.poll_with(DashScope::task(R"("task_status":"PENDING","submit_time":"2025-09-25 11:07:28.590")")).kind ==
        ProviderStatusKind::queued);
  auto sent = f.t.last();
  CHECK(sent.request.method == "GET");
  CHECK(sent.request.url == kBase + "/api/v1/tasks/task-1");
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer sk-dashscope-secret"));
  CHECK_FALSE(sent.header("X-DashScope-Async").has_value());
  CHECK(f.poll_with(DashScope::task(R"("task_status":"SUSPENDED")")).kind == ProviderStatusKind::queued);
  CHECK(f.poll_with(DashScope::task(R"("task_status":"RUNNING")")).kind == ProviderStatusKind::running);

  auto images = f.poll_with(DashScope::task(
      R"("task_status":"SUCCEEDED","results":[{"url":"https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1.png"},{"url":"https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/2.png"}],"task_metrics":{"TOTAL":2,"SUCCEEDED":2,"FAILED":0}},"usage":{"image_count":2)"));
  CHECK(images.kind == ProviderStatusKind::succeeded);
  REQUIRE(images.outputs.size() == 2);
  CHECK(images.outputs[0].url == "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1.png");
  CHECK(images.outputs[1].url == "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/2.png");
  CHECK(images.reported_cost == -1);

  auto video = f.poll_with(DashScope::task(
      R"("task_status":"SUCCEEDED","video_url":"https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/v.mp4?Expires=1"},"usage":{"duration":5,"video_count":1)"));
  CHECK(video.kind == ProviderStatusKind::succeeded);
  REQUIRE(video.outputs.size() == 1);
  CHECK(video.outputs[0].url == "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/v.mp4?Expires=1");

  // One failed image of two: the task succeeded with the other.
  auto partial = f.poll_with(DashScope::task(
      R"("task_status":"SUCCEEDED","results":[{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content."},{"url":"https://x.example/2.png"}])"));
  CHECK(partial.kind == ProviderStatusKind::succeeded);
  REQUIRE(partial.outputs.size() == 1);
  CHECK(partial.outputs[0].url == "https://x.example/2.png");
  // Every image failed: failed, by the first image's code.
  auto none = f.poll_with(DashScope::task(
      R"("task_status":"SUCCEEDED","results":[{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content."},{"code":"InternalError","message":"x"}])"));
  CHECK(none.kind == ProviderStatusKind::failed);
  CHECK(none.error.kind == ErrorKind::moderation);
  CHECK(none.error.code == "DataInspectionFailed");
  auto empty = f.poll_with(DashScope::task(R"("task_status":"SUCCEEDED","results":[])"));
  CHECK(empty.kind == ProviderStatusKind::failed);
  CHECK(empty.error.kind == ErrorKind::malformed_response);
  CHECK(f.poll_with(DashScope::task(R"("task_status":"SUCCEEDED","video_url":"file:///etc/passwd")")).error.kind ==
        ErrorKind::malformed_response);

  auto bad_input = f.poll_with(
      DashScope::task(R"("task_status":"FAILED","code":"InvalidParameter","message":"The size is not match xxxxxx")"));
  CHECK(bad_input.kind == ProviderStatusKind::failed);
  CHECK(bad_input.error.kind == ErrorKind::invalid_input);
  CHECK(bad_input.error.code == "InvalidParameter");
  CHECK(bad_input.error.message == "The size is not match xxxxxx");
  auto moderated = f.poll_with(DashScope::task(
      R"("task_status":"FAILED","code":"DataInspectionFailed","message":"Input data may contain inappropriate content.")"));
  CHECK(moderated.error.kind == ErrorKind::moderation);
  CHECK(f.poll_with(DashScope::task(R"("task_status":"FAILED","code":"IPInfringementSuspect","message":"Input data may contain inappropriate content.")"))
            .error.kind == ErrorKind::moderation);
  auto internal = f.poll_with(DashScope::task(R"("task_status":"FAILED","code":"InternalError.Algo","message":"boom")"));
  CHECK(internal.error.kind == ErrorKind::server_error);
  CHECK(internal.error.code == "InternalError.Algo");
  auto bare = f.poll_with(DashScope::task(R"("task_status":"FAILED")"));
  CHECK(bare.error.kind == ErrorKind::server_error);
  CHECK(bare.error.code == "task_failed");
  CHECK(f.poll_with(DashScope::task(R"("task_status":"CANCELED")")).kind == ProviderStatusKind::canceled);

  auto unknown = f.poll_with(DashScope::task(R"("task_status":"UNKNOWN")"));
  CHECK(unknown.kind == ProviderStatusKind::lost);
  CHECK(unknown.error.code == "job_lost");
  CHECK(f.poll_with(R"({"code":"NotFound","message":"no"})", 404).kind == ProviderStatusKind::lost);

  for (const char* bad : {R"({"request_id":"r","output":{"task_id":"t","task_status":"DONE"}})",
                          R"({"request_id":"r","output":{"task_id":"t"}})", R"({"request_id":"r"})", "[]"}) {
    INFO(bad);
    f.t.json(200, bad);
    CHECK(f.p->poll(ProviderJob{"task-1", ""}).error.kind == ErrorKind::malformed_response);
  }
  const auto before = f.t.count();
  for (const char* id : {"", "a/b", "../x", "a?b=1"}) {
    INFO(id);
    CHECK(f.p->poll(ProviderJob{id, ""}).error.kind == ErrorKind::invalid_input);
    CHECK(f.p->cancel(ProviderJob{id, ""}).error.kind == ErrorKind::invalid_input);
  }
  CHECK(f.t.count() == before);
}

TEST_CASE("alibabacloud: DashScope error codes refine the HTTP status", "[alibabacloud]") {
  struct Row {
    int status;
    const char* body;
    const char* retry_after;
    ErrorKind kind;
    std::int64_t retry_ms;
    const char* code;
  };
  const std::vector<Row> rows = {
      {400, R"({"request_id":"r","code":"DataInspectionFailed","message":"Input or output data may contain inappropriate content."})",
       nullptr, ErrorKind::moderation, 0, "DataInspectionFailed"},
      {400, R"({"request_id":"r","code":"InvalidParameter","message":"Input data may contain inappropriate content."})",
       nullptr, ErrorKind::moderation, 0, "InvalidParameter"},
      {429, R"({"request_id":"r","code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later."})",
       "3", ErrorKind::rate_limited, 3000, "Throttling.RateQuota"},
      {429, R"({"request_id":"r","code":"Throttling.AllocationQuota","message":"Allocated quota exceeded"})", nullptr,
       ErrorKind::rate_limited, 0, "Throttling.AllocationQuota"},
      {400, R"({"request_id":"r","code":"Throttling","message":"Requests throttling triggered."})", "2",
       ErrorKind::rate_limited, 2000, "Throttling"},
      {400, R"({"request_id":"r","code":"Arrearage","message":"Access denied, plesase make sure your account is in good standing."})",
       nullptr, ErrorKind::provider_quota, 0, "Arrearage"},
      {403, R"({"request_id":"r","code":"AllocationQuota.FreeTierOnly","message":"The free tier of the model has been exhausted."})",
       nullptr, ErrorKind::provider_quota, 0, "AllocationQuota.FreeTierOnly"},
      {401, R"({"request_id":"r","code":"InvalidApiKey","message":"Invalid API-key provided."})", nullptr,
       ErrorKind::provider_auth, 0, "InvalidApiKey"},
      {400, R"({"request_id":"r","code":"InvalidApiKey","message":"No API-key provided."})", nullptr,
       ErrorKind::provider_auth, 0, "InvalidApiKey"},
      {403, R"({"request_id":"r","code":"AccessDenied","message":"current user api does not support synchronous calls"})",
       nullptr, ErrorKind::provider_auth, 0, "AccessDenied"},
      {400, R"({"request_id":"r","code":"InvalidParameter","message":"num_images_per_prompt must be 1"})", nullptr,
       ErrorKind::invalid_input, 0, "InvalidParameter"},
      {400, R"({"request_id":"r","code":"BadRequest.EmptyInput","message":"Required input parameter missing from request."})",
       nullptr, ErrorKind::invalid_input, 0, "BadRequest.EmptyInput"},
      {400, R"({"request_id":"r","code":"InvalidURL","message":"Invalid URL provided in your request."})", nullptr,
       ErrorKind::invalid_input, 0, "InvalidURL"},
      {404, R"({"request_id":"r","code":"ModelNotFound","message":"Model not found (wan9-t2i)."})", nullptr,
       ErrorKind::model_unavailable, 0, "ModelNotFound"},
      {400, R"({"request_id":"r","code":"InvalidParameter","message":"Model not exist."})", nullptr,
       ErrorKind::model_unavailable, 0, "InvalidParameter"},
      {403, R"({"request_id":"r","code":"Model.AccessDenied","message":"Model access denied."})", nullptr,
       ErrorKind::model_unavailable, 0, "Model.AccessDenied"},
      {500, R"({"request_id":"r","code":"InternalError","message":"An internal error has occured."})", nullptr,
       ErrorKind::server_error, 0, "InternalError"},
      {503, R"({"request_id":"r","code":"ServiceUnavailable","message":"busy"})", "4",
       ErrorKind::provider_unavailable, 4000, "ServiceUnavailable"},
  };
  for (const auto& row : rows) {
    INFO(row.status << " " << row.body);
    DashScope f;
    std::vector<HttpHeader> h{{"Content-Type", "application/json"}};
    if (row.retry_after) h.push_back({"Retry-After", row.retry_after});
    f.t.respond(row.status, row.body, h);
    auto pl = image_payload();
    auto r = f.p->submit(submit_request(pl));
    CHECK(r.error.kind == row.kind);
    CHECK(r.error.retry_after_ms == row.retry_ms);
    CHECK(r.error.code == row.code);
    CHECK(r.error.message.find("sk-dashscope-secret") == std::string::npos);
    // The same reading on a poll.
    f.t.respond(row.status, row.body, h);
    f.check_poll(row.status, row.kind, row.retry_ms);
  }
}

TEST_CASE("alibabacloud: the shared HTTP and transport error matrix", "[alibabacloud]") {
  for (const auto& c : error_matrix()) {
    INFO(c.name);
    DashScope f;
    script(f.t, c);
    auto pl = image_payload();
    auto r = f.p->submit(submit_request(pl, ""));
    CHECK(r.error.kind == c.expected);
    CHECK(r.error.retry_after_ms == c.expected_retry_ms);
    CHECK(r.job.job_id.empty());
    CHECK(f.t.count() == 1);  // never retried by the adapter
    script(f.t, c);
    f.check_poll(c.status, c.expected, c.expected_retry_ms);
  }
}

TEST_CASE("alibabacloud: cancel only while PENDING; a refusal is settled by the task", "[alibabacloud]") {
  DashScope f;
  const ProviderJob job{"task-9", ""};
  f.t.json(200, R"({"request_id":"c-1"})");
  auto ok = f.p->cancel(job);
  CHECK(ok.error.ok());
  CHECK(ok.outcome == CancelOutcome::requested);
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url == kBase + "/api/v1/tasks/task-9/cancel");
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer sk-dashscope-secret"));
  f.t.respond(200, "");
  CHECK(f.p->cancel(job).outcome == CancelOutcome::requested);  // an empty 2xx is an acceptance too

  const char* refused = R"({"request_id":"c","code":"UnsupportedOperation","message":"Only a task in PENDING status can be canceled."})";
  struct Case {
    const char* task;
    CancelOutcome outcome;
    ErrorKind error;
  };
  for (const Case& c : {Case{R"("task_status":"RUNNING")", CancelOutcome::already_finished, ErrorKind::none},
                        Case{R"("task_status":"SUCCEEDED","results":[{"url":"https://x.example/1.png"}])",
                             CancelOutcome::already_finished, ErrorKind::none},
                        Case{R"("task_status":"CANCELED")", CancelOutcome::already_finished, ErrorKind::none},
                        Case{R"("task_status":"FAILED","code":"InternalError")", CancelOutcome::already_finished,
                             ErrorKind::none},
                        Case{R"("task_status":"UNKNOWN")", CancelOutcome::not_found, ErrorKind::none},
                        Case{R"("task_status":"PENDING")", CancelOutcome::already_finished, ErrorKind::server_error}}) {
    INFO(c.task);
    f.t.clear();
    f.t.json(400, refused);
    f.t.json(200, DashScope::task(c.task));
    auto r = f.p->cancel(job);
    CHECK(r.error.kind == c.error);
    if (c.error == ErrorKind::none) CHECK(r.outcome == c.outcome);
    auto reqs = f.t.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[1].request.method == "GET");
    CHECK(reqs[1].request.url == kBase + "/api/v1/tasks/task-9");
  }
  // A 2xx that names an error is a refusal too.
  f.t.clear();
  f.t.json(200, refused);
  f.t.json(200, DashScope::task(R"("task_status":"RUNNING")"));
  CHECK(f.p->cancel(job).outcome == CancelOutcome::already_finished);
  // The look at the task fails: the cancel is retried later.
  f.t.clear();
  f.t.json(400, refused);
  f.t.fail(Code::timeout);
  CHECK(f.p->cancel(job).error.kind == ErrorKind::timeout);
  // 404: not found, without a look.
  f.t.clear();
  f.t.json(404, R"({"request_id":"c","code":"NotFound","message":"task not found"})");
  CHECK(f.p->cancel(job).outcome == CancelOutcome::not_found);
  CHECK(f.t.count() == 1);

  // Failures of the cancel call itself are errors, without a look at the task.
  struct Fail {
    int status;
    const char* body;
    ErrorKind kind;
  };
  for (const Fail& e : {Fail{401, R"({"code":"InvalidApiKey","message":"Invalid API-key provided."})", ErrorKind::provider_auth},
                        Fail{400, R"({"code":"Arrearage","message":"overdue"})", ErrorKind::provider_quota},
                        Fail{429, R"({"code":"Throttling.RateQuota","message":"slow"})", ErrorKind::rate_limited},
                        Fail{500, R"({"code":"InternalError","message":"boom"})", ErrorKind::server_error},
                        Fail{503, "<html>busy</html>", ErrorKind::provider_unavailable}}) {
    INFO(e.status << " " << e.body);
    f.t.clear();
    f.t.json(e.status, e.body);
    CHECK(f.p->cancel(job).error.kind == e.kind);
    CHECK(f.t.count() == 1);
  }
  f.t.clear();
  f.t.fail(Code::unavailable);
  CHECK(f.p->cancel(job).error.kind == ErrorKind::connection);
}

TEST_CASE("alibabacloud: configuration, callbacks and job lookup", "[alibabacloud]") {
  FakeTransport t;
  AlibabaCloudProviderOptions o;
  CHECK(o.base_url == "https://dashscope-intl.aliyuncs.com");
  CHECK(o.request_timeout == std::chrono::milliseconds{120'000});
  o.api_key = "k";
  CHECK(make_alibabacloud_provider(o).code() == Code::invalid_request);  // no transport
  o.transport = &t;
  o.api_key.clear();
  CHECK(make_alibabacloud_provider(o).code() == Code::invalid_request);
  o.api_key = "k";
  o.base_url = "ftp://dashscope.aliyuncs.com";
  CHECK(make_alibabacloud_provider(o).code() == Code::invalid_request);
  o.base_url = "https://dashscope.aliyuncs.com";
  auto p = make_alibabacloud_provider(o);
  REQUIRE(p.ok());
  CHECK((*p)->parse_callback({}, R"({"output":{"task_id":"t","task_status":"SUCCEEDED"}})").code() ==
        Code::unsupported);
  CHECK((*p)->find_job("att_1").code() == Code::unsupported);
  CHECK(t.count() == 0);
}

TEST_CASE("alibabacloud: concurrent submits and polls from many threads", "[alibabacloud]") {
  DashScope f;
  constexpr int kThreads = 8, kRounds = 30;
  for (int i = 0; i < kThreads * kRounds; ++i) {
    f.t.json(200, R"({"output":{"task_status":"PENDING","task_id":"task-x"},"request_id":"r"})");
  }
  auto pl = image_payload();
  std::atomic<int> ok{0};
  on_threads(kThreads, [&](int) {
    for (int i = 0; i < kRounds; ++i) {
      auto r = f.p->submit(submit_request(pl));
      if (r.error.ok() && r.job.job_id == "task-x") ok.fetch_add(1);
    }
  });
  CHECK(ok.load() == kThreads * kRounds);

  for (int i = 0; i < kThreads * kRounds; ++i) f.t.json(200, DashScope::task(R"("task_status":"RUNNING")"));
  std::atomic<int> running{0};
  on_threads(kThreads, [&](int t) {
    for (int i = 0; i < kRounds; ++i) {
      auto r = f.p->poll(ProviderJob{"task-" + std::to_string(t) + "-" + std::to_string(i), ""});
      if (r.error.ok() && r.status.kind == ProviderStatusKind::running) running.fetch_add(1);
    }
  });
  CHECK(running.load() == kThreads * kRounds);
  CHECK(f.t.count() == static_cast<std::size_t>(2 * kThreads * kRounds));
}
