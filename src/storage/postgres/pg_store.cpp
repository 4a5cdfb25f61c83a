// The PostgreSQL Store: a pool of connections, one PostgreSQL transaction per
// unit of work.
//
// transact(): takes a pooled connection, BEGIN (READ COMMITTED), runs the
// unit, COMMIT. Correctness with many writers comes from the tables
// (pg_tables.hpp: row locks, relative updates, conditional updates,
// ON CONFLICT), not from a single writer, so any number of Store objects and
// processes may share one schema. A unit that hits a serialization failure
// or a deadlock is rolled back and re-run, up to max_retries times, then
// fails unavailable; a unit that failed after losing an insert race (unique
// key) is re-run once, so it sees the winner's row as a unit that ran after
// it would. A lost connection fails the unit in flight unavailable (its
// transaction never committed, or its outcome is unknown when the loss hit
// COMMIT itself), the connection is dropped, and the next unit connects a
// new one; after a failed connect, new connects wait an exponential backoff
// (units fail unavailable fast meanwhile).
//
// read(): BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY: every statement of
// the unit sees one snapshot, and readers never block writers.
//
// Room for throughput work: a unit is one BEGIN..COMMIT on one connection;
// batching units into one transaction (a savepoint each) or pipelining a
// unit's statements fits behind transact() without changing the tables.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/storage.hpp"
#include "storage/postgres/pg_conn.hpp"
#include "storage/postgres/pg_migrations.hpp"
#include "storage/postgres/pg_tables.hpp"
#include "storage/run_guarded.hpp"

namespace babysea {
namespace {

using pg::Conn;
using pg::PgUnit;

using storage_detail::run_guarded;

class PgStore final : public Store {
 public:
  explicit PgStore(const PostgresOptions& o) : options_(o) {}

  ~PgStore() override {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    idle_.clear();
  }

  Status open() {
    BABYSEA_RETURN_IF_ERROR(pg::validate_identifier(options_.schema, "postgres schema"));
    if (options_.pool_size < 1) return Status(Code::invalid_request, "postgres pool_size must be at least 1");
    if (options_.max_retries < 0) return Status(Code::invalid_request, "postgres max_retries must not be negative");
    quoted_schema_ = pg::quote_identifier(options_.schema);
    BABYSEA_ASSIGN_OR_RETURN(auto conn, Conn::connect(options_.conninfo, quoted_schema_, options_.synchronous_commit));
    BABYSEA_RETURN_IF_ERROR(pg::migrate(*conn, options_.schema, SystemClock::instance().now_ms()));
    std::lock_guard<std::mutex> lock(mu_);
    open_ = 1;
    idle_.push_back(std::move(conn));
    return {};
  }

  std::string_view name() const override { return "postgres"; }

  Status transact(Work work) override { return run(work, false); }
  Status read(Work work) override { return run(work, true); }

 private:
  Status run(Work work, bool read_only) {
    bool unique_rerun = false;
    int stale_retries = 0;
    for (int attempt = 0;; ++attempt) {
      BABYSEA_ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, acquire());
      conn->reset_flags();
      Status r = conn->exec_simple(read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN");
      bool began = r.ok();
      if (began) {
        PgUnit unit(*conn, read_only);
        r = run_guarded(work, unit);
        // A failed statement aborts a PostgreSQL transaction: a unit that
        // ignored the error cannot commit (COMMIT would silently roll back).
        if (r.ok() && conn->in_failed_transaction()) {
          r = conn->first_error().ok() ? Status(Code::storage_error, "postgres: transaction aborted")
                                       : conn->first_error();
        }
        if (r.ok()) {
          r = conn->exec_simple("COMMIT");
        } else if (!conn->broken()) {
          (void)conn->exec_simple("ROLLBACK");
        }
      }
      const bool broken = conn->broken();
      const bool retry = conn->retry_wanted();
      const bool unique_conflict = conn->unique_conflict();
      release(std::move(conn));
      if (r.ok()) return r;
      if (!began && broken && stale_retries < options_.pool_size) {
        // A pooled connection that died while idle (server restart): nothing
        // ran on it, so take another one (a new connection once the idle ones
        // are used up).
        ++stale_retries;
        --attempt;
        continue;
      }
      if (broken) {
        return Status(Code::unavailable, "postgres: connection lost, unit not applied (or, if lost during COMMIT, "
                                         "its outcome is unknown): " + std::string(r.message()));
      }
      if (retry) {
        if (attempt < options_.max_retries) {
          pause_before_retry(attempt);
          continue;
        }
        return Status(Code::unavailable, "postgres: gave up after " + std::to_string(attempt + 1) +
                                             " runs (serialization failure or deadlock): " + std::string(r.message()));
      }
      if (began && unique_conflict && !unique_rerun && !read_only) {
        unique_rerun = true;  // lost an insert race: re-run once against the winner's row
        continue;
      }
      return r;
    }
  }

  static void pause_before_retry(int attempt) {
    thread_local std::minstd_rand rng(std::random_device{}());
    const int cap_us = 500 << std::min(attempt, 6);
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, cap_us)(rng)));
  }

  Result<std::unique_ptr<Conn>> acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closing_ || !idle_.empty() || open_ < options_.pool_size; });
    if (closing_) return Status(Code::unavailable, "store is closing");
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now < next_connect_) {
      return Status(Code::unavailable, "postgres: reconnecting after a failed connect (backoff); retry later: " +
                                           last_connect_error_);
    }
    ++open_;
    lock.unlock();
    auto c = Conn::connect(options_.conninfo, quoted_schema_, options_.synchronous_commit);
    lock.lock();
    if (c.ok()) {
      backoff_ = std::chrono::milliseconds(0);
      next_connect_ = {};
      return std::move(c).value();
    }
    --open_;
    backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    last_connect_error_ = std::string(c.status().message());
    lock.unlock();
    cv_.notify_one();
    return Status(Code::unavailable, std::string(c.status().message()));
  }

  void release(std::unique_ptr<Conn> c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (c->broken() || closing_) {
        --open_;
        c.reset();
      } else {
        idle_.push_back(std::move(c));
      }
    }
    cv_.notify_one();
  }

  static constexpr std::chrono::milliseconds kMinBackoff{50};
  static constexpr std::chrono::milliseconds kMaxBackoff{5000};

  PostgresOptions options_;
  std::string quoted_schema_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;  // connections in existence (idle or in use)
  bool closing_ = false;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_connect_{};
  std::string last_connect_error_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const PostgresOptions& options) {
  auto store = std::make_unique<PgStore>(options);
  BABYSEA_RETURN_IF_ERROR(store->open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace babysea
