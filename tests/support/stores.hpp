// Store fixtures: the same tests run against every backend.
#pragma once

#include <memory>
#include <string>

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

}  // namespace babysea::testing
