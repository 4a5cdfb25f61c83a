// The official `standardwebhooks` npm package as an oracle: what it signs
// (including rotation) babysea verifies, and refuses what it must with
// storage unchanged; what babysea signs, the package verifies.
#include <catch2/catch.hpp>

#include <atomic>

#include "babysea/webhooks.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"

using namespace babysea;
using namespace babysea::testing;

namespace {

const std::string kNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
const std::string kOld = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::int64_t kNow = 1'760'000'000;

std::string oracle_script() { return (source_dir() / "tests/oracle/standardwebhooks_oracle.js").string(); }

struct OracleCase {
  std::string name, id, timestamp, signature, body, verifier, expect;
};

std::vector<OracleCase> oracle_cases() {
  std::vector<OracleCase> cases;
  for (auto& f : run_json_lines({"node", oracle_script(), "sign", kNew, kOld, std::to_string(kNow)}))
    cases.push_back({f.at("name"), f.at("id"), f.at("timestamp"), f.at("signature"), f.at("body"),
                     f.at("verifier"), f.at("expect")});
  return cases;
}

bool seen(Store& store, std::string_view id) { return seen_message(store, "replicate", id); }

}  // namespace

TEST_CASE("standardwebhooks oracle: babysea verifies what the reference library signs") {
  auto cases = oracle_cases();
  REQUIRE(cases.size() >= 16);
  StandardWebhookOptions both_o, new_o;
  both_o.secrets = {kNew, kOld};
  new_o.secrets = {kNew};
  auto both = std::move(StandardWebhookVerifier::create(both_o)).value();
  auto only_new = std::move(StandardWebhookVerifier::create(new_o)).value();

  StoreFixture f("sqlite-file");
  CountingStore store(*f.store);
  int accepted = 0, rejected = 0, too_large = 0, applied = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    const auto& v = c.verifier == "new" ? *only_new : *both;
    const bool was_seen = seen(store, c.id);
    const int transacts_before = store.transacts;
    auto r = v.verify({c.id, c.timestamp, c.signature}, c.body, kNow);
    if (c.expect == "accept") {
      REQUIRE(r.ok());
      CHECK(r->message_id() == c.id);
      auto outcome = commit_callback(store, *r, kNow * 1000, [&](UnitOfWork&) -> Status {
        ++applied;
        return {};
      });
      REQUIRE(outcome.ok());
      CHECK(*outcome == (was_seen ? CallbackOutcome::duplicate : CallbackOutcome::applied));
      CHECK(seen(store, c.id));
      ++accepted;
    } else {
      CHECK(r.code() == (c.expect == "too_large" ? Code::payload_too_large : Code::invalid_signature));
      // Storage unchanged: no unit of work, no dedupe record.
      CHECK(store.transacts == transacts_before);
      CHECK(seen(store, c.id) == was_seen);
      (c.expect == "too_large" ? too_large : rejected)++;
    }
  }
  CHECK(accepted >= 7);
  CHECK(rejected >= 7);
  CHECK(too_large == 1);
  CHECK(applied == accepted - 1);  // "valid" and "valid, new key only" share msg_1
}

TEST_CASE("standardwebhooks oracle: the reference library verifies what babysea signs") {
  const std::string body = R"({"webhook_event":"generation.completed","note":"caf\u00e9"})";
  const std::string id = "msg_from_babysea";
  auto verify = [&](const std::string& secret, const std::string& sig, std::int64_t ts) {
    auto r = run_process({"node", oracle_script(), "verify", secret, id, std::to_string(ts), sig, body,
                          std::to_string(kNow)});
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  const std::string sig_new = standard_webhook_signature(kNew, id, kNow, body);
  const std::string sig_old = standard_webhook_signature(kOld, id, kNow, body);
  CHECK(verify(kNew, sig_new, kNow) == "ok\n");
  CHECK(verify(kOld, sig_old, kNow) == "ok\n");
  CHECK(verify(kNew, sig_old + " " + sig_new, kNow) == "ok\n");  // rotation: both sent
  CHECK(verify(kNew, sig_old, kNow).rfind("error:", 0) == 0);
  const std::string stale = standard_webhook_signature(kNew, id, kNow - 301, body);
  CHECK(verify(kNew, stale, kNow - 301).rfind("error:", 0) == 0);
}
