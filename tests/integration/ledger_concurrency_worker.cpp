// Concurrency worker: one process of a multi-process ledger race. It opens its
// own Store (its own connections) on the store the parent test names, prints
// "ready", waits until the parent creates <go-file>, runs its share of the
// race from several threads at once, prints one line per call and exits 0.
//   ledger_concurrency_worker <store-spec> <go-file> reserve <account> <amount> <first> <count>
//     <count> threads, each one reserve of <amount> with key "gen-<i>",
//     i = first .. first+count-1. Lines: "R <key> ok <hold>",
//     "R <key> insufficient", "R <key> error <status>".
//   ledger_concurrency_worker <store-spec> <go-file> resolve <index> <processes> <threads>
//     Every hold in the store, in id order; for hold h this process plays role
//     (h + index) % 4: 0 and 1 settle 1 credit, 2 releases, 3 runs an expiry
//     sweep of one hold (every hold is past due). With <processes> = 4 the four
//     contenders of every hold are in four different processes. Lines:
//     "S <hold> won|replayed|refused|error <status>", "X <hold> ..." (release),
//     "E <n>" (holds a sweep expired) or "E error <status>".
// <store-spec>: sqlite:<path> or postgres:<schema>:<conninfo> (worker_store.hpp).
// Exit status: 0 after the race, 2 bad usage, 1 the store or the hold list
// could not be read, 7 the go file never appeared.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "babysea/ledger.hpp"
#include "worker_store.hpp"

using namespace babysea;

namespace {

constexpr Micros C = kMicrosPerCredit;

void say(const std::string& line) {
  std::string l = line;
  for (char& c : l)
    if (c == '\n') c = ' ';  // a status message may span lines: one call, one line
  l += '\n';
  // One write per line (< PIPE_BUF): lines from threads never interleave.
  if (write(1, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::_Exit(3);
}

// Waits (bounded) until the parent creates the go file, so every process
// starts its calls at the same moment.
void wait_for_go(const std::string& go) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(go)) {
    if (std::chrono::steady_clock::now() > deadline) std::_Exit(7);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

std::string outcome(const Result<HoldResult>& r) {
  if (r.ok()) return r->replayed ? "replayed" : "won";
  if (r.code() == Code::invalid_state) return "refused";
  return "error " + r.status().to_string();
}

int reserve(Ledger& ledger, const std::string& go, char** argv) {
  const std::string account = argv[4];
  const Micros amount = std::stoll(argv[5]);
  const int first = std::stoi(argv[6]);
  const int count = std::stoi(argv[7]);
  std::latch start(count + 1);
  std::vector<std::thread> threads;
  for (int i = first; i < first + count; ++i) {
    threads.emplace_back([&, i] {
      const std::string key = "gen-" + std::to_string(i);
      start.arrive_and_wait();
      auto r = ledger.reserve(account, amount, key, SystemClock::instance().now_ms() + 60'000);
      if (r.ok()) say("R " + key + " ok " + r->hold.id);
      else if (r.code() == Code::insufficient_credits) say("R " + key + " insufficient");
      else say("R " + key + " error " + r.status().to_string());
    });
  }
  say("ready");
  wait_for_go(go);
  start.count_down();
  for (auto& t : threads) t.join();
  return 0;
}

int resolve(Store& store, Ledger& ledger, const std::string& go, char** argv) {
  const int index = std::stoi(argv[4]);
  const int processes = std::stoi(argv[5]);
  const int nthreads = std::stoi(argv[6]);
  if (processes < 1 || nthreads < 1) return 2;
  std::vector<std::string> holds;
  Status s = store.read([&](UnitOfWork& u) {
    holds.clear();
    return u.ledger().for_each_hold([&](const HoldRow& h) { holds.push_back(h.id); });
  });
  if (!s.ok()) {
    std::fprintf(stderr, "ledger_concurrency_worker: %s\n", s.to_string().c_str());
    return 1;
  }
  std::latch start(nthreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::size_t h = static_cast<std::size_t>(t); h < holds.size(); h += static_cast<std::size_t>(nthreads)) {
        const std::string& id = holds[h];
        switch ((h + static_cast<std::size_t>(index)) % 4) {
          case 0:
          case 1: say("S " + id + " " + outcome(ledger.settle(id, 1 * C))); break;
          case 2: say("X " + id + " " + outcome(ledger.release(id))); break;
          default: {
            // Every hold is due two minutes from now (deadline one minute out).
            auto n = ledger.expire_due(SystemClock::instance().now_ms() + 120'000, 1);
            say(n.ok() ? "E " + std::to_string(*n) : "E error " + n.status().to_string());
          }
        }
      }
    });
  }
  say("ready");
  wait_for_go(go);
  start.count_down();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const std::string mode = argv[3];
  if (!((mode == "reserve" && argc == 8) || (mode == "resolve" && argc == 7))) return 2;
  auto store = babysea::testing::open_store_spec(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "ledger_concurrency_worker: %s\n", store.status().to_string().c_str());
    return 1;
  }
  Ledger ledger(**store, SystemClock::instance());
  return mode == "reserve" ? reserve(ledger, argv[2], argv) : resolve(**store, ledger, argv[2], argv);
}
