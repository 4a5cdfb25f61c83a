// fal queue adapter: submit with ?fal_webhook=, the app path from the
// status URL, statuses and result errors, cancel, Ed25519 callbacks with our
// user id pinned.
#include "provider_test_util.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kUser = "user_ours";

struct Fixture {
  ManualClock clock{kStartMs};
  FakeTransport t;
  FalSigner signer;
  StaticJwks jwks{signer.jwks()};
  std::shared_ptr<Provider> p;
  Fixture() {
    FalProviderOptions o;
    o.transport = &t;
    o.clock = &clock;
    o.base_url = kBase;
    o.api_key = "fal_secret_key";
    o.user_id = kUser;
    o.jwks_fetcher = &jwks;
    auto r = make_fal_provider(o);
    REQUIRE(r.ok());
    p = *r;
  }
  const ProviderJob job{"req_1", "fal-ai/flux"};
  std::string status_url() const { return kBase + "/fal-ai/flux/requests/req_1/status"; }
};

std::vector<CallbackHeader> fal_headers(const std::string& rid, const std::string& user, const std::string& ts,
                                        const std::string& sig) {
  return {{"X-Fal-Webhook-Request-Id", rid},
          {"x-fal-webhook-user-id", user},
          {"X-Fal-Webhook-Timestamp", ts},
          {"X-Fal-Webhook-Signature", sig}};
}

}  // namespace

TEST_CASE("fal: submit to the queue with the webhook in the query and the app path as handle") {
  Fixture f;
  CHECK(f.p->id() == "fal");
  CHECK(f.p->delivery() == DeliveryMode::webhook);
  auto pl = payload("fal", "fal-ai/flux/schnell", "", R"({"prompt":"a cat","num_images":2})");
  f.t.json(200, R"({"request_id":"req_1","gateway_request_id":"req_1","status_url":")" + f.status_url() +
                    R"(","response_url":")" + kBase + R"(/fal-ai/flux/requests/req_1","cancel_url":")" + kBase +
                    R"(/fal-ai/flux/requests/req_1/cancel","queue_position":0})");
  SubmitResult r = f.p->submit(submit_request(pl));
  REQUIRE(r.error.ok());
  CHECK(r.job.job_id == "req_1");
  CHECK(r.job.handle == "fal-ai/flux");
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url ==
        kBase + "/fal-ai/flux/schnell?fal_webhook=https%3A%2F%2Fhooks.example.com%2Fcb%2Fatt_1%3Fx%3D1");
  CHECK(sent.header("Authorization") == std::optional<std::string>("Key fal_secret_key"));
  CHECK(parse(sent.request.body).find("num_images")->integer == 2);

  // Without URLs in the answer the app path is owner/app of the model.
  f.t.json(200, R"({"request_id":"req_2"})");
  auto r2 = f.p->submit(submit_request(pl, ""));
  REQUIRE(r2.error.ok());
  CHECK(r2.job.handle == "fal-ai/flux");
  CHECK(f.t.last().request.url == kBase + "/fal-ai/flux/schnell");
}

TEST_CASE("fal: a status URL on another host is refused") {
  Fixture f;
  auto pl = payload("fal", "fal-ai/flux/schnell", "", R"({"prompt":"a cat"})");
  f.t.json(200, R"({"request_id":"req_1","status_url":"https://queue.evil.example/fal-ai/flux/requests/req_1/status"})");
  auto r = f.p->submit(submit_request(pl));
  CHECK(r.error.kind == ErrorKind::malformed_response);
  CHECK(r.error.code == "foreign_status_url");
  f.t.json(200, R"({"request_id":"../x"})");
  CHECK(f.p->submit(submit_request(pl)).error.kind == ErrorKind::malformed_response);
  CHECK(f.p->submit(submit_request(payload("fal", "fal-ai/../x", "", "{}"))).error.kind == ErrorKind::invalid_input);
}

TEST_CASE("fal: queue statuses, the result fetch and its errors") {
  Fixture f;
  f.t.json(202, R"({"status":"IN_QUEUE","queue_position":3})");
  auto q = f.p->poll(f.job);
  REQUIRE(q.error.ok());
  CHECK(q.status.kind == ProviderStatusKind::queued);
  CHECK(f.t.last().request.url == f.status_url());

  f.t.json(202, R"({"status":"IN_PROGRESS","logs":[]})");
  CHECK(f.p->poll(f.job).status.kind == ProviderStatusKind::running);

  f.t.json(200, R"({"status":"COMPLETED","metrics":{"inference_time":0.75}})");
  f.t.json(200, R"({"images":[{"url":"https://v3.fal.media/a.png","content_type":"image/png","width":1024}],"seed":1})");
  auto done = f.p->poll(f.job);
  REQUIRE(done.error.ok());
  CHECK(done.status.kind == ProviderStatusKind::succeeded);
  REQUIRE(done.status.outputs.size() == 1);
  CHECK(done.status.outputs[0].url == "https://v3.fal.media/a.png");
  CHECK(done.status.outputs[0].content_type == "image/png");
  CHECK(done.status.predict_ms == 750);
  CHECK(f.t.last().request.url == kBase + "/fal-ai/flux/requests/req_1");

  f.t.json(200, R"({"status":"COMPLETED"})");
  f.t.json(200, R"({"video":{"url":"https://v3.fal.media/v.mp4"}})");
  auto video = f.p->poll(f.job);
  REQUIRE(video.status.outputs.size() == 1);
  CHECK(video.status.outputs[0].url == "https://v3.fal.media/v.mp4");

  // COMPLETED with an error: moderation in the result body.
  f.t.json(200, R"({"status":"COMPLETED"})");
  f.t.json(422, R"({"detail":[{"loc":["body","prompt"],"msg":"flagged","type":"content_policy_violation"}]})");
  auto mod = f.p->poll(f.job);
  REQUIRE(mod.error.ok());
  CHECK(mod.status.kind == ProviderStatusKind::failed);
  CHECK(mod.status.error.kind == ErrorKind::moderation);

  f.t.json(200, R"({"status":"COMPLETED"})");
  f.t.json(422, R"({"detail":[{"loc":["body","image_size"],"msg":"bad size","type":"value_error"}]})");
  CHECK(f.p->poll(f.job).status.error.kind == ErrorKind::invalid_input);

  f.t.json(200, R"({"status":"COMPLETED"})");
  f.t.respond(504, R"({"detail":"Request timed out","error_type":"request_timeout"})",
              {{"X-Fal-Error-Type", "request_timeout"}});
  auto slow = f.p->poll(f.job);
  CHECK(slow.status.kind == ProviderStatusKind::failed);
  CHECK(slow.status.error.kind == ErrorKind::timeout);

  f.t.json(200, R"({"status":"COMPLETED","error":"Runner disconnected","error_type":"runner_disconnected"})");
  auto gone = f.p->poll(f.job);
  CHECK(gone.status.kind == ProviderStatusKind::failed);
  CHECK(gone.status.error.kind == ErrorKind::provider_unavailable);
  CHECK(f.t.last().request.url == f.status_url());  // no result fetch for a reported error

  // The result fetch itself failing (no fal error body) is a poll error.
  f.t.json(200, R"({"status":"COMPLETED"})");
  f.t.respond(503, "upstream busy", {{"Retry-After", "4"}});
  auto busy = f.p->poll(f.job);
  CHECK(busy.error.kind == ErrorKind::provider_unavailable);
  CHECK(busy.error.retry_after_ms == 4000);

  f.t.json(404, R"({"detail":"Request not found"})");
  CHECK(f.p->poll(f.job).status.kind == ProviderStatusKind::lost);
  f.t.json(200, R"({"status":"WEIRD"})");
  CHECK(f.p->poll(f.job).error.kind == ErrorKind::malformed_response);
  f.t.json(200, "{\"status\":");
  CHECK(f.p->poll(f.job).error.kind == ErrorKind::malformed_response);
  f.t.fail(Code::unavailable);
  CHECK(f.p->poll(f.job).error.kind == ErrorKind::connection);
  CHECK(f.p->poll(ProviderJob{"req_1", "../../x"}).error.kind == ErrorKind::invalid_input);
  CHECK(f.t.pending() == 0);
}

TEST_CASE("fal: cancel outcomes") {
  Fixture f;
  f.t.json(202, R"({"status":"CANCELLATION_REQUESTED"})");
  auto c = f.p->cancel(f.job);
  CHECK(c.error.ok());
  CHECK(c.outcome == CancelOutcome::requested);
  CHECK(f.t.last().request.method == "PUT");
  CHECK(f.t.last().request.url == kBase + "/fal-ai/flux/requests/req_1/cancel");
  f.t.json(400, R"({"status":"ALREADY_COMPLETED"})");
  CHECK(f.p->cancel(f.job).outcome == CancelOutcome::already_finished);
  f.t.json(404, R"({"status":"NOT_FOUND"})");
  CHECK(f.p->cancel(f.job).outcome == CancelOutcome::not_found);
  f.t.json(500, R"({"detail":"oops"})");
  CHECK(f.p->cancel(f.job).error.kind == ErrorKind::server_error);
}

TEST_CASE("fal: callbacks signed for our user id are accepted; other users, tampering and stale times are refused") {
  Fixture f;
  const std::string ts = std::to_string(kStartMs / 1000);
  const std::string body =
      R"({"request_id":"req_1","gateway_request_id":"req_1","status":"OK","payload":{"images":[{"url":"https://v3.fal.media/a.png"}]}})";
  auto ok = f.p->parse_callback(fal_headers("req_1", kUser, ts, f.signer.sign("req_1", kUser, ts, body)), body);
  REQUIRE(ok.ok());
  CHECK(ok->job_id == "req_1");
  CHECK(ok->message_id == "req_1:" + sha256_hex(body));
  CHECK(ok->status.kind == ProviderStatusKind::succeeded);
  REQUIRE(ok->status.outputs.size() == 1);
  CHECK(f.jwks.fetches == 1);

  // A genuinely signed delivery for another fal account (FAL-01).
  CHECK(f.p->parse_callback(fal_headers("req_1", "user_other", ts, f.signer.sign("req_1", "user_other", ts, body)), body)
            .code() == Code::invalid_signature);
  std::string tampered = body;
  tampered[tampered.find("a.png")] = 'b';
  CHECK(f.p->parse_callback(fal_headers("req_1", kUser, ts, f.signer.sign("req_1", kUser, ts, body)), tampered)
            .code() == Code::invalid_signature);
  const std::string old = std::to_string(kStartMs / 1000 - 301);
  CHECK(f.p->parse_callback(fal_headers("req_1", kUser, old, f.signer.sign("req_1", kUser, old, body)), body).code() ==
        Code::invalid_signature);
  FalSigner stranger;
  CHECK(f.p->parse_callback(fal_headers("req_1", kUser, ts, stranger.sign("req_1", kUser, ts, body)), body).code() ==
        Code::invalid_signature);
  // The header names another request than the body.
  CHECK(f.p->parse_callback(fal_headers("req_2", kUser, ts, f.signer.sign("req_2", kUser, ts, body)), body).code() ==
        Code::invalid_signature);
  CHECK(f.p->parse_callback({}, body).code() == Code::invalid_signature);

  // An ERROR delivery: moderation from the payload's typed detail.
  const std::string err =
      R"({"request_id":"req_1","status":"ERROR","error":"Invalid status code: 422","payload":{"detail":[{"msg":"flagged","type":"content_policy_violation"}]}})";
  auto failed = f.p->parse_callback(fal_headers("req_1", kUser, ts, f.signer.sign("req_1", kUser, ts, err)), err);
  REQUIRE(failed.ok());
  CHECK(failed->status.kind == ProviderStatusKind::failed);
  CHECK(failed->status.error.kind == ErrorKind::moderation);
  CHECK(failed->message_id != ok->message_id);

  const std::string plain = R"({"request_id":"req_1","status":"ERROR","error":"Invalid status code: 500","payload":null})";
  auto server = f.p->parse_callback(fal_headers("req_1", kUser, ts, f.signer.sign("req_1", kUser, ts, plain)), plain);
  REQUIRE(server.ok());
  CHECK(server->status.error.kind == ErrorKind::server_error);

  const std::string perr = R"({"request_id":"req_1","status":"OK","payload":null,"payload_error":"too big"})";
  auto pe = f.p->parse_callback(fal_headers("req_1", kUser, ts, f.signer.sign("req_1", kUser, ts, perr)), perr);
  REQUIRE(pe.ok());
  CHECK(pe->status.kind == ProviderStatusKind::failed);
  CHECK(pe->status.error.kind == ErrorKind::malformed_response);
  CHECK(f.t.count() == 0);
}

TEST_CASE("fal: without a user id no webhook is requested and callbacks are refused") {
  ManualClock clock(kStartMs);
  FakeTransport t;
  FalProviderOptions o;
  o.transport = &t;
  o.clock = &clock;
  o.base_url = kBase;
  o.api_key = "k";
  auto p = make_fal_provider(o);
  REQUIRE(p.ok());
  t.json(200, R"({"request_id":"req_1"})");
  REQUIRE((*p)->submit(submit_request(payload("fal", "fal-ai/flux/dev", "", "{}"))).error.ok());
  CHECK(t.last().request.url == kBase + "/fal-ai/flux/dev");
  CHECK((*p)->parse_callback({}, "{}").code() == Code::invalid_signature);
}
