// engine_bench: the full submit path and end-to-end generations.
//
// Prints one JSON object:
//   memory_submit_p50_us, memory_submit_p99_us  one submit (auth + rate limit +
//       idempotency + normalize + estimate + plan + reserve + persist) on the
//       in-memory store, one submitter; every 64 submits the engine's queued
//       provider work runs untimed (run_due), as workers would
//   memory_submit_p90_us, memory_submit_p999_us  the same run's tail
//   memory_submits_per_s_64                     same, 64 concurrent submitters
//   sqlite_submits_per_s, sqlite_submit_p50_us, sqlite_submit_p99_us
//       SQLite, Durability::full (group commit, WAL fdatasync before each
//       acknowledgement), 64 concurrent submitters
//   e2e_generations_per_s  accepted -> succeeded (submit, instant synchronous
//       provider, asset copy, settlement, outbox) on SQLite FULL, 4 workers
// Two floors put those figures against what this machine can do at all:
//   noise_p50_us, noise_p99_us  a fixed integer loop calibrated to take as
//       long as the memory submit's p50, timed the same way: its p99 is the
//       machine's own tail (interrupts, preemption) for an operation that
//       long, a floor under memory_submit_p99_us
//   sqlite_floor_units_per_s_b16, _b64  the storage writes of one submit unit
//       (the key's claim, then Ledger::reserve_new: the account read, the
//       hold, its entry, both balances; then the generation row) straight on
//       one SQLite connection by one thread: no engine, no other thread, no fsync, no checkpoint; 16
//       or 64 units per transaction, each in a savepoint as the store runs
//       them, spread over 64 accounts as in the SQLite phase. The store's
//       one writer thread runs these same writes a batch at a time (64
//       submitters make batches of at most 64), so sqlite_submits_per_s
//       cannot pass sqlite_floor_units_per_s_b64 on the same machine
// With --store postgres (a server from --pg CONNINFO or BABYSEA_TEST_PG;
// scripts/with_postgres.sh starts one), instead, with --instances N (1 or 3,
// default 1) engine *processes* (this binary re-executed with a hidden
// --worker; each with its own PostgreSQL store, pool of 8 and Engine, its own
// ClusterOptions::instance_id "bench-i<k>") on one fresh schema (dropped
// afterwards), started together (a pipe's EOF), synchronous_commit on,
// default batching unless --pg-batch:
//   pg_submits_per_s_<N>i (also as pg_submits_per_s), pg_submit_p50_us,
//       pg_submit_p99_us  the SQLite phase's submit run, 64 submitters per
//       instance for S seconds, every instance on the same 64 accounts (hot
//       rows): the sum of the instances' submits over the common wall time
//       (first start to last end, in-flight submits included)
//   pg_submits_per_s_3i_own_accounts, ..._p50/p99  (N = 3) the same, each
//       instance on its own 64 accounts (escrow stays shared)
//   e2e_generations_per_s_<N>i  the e2e phase (16 submitters per instance,
//       200/N submits each, on 16 shared accounts) carried to succeeded and
//       settled across the instances: succeeded / (first start to the last
//       instance seeing every generation terminal); e2e_failed_<N>i counts
//       the ones that did not succeed (then the run exits 1)
//   pg_deadlocks_submit, pg_deadlocks_e2e  the server's deadlocks (pg_stat_database)
//   pg_round_trips_per_s_1c, pg_commits_per_s_1c  calibration on one bare
//       connection, one thread: a prepared SELECT, then an autocommit
//       one-row INSERT (one WAL flush each)
// After each run the ledger audit over the schema must be clean and there
// must be one generation and one hold per counted submit (pending after the
// submit runs, resolved after e2e), else the bench exits 1.
// Usage: engine_bench [--seconds S] [--quick] [--dir D] [--phase P]
//                     [--submitters N] [--store sqlite|postgres] [--pg CONNINFO]
//                     [--instances 1|3] [--pg-batch B]
//   --phase runs one phase only (for profiling); the others print 0: memory,
//   sqlite, e2e or floor; with --store postgres: submit, own, e2e or floor.
//   --submitters sets the SQLite (PostgreSQL) phase's concurrency (default
//   64, per instance, the figure the keys report; other values are for
//   profiling). --pg-batch sets PostgresOptions::max_batch (default 64).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <climits>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/engine.hpp"
#include "babysea/ids.hpp"
#include "babysea/ledger.hpp"
#include "bench_postgres.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/sqlite_tables.hpp"
#include "support/scripted_provider.hpp"

using namespace babysea;
using Clk = std::chrono::steady_clock;

extern char** environ;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "engine_bench: %s\n", what.c_str());
  std::exit(1);
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// The scripted provider numbers its jobs per process ("replicate-job-1"):
// engines in several processes on one database would hand the store the same
// (provider, job id) pair for different attempts, which it refuses. A real
// provider's ids are global; this wrapper makes the fake's so by prefixing
// them with the instance.
class InstanceJobs final : public Provider {
 public:
  InstanceJobs(std::shared_ptr<Provider> inner, std::string prefix)
      : inner_(std::move(inner)), prefix_(std::move(prefix)) {}
  std::string_view id() const noexcept override { return inner_->id(); }
  DeliveryMode delivery() const noexcept override { return inner_->delivery(); }
  bool can_cancel() const noexcept override { return inner_->can_cancel(); }
  ProviderTiming timing() const override { return inner_->timing(); }
  SubmitResult submit(const SubmitRequest& request) override {
    SubmitResult r = inner_->submit(request);
    if (!r.job.job_id.empty()) r.job.job_id = prefix_ + r.job.job_id;
    return r;
  }
  PollResult poll(const ProviderJob& job) override { return inner_->poll(unprefixed(job)); }
  CancelResult cancel(const ProviderJob& job) override { return inner_->cancel(unprefixed(job)); }
  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers,
                                          std::string_view raw_body) override {
    return inner_->parse_callback(headers, raw_body);
  }

 private:
  ProviderJob unprefixed(ProviderJob job) const {
    if (job.job_id.starts_with(prefix_)) job.job_id.erase(0, prefix_.size());
    return job;
  }
  std::shared_ptr<Provider> inner_;
  std::string prefix_;
};

struct Setup {
  std::unique_ptr<Store> store;
  std::shared_ptr<testing::ScriptedProvider> provider;
  std::unique_ptr<MemoryAssetStore> assets;
  std::unique_ptr<Engine> engine;
  std::vector<std::string> keys;  // one API key per submitter (own account)
};

// Submitter i uses its own key on account "bench<first_account + i>"; with
// `seed` the accounts are created and granted credits first (otherwise they
// must exist: another process seeded them). `instance_id`: the engine's
// ClusterOptions::instance_id (empty: the engine's default).
Setup make(std::unique_ptr<Store> store, bool workers, int submitters, int first_account = 0, bool seed = true,
           const std::string& instance_id = {}) {
  Setup s;
  s.store = std::move(store);
  auto cat = Catalog::load_directory(std::filesystem::path(BABYSEA_SOURCE_DIR) / "data");
  if (!cat.ok()) die("catalog: " + cat.status().to_string());
  s.provider = std::make_shared<testing::ScriptedProvider>("replicate", DeliveryMode::synchronous);
  s.assets = make_memory_asset_store("https://assets.bench.test",
                                     [](std::string_view) -> Result<std::string> { return testing::tiny_png(); });
  EngineConfig c;
  c.store = s.store.get();
  c.catalog = *cat;
  if (instance_id.empty()) c.providers = {s.provider};
  else c.providers = {std::make_shared<InstanceJobs>(s.provider, instance_id + "-")};
  c.assets = s.assets.get();
  c.options.api_key_pepper = "bench-pepper-0123456789abcdef0123456789abcdef";
  c.options.start_workers = workers;
  c.options.threads = 4;
  c.options.rate_limits.per_key.limit = 0;
  c.options.rate_limits.per_account.limit = 0;
  c.options.cluster.instance_id = instance_id;
  auto e = Engine::create(std::move(c));
  if (!e.ok()) die("engine: " + e.status().to_string());
  s.engine = std::move(*e);
  for (int i = 0; i < submitters; ++i) {
    const std::string acct = "bench" + std::to_string(first_account + i);
    auto k = s.engine->api_keys().issue(IssueKeyRequest{acct, kFullAccess, "bench", 0});
    if (!k.ok()) die("key: " + k.status().to_string());
    if (seed) {
      if (!s.engine->ledger().create_account(acct).ok()) die("account");
      if (!s.engine->ledger().grant(acct, 900'000 * kMicrosPerCredit, "seed-" + acct).ok()) die("grant");
    }
    s.keys.push_back(k->key);
  }
  return s;
}

constexpr std::string_view kBody = "{\"generation_prompt\":\"a lighthouse at dawn, volumetric light\",\"generation_ratio\":\"16:9\"}";

// One full submit as the server does it.
bool submit_once(Engine& engine, const std::string& key, const std::string& idem) {
  auto p = engine.authenticate(key);
  if (!p.ok()) return false;
  if (!engine.acquire(*p).ok()) return false;
  auto r = engine.submit(*p, "bfl/flux-schnell", kBody, idem);
  if (!r.ok()) die("submit: " + r.status().to_string());
  return true;
}

struct Run {
  double per_s = 0;
  std::vector<double> us;
  std::int64_t t0_ns = 0, t1_ns = 0;  // steady clock (CLOCK_MONOTONIC: comparable across processes)
  std::int64_t failed = 0;            // e2e on a shared store: generations that ended failed or canceled
};

std::int64_t steady_ns(Clk::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Run submit_run(Setup& s, int submitters, double seconds, const std::string& tag) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(submitters));
  std::vector<std::thread> threads;
  const auto t0 = Clk::now();
  for (int i = 0; i < submitters; ++i) {
    threads.emplace_back([&, i] {
      auto& mine = lat[static_cast<std::size_t>(i)];
      for (std::int64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const auto a = Clk::now();
        submit_once(*s.engine, s.keys[static_cast<std::size_t>(i)], tag + "-" + std::to_string(i) + "-" + std::to_string(n));
        mine.push_back(std::chrono::duration<double, std::micro>(Clk::now() - a).count());
        // One submitter: every 64 submits the engine's queued provider work
        // runs here, untimed, as workers would between requests; otherwise
        // this worker-less engine's task queue grows without bound.
        if (submitters == 1 && n % 64 == 63) (void)s.engine->run_due();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const auto t1 = Clk::now();
  const double elapsed = std::chrono::duration<double>(t1 - t0).count();
  Run r;
  for (auto& v : lat) r.us.insert(r.us.end(), v.begin(), v.end());
  r.per_s = static_cast<double>(r.us.size()) / elapsed;
  r.t0_ns = steady_ns(t0);
  r.t1_ns = steady_ns(t1);
  return r;
}

std::unique_ptr<Store> sqlite_at(const std::filesystem::path& dir, const std::string& name) {
  SqliteOptions so;
  so.path = (dir / name).string();
  so.durability = Durability::full;
  auto s = open_sqlite_store(so);
  if (!s.ok()) die("sqlite: " + s.status().to_string());
  return std::move(*s);
}

// A fixed amount of integer work, `n` rounds; the result is kept so the
// compiler cannot drop it.
std::uint64_t spin(std::uint64_t n) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::uint64_t i = 0; i < n; ++i) x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL + i;
  return x;
}

std::atomic<std::uint64_t> spin_sink{0};

double time_spin(std::uint64_t n) {
  const auto a = Clk::now();
  spin_sink.fetch_add(spin(n), std::memory_order_relaxed);
  return std::chrono::duration<double, std::micro>(Clk::now() - a).count();
}

// The noise floor: rounds calibrated so the loop's median is `target_us`,
// then timed one by one for `seconds` on this thread.
std::vector<double> noise_run(double target_us, double seconds) {
  std::uint64_t n = 1000;
  for (int round = 0; round < 8; ++round) {
    std::vector<double> v;
    for (int i = 0; i < 301; ++i) v.push_back(time_spin(n));
    const double median = pct(v, 0.5);
    if (median <= 0) break;
    n = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(static_cast<double>(n) * target_us / median));
  }
  std::vector<double> out;
  const auto t0 = Clk::now();
  while (std::chrono::duration<double>(Clk::now() - t0).count() < seconds) out.push_back(time_spin(n));
  return out;
}

// The storage floor (see the top of this file): units/s.
double storage_floor(const std::filesystem::path& file, std::size_t batch, double seconds) {
  using namespace babysea::sqlite;
  std::filesystem::remove(file);
  auto db = Db::open(file.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db.ok()) die("floor: " + db.status().to_string());
  Db& d = **db;
  const SqliteOptions defaults;
  const std::string cache = "PRAGMA cache_size = -" + std::to_string(defaults.cache_kib);
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA temp_store = MEMORY",
                             "PRAGMA wal_autocheckpoint = 0", cache.c_str()})
    if (!d.exec(pragma).ok()) die(std::string("floor: ") + pragma);
  if (!migrate(d, 1).ok()) die("floor: migrate");
  constexpr int kAccounts = 64;
  auto exec = [&](const char* sql) {
    if (auto st = d.exec(sql); !st.ok()) die("floor: " + st.to_string());
  };
  auto check = [](const Status& st) {
    if (!st.ok()) die("floor: " + st.to_string());
  };
  // Prepared once, as the store's writer keeps them (`sql` is a literal).
  auto run = [&](const char* sql) {
    auto q = d.query(sql);
    if (!q.ok()) die("floor: " + q.status().to_string());
    check(q->run());
  };
  exec("BEGIN");
  {
    SqliteUnit u(d, false);
    for (int i = 0; i <= kAccounts; ++i) {
      AccountRow a;
      a.id = i < kAccounts ? "bench" + std::to_string(i) : std::string(kEscrowAccount);
      a.kind = i < kAccounts ? AccountKind::customer : AccountKind::system;
      a.posted_credits = i < kAccounts ? 900'000 * kMicrosPerCredit : 0;
      check(u.ledger().insert_account(a));
    }
  }
  exec("COMMIT");
  // The ledger's own store is never used: reserve_new writes through the
  // unit it is given, as in the engine's submit.
  auto unused = open_memory_store();
  Ledger ledger(*unused, SystemClock::instance());
  std::string doc(780, '\0');  // the size of an accepted generation's encoded document
  for (std::size_t i = 0; i < doc.size(); ++i) doc[i] = static_cast<char>(i * 131 + 7);
  const std::string fingerprint = "b2:" + std::string(64, 'f');
  std::int64_t n = 0;
  const auto t0 = Clk::now();
  while (std::chrono::duration<double>(Clk::now() - t0).count() < seconds) {
    run("BEGIN IMMEDIATE");
    for (std::size_t b = 0; b < batch; ++b, ++n) {
      run("SAVEPOINT unit");
      SqliteUnit u(d, false);
      const std::int64_t now = 1'800'000'000'000 + n;
      const std::string account = "bench" + std::to_string(n % kAccounts);
      IdempotencyRow claim, existing;
      claim.account = account;
      claim.key = "f-" + std::to_string(n % kAccounts) + "-" + std::to_string(n / kAccounts);
      claim.fingerprint = fingerprint;
      claim.generation_id = new_id(now);
      claim.created_ms = now;
      claim.expires_ms = now + 86'400'000;
      auto claimed = u.generations().claim_idempotency(claim, now, existing);
      if (!claimed.ok() || !*claimed) die("floor: claim");
      auto hold = ledger.reserve_new(u, account, 3000, "gen:" + claim.generation_id, now + 4'200'000,
                                     claim.generation_id);
      if (!hold.ok()) die("floor: " + hold.status().to_string());
      GenerationRow g;
      g.id = claim.generation_id;
      g.account = account;
      g.created_ms = now;
      g.wake_ms = now + 30'000;
      g.version = 1;
      g.doc = doc;
      check(u.generations().insert(g));
      run("RELEASE unit");
    }
    run("COMMIT");
  }
  const double elapsed = std::chrono::duration<double>(Clk::now() - t0).count();
  db->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
  return static_cast<double>(n) / elapsed;
}

constexpr int kE2eSubmitters = 16;

// End to end: kE2eSubmitters threads submit `per_thread` each on this engine
// (with workers), then wait until `total` generations in the store (every
// instance's, on a shared one) have succeeded; per_s = total / elapsed.
// On a shared store (several instances) failed generations are counted, not
// fatal: the parent reports them (Run::failed) and fails the run.
Run e2e_run(Setup& s, int per_thread, std::int64_t total, const std::string& tag) {
  const bool shared_store = s.store->name() == "postgres";
  std::int64_t failed = 0;
  // One engine: its own terminal events say when the run is done, so the
  // wait costs the measured engine nothing (a table scan every 2 ms took a
  // growing share of the 2 cores). Several instances: only the store knows.
  std::mutex done_mu;
  std::condition_variable done_cv;
  std::int64_t terminal = 0;
  if (!shared_store)
    s.engine->set_event_callback([&](const LifecycleEvent& ev) {
      if (!is_terminal(ev.status)) return;
      std::lock_guard lock(done_mu);
      if (++terminal >= total) done_cv.notify_all();
    });
  const auto t0 = Clk::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kE2eSubmitters; ++i)
    threads.emplace_back([&, i] {
      for (int n = 0; n < per_thread; ++n)
        submit_once(*s.engine, s.keys[static_cast<std::size_t>(i)],
                    tag + "-" + std::to_string(i) + "-" + std::to_string(n));
    });
  for (auto& t : threads) t.join();
  if (!shared_store) {
    std::unique_lock lock(done_mu);
    if (!done_cv.wait_for(lock, std::chrono::seconds(300), [&] { return terminal >= total; })) die("e2e did not finish");
  }
  const auto t_done = Clk::now();
  for (;;) {
    std::vector<std::int64_t> counts;
    if (!s.store->read([&](UnitOfWork& u) { return u.generations().count_by_status(counts); }).ok()) die("count");
    if (counts.size() > 4 && counts[2] + counts[3] + counts[4] >= total) {
      failed = counts[3] + counts[4];
      if (failed == 0 || shared_store) break;
    }
    if (!shared_store && counts.size() > 3 && counts[3] > 0) {
      std::string why;
      for (const auto& key : s.keys) {
        auto p = s.engine->authenticate(key);
        if (!p.ok()) continue;
        auto page = s.engine->list(*p, 100, 0);
        if (!page.ok()) continue;
        for (const auto& g : page->generations)
          if (g.status == GenerationStatus::failed) {
            why = g.id + ": " + g.error_code + " " + g.error;
            for (const auto& at : g.attempts)
              why += "; attempt " + at.provider + " " + at.state + " " + at.error_kind + " " + at.error_message;
          }
        if (!why.empty()) break;
      }
      die("a generation failed in the e2e run (" + why + ")");
    }
    if (std::chrono::duration<double>(Clk::now() - t0).count() > 300) die("e2e did not finish");
    // The count scans the table: every 2 ms from each of N instances it took
    // a share of the 2 cores from the work measured (20 ms: 1% of a run).
    std::this_thread::sleep_for(std::chrono::milliseconds(shared_store ? 20 : 2));
  }
  const auto t1 = shared_store ? Clk::now() : t_done;
  if (!shared_store) s.engine->set_event_callback({});
  Run r;
  r.per_s = static_cast<double>(total) / std::chrono::duration<double>(t1 - t0).count();
  r.t0_ns = steady_ns(t0);
  r.t1_ns = steady_ns(t1);
  r.us.assign(static_cast<std::size_t>(per_thread) * kE2eSubmitters, 0.0);  // one entry per own submit
  r.failed = failed;
  return r;
}

// ---------------------------------------------------------------- PostgreSQL, N instances
//
// The parent seeds a fresh schema, then starts N copies of this binary
// (--worker, hidden), each with its own PostgreSQL store (own pool) and
// Engine with its own instance id. Each worker sets up, writes "ready" on its
// stdout (a pipe to the parent) and blocks reading its stdin: one pipe shared
// by all workers whose write end only the parent holds, so closing it starts
// them all at once (EOF). Each then runs its share and writes
//   "result <count> <t0_ns> <t1_ns>" and "lat <us> <us> ..."
// The parent sums the counts over the common wall time (first start to last
// end, CLOCK_MONOTONIC), audits the ledger over the schema and checks the
// counts against the rows.

struct PgWorkerArgs {
  std::string kind;  // "submit" or "e2e"
  std::string conninfo, schema;
  int instance = 0;
  int submitters = 64;
  int first_account = 0;
  double seconds = 3;
  int per_thread = 0;       // e2e
  std::int64_t total = 0;   // e2e: every instance's generations
  int pool_size = 8;
  int max_batch = PostgresOptions{}.max_batch;
};

PostgresOptions pg_options(const std::string& conninfo, const std::string& schema, int pool_size,
                           int max_batch = PostgresOptions{}.max_batch) {
  PostgresOptions o;
  o.conninfo = conninfo;
  o.schema = schema;
  o.pool_size = pool_size;
  o.max_batch = max_batch;
  return o;
}

int pg_worker_main(const PgWorkerArgs& a) {
  auto store = open_postgres_store(pg_options(a.conninfo, a.schema, a.pool_size, a.max_batch));
  if (!store.ok()) die("worker: postgres: " + store.status().to_string());
  const bool e2e = a.kind == "e2e";
  Setup s = make(std::move(*store), e2e, a.submitters, a.first_account, false, "bench-i" + std::to_string(a.instance));
  std::fputs("ready\n", stdout);
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  const std::string tag = "i" + std::to_string(a.instance);
  Run r = e2e ? e2e_run(s, a.per_thread, a.total, tag) : submit_run(s, a.submitters, a.seconds, tag);
  std::printf("result %zu %lld %lld %lld\nlat", r.us.size(), static_cast<long long>(r.t0_ns),
              static_cast<long long>(r.t1_ns), static_cast<long long>(r.failed));
  if (!e2e)
    for (double v : r.us) std::printf(" %.0f", v);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  return 0;
}

struct PgMulti {
  double per_s = 0;
  std::vector<double> us;
  std::int64_t count = 0;
  double wall_s = 0;
  std::size_t audited_entries = 0;
  std::int64_t deadlocks = 0;  // the server's deadlock count over the run (pg_stat_database)
  std::int64_t failed = 0;     // e2e: generations that did not succeed
};

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) die("cannot find /proc/self/exe");
  return p.string();
}

// One multi-instance run in its own fresh schema, dropped afterwards.
// `shared`: every instance uses the same `submitters` accounts (hot rows);
// otherwise instance i uses its own.
PgMulti pg_instances_run(const std::string& conninfo, const std::string& kind, int instances, int submitters,
                         bool shared, double seconds, int per_thread, int pool_size, int max_batch) {
  const std::string schema = "engine_bench_" + std::to_string(::getpid()) + "_" + kind + (shared ? "_s" : "_o");
  const int accounts = shared ? submitters : submitters * instances;
  const std::int64_t total = static_cast<std::int64_t>(per_thread) * submitters * instances;
  {
    Setup seed = make(bench::open_postgres_bench_store(pg_options(conninfo, schema, pool_size)), false, accounts,
                      0, true, "bench-seed");
  }
  const std::string exe = self_exe();
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) die("pipe");
  struct Child {
    pid_t pid = -1;
    FILE* out = nullptr;
  };
  std::vector<Child> children;
  auto kill_all = [&] {
    for (auto& ch : children)
      if (ch.pid > 0) ::kill(ch.pid, SIGKILL);
  };
  for (int i = 0; i < instances; ++i) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) die("pipe");
    std::vector<std::string> args = {exe,
                                     "--worker",
                                     kind,
                                     "--pg",
                                     conninfo,
                                     "--schema",
                                     schema,
                                     "--instance",
                                     std::to_string(i),
                                     "--submitters",
                                     std::to_string(submitters),
                                     "--first-account",
                                     std::to_string(shared ? 0 : i * submitters),
                                     "--seconds",
                                     std::to_string(seconds),
                                     "--per-thread",
                                     std::to_string(per_thread),
                                     "--total",
                                     std::to_string(total),
                                     "--pool",
                                     std::to_string(pool_size),
                                     "--pg-batch",
                                     std::to_string(max_batch)};
    std::vector<char*> argv;
    for (auto& x : args) argv.push_back(x.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, go[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (rc != 0) {
      kill_all();
      die("posix_spawn: " + std::string(std::strerror(rc)));
    }
    children.push_back(Child{pid, ::fdopen(out[0], "r")});
  }
  ::close(go[0]);
  char* line = nullptr;
  std::size_t cap = 0;
  for (auto& ch : children) {
    if (::getline(&line, &cap, ch.out) < 0 || std::strncmp(line, "ready", 5) != 0) {
      kill_all();
      die("a worker failed before the start");
    }
  }
  const std::int64_t deadlocks0 = bench::postgres_deadlocks(conninfo);
  ::close(go[1]);  // the start: every worker reads EOF
  PgMulti m;
  std::int64_t first = INT64_MAX, last = INT64_MIN;
  for (auto& ch : children) {
    long long n = 0, t0 = 0, t1 = 0, failed = 0;
    if (::getline(&line, &cap, ch.out) < 0 ||
        std::sscanf(line, "result %lld %lld %lld %lld", &n, &t0, &t1, &failed) != 4) {
      kill_all();
      die("a worker failed during the run");
    }
    m.count += n;
    m.failed = std::max<std::int64_t>(m.failed, failed);  // every worker counts them all
    first = std::min<std::int64_t>(first, t0);
    last = std::max<std::int64_t>(last, t1);
    if (::getline(&line, &cap, ch.out) < 0 || std::strncmp(line, "lat", 3) != 0) {
      kill_all();
      die("a worker's latencies are missing");
    }
    for (char* p = line + 3; *p != '\0' && *p != '\n';) {
      char* end = nullptr;
      const double v = std::strtod(p, &end);
      if (end == p) break;
      m.us.push_back(v);
      p = end;
    }
    std::fclose(ch.out);
  }
  std::free(line);
  for (auto& ch : children) {
    int st = 0;
    if (::waitpid(ch.pid, &st, 0) != ch.pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("a worker exited badly");
    ch.pid = -1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the workers' backends report their statistics
  m.deadlocks = bench::postgres_deadlocks(conninfo) - deadlocks0;
  m.wall_s = static_cast<double>(last - first) / 1e9;
  m.per_s = static_cast<double>(m.count) / m.wall_s;

  // Correctness over the whole schema: the ledger audit is clean, one
  // generation and one hold per counted submit (all pending after a submit
  // run; all succeeded and settled after an e2e run).
  {
    auto st = open_postgres_store(pg_options(conninfo, schema, 2));
    if (!st.ok()) die("audit: postgres: " + st.status().to_string());
    Ledger ledger(**st, SystemClock::instance());
    if (!ledger.init().ok()) die("audit: ledger init");
    auto rep = ledger.audit();
    if (!rep.ok()) die("audit: " + rep.status().to_string());
    if (!rep->clean()) die("audit (" + kind + "): " + rep->to_string());
    std::vector<std::int64_t> counts;
    if (!(*st)->read([&](UnitOfWork& u) { return u.generations().count_by_status(counts); }).ok()) die("count");
    std::int64_t rows = 0;
    for (auto v : counts) rows += v;
    const bool e2e = kind == "e2e";
    const std::int64_t expect_pending = e2e ? 0 : m.count;
    if (rows != m.count || static_cast<std::int64_t>(rep->holds) != m.count ||
        static_cast<std::int64_t>(rep->pending_holds) != expect_pending ||
        (e2e && counts[2] + counts[3] + counts[4] != m.count) || (e2e && counts[3] + counts[4] != m.failed))
      die("counts (" + kind + "): " + std::to_string(m.count) + " submits, " + std::to_string(rows) + " generations, " +
          std::to_string(rep->holds) + " holds, " + std::to_string(rep->pending_holds) + " pending");
    m.audited_entries = rep->entries;
  }
  bench::drop_postgres_schema(conninfo, schema);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::filesystem::path dir;
  std::string phase;
  int submitters = 64;  // SQLite (or PostgreSQL) phase
  std::string store_kind = "sqlite";
  std::string conninfo = bench::postgres_conninfo_from_env();
  int instances = 1;
  PgWorkerArgs worker;  // --worker KIND (hidden): one instance of a --instances run
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) seconds = 0.3;
    else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
    else if (std::strcmp(argv[i], "--phase") == 0 && i + 1 < argc) phase = argv[++i];
    else if (std::strcmp(argv[i], "--submitters") == 0 && i + 1 < argc) submitters = std::max(1, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--store") == 0 && i + 1 < argc) store_kind = argv[++i];
    else if (std::strcmp(argv[i], "--pg") == 0 && i + 1 < argc) conninfo = argv[++i];
    else if (std::strcmp(argv[i], "--instances") == 0 && i + 1 < argc) instances = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--worker") == 0 && i + 1 < argc) worker.kind = argv[++i];
    else if (std::strcmp(argv[i], "--schema") == 0 && i + 1 < argc) worker.schema = argv[++i];
    else if (std::strcmp(argv[i], "--instance") == 0 && i + 1 < argc) worker.instance = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--first-account") == 0 && i + 1 < argc) worker.first_account = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--per-thread") == 0 && i + 1 < argc) worker.per_thread = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--total") == 0 && i + 1 < argc) worker.total = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--pool") == 0 && i + 1 < argc) worker.pool_size = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--pg-batch") == 0 && i + 1 < argc) worker.max_batch = std::max(1, std::atoi(argv[++i]));
    else die(std::string("unknown argument ") + argv[i]);
  }
  if (!worker.kind.empty()) {
    if (worker.kind != "submit" && worker.kind != "e2e") die("--worker must be submit or e2e");
    worker.conninfo = conninfo;
    worker.submitters = submitters;
    worker.seconds = seconds;
    return pg_worker_main(worker);
  }
  if (store_kind == "postgres") {
    if (conninfo.empty()) die("--store postgres needs --pg CONNINFO or BABYSEA_TEST_PG (scripts/with_postgres.sh)");
    if (instances != 1 && instances != 3) die("--instances must be 1 or 3");
    if (!phase.empty() && phase != "submit" && phase != "own" && phase != "e2e" && phase != "floor")
      die("with --store postgres, --phase is submit, own, e2e or floor");
    auto wanted = [&](const char* p) { return phase.empty() || phase == p; };
    constexpr int kPool = 8;
    const std::string n = std::to_string(instances) + "i";
    // The round-trip floors on one connection.
    double rt = 0, commits = 0;
    if (wanted("floor")) {
      const std::string schema = "engine_bench_" + std::to_string(::getpid()) + "_rt";
      const double t = std::min(seconds, 1.0);
      rt = bench::postgres_round_trips_per_s(conninfo, schema, false, t);
      commits = bench::postgres_round_trips_per_s(conninfo, schema, true, t);
      bench::drop_postgres_schema(conninfo, schema);
    }
    PgMulti shared, own, e2e;
    if (wanted("submit")) shared = pg_instances_run(conninfo, "submit", instances, submitters, true, seconds, 0, kPool, worker.max_batch);
    if (instances > 1 && wanted("own"))
      own = pg_instances_run(conninfo, "submit", instances, submitters, false, seconds, 0, kPool, worker.max_batch);
    if (wanted("e2e")) {
      const int per_thread = std::max(1, (seconds < 1 ? 20 : 200) / instances);
      e2e = pg_instances_run(conninfo, "e2e", instances, kE2eSubmitters, true, seconds, per_thread, kPool,
                             worker.max_batch);
    }
    std::printf("{\"pg_submits_per_s\":%.0f,\"pg_submits_per_s_%s\":%.0f,\"pg_submit_p50_us\":%.0f,"
                "\"pg_submit_p99_us\":%.0f,\"pg_submits_%s\":%lld,\"pg_submit_wall_s\":%.2f,",
                shared.per_s, n.c_str(), shared.per_s, pct(shared.us, 0.5), pct(shared.us, 0.99), n.c_str(),
                static_cast<long long>(shared.count), shared.wall_s);
    if (instances > 1)
      std::printf("\"pg_submits_per_s_%s_own_accounts\":%.0f,\"pg_submit_p50_us_own_accounts\":%.0f,"
                  "\"pg_submit_p99_us_own_accounts\":%.0f,",
                  n.c_str(), own.per_s, pct(own.us, 0.5), pct(own.us, 0.99));
    // Generations that did not succeed are not carried end to end: they do
    // not count (and the run fails below, after printing).
    const double e2e_per_s = e2e.count > 0 ? e2e.per_s * static_cast<double>(e2e.count - e2e.failed) /
                                                 static_cast<double>(e2e.count)
                                           : 0.0;
    std::printf("\"e2e_generations_per_s_%s\":%.0f,\"e2e_generations_%s\":%lld,\"e2e_failed_%s\":%lld,"
                "\"e2e_wall_s\":%.2f,\"pg_deadlocks_submit\":%lld,\"pg_deadlocks_e2e\":%lld,"
                "\"pg_round_trips_per_s_1c\":%.0f,\"pg_commits_per_s_1c\":%.0f,\"audit\":\"clean\",\"instances\":%d,"
                "\"submitters_per_instance\":%d,\"pg_pool_size\":%d,\"pg_max_batch\":%d,\"seconds\":%.1f,"
                "\"cores\":%u}\n",
                n.c_str(), e2e_per_s, n.c_str(), static_cast<long long>(e2e.count), n.c_str(),
                static_cast<long long>(e2e.failed), e2e.wall_s,
                static_cast<long long>(shared.deadlocks + own.deadlocks), static_cast<long long>(e2e.deadlocks), rt,
                commits, instances, submitters, kPool, worker.max_batch, seconds, std::thread::hardware_concurrency());
    if (e2e.failed > 0) {
      std::fprintf(stderr, "engine_bench: %lld of %lld generations failed in the e2e run\n",
                   static_cast<long long>(e2e.failed), static_cast<long long>(e2e.count));
      return 1;
    }
    return 0;
  }
  if (store_kind != "sqlite") die("--store must be sqlite or postgres");
  const bool own_dir = dir.empty();
  if (own_dir) {
    dir = std::filesystem::temp_directory_path() / ("engine_bench_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
  }

  if (!phase.empty() && phase != "memory" && phase != "sqlite" && phase != "e2e" && phase != "floor")
    die("unknown phase " + phase);
  auto wanted = [&](const char* p) { return phase.empty() || phase == p; };
  Run mem1, mem64, sql;
  // (a) memory, one submitter (latency), then 64 (throughput).
  if (wanted("memory")) {
    Setup s = make(open_memory_store(), false, 64);
    for (int i = 0; i < 200; ++i) submit_once(*s.engine, s.keys[0], "warm-" + std::to_string(i));
    mem1 = submit_run(s, 1, seconds, "m1");
    mem64 = submit_run(s, 64, seconds, "m64");
  }
  // (b) SQLite FULL, group commit, 64 submitters.
  if (wanted("sqlite")) {
    Setup s = make(sqlite_at(dir, "submit.db"), false, submitters);
    sql = submit_run(s, submitters, seconds, "s64");
  }
  // (c) end to end on SQLite FULL with workers and an instant provider.
  double e2e = 0;
  if (wanted("e2e")) {
    Setup s = make(sqlite_at(dir, "e2e.db"), true, kE2eSubmitters);
    const int per_thread = seconds < 1 ? 20 : 200;
    e2e = e2e_run(s, per_thread, per_thread * kE2eSubmitters, "e").per_s;
  }
  // (d) the floors.
  std::vector<double> noise;
  double floor16 = 0, floor64 = 0;
  if (wanted("floor") || wanted("memory")) noise = noise_run(mem1.us.empty() ? 15.0 : pct(mem1.us, 0.5), seconds);
  if (wanted("floor")) {
    floor16 = storage_floor(dir / "floor.db", 16, seconds);
    floor64 = storage_floor(dir / "floor.db", 64, seconds);
  }
  if (own_dir) std::filesystem::remove_all(dir);

  std::printf(
      "{\"memory_submit_p50_us\":%.1f,\"memory_submit_p90_us\":%.1f,\"memory_submit_p99_us\":%.1f,"
      "\"memory_submit_p999_us\":%.1f,\"memory_submits_per_s_64\":%.0f,"
      "\"sqlite_submits_per_s\":%.0f,\"sqlite_submit_p50_us\":%.0f,\"sqlite_submit_p99_us\":%.0f,"
      "\"e2e_generations_per_s\":%.0f,\"noise_p50_us\":%.1f,\"noise_p99_us\":%.1f,"
      "\"sqlite_floor_units_per_s_b16\":%.0f,\"sqlite_floor_units_per_s_b64\":%.0f,\"seconds\":%.1f,\"cores\":%u}\n",
      pct(mem1.us, 0.5), pct(mem1.us, 0.9), pct(mem1.us, 0.99), pct(mem1.us, 0.999), mem64.per_s, sql.per_s,
      pct(sql.us, 0.5), pct(sql.us, 0.99), e2e, pct(noise, 0.5), pct(noise, 0.99), floor16, floor64, seconds,
      std::thread::hardware_concurrency());
  return 0;
}
