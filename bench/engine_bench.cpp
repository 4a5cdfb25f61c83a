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
// scripts/with_postgres.sh starts one), instead: the SQLite phase's submit
// run on a PostgreSQL store in a fresh schema (dropped afterwards), 64
// concurrent submitters, synchronous_commit on, default batching:
//   pg_submits_per_s, pg_submit_p50_us, pg_submit_p99_us
// Usage: engine_bench [--seconds S] [--quick] [--dir D] [--phase memory|sqlite|e2e|floor]
//                     [--submitters N] [--store sqlite|postgres] [--pg CONNINFO]
//   --phase runs one phase only (for profiling); the others print 0.
//   --submitters sets the SQLite phase's concurrency (default 64, the figure
//   the keys report; other values are for profiling).
#include <algorithm>
#include <atomic>
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

struct Setup {
  std::unique_ptr<Store> store;
  std::shared_ptr<testing::ScriptedProvider> provider;
  std::unique_ptr<MemoryAssetStore> assets;
  std::unique_ptr<Engine> engine;
  std::vector<std::string> keys;  // one API key per submitter (own account)
};

Setup make(std::unique_ptr<Store> store, bool workers, int submitters) {
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
  c.providers = {s.provider};
  c.assets = s.assets.get();
  c.options.api_key_pepper = "bench-pepper-0123456789abcdef0123456789abcdef";
  c.options.start_workers = workers;
  c.options.threads = 4;
  c.options.rate_limits.per_key.limit = 0;
  c.options.rate_limits.per_account.limit = 0;
  auto e = Engine::create(std::move(c));
  if (!e.ok()) die("engine: " + e.status().to_string());
  s.engine = std::move(*e);
  for (int i = 0; i < submitters; ++i) {
    const std::string acct = "bench" + std::to_string(i);
    auto k = s.engine->api_keys().issue(IssueKeyRequest{acct, kFullAccess, "bench", 0});
    if (!k.ok()) die("key: " + k.status().to_string());
    if (!s.engine->ledger().create_account(acct).ok()) die("account");
    if (!s.engine->ledger().grant(acct, 900'000 * kMicrosPerCredit, "seed-" + acct).ok()) die("grant");
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
};

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
  const double elapsed = std::chrono::duration<double>(Clk::now() - t0).count();
  Run r;
  for (auto& v : lat) r.us.insert(r.us.end(), v.begin(), v.end());
  r.per_s = static_cast<double>(r.us.size()) / elapsed;
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

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::filesystem::path dir;
  std::string phase;
  int submitters = 64;  // SQLite (or PostgreSQL) phase
  std::string store_kind = "sqlite";
  std::string conninfo = bench::postgres_conninfo_from_env();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) seconds = 0.3;
    else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
    else if (std::strcmp(argv[i], "--phase") == 0 && i + 1 < argc) phase = argv[++i];
    else if (std::strcmp(argv[i], "--submitters") == 0 && i + 1 < argc) submitters = std::max(1, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--store") == 0 && i + 1 < argc) store_kind = argv[++i];
    else if (std::strcmp(argv[i], "--pg") == 0 && i + 1 < argc) conninfo = argv[++i];
    else die(std::string("unknown argument ") + argv[i]);
  }
  if (store_kind == "postgres") {
    if (conninfo.empty()) die("--store postgres needs --pg CONNINFO or BABYSEA_TEST_PG (scripts/with_postgres.sh)");
    PostgresOptions o;
    o.conninfo = conninfo;
    o.schema = "engine_bench_" + std::to_string(::getpid());
    o.pool_size = 8;
    Run pg;
    {
      Setup s = make(bench::open_postgres_bench_store(o), false, submitters);
      pg = submit_run(s, submitters, seconds, "p64");
    }
    bench::drop_postgres_schema(conninfo, o.schema);
    std::printf("{\"pg_submits_per_s\":%.0f,\"pg_submit_p50_us\":%.0f,\"pg_submit_p99_us\":%.0f,\"submitters\":%d,"
                "\"pg_pool_size\":%d,\"pg_max_batch\":%d,\"seconds\":%.1f,\"cores\":%u}\n",
                pg.per_s, pct(pg.us, 0.5), pct(pg.us, 0.99), submitters, o.pool_size, o.max_batch, seconds,
                std::thread::hardware_concurrency());
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
    Setup s = make(sqlite_at(dir, "e2e.db"), true, 16);
    const int per_thread = seconds < 1 ? 20 : 200;
    const int total = per_thread * 16;
    const auto t0 = Clk::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i)
      threads.emplace_back([&, i] {
        for (int n = 0; n < per_thread; ++n)
          submit_once(*s.engine, s.keys[static_cast<std::size_t>(i)], "e-" + std::to_string(i) + "-" + std::to_string(n));
      });
    for (auto& t : threads) t.join();
    for (;;) {
      std::vector<std::int64_t> counts;
      if (!s.store->read([&](UnitOfWork& u) { return u.generations().count_by_status(counts); }).ok()) die("count");
      if (counts.size() > 2 && counts[2] >= total) break;
      if (counts.size() > 3 && counts[3] > 0) die("a generation failed in the e2e run");
      if (std::chrono::duration<double>(Clk::now() - t0).count() > 300) die("e2e did not finish");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    e2e = total / std::chrono::duration<double>(Clk::now() - t0).count();
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
