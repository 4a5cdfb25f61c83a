// wire_stack.hpp — a whole engine on the real wire, for the wire and crash
// tests: a SQLite file (synchronous FULL) or a store the test lends (the
// PostgreSQL run of wire_test), the Beast transport, the real provider
// adapters pointed at loopback emulators, a directory asset store
// behind an SSRF guard that allows loopback, and the Engine with its own
// workers on the system clock. Built piece by piece (not through
// Runtime::open) so that provider timings (poll interval, submit-ack / start /
// finish deadlines) can be short: Runtime's config has no key for them.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/auth.hpp"
#include "babysea/engine.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/provider.hpp"
#include "babysea/storage.hpp"
#include "babysea/transport.hpp"

namespace babysea::wire {

struct ProviderEndpoint {
  std::string base_url;  // empty: provider not configured
  std::string api_key;
  std::string secret;    // replicate: whsec_; bfl: webhook secret
  std::string jwks_url;  // fal
  std::string user_id;   // fal
  std::string account_id;  // cloudflare
};

struct StackOptions {
  std::string db_path;     // the SQLite file, when no store is lent
  Store* store = nullptr;  // lent (outlives the Stack): used instead of db_path
  std::filesystem::path assets_dir;
  std::string catalog_dir;  // data/ directory of the repository
  ProviderEndpoint replicate, fal, bfl, openai, runway, alibabacloud, byteplus, cloudflare;
  std::string callback_base_url;  // empty: polling only
  ProviderTiming timing;          // every provider
  std::chrono::milliseconds request_timeout{3'000};
  std::chrono::milliseconds generation_deadline{60'000};
  std::chrono::milliseconds retry_delay{300};
  std::chrono::milliseconds tick{50};
  int threads = 4;
  int max_asset_tries = 2;
  // Called after every successful asset store, before the engine sees it
  // (the crash worker uses it to die with the files written).
  std::function<void()> after_asset_store;
};

// Short timings suited to emulators with jobs of a few hundred ms.
ProviderTiming fast_timing();

class Stack {
 public:
  // Builds everything and creates the engine (which runs recovery). Throws
  // std::runtime_error with the status when something fails.
  explicit Stack(StackOptions options);
  ~Stack();  // engine first, then what it borrowed, the store last
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  Engine& engine() { return *engine_; }
  Store& store() { return *store_; }
  const StackOptions& options() const { return options_; }
  const Principal& principal() const { return principal_; }

  // Creates the account (idempotent), grants credits once (idempotent by
  // key) and issues a fresh full-access key; sets principal().
  void login(const std::string& account, Micros grant);

  // Every generation of the principal's account (all pages).
  std::vector<GenerationView> all_generations();
  // Waits until every generation of the account is terminal, or the timeout.
  bool wait_all_terminal(std::chrono::milliseconds timeout);
  bool wait_terminal(const std::string& id, std::chrono::milliseconds timeout, GenerationView* out = nullptr);

  // Invariants over every generation of the account: ledger audit clean; each
  // terminal generation's hold resolved to match (succeeded -> settled for
  // its cost, otherwise released/expired); open ones pending; a succeeded
  // generation has exactly one used attempt from provider_used and its files
  // in the asset directory; a failed/canceled one has none (unless
  // `allow_orphan_files`, for the known crash-window leak, see crash_test.cpp).
  // Returns the first violation, empty when none.
  std::string check_invariants(bool allow_orphan_files = false);
  // Files stored for a generation in the asset directory.
  std::size_t asset_files(const std::string& generation_id) const;

 private:
  StackOptions options_;
  std::unique_ptr<Store> owned_store_;  // the SQLite file, when no store is lent
  Store* store_ = nullptr;
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<NetGuard> guard_;
  std::unique_ptr<UrlPolicy> url_policy_;
  std::unique_ptr<Transport> transport_;
  std::vector<std::shared_ptr<Provider>> providers_;
  std::unique_ptr<AssetStore> assets_;
  std::unique_ptr<Engine> engine_;
  Principal principal_;
};

}  // namespace babysea::wire
