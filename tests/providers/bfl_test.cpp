// BFL adapter: submit with webhook_url/webhook_secret, the region-bound
// polling URL, statuses and cost, no cancel, X-BFL-Signature callbacks.
#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kWebhookSecret = "bfl-webhook-secret-1";

struct Fixture {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  explicit Fixture(std::string secret = kWebhookSecret) {
    BflProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "bfl_secret_key";
    o.webhook_secret = std::move(secret);
    auto r = make_bfl_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
  ProviderJob job() const { return ProviderJob{"task_1", kBase + "/v1/get_result?id=task_1"}; }
  ProviderStatus poll_with(std::string body, int status = 200) {
    t.json(status, std::move(body));
    auto r = p->poll(job());
    REQUIRE(r.error.ok());
    return r.status;
  }
};

}  // namespace

TEST_CASE("bfl: submit to the endpoint with x-key, webhook_url and webhook_secret; the polling URL is the handle") {
  Fixture f;
  CHECK(f.p->id() == "bfl");
  CHECK_FALSE(f.p->can_cancel());
  auto pl = payload("bfl", "flux-dev", "/v1/flux-dev", R"({"prompt":"a cat","width":1024})");
  f.t.json(200, R"({"id":"task_1","polling_url":")" + kBase + R"(/v1/get_result?id=task_1","cost":2.5})");
  auto r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  CHECK(r.job.job_id == "task_1");
  CHECK(r.job.handle == kBase + "/v1/get_result?id=task_1");
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + "/v1/flux-dev");
  CHECK(sent.header("x-key") == std::optional<std::string>("bfl_secret_key"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "webhook_url") == kCallback);
  CHECK(str(body, "webhook_secret") == kWebhookSecret);
  CHECK(body.find("width")->integer == 1024);

  // No endpoint: /v1/{model}; no callback: no webhook fields.
  f.t.json(200, R"({"id":"task_2"})");
  auto r2 = f.p->submit(submit_request(payload("bfl", "flux-pro-1.1", "", R"({"prompt":"x"})"), ""));
  REQUIRE(r2.error.ok());
  CHECK(f.t.last().request.url == kBase + "/v1/flux-pro-1.1");
  CHECK(parse(f.t.last().request.body).find("webhook_url") == nullptr);
  CHECK(r2.job.handle == kBase + "/v1/get_result?id=task_2");
  CHECK(f.p->submit(submit_request(payload("bfl", "x", "/v1/../admin", "{}"))).error.kind == ErrorKind::invalid_input);
}

TEST_CASE("bfl: a polling URL on another host (region) is refused and never called") {
  Fixture f;
  auto pl = payload("bfl", "flux-dev", "/v1/flux-dev", R"({"prompt":"a cat"})");
  f.t.json(200, R"({"id":"task_1","polling_url":"https://api.eu.bfl.ai/v1/get_result?id=task_1"})");
  auto r = f.p->submit(submit_request(pl));
  CHECK(r.error.kind == ErrorKind::malformed_response);
  CHECK(r.error.code == "foreign_polling_url");
  CHECK(r.job.job_id.empty());
  // A persisted handle naming another host is not followed either.
  const std::size_t before = f.t.count();
  auto p = f.p->poll(ProviderJob{"task_1", "https://api.us.bfl.ai/v1/get_result?id=task_1"});
  CHECK(p.error.kind == ErrorKind::malformed_response);
  CHECK(f.p->poll(ProviderJob{"task_1", "http://127.0.0.1:10/v1/get_result?id=task_1"}).error.kind ==
        ErrorKind::malformed_response);
  CHECK(f.t.count() == before);
}

TEST_CASE("bfl: every status maps, with cost") {
  Fixture f;
  CHECK(f.poll_with(R"({"id":"task_1","status":"Pending","result":null,"progress":null})").kind ==
        ProviderStatusKind::queued);
  CHECK(f.t.last().request.url == kBase + "/v1/get_result?id=task_1");
  CHECK(f.t.last().header("x-key") == std::optional<std::string>("bfl_secret_key"));
  auto running = f.poll_with(R"({"id":"task_1","status":"Pending","progress":0.5})");
  CHECK(running.kind == ProviderStatusKind::running);
  CHECK(running.progress == Approx(0.5));
  auto ready = f.poll_with(
      R"({"id":"task_1","status":"Ready","result":{"sample":"https://delivery-eu1.bfl.ai/r/x.jpeg","prompt":"a cat","seed":1},"cost":4})");
  CHECK(ready.kind == ProviderStatusKind::succeeded);
  REQUIRE(ready.outputs.size() == 1);
  CHECK(ready.outputs[0].url == "https://delivery-eu1.bfl.ai/r/x.jpeg");
  CHECK(ready.reported_cost == 40'000);
  auto err = f.poll_with(R"({"id":"task_1","status":"Error","error":"internal"})");
  CHECK(err.kind == ProviderStatusKind::failed);
  CHECK(err.error.kind == ErrorKind::server_error);
  CHECK(f.poll_with(R"({"id":"task_1","status":"Failed"})").error.kind == ErrorKind::server_error);
  auto req_mod = f.poll_with(R"({"id":"task_1","status":"Request Moderated","details":{}})");
  CHECK(req_mod.kind == ProviderStatusKind::failed);
  CHECK(req_mod.error.kind == ErrorKind::moderation);
  CHECK(f.poll_with(R"({"id":"task_1","status":"Content Moderated"})").error.kind == ErrorKind::moderation);
  CHECK(f.poll_with(R"({"id":"task_1","status":"Task not found"})").kind == ProviderStatusKind::lost);
  CHECK(f.poll_with(R"({"detail":"Not Found"})", 404).kind == ProviderStatusKind::lost);
  f.t.json(200, R"({"status":"Sleeping"})");
  CHECK(f.p->poll(f.job()).error.kind == ErrorKind::malformed_response);
  f.t.respond(429, R"({"detail":"too many"})", {{"Retry-After", "11"}});
  auto limited = f.p->poll(f.job());
  CHECK(limited.error.kind == ErrorKind::rate_limited);
  CHECK(limited.error.retry_after_ms == 11'000);
}

TEST_CASE("bfl: cancel is unsupported and does no I/O") {
  Fixture f;
  auto c = f.p->cancel(f.job());
  CHECK(c.error.ok());
  CHECK(c.outcome == CancelOutcome::unsupported);
  CHECK(f.t.count() == 0);
}

TEST_CASE("bfl: X-BFL-Signature callbacks; tampered, foreign and unsigned refused") {
  Fixture f;
  const std::string body =
      R"({"id":"task_1","status":"Ready","result":{"sample":"https://delivery-eu1.bfl.ai/r/y.png"},"timestamp":"2025-01-15T10:30:00Z"})";
  auto call = [&](std::string sig, std::string_view b) {
    std::vector<CallbackHeader> h{{"x-bfl-signature", sig}, {"Content-Type", "application/json"}};
    return f.p->parse_callback(h, b);
  };
  auto ok = call(hmac_header_signature(kWebhookSecret, body), body);
  REQUIRE(ok.ok());
  CHECK(ok->job_id == "task_1");
  CHECK(ok->message_id == "sha256:" + sha256_hex(body));
  CHECK(ok->status.kind == ProviderStatusKind::succeeded);
  REQUIRE(ok->status.outputs.size() == 1);

  std::string tampered = body;
  tampered[tampered.find("y.png")] = 'z';
  CHECK(call(hmac_header_signature(kWebhookSecret, body), tampered).code() == Code::invalid_signature);
  CHECK(call(hmac_header_signature("someone-elses-secret", body), body).code() == Code::invalid_signature);
  CHECK(call("", body).code() == Code::invalid_signature);
  CHECK(f.p->parse_callback({}, body).code() == Code::invalid_signature);

  const std::string moderated = R"({"id":"task_1","status":"Content Moderated"})";
  auto m = call(hmac_header_signature(kWebhookSecret, moderated), moderated);
  REQUIRE(m.ok());
  CHECK(m->status.error.kind == ErrorKind::moderation);
  CHECK(f.t.count() == 0);
}

TEST_CASE("bfl: without a webhook secret no webhook is requested") {
  Fixture f("");
  f.t.json(200, R"({"id":"task_1"})");
  REQUIRE(f.p->submit(submit_request(payload("bfl", "flux-dev", "/v1/flux-dev", "{}"))).error.ok());
  CHECK(parse(f.t.last().request.body).find("webhook_url") == nullptr);
  CHECK(f.p->parse_callback({}, "{}").code() == Code::invalid_signature);
}
