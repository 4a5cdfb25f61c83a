// Replicate adapter: routing, webhook request, status mapping, cancel and
// Standard Webhooks callbacks.
#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
const std::string kVersion = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637";

struct Fixture {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  explicit Fixture(bool with_secret = true) {
    ReplicateProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_token = "r8_secret_token";
    if (with_secret) o.webhook_secrets = {kSecret};
    auto r = make_replicate_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
  ProviderStatus poll_with(std::string body, int status = 200) {
    t.json(status, std::move(body));
    auto r = p->poll(ProviderJob{"pred_1", ""});
    REQUIRE(r.error.ok());
    return r.status;
  }
};

}  // namespace

TEST_CASE("replicate: official model route, webhook with start+completed, bearer token") {
  Fixture f;
  CHECK(f.p->id() == "replicate");
  CHECK(f.p->delivery() == DeliveryMode::webhook);
  CHECK(f.p->can_cancel());
  auto pl = payload("replicate", "black-forest-labs/flux-schnell", "", R"({"input":{"prompt":"a cat","seed":7}})");
  f.t.json(201, R"({"id":"pred_1","status":"starting","urls":{"get":"x"}})");
  SubmitResult r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  CHECK(r.job.job_id == "pred_1");
  CHECK_FALSE(r.status.has_value());
  auto req = f.t.last();
  CHECK(req.request.method == "POST");
  CHECK(req.request.url == kBase + "/v1/models/black-forest-labs/flux-schnell/predictions");
  CHECK(req.header("Authorization") == std::optional<std::string>("Bearer r8_secret_token"));
  CHECK(req.header("Cancel-After") == std::nullopt);
  CHECK(req.target.port == 9);
  auto body = parse(req.request.body);
  REQUIRE(body.find("input"));
  CHECK(body.find("input")->find("seed")->integer == 7);
  CHECK(str(body, "webhook") == kCallback);
  const json::Value* filter = body.find("webhook_events_filter");
  REQUIRE(filter);
  REQUIRE(filter->array.size() == 2);
  CHECK(filter->array[0].string == "start");
  CHECK(filter->array[1].string == "completed");
  CHECK(body.find("version") == nullptr);
}

TEST_CASE("replicate: version route and Cancel-After from the deadline") {
  Fixture f;
  auto pl = payload("replicate", "owner/model:" + kVersion, "", R"({"input":{"prompt":"x"}})");
  auto req = submit_request(pl, "");
  req.deadline_ms = kStartMs + 90'500;
  f.t.json(201, R"({"id":"pred_2","status":"starting"})");
  REQUIRE(f.p->submit(req).error.ok());
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + "/v1/predictions");
  CHECK(sent.header("Cancel-After") == std::optional<std::string>("90s"));
  auto body = parse(sent.request.body);
  CHECK(str(body, "version") == kVersion);
  CHECK(body.find("webhook") == nullptr);  // no callback URL: none asked for

  // A bare version id routes the same way; a past deadline is refused locally.
  auto bare = payload("replicate", kVersion, "", R"({"input":{}})");
  f.t.json(201, R"({"id":"pred_3","status":"starting"})");
  REQUIRE(f.p->submit(submit_request(bare)).error.ok());
  CHECK(f.t.last().request.url == kBase + "/v1/predictions");
  auto late = submit_request(bare);
  late.deadline_ms = kStartMs - 1;
  CHECK(f.p->submit(late).error.kind == ErrorKind::timeout);
  auto bad = payload("replicate", "owner/model:nothex", "", R"({"input":{}})");
  CHECK(f.p->submit(submit_request(bad)).error.kind == ErrorKind::invalid_input);
  CHECK(f.t.count() == 2);
}

TEST_CASE("replicate: no webhook is requested without a secret to verify it") {
  Fixture f(false);
  auto pl = payload("replicate", "a/b", "", R"({"input":{}})");
  f.t.json(201, R"({"id":"pred_1","status":"starting"})");
  REQUIRE(f.p->submit(submit_request(pl)).error.ok());
  CHECK(parse(f.t.last().request.body).find("webhook") == nullptr);
  CHECK(f.p->parse_callback({}, "{}").code() == Code::invalid_signature);
}

TEST_CASE("replicate: every status maps") {
  Fixture f;
  CHECK(f.poll_with(R"({"id":"pred_1","status":"starting"})").kind == ProviderStatusKind::queued);
  CHECK(f.poll_with(R"({"id":"pred_1","status":"processing"})").kind == ProviderStatusKind::running);
  auto ok = f.poll_with(
      R"({"id":"pred_1","status":"succeeded","output":["https://replicate.delivery/a.webp","https://replicate.delivery/b.webp"],"metrics":{"predict_time":1.25}})");
  CHECK(ok.kind == ProviderStatusKind::succeeded);
  REQUIRE(ok.outputs.size() == 2);
  CHECK(ok.outputs[1].url == "https://replicate.delivery/b.webp");
  CHECK(ok.predict_ms == 1250);
  CHECK(f.t.last().request.url == kBase + "/v1/predictions/pred_1");
  CHECK(f.t.last().request.method == "GET");
  auto single = f.poll_with(R"({"id":"pred_1","status":"succeeded","output":"https://replicate.delivery/c.png"})");
  REQUIRE(single.outputs.size() == 1);
  auto nsfw = f.poll_with(R"({"id":"pred_1","status":"failed","error":"NSFW content detected. Try another prompt."})");
  CHECK(nsfw.kind == ProviderStatusKind::failed);
  CHECK(nsfw.error.kind == ErrorKind::moderation);
  auto oom = f.poll_with(R"({"id":"pred_1","status":"failed","error":"CUDA out of memory"})");
  CHECK(oom.kind == ProviderStatusKind::failed);
  CHECK(oom.error.kind == ErrorKind::server_error);
  CHECK(oom.error.message == "CUDA out of memory");
  CHECK(f.poll_with(R"({"id":"pred_1","status":"canceled"})").kind == ProviderStatusKind::canceled);
  auto aborted = f.poll_with(R"({"id":"pred_1","status":"aborted"})");
  CHECK(aborted.kind == ProviderStatusKind::failed);
  CHECK(aborted.error.kind == ErrorKind::timeout);
  auto lost = f.poll_with(R"({"detail":"Not found."})", 404);
  CHECK(lost.kind == ProviderStatusKind::lost);

  f.t.json(200, R"({"id":"pred_1","status":"exploded"})");
  CHECK(f.p->poll(ProviderJob{"pred_1", ""}).error.kind == ErrorKind::malformed_response);
  f.t.json(429, R"({"detail":"throttled"})");
  auto throttled = f.p->poll(ProviderJob{"pred_1", ""});
  CHECK(throttled.error.kind == ErrorKind::rate_limited);
  CHECK(f.p->poll(ProviderJob{"../etc", ""}).error.kind == ErrorKind::invalid_input);
}

TEST_CASE("replicate: cancel outcomes") {
  Fixture f;
  f.t.json(200, R"({"id":"pred_1","status":"canceled"})");
  auto c = f.p->cancel(ProviderJob{"pred_1", ""});
  CHECK(c.error.ok());
  CHECK(c.outcome == CancelOutcome::requested);
  CHECK(f.t.last().request.method == "POST");
  CHECK(f.t.last().request.url == kBase + "/v1/predictions/pred_1/cancel");
  f.t.json(200, R"({"id":"pred_1","status":"succeeded","output":"https://x/y.png"})");
  CHECK(f.p->cancel(ProviderJob{"pred_1", ""}).outcome == CancelOutcome::already_finished);
  f.t.json(404, R"({"detail":"Not found."})");
  CHECK(f.p->cancel(ProviderJob{"pred_1", ""}).outcome == CancelOutcome::not_found);
  f.t.fail(Code::timeout);
  CHECK(f.p->cancel(ProviderJob{"pred_1", ""}).error.kind == ErrorKind::timeout);
}

TEST_CASE("replicate: signed callbacks are accepted; tampered, stale, unsigned ones are refused") {
  Fixture f;
  const std::string body =
      R"({"id":"pred_9","status":"succeeded","output":["https://replicate.delivery/z.png"],"metrics":{"predict_time":2}})";
  const std::int64_t now_s = kStartMs / 1000;
  auto headers = [&](std::string id, std::int64_t ts, std::string sig) {
    return std::vector<std::pair<std::string, std::string>>{
        {"Webhook-Id", std::move(id)}, {"webhook-timestamp", std::to_string(ts)}, {"WEBHOOK-SIGNATURE", std::move(sig)}};
  };
  auto call = [&](const std::vector<std::pair<std::string, std::string>>& h, std::string_view b) {
    std::vector<CallbackHeader> v;
    for (const auto& [n, val] : h) v.push_back({n, val});
    return f.p->parse_callback(v, b);
  };
  const std::string sig = standard_webhook_signature(kSecret, "msg_1", now_s, body);
  auto ok = call(headers("msg_1", now_s, sig), body);
  REQUIRE(ok.ok());
  CHECK(ok->message_id == "msg_1");
  CHECK(ok->job_id == "pred_9");
  CHECK(ok->status.kind == ProviderStatusKind::succeeded);
  CHECK(ok->status.outputs.size() == 1);
  CHECK(ok->status.predict_ms == 2000);

  std::string tampered = body;
  tampered[tampered.find("z.png")] = 'q';
  CHECK(call(headers("msg_1", now_s, sig), tampered).code() == Code::invalid_signature);
  CHECK(call(headers("msg_2", now_s, sig), body).code() == Code::invalid_signature);  // id is signed
  const std::string stale = standard_webhook_signature(kSecret, "msg_1", now_s - 301, body);
  CHECK(call(headers("msg_1", now_s - 301, stale), body).code() == Code::invalid_signature);
  const std::string foreign =
      standard_webhook_signature("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "msg_1", now_s, body);
  CHECK(call(headers("msg_1", now_s, foreign), body).code() == Code::invalid_signature);
  CHECK(call({}, body).code() == Code::invalid_signature);
  auto doubled = headers("msg_1", now_s, sig);
  doubled.push_back({"webhook-id", "msg_x"});
  CHECK(call(doubled, body).code() == Code::invalid_signature);

  // Verified but not a prediction: invalid_request.
  const std::string odd = R"({"hello":"world"})";
  CHECK(call(headers("msg_3", now_s, standard_webhook_signature(kSecret, "msg_3", now_s, odd)), odd).code() ==
        Code::invalid_request);
  CHECK(f.t.count() == 0);
}
