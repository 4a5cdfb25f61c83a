#include "support/stores.hpp"

#include <stdexcept>

namespace babysea::testing {

StoreFixture::StoreFixture(const std::string& k, SqliteOptions o) : kind(k), options(std::move(o)) {
  if (kind == "sqlite-file") options.path = dir.file("babysea.db");
  if (kind == "sqlite-memory") options.path = ":memory:";
  store = reopen();
}

std::unique_ptr<Store> StoreFixture::reopen() {
  store.reset();
  if (kind == "memory") return open_memory_store();
  auto r = open_sqlite_store(options);
  if (!r.ok()) throw std::runtime_error("open_sqlite_store: " + r.status().to_string());
  return std::move(r).value();
}

bool seen_message(Store& store, std::string_view source, std::string_view id) {
  bool found = false;
  Status s = store.read([&](UnitOfWork& u) -> Status {
    auto r = u.seen().contains(source, id);
    if (!r.ok()) return r.status();
    found = *r;
    return {};
  });
  if (!s.ok()) throw std::runtime_error("seen lookup: " + s.to_string());
  return found;
}

}  // namespace babysea::testing
