// A whole engine over a real SQLite file (or, under the *_postgres ctest
// entries, a fresh PostgreSQL schema; see test_store_kind) with scripted
// providers, a memory asset store and (by default) a manual clock, for engine
// tests, the randomized simulation and the benchmark.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/engine.hpp"
#include "support/scripted_provider.hpp"
#include "support/stores.hpp"
#include "support/testing.hpp"

namespace babysea::testing {

struct RigOptions {
  std::string store = test_store_kind();  // a StoreFixture kind: "sqlite-file", "memory", "postgres"
  bool workers = false;                   // real worker threads (with the system clock)
  DeliveryMode first_mode = DeliveryMode::webhook;   // "replicate"
  DeliveryMode second_mode = DeliveryMode::polling;  // "fal"
  ProviderTiming timing{};
  Micros grant = 100 * kMicrosPerCredit;
  int threads = 4;
  Durability durability = Durability::full;
  Executor* executor = nullptr;  // lent to the engine (workers mode)
  std::shared_ptr<const AssetUrlSigner> url_signer;  // the memory asset store signs client URLs
  std::string instance_id;  // ClusterOptions::instance_id of the rig's engine (empty: the default)
};

class Rig {
 public:
  explicit Rig(RigOptions options = {});
  ~Rig();

  // (Re)creates the engine on the same database (a restart).
  void start();
  void stop();  // destroys the engine; the database stays
  void restart() {
    stop();
    start();
  }

  Engine& engine() { return *engine_; }
  // Another engine instance on the same store, clock, providers and assets
  // (several instances of one deployment); same options as the rig's own.
  std::unique_ptr<Engine> spawn(std::string_view instance_id);
  Result<std::unique_ptr<Engine>> try_spawn(std::string_view instance_id) {
    return Engine::create(config(instance_id));
  }
  Ledger& ledger() { return engine_->ledger(); }
  ManualClock& clock() { return clock_; }
  Store& store() { return *fixture_->store; }
  // What the rig's store has run so far (units committed, reads).
  StoreCounters units() const { return units_.load(); }
  MemoryAssetStore& assets() { return *assets_; }
  ScriptedProvider& first() { return *first_; }    // "replicate"
  ScriptedProvider& second() { return *second_; }  // "fal"
  const Principal& principal() const { return principal_; }
  const std::shared_ptr<const Catalog>& catalog() const { return catalog_; }
  const std::string& account() const { return principal_.account; }

  // Submits a flux-schnell image generation (served by replicate, then fal).
  Result<SubmitOutcome> submit(std::string_view idempotency_key = {},
                               std::string_view prompt = "a lighthouse at dawn",
                               std::string_view order = {});
  GenerationView get(const std::string& id);
  // Runs due work; advances the manual clock by `ms` first.
  void run(std::int64_t advance_ms = 0);
  // Delivers a scripted callback to `provider` ("replicate" / "fal").
  Result<CallbackResult> callback(std::string_view provider, const std::string& body);
  Micros available();

  // Invariants after a run: audit clean; every terminal generation's hold
  // resolved to match (succeeded -> settled for the generation's cost,
  // failed / canceled -> released); non-terminal holds pending. Returns a
  // description of the first violation, empty when all hold.
  std::string check_invariants();

  RigOptions options;

 private:
  EngineConfig config(std::string_view instance_id);
  ManualClock clock_;
  StoreCounterCells units_;                // counts what the store runs (outlives the store)
  std::unique_ptr<StoreFixture> fixture_;  // the store; restarts keep it (same file, same schema)
  std::shared_ptr<const Catalog> catalog_;
  std::shared_ptr<ScriptedProvider> first_;
  std::shared_ptr<ScriptedProvider> second_;
  std::unique_ptr<MemoryAssetStore> assets_;
  std::unique_ptr<Engine> engine_;
  Principal principal_;
};

inline constexpr std::string_view kRigModel = "bfl/flux-schnell";
inline constexpr std::string_view kRigPepper = "test-pepper-0123456789abcdef0123456789abcdef";

}  // namespace babysea::testing
