// ledger_demo: the settlement ledger end to end on a SQLite file.
//
// Creates an account, tops it up through a signed Stripe event, reserves
// credits for three generations, settles one at its actual cost, releases a
// failed one, lets one expire, shows that a replayed event changes nothing,
// and prints balances and the audit after each step.
#include <cstdio>
#include <filesystem>
#include <string>

#include "babysea/ledger.hpp"
#include "babysea/stripe.hpp"

using namespace babysea;

namespace {

void check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, s.to_string().c_str());
    std::exit(1);
  }
}

void show(Ledger& ledger, const char* step) {
  auto b = ledger.balance("acct_demo");
  auto rev = ledger.balance(kRevenueAccount);
  check(b.status(), "balance");
  std::printf("%-44s available %10s  held %8s  revenue %8s\n", step, format_credits(b->available()).c_str(),
              format_credits(b->pending_debits).c_str(), format_credits(rev->posted()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path db = argc > 1 ? argv[1] : std::filesystem::temp_directory_path() / "babysea-ledger-demo.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);

  SqliteOptions options;
  options.path = db.string();
  auto store = open_sqlite_store(options);
  check(store.status(), "open store");
  ManualClock clock(1'764'000'000'000);  // a fixed start so the demo prints the same every time
  Ledger ledger(**store, clock);
  check(ledger.init(), "init");
  check(ledger.create_account("acct_demo"), "create account");
  check(ledger.set_low_balance_thresholds("acct_demo", {5 * kMicrosPerCredit}), "thresholds");
  std::printf("store: %s (SQLite, WAL, synchronous=FULL, group commit)\n\n", db.string().c_str());
  show(ledger, "new account");

  // 1. A customer buys a 20-credit pack: Stripe calls our webhook.
  const std::string secret = "whsec_demo_endpoint_secret";
  StripeOptions so;
  so.endpoint_secrets = {secret};
  so.packs = {{"price_pack_20", 20 * kMicrosPerCredit, 1500}};
  StripeWebhooks stripe(ledger, **store, clock, so);
  const std::string event =
      R"({"id":"evt_demo_1","object":"event","type":"checkout.session.completed","data":{"object":)"
      R"({"id":"cs_demo_1","object":"checkout.session","mode":"payment","payment_status":"paid",)"
      R"("payment_intent":"pi_demo_1","amount_total":1500,"currency":"usd","client_reference_id":"acct_demo",)"
      R"("metadata":{"price_id":"price_pack_20"}}}})";
  auto header = stripe_signature_header(secret, clock.now_ms() / 1000, event);
  auto topup = stripe.handle(header, event);
  check(topup.status(), "stripe top-up");
  show(ledger, "Stripe checkout.session.completed (signed)");
  auto again = stripe.handle(header, event);
  check(again.status(), "stripe replay");
  std::printf("  same event delivered again -> %s\n",
              again->effect == StripeEffect::duplicate ? "duplicate, no effect" : "UNEXPECTED");
  auto forged = stripe.handle(stripe_signature_header("whsec_attacker", clock.now_ms() / 1000, event), event);
  std::printf("  forged signature             -> %s\n", std::string(code_name(forged.code())).c_str());

  // 2. Three generations reserve their estimates.
  const std::int64_t deadline = clock.now_ms() + 10 * 60 * 1000;
  auto image = ledger.reserve("acct_demo", 4 * kMicrosPerCredit, "gen_image_1", deadline, "gen_image_1");
  auto video = ledger.reserve("acct_demo", 9 * kMicrosPerCredit, "gen_video_1", deadline, "gen_video_1");
  auto silent = ledger.reserve("acct_demo", 3 * kMicrosPerCredit, "gen_image_2", clock.now_ms() + 60'000, "gen_image_2");
  check(image.status(), "reserve image");
  check(video.status(), "reserve video");
  check(silent.status(), "reserve image 2");
  show(ledger, "reserved 4 + 9 + 3 credits");
  for (const auto& alert : silent->alerts)
    std::printf("  low-balance alert: %s below %s credits (outbox event credits.low_balance)\n",
                format_credits(alert.available).c_str(), format_credits(alert.thresholds[0]).c_str());
  auto too_much = ledger.reserve("acct_demo", 10 * kMicrosPerCredit, "gen_video_2", deadline);
  std::printf("  a 10-credit request now      -> %s\n", std::string(code_name(too_much.code())).c_str());

  // 3. The image succeeds and costs 2.75 credits: settle posts it, the rest returns.
  check(ledger.settle(image->hold.id, 2'750'000).status(), "settle");
  show(ledger, "image succeeded, settled at 2.75");
  // 4. The video fails on every provider: release the whole hold.
  check(ledger.release(video->hold.id).status(), "release");
  show(ledger, "video failed, hold released");
  auto late = ledger.settle(video->hold.id, kMicrosPerCredit);
  std::printf("  late success for the video   -> %s (never charged)\n", std::string(code_name(late.code())).c_str());
  // 5. A provider that never answers: the hold expires at its deadline.
  clock.advance(std::chrono::minutes(2));
  auto expired = ledger.expire_due(clock.now_ms());
  check(expired.status(), "expire");
  show(ledger, "silent provider, hold expired");

  auto report = ledger.audit();
  check(report.status(), "audit");
  std::printf("\naudit: %s\n", report->to_string().c_str());
  return report->clean() ? 0 : 1;
}
