// Crash safety on the real wire: a worker process runs the engine (SQLite file,
// synchronous FULL, real adapters, Beast transport) against provider
// emulators that live here in the test process (so they survive the worker
// and their counters can be read), submitting generations continuously with
// faults injected; it is SIGKILLed at seeded random points (during recovery
// too) and restarted on the same database, at least 50 times. Then the engine
// is opened here on that database, runs until every generation is terminal,
// and we check:
//   - every generation the worker reported accepted exists and is terminal;
//   - every job an emulator created carries the id of an attempt the database
//     knows (nothing reached a provider without a durable intent);
//   - no attempt reached a provider more often than the engine durably
//     counted (`submits`), and at most once unless it was resubmitted in the
//     crash window or retried after a retry_same submit error;
//   - counted at the emulators alone (not with the engine's counters): within
//     one worker lifetime an attempt gets a second job only after a submit
//     whose answer the emulator deliberately lost (after_accept), so the
//     duplicates per lifetime are at most the ambiguous faults injected;
//   - every run ended by our SIGKILL (not by the worker exiting by itself),
//     every run not killed during startup acknowledged at least
//     kMinAcceptedPerRun generations, and no submit failed;
//   - ledger audit clean; every hold resolved to match its terminal state;
//     succeeded generations have their files in the asset directory.
// BABYSEA_WIRE_CRASH_SEED / BABYSEA_WIRE_CRASH_KILLS override seed (fixed by
// default; printed, and in every failure message) and kills.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "alibabacloud_emulator.hpp"
#include "bfl_emulator.hpp"
#include "byteplus_emulator.hpp"
#include "cloudflare_emulator.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "support/process.hpp"
#include "support/testing.hpp"
#include "wire/wire_stack.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::wire;
using babysea::testing::Child;
using babysea::testing::TempDir;
using std::chrono::milliseconds;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v) : def;
}

// Returns how many ambiguous submit faults (job created, answer lost) it
// injected at Replicate: the only faults after which one attempt may get a
// second job within one worker lifetime.
struct Emulators {
  ReplicateEmulator& rep;
  FalEmulator& fal;
  BflEmulator& bfl;
  OpenAiEmulator& oai;
  AlibabaCloudEmulator& ali;
  BytePlusEmulator& bp;
  CloudflareEmulator& cf;
};

int inject_random_faults(std::mt19937_64& rng, const Emulators& e) {
  auto& [rep, fal, bfl, oai, ali, bp, cf] = e;
  auto one_in = [&](int n) { return rng() % static_cast<std::uint64_t>(n) == 0; };
  int ambiguous = 0;
  if (one_in(3)) rep.faults().fail_next(1);
  if (one_in(4)) {
    rep.faults().reset_next(1, Op::submit, /*after_accept=*/true);  // job created, answer lost
    ++ambiguous;
  }
  if (one_in(4)) fal.faults().http_error_next(1, 503, Op::submit);
  if (one_in(4)) fal.faults().lose_next(1);
  if (one_in(3)) bfl.faults().http_error_next(1, 500, Op::submit);
  if (one_in(4)) bfl.faults().fail_next(1);
  if (one_in(4)) oai.faults().http_error_next(1, 502, Op::submit);
  if (one_in(6)) oai.faults().moderate_next(1);
  if (one_in(8)) rep.faults().rate_limit_next(1, 1, Op::submit);
  if (one_in(10)) fal.faults().hang_next(1, Op::poll);
  if (one_in(4)) ali.faults().http_error_next(1, 500, Op::submit);
  if (one_in(5)) ali.faults().fail_next(1);
  if (one_in(8)) ali.faults().rate_limit_next(1, 1, Op::poll);
  if (one_in(4)) bp.faults().http_error_next(1, 503, Op::submit);
  if (one_in(6)) bp.faults().moderate_next(1);
  if (one_in(4)) cf.faults().http_error_next(1, 502, Op::submit);
  if (one_in(8)) cf.faults().rate_limit_next(1, 1, Op::submit);
  return ambiguous;
}

// Jobs each attempt tag got at one emulator since `before`.
std::map<std::string, std::uint64_t> jobs_since(const std::map<std::string, std::uint64_t>& now,
                                                const std::map<std::string, std::uint64_t>& before) {
  std::map<std::string, std::uint64_t> d;
  for (const auto& [tag, n] : now) {
    auto it = before.find(tag);
    const std::uint64_t was = it == before.end() ? 0 : it->second;
    if (n > was) d[tag] = n - was;
  }
  return d;
}

}  // namespace

TEST_CASE("wire crash: SIGKILL at random points under load, restart = recovery", "[wire][crash]") {
  const char* worker = std::getenv("BABYSEA_WIRE_CRASH_WORKER");
  REQUIRE(worker != nullptr);
  const std::uint64_t seed = env_u64("BABYSEA_WIRE_CRASH_SEED", 20260917);
  const int kills = static_cast<int>(env_u64("BABYSEA_WIRE_CRASH_KILLS", 50));
  std::cout << "wire crash test: seed " << seed << " (BABYSEA_WIRE_CRASH_SEED), " << kills << " kills" << std::endl;
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);

  const std::string key = "crash-key";
  EmulatorOptions eo;
  eo.api_key = key;
  ReplicateEmulator rep(eo);
  FalEmulator fal(eo);
  BflEmulator bfl(eo);
  OpenAiEmulator oai(eo);
  AlibabaCloudEmulator ali(eo);
  BytePlusEmulator bp(eo);
  CloudflareEmulator cf(eo);
  std::vector<EmulatorBase*> emus = {&rep, &fal, &bfl, &oai, &ali, &bp, &cf};
  const Emulators all{rep, fal, bfl, oai, ali, bp, cf};
  for (EmulatorBase* e : emus) {
    e->faults().set_job_timing(JobTiming{milliseconds(50), milliseconds(150)});
    e->start();
  }

  TempDir dir;
  const std::string db = dir.file("crash.db");
  const auto assets = dir.path() / "assets";
  const std::string catalog = (babysea::testing::source_dir() / "data").string();
  // A run not killed during startup submits for at least 100 ms after the
  // worker is up: two submitters, one durable submit plus a 10-50 ms pause
  // each, i.e. about 8 acknowledgements at the shortest (dozens on average).
  constexpr std::size_t kMinAcceptedPerRun = 3;
  std::set<std::string> accepted;
  std::vector<std::string> errors;
  int early_kills = 0;
  std::size_t min_accepted = SIZE_MAX;
  int ambiguous_injected = 0;
  // Jobs per attempt tag at each emulator, snapshotted after every worker
  // lifetime (the worker is dead then: nothing more arrives from it).
  std::vector<std::map<std::string, std::uint64_t>> seen(emus.size());
  std::vector<std::uint64_t> within_lifetime_duplicates(emus.size(), 0);
  std::vector<std::string> duplicate_notes(emus.size());
  auto close_lifetime = [&](const std::string& what) {
    for (std::size_t i = 0; i < emus.size(); ++i) {
      auto now = emus[i]->faults().submits_by_tag();
      for (const auto& [tag, n] : jobs_since(now, seen[i])) {
        if (n > 1) {
          within_lifetime_duplicates[i] += n - 1;
          duplicate_notes[i] += "\n  tag '" + tag + "': " + std::to_string(n) + " jobs in " + what;
        }
      }
      seen[i] = std::move(now);
    }
  };
  for (int run = 0; run < kills; ++run) {
    INFO("run " << run);
    ambiguous_injected += inject_random_faults(rng, all);
    std::string out;
    bool early = false;
    {
      Child child({worker, "db=" + db, "assets=" + assets.string(), "catalog=" + catalog,
                   "seed=" + std::to_string(rng()), "api_key=" + key, "replicate=" + rep.base_url(),
                   "replicate_secret=" + rep.webhook_secret(), "fal=" + fal.base_url(),
                   "fal_jwks=" + fal.jwks_url(), "fal_user=" + fal.user_id(), "bfl=" + bfl.base_url(),
                   "openai=" + oai.base_url(), "alibabacloud=" + ali.base_url(), "byteplus=" + bp.base_url(),
                   "cloudflare=" + cf.base_url(), "cloudflare_account=" + cf.account_id()});
      if (rng() % 6 == 0) {
        // Somewhere in startup: recovery, the first submits.
        ++early_kills;
        early = true;
        std::this_thread::sleep_for(milliseconds(rng() % 400));
      } else {
        REQUIRE(child.wait_for_output(60'000));
        std::this_thread::sleep_for(milliseconds(100 + rng() % 1'400));
      }
      out = child.kill_and_collect();
      // The worker ran until our SIGKILL: it did not exit by itself (bad
      // usage, setup failure, an exception).
      INFO("worker " << child.how_it_ended());
      REQUIRE(child.killed_by_sigkill());
    }
    close_lifetime("run " + std::to_string(run));
    std::istringstream lines(out);
    std::string line;
    std::size_t run_accepted = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("G ", 0) == 0) {
        accepted.insert(line.substr(2));
        ++run_accepted;
      } else if (line.rfind("E ", 0) == 0) {
        errors.push_back("run " + std::to_string(run) + ": " + line.substr(2));
      }
    }
    if (!early) {
      INFO("generations accepted in this run: " << run_accepted);
      CHECK(run_accepted >= kMinAcceptedPerRun);
      min_accepted = std::min(min_accepted, run_accepted);
    }
  }
  for (EmulatorBase* e : emus) e->faults().clear();
  std::cout << "wire crash test: " << accepted.size() << " generations accepted over " << kills << " runs ("
            << early_kills << " killed during startup, at least " << min_accepted
            << " accepted in every other run), " << errors.size() << " submit errors" << std::endl;
  for (const auto& e : errors) UNSCOPED_INFO("submit error " << e);
  CHECK(errors.empty());
  REQUIRE(accepted.size() >= 50);

  // Recovery here, then run everything to a terminal state.
  StackOptions so;
  so.db_path = db;
  so.assets_dir = assets;
  so.catalog_dir = catalog;
  so.replicate = {rep.base_url(), key, rep.webhook_secret(), "", "", ""};
  so.fal = {fal.base_url(), key, "", fal.jwks_url(), fal.user_id(), ""};
  so.bfl = {bfl.base_url(), key, "", "", "", ""};
  so.openai = {oai.base_url(), key, "", "", "", ""};
  so.alibabacloud = {ali.base_url(), key, "", "", "", ""};
  so.byteplus = {bp.base_url(), key, "", "", "", ""};
  so.cloudflare = {cf.base_url(), key, "", "", "", cf.account_id()};
  so.timing = fast_timing();
  so.timing.submit_ack_timeout = milliseconds(2'000);
  so.timing.start_timeout = milliseconds(2'000);
  so.timing.finish_timeout = milliseconds(3'000);
  so.request_timeout = milliseconds(1'500);
  so.generation_deadline = milliseconds(15'000);
  Stack stack(so);
  stack.login("acct_crash", 0);
  const bool all_terminal = stack.wait_all_terminal(milliseconds(120'000));
  close_lifetime("the final recovery");
  // Provider side, from the emulators' own job counts: within one lifetime an
  // attempt got a second job only after an ambiguous submit fault.
  std::uint64_t duplicates_within_lifetimes = 0;
  for (std::size_t i = 0; i < emus.size(); ++i) duplicates_within_lifetimes += within_lifetime_duplicates[i];
  std::cout << "wire crash test: " << duplicates_within_lifetimes << " duplicate jobs within one lifetime, "
            << ambiguous_injected << " ambiguous submit faults injected" << std::endl;
  for (std::size_t i = 0; i < emus.size(); ++i) {
    INFO(emus[i]->provider() << ": duplicate jobs within one lifetime:" << duplicate_notes[i]);
    // Only Replicate gets ambiguous (after_accept) faults.
    CHECK(within_lifetime_duplicates[i] <= (emus[i] == &rep ? static_cast<std::uint64_t>(ambiguous_injected) : 0u));
  }
  auto gens = stack.all_generations();
  std::map<std::string, const GenerationView*> by_id;
  std::map<std::string, const AttemptView*> attempts;
  std::map<std::string, int> by_status;
  for (const auto& g : gens) {
    by_id[g.id] = &g;
    ++by_status[std::string(generation_status_name(g.status))];
    for (const auto& a : g.attempts) attempts[a.id] = &a;
  }
  std::cout << "wire crash test: " << gens.size() << " generations in the database:";
  for (const auto& [s, n] : by_status) std::cout << " " << s << "=" << n;
  std::cout << std::endl;
  CHECK(all_terminal);

  for (const auto& id : accepted) {
    INFO("accepted generation " << id);
    auto it = by_id.find(id);
    REQUIRE(it != by_id.end());
    CHECK(is_terminal(it->second->status));
  }

  // Provider side: every created job belongs to a known attempt, and no
  // attempt reached a provider more often than allowed.
  int resubmitted = 0, retried = 0, duplicates = 0;
  for (EmulatorBase* e : emus) {
    INFO(e->provider() << " took no job: the crash run did not cover it");
    CHECK_FALSE(e->faults().submits_by_tag().empty());
    for (const auto& [tag, n] : e->faults().submits_by_tag()) {
      INFO(e->provider() << " job tag '" << tag << "' created " << n << " times");
      if (tag.empty()) continue;
      auto it = attempts.find(tag);
      REQUIRE(it != attempts.end());
      const AttemptView& a = *it->second;
      CHECK(a.provider == e->provider());
      INFO("attempt submits=" << a.submits << " resubmitted=" << a.resubmitted << " state=" << a.state);
      if (n > static_cast<std::uint64_t>(std::max(a.submits, 1))) {
        const std::string gid = tag.substr(0, tag.rfind('.'));
        for (const auto& x : by_id[gid]->attempts)
          std::cout << "  dup " << tag << ": attempt " << x.id << " " << x.provider << " " << x.state << " submits="
                    << x.submits << " resub=" << x.resubmitted << " job=" << x.job_id << " err=" << x.error_kind
                    << " " << x.error_message << std::endl;
      }
      CHECK(n <= static_cast<std::uint64_t>(std::max(a.submits, 1)));
      if (n > 1) {
        ++duplicates;
        CHECK((a.resubmitted || a.submits > 1));
      }
    }
    CHECK(e->faults().submits_for("") == 0);
  }
  for (const auto& [id, a] : attempts) {
    if (a->resubmitted) ++resubmitted;
    else if (a->submits > 1) ++retried;
  }
  std::cout << "wire crash test: " << attempts.size() << " attempts, " << resubmitted << " resubmitted, " << retried
            << " retried, " << duplicates << " reached a provider twice" << std::endl;

  // Files a killed copy left behind are removed when the generation then
  // fails (regression test below): none may remain.
  int orphans = 0;
  for (const auto& g : gens)
    if (g.status != GenerationStatus::succeeded && stack.asset_files(g.id) > 0) ++orphans;
  std::cout << "wire crash test: " << orphans << " failed generations with orphaned files" << std::endl;
  CHECK(orphans == 0);
  auto violation = stack.check_invariants(/*allow_orphan_files=*/false);
  INFO(violation);
  CHECK(violation.empty());
}

// Regression: the worker dies right after the directory store wrote a
// generation's files and before assets_stored committed (the crash window
// "outputs fetched, not stored"). A synchronous provider's outputs are copied
// before the step that records its answer commits, so recovery sends the
// submit again (the crash window of a submit); when that and the rest of the
// chain fail, the generation ends failed and its files must be removed (the
// machine emits remove_assets on every failed/canceled end once a copy may
// have been attempted).
TEST_CASE("wire crash: files written by a copy the crash interrupted are removed when the generation fails",
          "[wire][crash]") {
  const char* worker = std::getenv("BABYSEA_WIRE_CRASH_WORKER");
  REQUIRE(worker != nullptr);
  const std::string key = "crash-key";
  EmulatorOptions eo;
  eo.api_key = key;
  ReplicateEmulator rep(eo);
  OpenAiEmulator oai(eo);
  for (EmulatorBase* e : std::vector<EmulatorBase*>{&rep, &oai}) {
    e->faults().set_job_timing(JobTiming{milliseconds(20), milliseconds(50)});
    e->start();
  }
  rep.faults().http_error_next(10, 500, Op::submit);  // the fallback fails: the generation fails
  TempDir dir;
  const std::string db = dir.file("crash.db");
  const auto assets = dir.path() / "assets";
  const std::string catalog = (babysea::testing::source_dir() / "data").string();
  // Unused providers point at a closed port.
  const std::string nowhere = "http://127.0.0.1:9";
  std::string id;
  {
    Child child({worker, "db=" + db, "assets=" + assets.string(), "catalog=" + catalog, "seed=1",
                 "api_key=" + key, "replicate=" + rep.base_url(), "replicate_secret=" + rep.webhook_secret(),
                 "fal=" + nowhere, "fal_jwks=" + nowhere, "fal_user=u", "bfl=" + nowhere, "openai=" + oai.base_url(),
                 "alibabacloud=" + nowhere, "byteplus=" + nowhere, "cloudflare=" + nowhere, "cloudflare_account=a",
                 "only=openai", "count=1", "die_after_store=1"});
    REQUIRE(child.wait_for_output(60'000));
    // The worker exits by itself once the copy wrote the files.
    std::this_thread::sleep_for(milliseconds(3'000));
    std::istringstream lines(child.kill_and_collect());
    // It died where the test put it (die_after_store: _exit(137)), not of
    // our kill or of anything else.
    INFO("worker " << child.how_it_ended());
    REQUIRE(child.how_it_ended() == "exited with status 137");
    std::string line;
    while (std::getline(lines, line))
      if (line.rfind("G ", 0) == 0) id = line.substr(2);
  }
  REQUIRE_FALSE(id.empty());
  REQUIRE(std::filesystem::is_directory(assets / id));  // the dead copy wrote them
  // The copy ran before the answer's step committed, so recovery sends the
  // submit again: OpenAI now fails it, the fallback fails too.
  oai.faults().http_error_next(10, 500, Op::submit);

  StackOptions so;
  so.db_path = db;
  so.assets_dir = assets;
  so.catalog_dir = catalog;
  so.replicate = {rep.base_url(), key, rep.webhook_secret(), "", "", ""};
  so.openai = {oai.base_url(), key, "", "", "", ""};
  so.timing = fast_timing();
  Stack stack(so);
  stack.login("acct_crash", 0);
  GenerationView g;
  REQUIRE(stack.wait_terminal(id, milliseconds(30'000), &g));
  INFO("error: " << g.error);
  CHECK(g.status == GenerationStatus::failed);
  stack.engine().drain();
  std::this_thread::sleep_for(milliseconds(500));
  stack.engine().drain();
  CHECK(stack.asset_files(id) == 0);
  auto violation = stack.check_invariants();
  INFO(violation);
  CHECK(violation.empty());
}
