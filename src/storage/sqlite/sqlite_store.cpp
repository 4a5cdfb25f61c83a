// The SQLite Store: one writer thread with group commit, a sync thread, a
// pool of readers.
//
// Writers enqueue their unit and block. The writer thread takes every unit
// queued (up to max_batch), opens one transaction, runs each unit inside its
// own savepoint (released on success, rolled back on error) and commits once.
//
// Durability::full is a pipeline: SQLite itself runs with synchronous=NORMAL
// (a commit writes its WAL frames without fsync; checkpoints still sync the
// WAL before and the database after), and the sync thread fdatasyncs the WAL
// file after each commit, covering every batch committed so far, and only
// then wakes their callers. The writer runs the next batch while the previous
// one syncs. A caller therefore returns only once its unit is on disk, as
// with synchronous=FULL; the difference is that other connections may read a
// unit a few hundred microseconds before it is durable (never a caller's own
// acknowledgement). A failed fdatasync leaves the durable state unknown: the
// callers waiting on it get storage_error and the store refuses every later
// unit (reopen it to recover from what is on disk).
//
// Checkpoints run off the writer too: a checkpointer thread with its own
// connection backfills the database (PASSIVE) once the WAL holds
// kCheckpointPages frames. The writer only checkpoints itself, between
// batches, when the WAL reaches kWalCapPages: by then most frames are
// backfilled, and its own checkpoint lets the next transaction restart the
// WAL from the beginning, which bounds the file.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/storage.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_tables.hpp"
#include "storage/run_guarded.hpp"

namespace babysea {
namespace {

using sqlite::Db;
using sqlite::SqliteUnit;

using storage_detail::run_guarded;

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
  // Notifies under the lock: the waiter owns this object (on its stack) and
  // may destroy it as soon as it sees `done`, so nothing here may touch it
  // after the unlock.
  void complete(Status s) {
    result = std::move(s);
    std::lock_guard<std::mutex> lock(mu);
    done = true;
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
    {
      std::lock_guard<std::mutex> lock(sync_mu_);
      sync_stopping_ = true;
    }
    sync_cv_.notify_all();
    if (sync_thread_.joinable()) sync_thread_.join();
    {
      std::lock_guard<std::mutex> lock(ckpt_mu_);
      ckpt_stopping_ = true;
    }
    ckpt_cv_.notify_all();
    if (ckpt_thread_.joinable()) ckpt_thread_.join();
    if (wal_fd_ >= 0) ::close(wal_fd_);
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
      BABYSEA_ASSIGN_OR_RETURN(checkpointer_, Db::open(path, SQLITE_OPEN_READWRITE));
      BABYSEA_RETURN_IF_ERROR(configure(*checkpointer_, /*writer=*/false));
      sqlite3_wal_hook(writer_->raw(), &SqliteStore::on_wal_commit, this);  // replaces autocheckpoint
      ckpt_thread_ = std::thread([this] { checkpoint_loop(); });
    }
    if (!in_memory_ && options_.durability == Durability::full) {
      BABYSEA_RETURN_IF_ERROR(open_wal_for_sync());
      sync_thread_ = std::thread([this] { sync_loop(); });
    }
    writer_thread_ = std::thread([this] { writer_loop(); });
    return {};
  }

  std::string_view name() const override { return "sqlite"; }

  Status transact(Work work) override { return submit(work, false); }

  Status read(Work work) override {
    if (in_memory_) return submit(work, true);  // one connection: go through the writer
    Db* db = acquire_reader();
    Status s = exec_cached(*db, "BEGIN");
    if (s.ok()) {
      SqliteUnit unit(*db, true);
      s = run_guarded(work, unit);
      Status end = exec_cached(*db, s.ok() ? "COMMIT" : "ROLLBACK");
      if (s.ok()) s = end;
    }
    release_reader(db);
    return s;
  }

 private:
  Status configure(Db& db, bool writer) {
    BABYSEA_RETURN_IF_ERROR(db.exec("PRAGMA foreign_keys = OFF"));
    sqlite3_busy_timeout(db.raw(), static_cast<int>(options_.busy_timeout.count()));
    std::string cache =
        "PRAGMA cache_size = -" + std::to_string(writer ? options_.cache_kib : options_.reader_cache_kib);
    BABYSEA_RETURN_IF_ERROR(db.exec(cache.c_str()));
    if (!writer) return {};
    if (!in_memory_) {
      BABYSEA_ASSIGN_OR_RETURN(sqlite::Query q, db.query("PRAGMA journal_mode = WAL"));
      BABYSEA_ASSIGN_OR_RETURN(bool row, q.step());
      if (!row || q.text_view(0) != "wal")
        return Status(Code::storage_error, "could not enable WAL journal mode on " + options_.path);
    }
    // Durability::full syncs the WAL on the sync thread (see the top of this
    // file); an in-memory database has nothing to sync.
    BABYSEA_RETURN_IF_ERROR(db.exec("PRAGMA synchronous = NORMAL"));
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
      if (!failed_.ok()) return failed_;
      queue_.push_back(&p);
    }
    cv_.notify_one();
    p.wait();
    return std::move(p.result);
  }

  static constexpr int kCheckpointPages = 1000;
  static constexpr int kWalCapPages = 8 * kCheckpointPages;

  // Called by SQLite on the writer thread after each commit.
  static int on_wal_commit(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    if (pages < store->wal_pages_) store->next_checkpoint_ = kCheckpointPages;  // the WAL restarted
    store->wal_pages_ = pages;
    if (pages >= store->next_checkpoint_) {
      store->next_checkpoint_ = pages + kCheckpointPages;
      {
        std::lock_guard<std::mutex> lock(store->ckpt_mu_);
        store->ckpt_wanted_ = true;
      }
      store->ckpt_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void checkpoint_loop() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(ckpt_mu_);
        ckpt_cv_.wait(lock, [&] { return ckpt_stopping_ || ckpt_wanted_; });
        if (ckpt_stopping_) return;
        ckpt_wanted_ = false;
      }
      // BUSY (another checkpoint is running) and I/O errors leave the WAL
      // longer; the writer's own checkpoint at the cap retries.
      (void)sqlite3_wal_checkpoint_v2(checkpointer_->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
  }

  // Between batches: the writer's own checkpoint once the WAL is at its cap.
  void checkpoint_if_capped() {
    if (checkpointer_ == nullptr || wal_pages_ < kWalCapPages) return;
    (void)sqlite3_wal_checkpoint_v2(writer_->raw(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    wal_pages_ = 0;
    next_checkpoint_ = kCheckpointPages;
  }

  void writer_loop() {
    std::vector<Pending*> batch;
    Status failed;
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
        failed = failed_;
      }
      if (failed.ok()) {
        checkpoint_if_capped();
        run_batch(batch);
      } else {
        for (Pending* p : batch) finish(p, failed);
      }
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
    Status s = exec_cached(db, "BEGIN IMMEDIATE");
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
      Status c = exec_cached(db, "COMMIT");
      if (!c.ok()) {
        (void)exec_cached(db, "ROLLBACK");
        Status lost(Code::storage_error, "commit failed: " + std::string(c.message()));
        for (Pending* p : committed) finish(p, lost);
        return i;
      }
      acknowledge(committed);
    }
    return i;
  }

  // Committed units are acknowledged once durable: at once without a sync
  // thread, else after the sync thread's next fdatasync.
  void acknowledge(std::vector<Pending*>& committed) {
    if (committed.empty()) return;
    if (!sync_thread_.joinable()) {
      for (Pending* p : committed) finish(p, Status());
      return;
    }
    {
      std::lock_guard<std::mutex> lock(sync_mu_);
      to_sync_.insert(to_sync_.end(), committed.begin(), committed.end());
    }
    sync_cv_.notify_one();
  }

  // The WAL file SQLite writes for the main database, opened for fdatasync.
  // It exists once the writer has run (the migrations read and write). The
  // directory is synced once so the WAL's entry is durable too.
  Status open_wal_for_sync() {
    const char* wal = sqlite3_filename_wal(sqlite3_db_filename(writer_->raw(), "main"));
    if (wal == nullptr || *wal == '\0') return Status(Code::storage_error, "SQLite reports no WAL file name");
    wal_fd_ = ::open(wal, O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return Status(Code::storage_error, std::string("open WAL for sync: ") + std::strerror(errno));
    const std::filesystem::path dir = std::filesystem::absolute(std::filesystem::path(wal)).parent_path();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Status(Code::storage_error, std::string("open database directory: ") + std::strerror(errno));
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0) return Status(Code::storage_error, std::string("sync database directory: ") + std::strerror(err));
    if (sqlite::wal_sync_function.load()(wal_fd_) != 0)
      return Status(Code::storage_error, std::string("sync WAL: ") + std::strerror(errno));
    return {};
  }

  // Takes every committed unit waiting, makes them durable with one
  // fdatasync of the WAL, then wakes their callers.
  void sync_loop() {
    std::vector<Pending*> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(sync_mu_);
        sync_cv_.wait(lock, [&] { return sync_stopping_ || !to_sync_.empty(); });
        if (to_sync_.empty()) return;  // stopping, nothing left
        batch.swap(to_sync_);
      }
      if (sqlite::wal_sync_function.load()(wal_fd_) == 0) {
        for (Pending* p : batch) finish(p, Status());
      } else {
        Status lost(Code::storage_error, std::string("WAL sync failed, durable state unknown (reopen the store): ") +
                                             std::strerror(errno));
        {
          std::lock_guard<std::mutex> lock(mu_);
          failed_ = lost;
        }
        for (Pending* p : batch) finish(p, lost);
      }
      batch.clear();
    }
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

  Status failed_;  // set once a WAL sync failed; under mu_

  std::unique_ptr<Db> checkpointer_;  // file databases only
  int wal_pages_ = 0;                 // WAL frames after the last commit; writer thread only
  int next_checkpoint_ = kCheckpointPages;  // WAL frames that wake the checkpointer; writer only
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  bool ckpt_stopping_ = false;
  std::thread ckpt_thread_;

  int wal_fd_ = -1;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<Pending*> to_sync_;
  bool sync_stopping_ = false;
  std::thread sync_thread_;

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
