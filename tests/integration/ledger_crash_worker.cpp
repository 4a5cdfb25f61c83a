// Crash worker: hammers a ledger from several threads and prints one line
// per acknowledged operation, until it is killed.
//   ledger_crash_worker <store-spec> <run-id>
// <store-spec> is sqlite:<path> or postgres:<schema>:<conninfo> (worker_store.hpp).
// Lines: "R <key> <hold_id> <amount>" reserve, "S <hold_id> <amount>" settle,
// "X <hold_id>" release. A line is written only after the call returned OK,
// i.e. after the unit of work is durable.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "babysea/ledger.hpp"
#include "worker_store.hpp"

using namespace babysea;

namespace {

void say(const std::string& line) {
  std::string l = line + "\n";
  // One write per line (< PIPE_BUF): lines from threads never interleave.
  if (write(1, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::_Exit(3);
}

// A ledger call failed: say why on stderr (the test shows it) and exit with
// `code`, which the test reports as "exited with status <code>".
[[noreturn]] void fail(int code, const Status& s) {
  std::fprintf(stderr, "ledger_crash_worker: %s\n", s.to_string().c_str());
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto store = babysea::testing::open_store_spec(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().to_string().c_str());
    return 1;
  }
  const std::string run = argv[2];
  Ledger ledger(**store, SystemClock::instance());
  if (Status s = ledger.init(); !s.ok()) fail(1, s);
  if (Status s = ledger.create_account("acct"); !s.ok()) fail(1, s);
  if (auto g = ledger.grant("acct", 1'000'000 * kMicrosPerCredit, "seed"); !g.ok()) fail(1, g.status());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(std::hash<std::string>{}(run) + static_cast<unsigned>(t));
      std::vector<std::pair<std::string, Micros>> open;
      for (int i = 0;; ++i) {
        int op = static_cast<int>(rng() % 3);
        if (op == 0 || open.empty()) {
          std::string key = run + "-" + std::to_string(t) + "-" + std::to_string(i);
          Micros amount = 1 + static_cast<Micros>(rng() % 5000);
          auto r = ledger.reserve("acct", amount, key, SystemClock::instance().now_ms() + 3'600'000);
          if (!r.ok()) fail(4, r.status());
          say("R " + key + " " + r->hold.id + " " + std::to_string(amount));
          open.emplace_back(r->hold.id, amount);
        } else {
          auto [id, amount] = open.back();
          open.pop_back();
          if (op == 1) {
            Micros actual = 1 + static_cast<Micros>(rng() % static_cast<std::uint64_t>(amount));
            if (auto r = ledger.settle(id, actual); !r.ok()) fail(5, r.status());
            say("S " + id + " " + std::to_string(actual));
          } else {
            if (auto r = ledger.release(id); !r.ok()) fail(6, r.status());
            say("X " + id);
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
}
