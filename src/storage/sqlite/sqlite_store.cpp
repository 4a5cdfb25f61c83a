// The SQLite Store: one writer thread with group commit, a pool of readers.
//
// Writers enqueue their unit and block. The writer thread takes every unit
// queued (up to max_batch), opens one transaction, runs each unit inside its
// own savepoint (released on success, rolled back on error), commits once
// (one fsync for the batch under synchronous=FULL) and only then wakes each
// caller with its own result.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/storage.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_tables.hpp"

namespace babysea {
namespace {

using sqlite::Db;
using sqlite::SqliteUnit;

Status run_guarded(Work work, UnitOfWork& unit) {
  try {
    return work(unit);
  } catch (const std::exception& e) {
    return Status(Code::internal, std::string("unit of work threw: ") + e.what());
  } catch (...) {
    return Status(Code::internal, "unit of work threw");
  }
}

// One caller's unit, waiting for the writer. Waiting sleeps on a futex (not
// a spinning semaphore: 64 spinning callers would starve the writer).
struct Pending {
  explicit Pending(Work w, bool ro) : work(w), read_only(ro) {}
  Work work;
  bool read_only;
  Status result;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;

  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  void complete(Status s) {
    result = std::move(s);
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_one();
  }
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const SqliteOptions& o) : options_(o) {}

  ~SqliteStore() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_thread_.joinable()) writer_thread_.join();
  }

  Status open() {
    in_memory_ = options_.path == ":memory:" || options_.path.empty();
    const std::string path = in_memory_ ? ":memory:" : options_.path;
    BABYSEA_ASSIGN_OR_RETURN(writer_, Db::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
    BABYSEA_RETURN_IF_ERROR(configure(*writer_, /*writer=*/true));
    BABYSEA_RETURN_IF_ERROR(sqlite::migrate(*writer_, SystemClock::instance().now_ms()));
    if (!in_memory_) {
      for (int i = 0; i < std::max(1, options_.readers); ++i) {
        BABYSEA_ASSIGN_OR_RETURN(auto reader, Db::open(path, SQLITE_OPEN_READONLY));
        BABYSEA_RETURN_IF_ERROR(configure(*reader, /*writer=*/false));
        readers_.push_back(std::move(reader));
      }
      for (auto& r : readers_) free_readers_.push_back(r.get());
    }
    writer_thread_ = std::thread([this] { writer_loop(); });
    return {};
  }

  std::string_view name() const override { return "sqlite"; }

  Status transact(Work work) override { return submit(work, false); }

  Status read(Work work) override {
    if (in_memory_) return submit(work, true);  // one connection: go through the writer
    Db* db = acquire_reader();
    Status s = db->exec("BEGIN");
    if (s.ok()) {
      SqliteUnit unit(*db, true);
      s = run_guarded(work, unit);
      Status end = db->exec(s.ok() ? "COMMIT" : "ROLLBACK");
      if (s.ok()) s = end;
    }
    release_reader(db);
    return s;
  }

 private:
  Status configure(Db& db, bool writer) {
    BABYSEA_RETURN_IF_ERROR(db.exec("PRAGMA foreign_keys = OFF"));
    sqlite3_busy_timeout(db.raw(), static_cast<int>(options_.busy_timeout.count()));
    std::string cache = "PRAGMA cache_size = -" + std::to_string(options_.cache_kib);
    BABYSEA_RETURN_IF_ERROR(db.exec(cache.c_str()));
    if (!writer) return {};
    if (!in_memory_) {
      BABYSEA_ASSIGN_OR_RETURN(sqlite::Query q, db.query("PRAGMA journal_mode = WAL"));
      BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
      if (!row || q.text_view(0) != "wal")
        return Status(Code::storage_error, "could not enable WAL journal mode on " + options_.path);
    }
    BABYSEA_RETURN_IF_ERROR(db.exec(options_.durability == Durability::full ? "PRAGMA synchronous = FULL"
                                                                           : "PRAGMA synchronous = NORMAL"));
    BABYSEA_RETURN_IF_ERROR(db.exec("PRAGMA temp_store = MEMORY"));
    return {};
  }

  Db* acquire_reader() {
    std::unique_lock<std::mutex> lock(readers_mu_);
    readers_cv_.wait(lock, [&] { return !free_readers_.empty(); });
    Db* db = free_readers_.back();
    free_readers_.pop_back();
    return db;
  }

  void release_reader(Db* db) {
    {
      std::lock_guard<std::mutex> lock(readers_mu_);
      free_readers_.push_back(db);
    }
    readers_cv_.notify_one();
  }

  Status submit(Work work, bool read_only) {
    Pending p(work, read_only);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return Status(Code::unavailable, "store is closing");
      queue_.push_back(&p);
    }
    cv_.notify_one();
    p.wait();
    return std::move(p.result);
  }

  void writer_loop() {
    std::vector<Pending*> batch;
    const std::size_t max_batch = std::max<std::size_t>(1, options_.max_batch);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        if (options_.max_wait.count() > 0 && queue_.size() < max_batch) {
          cv_.wait_for(lock, options_.max_wait, [&] { return stopping_ || queue_.size() >= max_batch; });
        }
        while (!queue_.empty() && batch.size() < max_batch) {
          batch.push_back(queue_.front());
          queue_.pop_front();
        }
      }
      run_batch(batch);
      batch.clear();
    }
  }

  // Runs units [begin, end) of `batch` in one transaction; returns the index
  // of the first unit not run if the transaction aborted under us.
  void run_batch(std::vector<Pending*>& batch) {
    std::size_t next = 0;
    while (next < batch.size()) next = run_transaction(batch, next);
  }

  std::size_t run_transaction(std::vector<Pending*>& batch, std::size_t begin) {
    Db& db = *writer_;
    Status s = db.exec("BEGIN IMMEDIATE");
    if (!s.ok()) {  // nothing ran: fail this unit, try the rest in a new transaction
      finish(batch[begin], s);
      return begin + 1;
    }
    std::vector<Pending*> committed;
    std::size_t i = begin;
    bool aborted = false;
    for (; i < batch.size(); ++i) {
      Pending* p = batch[i];
      Status sp = exec_cached(db, "SAVEPOINT unit");
      if (!sp.ok()) {
        finish(p, sp);
        continue;
      }
      SqliteUnit unit(db, p->read_only);
      Status r = run_guarded(p->work, unit);
      if (sqlite3_get_autocommit(db.raw())) {
        // SQLite rolled the whole transaction back (e.g. I/O error, out of
        // memory): every unit of it is lost, this one included.
        Status lost(Code::storage_error, "transaction aborted by the database: " + std::string(r.message()));
        finish(p, r.ok() ? lost : r);
        for (Pending* c : committed) finish(c, lost);
        committed.clear();
        aborted = true;
        ++i;
        break;
      }
      if (r.ok() && !p->read_only) {
        Status rel = exec_cached(db, "RELEASE unit");
        if (rel.ok()) {
          committed.push_back(p);
          continue;
        }
        r = rel;
      }
      (void)exec_cached(db, "ROLLBACK TO unit");
      (void)exec_cached(db, "RELEASE unit");
      if (p->read_only && r.ok()) {
        committed.push_back(p);  // reads have nothing to commit but wait like writes
      } else {
        finish(p, r);
      }
    }
    if (!aborted) {
      Status c = db.exec("COMMIT");
      if (!c.ok()) {
        (void)db.exec("ROLLBACK");
        Status lost(Code::storage_error, "commit failed: " + std::string(c.message()));
        for (Pending* p : committed) finish(p, lost);
        return i;
      }
      for (Pending* p : committed) finish(p, Status());
    }
    return i;
  }

  static Status exec_cached(Db& db, const char* sql) {
    auto q = db.query(sql);
    if (!q.ok()) return q.status();
    return q->run();
  }

  static void finish(Pending* p, Status s) { p->complete(std::move(s)); }

  SqliteOptions options_;
  bool in_memory_ = false;
  std::unique_ptr<Db> writer_;
  std::vector<std::unique_ptr<Db>> readers_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  std::mutex readers_mu_;
  std::condition_variable readers_cv_;
  std::vector<Db*> free_readers_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  BABYSEA_RETURN_IF_ERROR(store->open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace babysea
