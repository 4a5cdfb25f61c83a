// ledger_bench: reserve+settle pairs per second on each storage setup.
//
// Prints one JSON object:
//   memory_pairs_per_s               in-memory store, one caller
//   sqlite_full_single_pairs_per_s   SQLite, synchronous=FULL, one unit per commit
//   sqlite_full_group_pairs_per_s    SQLite FULL, group commit, 64 concurrent callers
//   sqlite_normal_group_pairs_per_s  SQLite NORMAL, group commit, 64 callers
//   commit_p50_us, commit_p99_us     latency of one unit under (c)
//   fsync_p50_us                     write(4 KiB)+fdatasync latency of the disk
// With --store postgres (a server from --pg CONNINFO or BABYSEA_TEST_PG;
// scripts/with_postgres.sh starts one), instead, each in a fresh schema that
// is dropped afterwards, 64 callers, synchronous_commit on:
//   pg_pairs_per_s_hot               every caller on one account, batched
//   pg_pairs_per_s_spread            a caller per account (64), batched
//   pg_pairs_per_s_hot_unbatched     the same, a transaction per unit
//   pg_pairs_per_s_spread_unbatched
//   pg_commit_p50_us, pg_commit_p99_us  latency of one unit, hot, batched
// Usage: ledger_bench [--seconds S] [--quick] [--dir D] [--store sqlite|postgres]
//                     [--pg CONNINFO] [--pool N] [--lanes N] [--batch N]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "babysea/ids.hpp"
#include "bench_postgres.hpp"
#include "babysea/ledger.hpp"

using namespace babysea;
using Clk = std::chrono::steady_clock;

namespace {

struct RunResult {
  double pairs_per_s = 0;
  std::vector<double> commit_us;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ledger_bench: %s\n", what.c_str());
  std::exit(1);
}

// `callers` threads doing reserve+settle pairs; caller c uses account
// "bench<c % accounts>".
RunResult run(Store& store, int callers, double seconds, bool record_latency, int accounts = 0) {
  if (accounts <= 0) accounts = callers;
  ManualClock clock;
  Ledger ledger(store, clock);
  if (!ledger.init().ok()) die("init");
  const Micros per_account = 900'000 * kMicrosPerCredit;
  for (int c = 0; c < accounts; ++c) {
    std::string acct = "bench" + std::to_string(c);
    if (!ledger.create_account(acct).ok()) die("create_account");
    if (auto g = ledger.grant(acct, per_account, "seed-" + acct); !g.ok()) die("grant: " + g.status().to_string());
  }
  std::atomic<bool> stop{false};
  std::atomic<long> pairs{0};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(callers));
  std::string run_id = new_id(SystemClock::instance().now_ms());
  auto worker = [&](int c) {
    std::string acct = "bench" + std::to_string(c % accounts);
    std::string prefix = run_id + "-" + std::to_string(c) + "-";
    auto& l = lat[static_cast<std::size_t>(c)];
    for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      auto t0 = Clk::now();
      auto h = ledger.reserve(acct, 1000, prefix + std::to_string(i), 4'000'000'000'000);
      auto t1 = Clk::now();
      if (!h.ok()) die("reserve: " + h.status().to_string());
      auto s = ledger.settle(h->hold.id, 600);
      auto t2 = Clk::now();
      if (!s.ok()) die("settle: " + s.status().to_string());
      if (record_latency) {
        l.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        l.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
      }
      pairs.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  auto start = Clk::now();
  for (int c = 0; c < callers; ++c) threads.emplace_back(worker, c);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clk::now() - start).count();
  RunResult r;
  r.pairs_per_s = static_cast<double>(pairs.load()) / elapsed;
  for (auto& l : lat) r.commit_us.insert(r.commit_us.end(), l.begin(), l.end());
  auto audit = ledger.audit();
  if (!audit.ok() || !audit->clean()) die("audit after run is not clean");
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[idx];
}

double fsync_p50_us(const std::filesystem::path& dir, int rounds) {
  std::string path = (dir / "fsync_probe").string();
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) die("cannot open fsync probe");
  char buf[4096];
  std::memset(buf, 'x', sizeof buf);
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = Clk::now();
    if (::pwrite(fd, buf, sizeof buf, static_cast<off_t>(i % 16) * 4096) != sizeof buf) die("pwrite");
    if (::fdatasync(fd) != 0) die("fdatasync");
    us.push_back(std::chrono::duration<double, std::micro>(Clk::now() - t0).count());
  }
  ::close(fd);
  std::filesystem::remove(path);
  return percentile(us, 0.5);
}

std::unique_ptr<Store> sqlite_store(const std::filesystem::path& dir, const char* name, Durability d,
                                    std::size_t max_batch) {
  std::filesystem::remove(dir / name);
  std::filesystem::remove(dir / (std::string(name) + "-wal"));
  std::filesystem::remove(dir / (std::string(name) + "-shm"));
  SqliteOptions o;
  o.path = (dir / name).string();
  o.durability = d;
  o.max_batch = max_batch;
  auto s = open_sqlite_store(o);
  if (!s.ok()) die(s.status().to_string());
  return std::move(s).value();
}

int run_postgres(const std::string& conninfo, double seconds, int pool, int lanes, int batch) {
  const int callers = 64;
  const std::string base = "ledger_bench_" + std::to_string(::getpid());
  auto phase = [&](const char* name, int accounts, int phase_batch, bool latency) {
    PostgresOptions o;
    o.conninfo = conninfo;
    o.schema = base + "_" + name;
    o.pool_size = pool;
    o.write_lanes = phase_batch > 1 ? lanes : 1;
    o.max_batch = phase_batch;
    auto store = bench::open_postgres_bench_store(o);
    RunResult r = run(*store, callers, seconds, latency, accounts);
    store.reset();
    bench::drop_postgres_schema(conninfo, o.schema);
    return r;
  };
  RunResult hot = phase("hot", 1, batch, true);
  RunResult spread = phase("spread", callers, batch, false);
  RunResult hot1 = phase("hot1", 1, 1, false);
  RunResult spread1 = phase("spread1", callers, 1, false);
  std::printf(
      "{\"pg_pairs_per_s_hot\":%.0f,\"pg_pairs_per_s_spread\":%.0f,\"pg_pairs_per_s_hot_unbatched\":%.0f,"
      "\"pg_pairs_per_s_spread_unbatched\":%.0f,\"pg_commit_p50_us\":%.1f,\"pg_commit_p99_us\":%.1f,"
      "\"pg_pool_size\":%d,\"pg_write_lanes\":%d,\"pg_max_batch\":%d,\"callers\":%d}\n",
      hot.pairs_per_s, spread.pairs_per_s, hot1.pairs_per_s, spread1.pairs_per_s, percentile(hot.commit_us, 0.5),
      percentile(hot.commit_us, 0.99), pool, lanes, batch, callers);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("babysea-ledger-bench-" + std::to_string(::getpid()));
  std::string store_kind = "sqlite";
  std::string conninfo = bench::postgres_conninfo_from_env();
  PostgresOptions defaults;
  int pool = 8, lanes = defaults.write_lanes, batch = defaults.max_batch;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") seconds = 0.2;
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--store" && i + 1 < argc) store_kind = argv[++i];
    else if (a == "--pg" && i + 1 < argc) conninfo = argv[++i];
    else if (a == "--pool" && i + 1 < argc) pool = std::atoi(argv[++i]);
    else if (a == "--lanes" && i + 1 < argc) lanes = std::atoi(argv[++i]);
    else if (a == "--batch" && i + 1 < argc) batch = std::atoi(argv[++i]);
    else
      die("usage: ledger_bench [--seconds S] [--quick] [--dir D] [--store sqlite|postgres] [--pg CONNINFO] "
          "[--pool N] [--lanes N] [--batch N]");
  }
  if (store_kind == "postgres") {
    if (conninfo.empty()) die("--store postgres needs --pg CONNINFO or BABYSEA_TEST_PG (scripts/with_postgres.sh)");
    return run_postgres(conninfo, seconds, pool, lanes, batch);
  }
  if (store_kind != "sqlite") die("--store must be sqlite or postgres");
  std::filesystem::create_directories(dir);

  auto mem = open_memory_store();
  RunResult a = run(*mem, 1, seconds, false);
  mem.reset();

  auto single = sqlite_store(dir, "single.db", Durability::full, 1);
  RunResult b = run(*single, 64, seconds, false);
  single.reset();

  auto group = sqlite_store(dir, "group.db", Durability::full, 256);
  RunResult c = run(*group, 64, seconds, true);
  group.reset();

  auto normal = sqlite_store(dir, "normal.db", Durability::normal, 256);
  RunResult d = run(*normal, 64, seconds, false);
  normal.reset();

  double fsync = fsync_p50_us(dir, seconds < 1 ? 50 : 300);
  std::filesystem::remove_all(dir);

  std::printf(
      "{\"memory_pairs_per_s\":%.0f,\"sqlite_full_single_pairs_per_s\":%.0f,"
      "\"sqlite_full_group_pairs_per_s\":%.0f,\"sqlite_normal_group_pairs_per_s\":%.0f,"
      "\"commit_p50_us\":%.1f,\"commit_p99_us\":%.1f,\"fsync_p50_us\":%.1f}\n",
      a.pairs_per_s, b.pairs_per_s, c.pairs_per_s, d.pairs_per_s, percentile(c.commit_us, 0.5),
      percentile(c.commit_us, 0.99), fsync);
  return 0;
}
