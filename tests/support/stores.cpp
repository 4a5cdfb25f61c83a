#include "support/stores.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace babysea::testing {

namespace {

// Runs one statement on the test server (outside any store).
void run_on_test_postgres(const std::string& sql) {
  PGconn* c = PQconnectdb(test_postgres_conninfo().c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, ("SET client_min_messages TO warning; " + sql).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  if (!error.empty()) throw std::runtime_error("test postgres: " + sql + ": " + error);
}

}  // namespace

std::string test_postgres_conninfo() {
  const char* env = std::getenv("BABYSEA_TEST_PG");
  return env ? std::string(env) : std::string();
}

std::string test_store_kind() {
  const char* env = std::getenv("BABYSEA_TEST_STORE");
  return env && *env ? std::string(env) : std::string("sqlite-file");
}

std::vector<std::string> store_kinds(std::initializer_list<const char*> kinds) {
  std::vector<std::string> out(kinds.begin(), kinds.end());
  if (!test_postgres_conninfo().empty()) out.emplace_back("postgres");
  return out;
}

StoreFixture::StoreFixture(const std::string& k, SqliteOptions o) : kind(k), options(std::move(o)) {
  if (kind == "sqlite-file") options.path = dir.file("babysea.db");
  if (kind == "sqlite-memory") options.path = ":memory:";
  if (kind == "postgres") {
    pg_options.conninfo = test_postgres_conninfo();
    if (pg_options.conninfo.empty()) throw std::runtime_error("a postgres store fixture needs BABYSEA_TEST_PG");
    static std::atomic<int> counter{0};
    std::random_device rd;
    pg_options.schema = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
                        std::to_string(rd() % 1000000);
  }
  store = reopen();
}

StoreFixture::~StoreFixture() {
  store.reset();
  if (kind == "postgres") {
    try {
      run_on_test_postgres("DROP SCHEMA IF EXISTS \"" + pg_options.schema + "\" CASCADE");
    } catch (const std::exception&) {
      // The server went away (a test stopped it); its temp dir goes with it.
    }
  }
}

std::unique_ptr<Store> StoreFixture::reopen() {
  store.reset();
  if (kind == "memory") return open_memory_store();
  if (kind == "postgres") {
    auto r = open_postgres_store(pg_options);
    if (!r.ok()) throw std::runtime_error("open_postgres_store: " + r.status().to_string());
    return std::move(r).value();
  }
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
