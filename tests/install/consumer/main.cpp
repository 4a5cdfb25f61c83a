#include <babysea/ledger.hpp>
#include <babysea/version.hpp>

#include <cstdio>

int main() {
  auto store = babysea::open_memory_store();
  babysea::ManualClock clock;
  babysea::Ledger ledger(*store, clock);
  if (!ledger.init().ok() || !ledger.create_account("a").ok()) return 1;
  if (!ledger.grant("a", 5 * babysea::kMicrosPerCredit, "g").ok()) return 1;
  auto h = ledger.reserve("a", babysea::kMicrosPerCredit, "k", clock.now_ms() + 1000);
  if (!h.ok() || !ledger.settle(h->hold.id, 500'000).ok()) return 1;
  std::printf("consumer ok: babysea %s, available %s\n", BABYSEA_VERSION_STRING,
              babysea::format_credits(ledger.balance("a")->available()).c_str());
  return ledger.audit()->clean() ? 0 : 1;
}
