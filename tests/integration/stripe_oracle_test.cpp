// The official `stripe` npm package as an oracle: what it signs, babysea
// verifies (and refuses what it must); what babysea signs, Stripe verifies.
#include <catch2/catch.hpp>

#include "babysea/stripe.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"

using namespace babysea;
using namespace babysea::testing;

namespace {

const std::string kSecret = "whsec_oracle_0123456789abcdefABCDEF";
constexpr std::int64_t kNow = 1'760'000'000;

std::string oracle_script() { return (source_dir() / "tests/oracle/stripe_oracle.js").string(); }

struct OracleCase {
  std::string name, header, body, expect;
};

std::vector<OracleCase> oracle_cases() {
  std::vector<OracleCase> cases;
  for (auto& f : run_json_lines({"node", oracle_script(), "sign", kSecret, std::to_string(kNow)}))
    cases.push_back({f.at("name"), f.at("header"), f.at("body"), f.at("expect")});
  return cases;
}

}  // namespace

TEST_CASE("stripe oracle: babysea verifies what Stripe signs") {
  auto cases = oracle_cases();
  REQUIRE(cases.size() >= 9);
  int accepted = 0, rejected = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    Status s = verify_stripe_signature(c.header, c.body, {kSecret}, kNow);
    if (c.expect == "accept") {
      CHECK(s.ok());
      ++accepted;
    } else {
      CHECK(s.code() == Code::invalid_signature);
      ++rejected;
    }
  }
  CHECK(accepted >= 3);
  CHECK(rejected >= 5);
}

TEST_CASE("stripe oracle: Stripe verifies what babysea signs") {
  const std::string body = R"({"id":"evt_from_babysea","object":"event","type":"invoice.paid","data":{"object":{}}})";
  auto ok = run_process({"node", oracle_script(), "verify", kSecret,
                         stripe_signature_header(kSecret, kNow, body), body, std::to_string(kNow)});
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out == "ok\n");
  auto bad = run_process({"node", oracle_script(), "verify", kSecret,
                          stripe_signature_header("whsec_other", kNow, body), body, std::to_string(kNow)});
  CHECK(bad.out.rfind("error:", 0) == 0);
}

TEST_CASE("stripe oracle: signed events drive the ledger exactly once, refusals write nothing") {
  ManualClock clock(kNow * 1000);
  StoreFixture f("sqlite-file");
  Ledger ledger(*f.store, clock);
  REQUIRE(ledger.init().ok());
  REQUIRE(ledger.create_account("alice").ok());
  StripeOptions o;
  o.endpoint_secrets = {kSecret};
  o.packs = {{"price_pack10", 10 * kMicrosPerCredit, 1000}};
  StripeWebhooks hooks(ledger, *f.store, clock, o);
  int granted = 0;
  for (const auto& c : oracle_cases()) {
    INFO(c.name);
    auto r = hooks.handle(c.header, c.body);
    if (c.expect == "accept") {
      REQUIRE(r.ok());
      granted += r->effect == StripeEffect::granted;
    } else {
      CHECK(r.code() == Code::invalid_signature);
    }
  }
  // Two distinct events (each delivered several times, validly) → two grants.
  CHECK(granted == 2);
  CHECK(ledger.balance("alice")->available() == 20 * kMicrosPerCredit);
  CHECK(ledger.audit()->clean());
}
