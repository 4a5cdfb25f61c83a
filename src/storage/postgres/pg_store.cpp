// The PostgreSQL Store: a pool of connections; concurrent units of work are
// batched into one PostgreSQL transaction.
//
// transact(): the caller queues its unit. While fewer than write_lanes
// batches run, a waiting caller becomes the leader: it takes up to max_batch
// queued units (its own and others'), runs them one after another on one
// pooled connection inside BEGIN .. COMMIT, commits once and wakes every
// caller of the batch with its own result. One commit, and one hold of a
// hot row's lock (a busy account), serve many units: transactions on a hot
// row serialize on commit latency, and batching divides that latency among
// the units. max_batch 1 runs every unit as its own transaction.
//
// A batch runs optimistically first (run_batch_on): no savepoints, each
// unit's writes sent with the next unit's first statement, account counter
// updates held and sent once per account before COMMIT (pg_tables.hpp,
// TxnState). A unit that fails before any of its writes reached the server
// needs no undo. When one unit must be undone alone (it failed after
// sending writes, the server failed one of its statements, its writes
// failed after the next unit began), the transaction is rolled back and the
// batch runs again in safe mode: SAVEPOINT .. RELEASE around each unit, each
// confirmed before the next, a failed unit rolled back to its savepoint.
//
// Correctness with many writers comes from the tables (row locks, relative
// and conditional updates, unique keys), not from the batching, so any
// number of Store objects and processes may share one schema. A unit that
// hits a serialization failure or a deadlock is rolled back and re-run, up
// to max_retries times, then fails unavailable; a unit that failed after
// losing an insert race (unique key) is re-run once, so it sees the
// winner's row as a unit that ran after it would.
//
// A lost connection: if it was lost before COMMIT was sent, nothing of the
// batch was applied (PostgreSQL rolls back an open transaction whose session
// ends), so the batch is re-run once on a new connection (a pooled one may
// have died idle, e.g. across a server restart); if that fails too, its
// units fail unavailable. If it was lost during COMMIT, the outcome is
// unknown, as with any remote database: unavailable, saying so. After a
// failed connect, new connects wait an exponential backoff (50 ms .. 5 s)
// and units fail unavailable fast meanwhile; the pool heals by itself.
//
// read(): BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY on any pooled
// connection, never batched: every statement of the unit sees one snapshot,
// and readers never block writers.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
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
using pg::TxnState;
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
    if (options_.max_batch < 1) return Status(Code::invalid_request, "postgres max_batch must be at least 1");
    if (options_.write_lanes < 1 || options_.write_lanes > options_.pool_size)
      return Status(Code::invalid_request, "postgres write_lanes must be between 1 and pool_size");
    quoted_schema_ = pg::quote_identifier(options_.schema);
    BABYSEA_ASSIGN_OR_RETURN(auto conn, Conn::connect(options_.conninfo, quoted_schema_, options_.synchronous_commit));
    BABYSEA_RETURN_IF_ERROR(pg::migrate(*conn, options_.schema, SystemClock::instance().now_ms()));
    std::lock_guard<std::mutex> lock(mu_);
    open_ = 1;
    idle_.push_back(std::move(conn));
    return {};
  }

  std::string_view name() const override { return "postgres"; }
  // Any number of processes may open the same schema (one deployment).
  bool shared() const override { return true; }

  Status transact(Work work) override {
    if (options_.max_batch <= 1) return run_single(work, false);
    Waiter me;
    me.work = &work;
    std::unique_lock<std::mutex> lock(batch_mu_);
    queue_.push_back(&me);
    while (!me.done) {
      if (lanes_busy_ < options_.write_lanes && !queue_.empty()) {
        ++lanes_busy_;
        std::vector<Waiter*> batch;
        const std::size_t n = std::min(queue_.size(), static_cast<std::size_t>(options_.max_batch));
        batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        if (!queue_.empty() && lanes_busy_ < options_.write_lanes) queue_.front()->cv.notify_one();  // another lane
        lock.unlock();
        run_batch(batch);
        lock.lock();
        --lanes_busy_;
        for (Waiter* w : batch) {
          w->done = true;
          if (w != &me) w->cv.notify_one();
        }
        if (!queue_.empty()) queue_.front()->cv.notify_one();  // the lane is free: the next leader
      } else {
        me.cv.wait(lock);
      }
    }
    return me.result;
  }

  Status read(Work work) override { return run_single(work, true); }

 private:
  struct Waiter {
    Work* work = nullptr;
    Status result;
    bool done = false;
    std::condition_variable cv;
  };

  // Runs one unit on `conn` inside the current transaction (or savepoint).
  // Returns its own error, or a failed statement it ignored. Its deferred
  // writes may still be queued (sync() sends them).
  static Status run_work(Conn& conn, Work& work, bool read_only, TxnState* txn) {
    conn.reset_flags();
    PgUnit unit(conn, read_only, txn);
    Status r = run_guarded(work, unit);
    if (r.ok() && !conn.first_error().ok()) r = conn.first_error();  // a failed statement the unit ignored
    return r;
  }

  // run_work, then its deferred writes sent and checked.
  static Status run_unit(Conn& conn, Work& work, bool read_only, TxnState* txn) {
    Status r = run_work(conn, work, read_only, txn);
    if (r.ok()) r = conn.sync();
    // A failed statement aborts a PostgreSQL transaction: a unit that
    // ignored the error cannot commit (COMMIT would silently roll back).
    if (r.ok() && conn.in_failed_transaction()) r = Status(Code::storage_error, "postgres: transaction aborted");
    return r;
  }

  static Status gave_up(int runs, const Status& last) {
    return Status(Code::unavailable, "postgres: gave up after " + std::to_string(runs) +
                                         " runs (serialization failure or deadlock): " + std::string(last.message()));
  }

  static Status lost_before_commit(const Status& r) {
    return Status(Code::unavailable, "postgres: connection lost, unit not applied: " + std::string(r.message()));
  }

  static Status lost_in_commit(const Status& r) {
    return Status(Code::unavailable,
                  "postgres: connection lost during COMMIT, the unit's outcome is unknown: " + std::string(r.message()));
  }

  // One unit, one transaction (read(), and transact() when max_batch is 1).
  Status run_single(Work& work, bool read_only) {
    bool unique_rerun = false;
    bool reconnected = false;
    for (int attempt = 0;; ++attempt) {
      BABYSEA_ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, acquire());
      TxnState txn;
      conn->discard_deferred();
      conn->set_owner(-1);
      conn->defer_simple(read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN");
      Status r = run_unit(*conn, work, read_only, &txn);
      bool commit_sent = false;
      if (r.ok() && !conn->broken()) {
        conn->defer_simple("COMMIT");
        commit_sent = true;
        r = conn->sync();
      } else if (!conn->broken()) {
        conn->discard_deferred();
        conn->defer_simple("ROLLBACK");
        (void)conn->sync();
      }
      const bool broken = conn->broken();
      const bool retry = conn->retry_wanted();
      const bool unique_conflict = conn->unique_conflict();
      release(std::move(conn));
      if (r.ok()) return r;
      if (broken) {
        if (commit_sent) return lost_in_commit(r);
        if (!reconnected) {  // nothing was applied: once more on a new connection
          reconnected = true;
          --attempt;
          continue;
        }
        return lost_before_commit(r);
      }
      if (retry) {
        if (attempt < options_.max_retries) {
          pause_before_retry(attempt);
          continue;
        }
        return gave_up(attempt + 1, r);
      }
      if (unique_conflict && !unique_rerun && !read_only) {
        unique_rerun = true;  // lost an insert race: re-run once against the winner's row
        continue;
      }
      return r;
    }
  }

  enum class BatchEnd {
    done,         // committed (or nothing to commit); every result set
    unsafe,       // a unit must be undone alone: run the batch again in safe mode
    lost,         // connection lost before COMMIT was sent: nothing applied
    lost_commit,  // connection lost during COMMIT: outcome unknown
  };

  // Runs `batch` in one transaction; sets each result.
  void run_batch(const std::vector<Waiter*>& batch) {
    bool safe = false;
    bool reconnected = false;
    std::size_t start = 0;  // units before it are committed (or failed on their own)
    // Per unit, across runs: re-runs spent on deadlocks and serialization
    // failures, and whether it gave up (its result is final: later runs skip it).
    std::vector<int> retries_used(batch.size(), 0);
    std::vector<bool> gave_up_units(batch.size(), false);
    for (;;) {
      auto acquired = acquire();
      if (!acquired.ok()) {
        for (std::size_t i = start; i < batch.size(); ++i) batch[i]->result = acquired.status();
        return;
      }
      std::unique_ptr<Conn> conn = std::move(acquired).value();
      Status loss;
      std::vector<bool> own_error = gave_up_units;
      std::size_t next = batch.size();
      const BatchEnd end = run_batch_on(*conn, batch, start, safe, own_error, retries_used, next, loss);
      release(std::move(conn));
      switch (end) {
        case BatchEnd::done:
          if (next >= batch.size()) return;
          // A deadlock or serialization failure at unit `next`: the units
          // before it are committed, which released every lock they held;
          // the rest runs in a new transaction after a short random pause
          // (the competing transactions are not waiting on us any more).
          start = next;
          pause_before_retry(retries_used[next]);
          continue;
        case BatchEnd::unsafe:
          safe = true;
          for (std::size_t i = start; i < batch.size(); ++i) {
            if (own_error[i] && retries_used[i] > options_.max_retries) gave_up_units[i] = true;
          }
          continue;
        case BatchEnd::lost:
          if (!reconnected) {  // nothing applied: once more on a new connection
            reconnected = true;
            continue;
          }
          [[fallthrough]];
        case BatchEnd::lost_commit: {
          // A unit that failed on its own keeps its error (nothing of it was
          // applied either way); units after a split point never ran.
          for (std::size_t i = start; i < batch.size(); ++i) {
            if (own_error[i]) continue;
            batch[i]->result = end == BatchEnd::lost_commit && i < next ? lost_in_commit(loss) : lost_before_commit(loss);
          }
          return;
        }
      }
    }
  }

  // One run of a batch on `conn`, in one of two modes.
  //
  // Optimistic (the first run): no savepoints, and a unit's deferred writes
  // are not waited for: they go out with the next unit's first statement
  // (or the COMMIT), a round trip saved per unit. A unit that fails before
  // any of its writes reached the server needs no undo (its unsent writes
  // are dropped; a row lock its reads took stays until commit, harmlessly).
  // Anything else that needs undoing one unit alone (a unit that failed
  // after sending writes, a statement that failed on the server, deferred
  // writes that failed after the next unit began) rolls the whole
  // transaction back, and the batch runs again in safe mode: units are safe
  // to re-run (storage.hpp), and such failures are rare (a lost race).
  //
  // Safe: SAVEPOINT u .. RELEASE SAVEPOINT u around every unit, each unit's
  // writes confirmed before the next begins; a failed unit is rolled back
  // to its savepoint (which also releases the locks taken inside it) and
  // re-run when the failure asks for it (deadlock, a lost insert race).
  // Runs batch[start..]; `next` is where it stopped (a deadlock in safe
  // mode commits the units before it and leaves the rest for a new
  // transaction), batch.size() when it ran them all.
  BatchEnd run_batch_on(Conn& conn, const std::vector<Waiter*>& batch, std::size_t start, bool safe,
                        std::vector<bool>& own_error, std::vector<int>& retries_used, std::size_t& next,
                        Status& loss) {
    TxnState txn;
    txn.hold_deltas = !safe;
    conn.discard_deferred();
    conn.set_owner(-1);
    conn.defer_simple("BEGIN");
    std::size_t applied = 0;
    int pending = -1;  // optimistic: the unit whose writes are queued or sent but not yet confirmed
    auto rollback_all = [&] {
      conn.discard_deferred();
      conn.set_owner(-1);
      conn.defer_simple("ROLLBACK");
      (void)conn.sync();
      return conn.broken() ? BatchEnd::lost : BatchEnd::unsafe;
    };
    next = batch.size();
    for (std::size_t i = start; i < batch.size() && next == batch.size(); ++i) {
      if (own_error[i]) continue;  // gave up in an earlier run: its result is final
      Waiter* w = batch[i];
      const int me = static_cast<int>(i);
      bool unique_rerun = false;
      for (;;) {
        conn.set_owner(me);
        conn.reset_failed_owner();
        if (safe) conn.defer_simple("SAVEPOINT u");
        const std::uint64_t trips = conn.round_trips();
        Status r = run_work(conn, *w->work, false, &txn);
        if (conn.round_trips() == trips && !r.ok()) {
          // It failed before sending anything (its SAVEPOINT included):
          // nothing of it reached the server. Whatever earlier units
          // queued stays queued.
          txn.unit_failed();
          conn.discard_owned_by(me);
          w->result = r;
          own_error[i] = true;
          break;
        }
        if (r.ok() && (safe || conn.round_trips() == trips)) {
          // Safe mode confirms every unit before the next begins; a unit
          // that sent nothing sends now, so that at most one unit (the
          // last) is unconfirmed.
          r = conn.sync();
        }
        if (conn.broken()) {
          loss = r;
          return BatchEnd::lost;
        }
        if (pending >= 0 && conn.failed_owner() == pending) return rollback_all();
        pending = -1;
        if (r.ok() && conn.in_failed_transaction())
          r = Status(Code::storage_error, "postgres: transaction aborted");
        if (r.ok()) {
          txn.unit_succeeded();
          if (safe) conn.defer_simple("RELEASE SAVEPOINT u");
          else pending = me;
          ++applied;
          w->result = r;
          break;
        }
        txn.unit_failed();
        conn.discard_owned_by(me);  // its unsent writes
        if (!safe) {
          // Nothing of it to undo only if no write of it went out and the
          // server saw no failure (the transaction is intact).
          if (conn.last_write_owner() == me || conn.failed_owner() == me || conn.in_failed_transaction()) {
            if (conn.retry_wanted() && ++retries_used[i] > options_.max_retries) {
              w->result = gave_up(retries_used[i], r);  // not run again
              own_error[i] = true;
            }
            return rollback_all();
          }
          w->result = r;
          own_error[i] = true;
          break;
        }
        // Undo it alone. (Queued as the runner's, not the unit's: a re-run
        // that fails before sending anything drops its own statements, never
        // these.)
        conn.set_owner(-1);
        conn.defer_simple("ROLLBACK TO SAVEPOINT u");
        conn.defer_simple("RELEASE SAVEPOINT u");
        if (conn.retry_wanted()) {
          if (++retries_used[i] <= options_.max_retries) {
            // Re-running it here would wait on the same transactions again
            // while this one keeps the locks its earlier units took: commit
            // those instead, and run it and the rest in a new transaction.
            next = i;
            break;
          }
          r = gave_up(retries_used[i], r);
        } else if (conn.unique_conflict() && !unique_rerun) {
          unique_rerun = true;  // lost an insert race: re-run once against the winner's row
          continue;
        }
        w->result = r;
        own_error[i] = true;
        break;
      }
    }
    conn.set_owner(static_cast<int>(batch.size()));
    conn.reset_failed_owner();
    if (applied > 0) {
      pg::flush_deltas(conn, txn);
      conn.defer_simple("COMMIT");
    } else {
      conn.defer_simple("ROLLBACK");
    }
    Status committed = conn.sync();
    if (conn.broken()) {
      loss = committed;
      return applied > 0 ? BatchEnd::lost_commit : BatchEnd::done;
    }
    // Optimistic: the last unit's writes or the held updates failed, so the
    // COMMIT was skipped; run the batch again in safe mode.
    if (!committed.ok() && !safe) return rollback_all();
    if (!committed.ok()) {
      // COMMIT itself failed (nothing applied): every unit that had succeeded fails with it.
      if (conn.in_failed_transaction()) (void)rollback_all();
      const Status failed = conn.retry_wanted() ? Status(Code::unavailable, std::string(committed.message()))
                                                : committed;
      for (std::size_t i = start; i < std::min(next, batch.size()); ++i) {
        if (!own_error[i]) batch[i]->result = failed;
      }
      next = batch.size();  // nothing committed: no part of the batch is left to run
    }
    return BatchEnd::done;
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
    // Connects that were already under way when the window opened fail
    // together: one doubling per window, not one per thread.
    if (std::chrono::steady_clock::now() >= next_connect_) {
      backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
      next_connect_ = std::chrono::steady_clock::now() + backoff_;
    }
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
  // Batching: units waiting for a lane, and lanes running a batch.
  std::mutex batch_mu_;
  std::deque<Waiter*> queue_;
  int lanes_busy_ = 0;
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
