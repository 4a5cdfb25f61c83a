// Store fixtures: the same tests run against every backend.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/storage.hpp"
#include "support/testing.hpp"

namespace babysea::testing {

// "memory", "sqlite-memory", "sqlite-file" (a real file in a temp dir) or
// "postgres": a fresh schema on the server BABYSEA_TEST_PG names (a libpq
// conninfo; scripts/with_postgres.sh starts one), dropped at the end.
// Constructing a "postgres" fixture without BABYSEA_TEST_PG throws.
struct StoreFixture {
  explicit StoreFixture(const std::string& kind, SqliteOptions options = {});
  ~StoreFixture();
  StoreFixture(const StoreFixture&) = delete;
  StoreFixture& operator=(const StoreFixture&) = delete;
  std::unique_ptr<Store> reopen();  // closes and reopens (file and postgres stores keep their data)
  std::string kind;
  SqliteOptions options;
  PostgresOptions pg_options;  // "postgres": the conninfo and the fixture's own schema
  TempDir dir;
  std::unique_ptr<Store> store;
};

// The conninfo of the test PostgreSQL (BABYSEA_TEST_PG), empty when unset.
std::string test_postgres_conninfo();

// The durable backend of suites that run on one store (the engine rig, the
// wire stack): BABYSEA_TEST_STORE when set (the *_postgres ctest entries set
// "postgres"), else "sqlite-file". A StoreFixture kind.
std::string test_store_kind();

// `kinds`, plus "postgres" when BABYSEA_TEST_PG is set (never a silently
// passing stand-in when it is not). For GENERATE(from_range(store_kinds({...}))).
std::vector<std::string> store_kinds(std::initializer_list<const char*> kinds);

// A unit of work that forwards every table to another unit: tests derive
// from it and override the one table they want to watch or replace.
class ForwardingUnit : public UnitOfWork {
 public:
  explicit ForwardingUnit(UnitOfWork& inner) : inner_(inner) {}
  LedgerTables& ledger() override { return inner_.ledger(); }
  SeenTable& seen() override { return inner_.seen(); }
  OutboxTable& outbox() override { return inner_.outbox(); }
  AttemptStatsTable& attempt_stats() override { return inner_.attempt_stats(); }
  ApiKeyTable& api_keys() override { return inner_.api_keys(); }
  WebhookEndpointTable& webhook_endpoints() override { return inner_.webhook_endpoints(); }
  WebhookDeliveryTable& webhook_deliveries() override { return inner_.webhook_deliveries(); }
  GenerationTable& generations() override { return inner_.generations(); }
  RequestLogTable& request_log() override { return inner_.request_log(); }
  InstanceTable& instances() override { return inner_.instances(); }
  bool read_only() const override { return inner_.read_only(); }

 protected:
  UnitOfWork& inner_;
};

// Forwards to another store and counts units of work, so tests can assert
// that nothing was attempted.
class CountingStore final : public Store {
 public:
  explicit CountingStore(Store& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  Status transact(Work work) override {
    ++transacts;
    return inner_.transact(work);
  }
  Status read(Work work) override { return inner_.read(work); }
  std::atomic<int> transacts{0};

 private:
  Store& inner_;
};

// Whether (source, id) is in the store's seen-message table (REQUIREs the read).
bool seen_message(Store& store, std::string_view source, std::string_view id);

}  // namespace babysea::testing
