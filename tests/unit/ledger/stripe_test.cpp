// Stripe signature verification and the event matrix (specs/ledger.md §4, cases 11-13).
#include <catch2/catch.hpp>

#include "babysea/stripe.hpp"
#include "support/stores.hpp"

using namespace babysea;
using babysea::testing::StoreFixture;

namespace {

constexpr Micros C = kMicrosPerCredit;
const std::string kSecret = "whsec_test_secret_0123456789abcdef";

std::string checkout(const std::string& event_id, const std::string& type, const std::string& session,
                     const std::string& payment_status, const std::string& extra_metadata = "",
                     std::int64_t amount_total = 1000, const std::string& account = "alice") {
  return R"({"id":")" + event_id + R"(","object":"event","api_version":"2024-06-20","created":1700000000,)"
         R"("data":{"object":{"id":")" + session + R"(","object":"checkout.session","mode":"payment",)"
         R"("payment_status":")" + payment_status + R"(","payment_intent":"pi_)" + session +
         R"(","amount_total":)" + std::to_string(amount_total) + R"(,"currency":"usd","client_reference_id":")" +
         account + R"(","metadata":{"price_id":"price_pack10")" + extra_metadata +
         R"(}}},"livemode":false,"type":")" + type + R"("})";
}

std::string charge_refunded(const std::string& event_id, const std::string& session, std::int64_t refunded) {
  return R"({"id":")" + event_id + R"(","object":"event","data":{"object":{"id":"ch_)" + session +
         R"(","object":"charge","amount":1000,"amount_refunded":)" + std::to_string(refunded) +
         R"(,"payment_intent":"pi_)" + session + R"(","refunded":true}},"type":"charge.refunded"})";
}

struct StripeFixture {
  explicit StripeFixture(const std::string& kind) : f(kind), ledger(*f.store, clock) {
    REQUIRE(ledger.init().ok());
    REQUIRE(ledger.create_account("alice").ok());
    StripeOptions o;
    o.endpoint_secrets = {kSecret};
    o.packs = {{"price_pack10", 10 * C, 1000}};
    o.plans = {{"price_pro_monthly", 50 * C, -1}};
    hooks = std::make_unique<StripeWebhooks>(ledger, *f.store, clock, o);
  }
  Result<StripeOutcome> deliver(const std::string& body) {
    return hooks->handle(stripe_signature_header(kSecret, clock.now_ms() / 1000, body), body);
  }
  Micros available() { return ledger.balance("alice")->available(); }
  std::size_t seen_count() {
    std::size_t n = 0;
    REQUIRE(f.store->read([&](UnitOfWork& u) -> Status {
      for (const char* id : {"evt_1", "evt_2", "evt_3", "evt_bad"}) n += *u.seen().contains("stripe", id);
      return {};
    }).ok());
    return n;
  }
  ManualClock clock;
  StoreFixture f;
  Ledger ledger;
  std::unique_ptr<StripeWebhooks> hooks;
};

}  // namespace

TEST_CASE("stripe signature: accepts a valid header, any v1, rotated secrets") {
  const std::string body = R"({"id":"evt_1"})";
  const std::int64_t now = 1'700'000'000;
  std::string good = stripe_signature_header(kSecret, now, body);
  CHECK(verify_stripe_signature(good, body, {kSecret}, now).ok());
  // Several v1 entries: one valid is enough; a v0 alongside is ignored.
  std::string other = stripe_signature_header("whsec_other", now, body);
  std::string multi = "t=" + std::to_string(now) + ",v1=" + other.substr(other.find("v1=") + 3) + ",v0=abc," +
                      good.substr(good.find("v1="));
  CHECK(verify_stripe_signature(multi, body, {kSecret}, now).ok());
  // Rotation: either configured secret verifies.
  CHECK(verify_stripe_signature(other, body, {kSecret, "whsec_other"}, now).ok());
  // Tolerance both ways, inclusive.
  CHECK(verify_stripe_signature(good, body, {kSecret}, now + 300).ok());
  CHECK(verify_stripe_signature(good, body, {kSecret}, now - 300).ok());
}

TEST_CASE("stripe signature: refusals (case 12)") {
  const std::string body = R"({"id":"evt_1"})";
  const std::int64_t now = 1'700'000'000;
  std::string good = stripe_signature_header(kSecret, now, body);
  std::string hex = good.substr(good.find("v1=") + 3);
  struct Case {
    const char* name;
    std::string header;
    std::string body;
    std::int64_t now;
    Code code;
  } cases[] = {
      {"tampered body", good, body + " ", now, Code::invalid_signature},
      {"wrong secret", stripe_signature_header("whsec_wrong", now, body), body, now, Code::invalid_signature},
      {"stale", good, body, now + 301, Code::invalid_signature},
      {"future", good, body, now - 301, Code::invalid_signature},
      {"v0 only", "t=" + std::to_string(now) + ",v0=" + hex, body, now, Code::invalid_signature},
      {"no timestamp", "v1=" + hex, body, now, Code::invalid_signature},
      {"signed timestamp", "t=+" + std::to_string(now) + ",v1=" + hex, body, now, Code::invalid_signature},
      {"two timestamps", good + ",t=" + std::to_string(now), body, now, Code::invalid_signature},
      {"short hex", "t=" + std::to_string(now) + ",v1=" + hex.substr(2), body, now, Code::invalid_signature},
      {"empty", "", body, now, Code::invalid_signature},
      {"secret base64-decoded is not the key", stripe_signature_header("test_secret_0123456789abcdef", now, body),
       body, now, Code::invalid_signature},
      {"oversized body", good, std::string(kStripeMaxBodyBytes + 1, 'x'), now, Code::payload_too_large},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(verify_stripe_signature(c.header, c.body, {kSecret}, c.now).code() == c.code);
  }
  CHECK(verify_stripe_signature(good, body, {}, now).code() == Code::invalid_signature);
}

TEST_CASE("stripe: same event twice grants once; completed + async for one session grant once (case 11)") {
  StripeFixture t(GENERATE(as<std::string>{}, "memory", "sqlite-file"));
  auto a = t.deliver(checkout("evt_1", "checkout.session.completed", "cs_1", "paid"));
  REQUIRE(a.ok());
  CHECK(a->effect == StripeEffect::granted);
  CHECK(a->amount == 10 * C);
  auto dup = t.deliver(checkout("evt_1", "checkout.session.completed", "cs_1", "paid"));
  REQUIRE(dup.ok());
  CHECK(dup->effect == StripeEffect::duplicate);
  auto async = t.deliver(checkout("evt_2", "checkout.session.async_payment_succeeded", "cs_1", "paid"));
  REQUIRE(async.ok());
  CHECK(async->effect == StripeEffect::no_effect);
  CHECK(t.available() == 10 * C);
  auto report = t.ledger.audit();
  CHECK(report->clean());
}

TEST_CASE("stripe: unpaid completion waits for the async event") {
  StripeFixture t("memory");
  auto unpaid = t.deliver(checkout("evt_1", "checkout.session.completed", "cs_2", "unpaid"));
  REQUIRE(unpaid.ok());
  CHECK(unpaid->effect == StripeEffect::no_effect);
  CHECK(t.available() == 0);
  auto paid = t.deliver(checkout("evt_2", "checkout.session.async_payment_succeeded", "cs_2", "paid"));
  REQUIRE(paid.ok());
  CHECK(paid->effect == StripeEffect::granted);
  CHECK(t.available() == 10 * C);
}

TEST_CASE("stripe: refused events write nothing and can be retried") {
  StripeFixture t(GENERATE(as<std::string>{}, "memory", "sqlite-file"));
  SECTION("bad signature") {
    std::string body = checkout("evt_bad", "checkout.session.completed", "cs_3", "paid");
    CHECK(t.hooks->handle(stripe_signature_header("whsec_nope", t.clock.now_ms() / 1000, body), body).code() ==
          Code::invalid_signature);
    CHECK(t.hooks->handle(stripe_signature_header(kSecret, t.clock.now_ms() / 1000 - 301, body), body).code() ==
          Code::invalid_signature);
  }
  SECTION("metadata credits disagree with configuration") {
    CHECK(t.deliver(checkout("evt_bad", "checkout.session.completed", "cs_3", "paid", R"(,"credits":"999")")).code() ==
          Code::invalid_request);
  }
  SECTION("amount paid does not match the pack") {
    CHECK(t.deliver(checkout("evt_bad", "checkout.session.completed", "cs_3", "paid", "", 1)).code() ==
          Code::invalid_request);
  }
  SECTION("unknown account") {
    CHECK(t.deliver(checkout("evt_bad", "checkout.session.completed", "cs_3", "paid", "", 1000, "mallory")).code() ==
          Code::not_found);
  }
  SECTION("malformed event") {
    CHECK(t.deliver("[1,2]").code() == Code::invalid_request);
    CHECK(t.deliver(R"({"id":"evt_bad","type":"x"})").code() == Code::invalid_request);
  }
  CHECK(t.available() == 0);
  CHECK(t.seen_count() == 0);
  // Matching metadata is accepted.
  auto ok = t.deliver(checkout("evt_1", "checkout.session.completed", "cs_4", "paid", R"(,"credits":"10")"));
  REQUIRE(ok.ok());
  CHECK(ok->effect == StripeEffect::granted);
}

TEST_CASE("stripe: refunds and disputes claw back in proportion, once") {
  StripeFixture t(GENERATE(as<std::string>{}, "memory", "sqlite-file"));
  REQUIRE(t.deliver(checkout("evt_1", "checkout.session.completed", "cs_5", "paid")).ok());
  auto half = t.deliver(charge_refunded("evt_2", "cs_5", 500));  // cumulative: 50%
  REQUIRE(half.ok());
  CHECK(half->effect == StripeEffect::clawed_back);
  CHECK(half->amount == 5 * C);
  CHECK(t.available() == 5 * C);
  // Spend 4 of the remaining 5, then the rest is refunded: only 1 can be clawed back.
  REQUIRE(t.ledger.reserve("alice", 4 * C, "spend", t.clock.now_ms() + 1000).ok());
  auto full = t.deliver(charge_refunded("evt_3", "cs_5", 1000));
  REQUIRE(full.ok());
  CHECK(full->amount == 1 * C);
  CHECK(full->shortfall == 4 * C);
  CHECK(t.available() == 0);
  auto dup = t.deliver(charge_refunded("evt_3", "cs_5", 1000));
  REQUIRE(dup.ok());
  CHECK(dup->effect == StripeEffect::duplicate);
  // A dispute after the full refund has nothing left to claw back.
  std::string dispute = R"({"id":"evt_4","object":"event","data":{"object":{"id":"dp_1","object":"dispute",)"
                        R"("amount":1000,"charge":"ch_cs_5","payment_intent":"pi_cs_5"}},"type":"charge.dispute.created"})";
  auto d = t.deliver(dispute);
  REQUIRE(d.ok());
  CHECK(d->effect == StripeEffect::no_effect);
  CHECK(t.ledger.audit()->clean());
}

TEST_CASE("stripe: a dispute claws back its share; invoices grant per plan; others are recorded only") {
  StripeFixture t("sqlite-file");
  REQUIRE(t.deliver(checkout("evt_1", "checkout.session.completed", "cs_6", "paid")).ok());
  std::string dispute = R"({"id":"evt_2","data":{"object":{"id":"dp_2","amount":300,"charge":{"id":"ch_x"},)"
                        R"("payment_intent":"pi_cs_6"}},"type":"charge.dispute.created"})";
  auto d = t.deliver(dispute);
  REQUIRE(d.ok());
  CHECK(d->effect == StripeEffect::clawed_back);
  CHECK(d->amount == 3 * C);
  std::string invoice = R"({"id":"evt_3","data":{"object":{"id":"in_1","object":"invoice","amount_paid":2000,)"
                        R"("metadata":{},"parent":{"subscription_details":{"metadata":{"account_id":"alice"}}},)"
                        R"("lines":{"data":[{"pricing":{"price_details":{"price":"price_pro_monthly"}}}]}}},)"
                        R"("type":"invoice.paid"})";
  auto inv = t.deliver(invoice);
  REQUIRE(inv.ok());
  CHECK(inv->effect == StripeEffect::granted);
  CHECK(inv->amount == 50 * C);
  CHECK(t.available() == 57 * C);
  std::string other = R"({"id":"evt_5","data":{"object":{"id":"cus_1"}},"type":"customer.created"})";
  auto o = t.deliver(other);
  REQUIRE(o.ok());
  CHECK(o->effect == StripeEffect::no_effect);
  CHECK(t.deliver(other)->effect == StripeEffect::duplicate);
  CHECK(t.ledger.audit()->clean());
}
