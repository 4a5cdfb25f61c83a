// Store fixtures: the same tests run against every backend.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "babysea/storage.hpp"
#include "support/testing.hpp"

namespace babysea::testing {

// "memory", "sqlite-memory" or "sqlite-file" (a real file in a temp dir).
struct StoreFixture {
  explicit StoreFixture(const std::string& kind, SqliteOptions options = {});
  std::unique_ptr<Store> reopen();  // closes and reopens (file stores keep their data)
  std::string kind;
  SqliteOptions options;
  TempDir dir;
  std::unique_ptr<Store> store;
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
