// Inbound callback verification: Standard Webhooks (Replicate) and the bare
// HMAC header (BFL); replay protection through the seen table; refusals
// write nothing. (fal is tested against a loopback JWKS in integration/.)
#include <catch2/catch.hpp>

#include <atomic>

#include "babysea/webhooks.hpp"
#include "support/stores.hpp"

using namespace babysea;
using namespace babysea::testing;

namespace {

// 32 bytes, base64: the form Replicate and Svix hand out.
const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
const std::string kOldSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::int64_t kNow = 1'760'000'000;
const std::string kBody = R"({"id":"pred_123","status":"succeeded","output":["https://x/y.png"]})";

std::unique_ptr<StandardWebhookVerifier> standard(std::vector<std::string> secrets) {
  StandardWebhookOptions o;
  o.secrets = std::move(secrets);
  auto v = StandardWebhookVerifier::create(o);
  REQUIRE(v.ok());
  return std::move(v).value();
}

bool seen(Store& store, std::string_view source, std::string_view id) {
  return seen_message(store, source, id);
}

}  // namespace

TEST_CASE("standard webhooks: valid deliveries and the signed content") {
  auto v = standard({kSecret});
  const std::string sig = standard_webhook_signature(kSecret, "msg_1", kNow, kBody);
  REQUIRE(sig.rfind("v1,", 0) == 0);
  CHECK(sig.size() == 3 + 44);
  auto r = v->verify({"msg_1", std::to_string(kNow), sig}, kBody, kNow);
  REQUIRE(r.ok());
  CHECK(r->source() == "replicate");
  CHECK(r->message_id() == "msg_1");
  CHECK(r->timestamp_s() == kNow);
  // The secret without its prefix decodes the same.
  CHECK(standard_webhook_signature(kSecret.substr(6), "msg_1", kNow, kBody) == sig);
  // Other versions are skipped, one v1 match among several is enough.
  const std::string other = standard_webhook_signature(kOldSecret, "msg_1", kNow, kBody);
  CHECK(v->verify({"msg_1", std::to_string(kNow), "v1a,Zm9v v2," + sig.substr(3) + " " + other + " " + sig}, kBody,
                  kNow)
            .ok());
  CHECK(v->verify({"msg_1", std::to_string(kNow), "garbage " + sig}, kBody, kNow).ok());
}

TEST_CASE("standard webhooks: tampered, re-serialized, wrong id or time are refused") {
  auto v = standard({kSecret});
  const std::string ts = std::to_string(kNow);
  const std::string sig = standard_webhook_signature(kSecret, "msg_1", kNow, kBody);
  std::string flipped = kBody;
  flipped[10] ^= 1;
  // Header values are owned by the case: a StandardWebhookHeaders holds views.
  struct OwnedHeaders {
    std::string id, timestamp, signature;
  };
  struct Case {
    const char* name;
    OwnedHeaders h;
    std::string body;
  };
  const std::string spaced = R"({"id": "pred_123", "status": "succeeded", "output": ["https://x/y.png"]})";
  const std::string reordered = R"({"status":"succeeded","id":"pred_123","output":["https://x/y.png"]})";
  const std::string v2 = "v2," + sig.substr(3);
  const std::string v1a = "v1a," + sig.substr(3);
  const std::string bare = sig.substr(3);
  const std::string other_key = standard_webhook_signature(kOldSecret, "msg_1", kNow, kBody);
  const std::string truncated = sig.substr(0, sig.size() - 2);
  std::vector<Case> cases = {
      {"one body byte flipped", {"msg_1", ts, sig}, flipped},
      {"re-serialized with spaces", {"msg_1", ts, sig}, spaced},
      {"different key order", {"msg_1", ts, sig}, reordered},
      {"trailing newline", {"msg_1", ts, sig}, kBody + "\n"},
      {"other message id", {"msg_2", ts, sig}, kBody},
      {"other timestamp", {"msg_1", std::to_string(kNow + 1), sig}, kBody},
      {"wrong version v2", {"msg_1", ts, v2}, kBody},
      {"asymmetric v1a", {"msg_1", ts, v1a}, kBody},
      {"no version", {"msg_1", ts, bare}, kBody},
      {"other key", {"msg_1", ts, other_key}, kBody},
      {"truncated signature", {"msg_1", ts, truncated}, kBody},
      {"empty signature", {"msg_1", ts, ""}, kBody},
      {"empty id", {"", ts, sig}, kBody},
      {"id with a dot", {"msg.1", ts, sig}, kBody},
      {"id with a space", {"msg 1", ts, sig}, kBody},
      {"timestamp with sign", {"msg_1", "+" + ts, sig}, kBody},
      {"timestamp with space", {"msg_1", " " + ts, sig}, kBody},
      {"timestamp in ms", {"msg_1", ts + "000", sig}, kBody},
      {"timestamp hex", {"msg_1", "0x68f0a200", sig}, kBody},
      {"timestamp empty", {"msg_1", "", sig}, kBody},
      {"signature header too long", {"msg_1", ts, sig + " " + std::string(5000, 'A')}, kBody},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = v->verify({c.h.id, c.h.timestamp, c.h.signature}, c.body, kNow);
    CHECK(r.code() == Code::invalid_signature);
  }
}

TEST_CASE("standard webhooks: tolerance is ±300 s inclusive") {
  auto v = standard({kSecret});
  for (std::int64_t delta : {-301, -300, 0, 300, 301}) {
    const std::int64_t t = kNow + delta;
    const std::string sig = standard_webhook_signature(kSecret, "msg_t", t, kBody);
    auto r = v->verify({"msg_t", std::to_string(t), sig}, kBody, kNow);
    INFO(delta);
    if (delta == -301 || delta == 301)
      CHECK(r.code() == Code::invalid_signature);
    else
      CHECK(r.ok());
  }
}

TEST_CASE("standard webhooks: rotation with several secrets") {
  const std::string ts = std::to_string(kNow);
  const std::string by_old = standard_webhook_signature(kOldSecret, "msg_r", kNow, kBody);
  const std::string by_new = standard_webhook_signature(kSecret, "msg_r", kNow, kBody);
  auto both = standard({kSecret, kOldSecret});
  CHECK(both->verify({"msg_r", ts, by_old}, kBody, kNow).ok());
  CHECK(both->verify({"msg_r", ts, by_new}, kBody, kNow).ok());
  CHECK(both->verify({"msg_r", ts, by_new + " " + by_old}, kBody, kNow).ok());
  auto only_new = standard({kSecret});
  CHECK(only_new->verify({"msg_r", ts, by_old}, kBody, kNow).code() == Code::invalid_signature);
  CHECK(only_new->verify({"msg_r", ts, by_old + " " + by_new}, kBody, kNow).ok());
}

TEST_CASE("standard webhooks: configuration and size caps") {
  StandardWebhookOptions o;
  CHECK(StandardWebhookVerifier::create(o).code() == Code::invalid_request);  // no secret
  for (const char* bad : {"whsec_", "whsec_!!!!", "whsec_c2hvcnQ=" /* 5 bytes */, "not base64 at all"}) {
    INFO(bad);
    o.secrets = {bad};
    CHECK(StandardWebhookVerifier::create(o).code() == Code::invalid_request);
  }
  CHECK(standard_webhook_signature("whsec_c2hvcnQ=", "m", kNow, kBody).empty());

  StandardWebhookOptions small;
  small.secrets = {kSecret};
  small.max_body_bytes = 64;
  auto v = std::move(StandardWebhookVerifier::create(small)).value();
  const std::string big(65, 'x');
  auto r = v->verify({"msg_big", std::to_string(kNow), standard_webhook_signature(kSecret, "msg_big", kNow, big)}, big,
                     kNow);
  CHECK(r.code() == Code::payload_too_large);
  const std::string fits(64, 'x');
  CHECK(v->verify({"msg_fit", std::to_string(kNow), standard_webhook_signature(kSecret, "msg_fit", kNow, fits)}, fits,
                  kNow)
            .ok());
}

TEST_CASE("callbacks: a verified duplicate is a no-op, a refused one writes nothing") {
  auto kind = GENERATE(as<std::string>{}, "memory", "sqlite-file");
  StoreFixture f(kind);
  CountingStore store(*f.store);
  auto v = standard({kSecret});
  const std::string ts = std::to_string(kNow);
  const std::string sig = standard_webhook_signature(kSecret, "msg_dup", kNow, kBody);
  int applied = 0;
  auto apply = [&](UnitOfWork&) -> Status {
    ++applied;
    return {};
  };

  // Refused: nothing reaches storage.
  std::string flipped = kBody;
  flipped[3] ^= 1;
  auto refused = v->verify({"msg_dup", ts, sig}, flipped, kNow);
  REQUIRE_FALSE(refused.ok());
  CHECK(store.transacts == 0);
  CHECK_FALSE(seen(store, "replicate", "msg_dup"));

  // Five replays within tolerance: one applies, four are no-ops.
  for (int i = 0; i < 5; ++i) {
    auto cb = v->verify({"msg_dup", ts, sig}, kBody, kNow + i);
    REQUIRE(cb.ok());
    auto outcome = commit_callback(store, *cb, (kNow + i) * 1000, apply);
    REQUIRE(outcome.ok());
    CHECK(*outcome == (i == 0 ? CallbackOutcome::applied : CallbackOutcome::duplicate));
  }
  CHECK(applied == 1);
  CHECK(seen(store, "replicate", "msg_dup"));

  // A failing state change leaves no dedupe record, so the retry can apply.
  const std::string sig2 = standard_webhook_signature(kSecret, "msg_fail", kNow, kBody);
  auto cb2 = v->verify({"msg_fail", ts, sig2}, kBody, kNow);
  REQUIRE(cb2.ok());
  auto failed = commit_callback(store, *cb2, kNow * 1000,
                                [](UnitOfWork&) -> Status { return Status(Code::invalid_state, "late event"); });
  CHECK(failed.code() == Code::invalid_state);
  CHECK_FALSE(seen(store, "replicate", "msg_fail"));
  auto retried = commit_callback(store, *cb2, kNow * 1000, apply);
  REQUIRE(retried.ok());
  CHECK(*retried == CallbackOutcome::applied);
  CHECK(applied == 2);
}

TEST_CASE("hmac header (BFL): sha256=<hex> over the raw body") {
  HmacHeaderOptions o;
  CHECK(HmacHeaderVerifier::create(o).code() == Code::invalid_request);
  o.secrets = {""};
  CHECK(HmacHeaderVerifier::create(o).code() == Code::invalid_request);
  o.secrets = {"bfl-secret-new", "bfl-secret-old"};
  o.max_body_bytes = 1024;
  auto v = std::move(HmacHeaderVerifier::create(o)).value();
  const std::string body = R"({"id":"task_1","status":"Ready","result":{"sample":"https://x"}})";
  const std::string h = hmac_header_signature("bfl-secret-new", body);
  REQUIRE(h.size() == 7 + 64);
  auto r = v->verify(h, body);
  REQUIRE(r.ok());
  CHECK(r->source() == "bfl");
  CHECK(r->message_id().rfind("sha256:", 0) == 0);
  CHECK(r->message_id().size() == 7 + 64);
  CHECK(v->verify(hmac_header_signature("bfl-secret-old", body), body).ok());  // rotation
  std::string upper = h;
  for (auto& c : upper)
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  upper.replace(0, 7, "sha256=");
  CHECK(v->verify(upper, body).ok());

  std::string flipped = body;
  flipped[5] ^= 1;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {h, flipped},
      {h, body + " "},
      {hmac_header_signature("someone-else", body), body},
      {h.substr(7), body},
      {"SHA256=" + h.substr(7), body},
      {"sha1=" + h.substr(7), body},
      {h + "00", body},
      {h.substr(0, h.size() - 1), body},
      {"sha256=" + std::string(64, 'g'), body},
      {"", body},
      {"t=1,v1=" + h.substr(7), body},
  };
  for (const auto& [header, b] : bad) {
    INFO(header);
    CHECK(v->verify(header, b).code() == Code::invalid_signature);
  }
  const std::string big(1025, 'x');
  CHECK(v->verify(hmac_header_signature("bfl-secret-new", big), big).code() == Code::payload_too_large);
}
