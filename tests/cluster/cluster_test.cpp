// Three babysea-server processes on one PostgreSQL schema and one Redis, as a
// deployment of several instances (EngineOptions::cluster / ::cache):
//
//  1. crashes under load: client threads submit (webhook, polling and
//     synchronous providers), get and cancel on random instances while the
//     test SIGKILLs a random instance 30 times (restarting it under the same
//     id, sometimes only after its heartbeat lapsed so another instance
//     takes its work over). A provider's callbacks land on another instance
//     than the one that submitted (server i's callback_base_url is server
//     (i+1) % 3). Afterwards, with every server stopped, the store itself is
//     checked: every generation terminal, no attempt sent twice unless marked
//     resubmitted (the crash window; the emulators' per-attempt submit counts
//     agree), every hold resolved once (settled for a success, released
//     otherwise), ledger audit clean.
//  2. rate limits hold across instances: one key hammers the three at once
//     within one window; what is admitted stays within the limit plus the
//     bucket's refill over the burst (plus one).
//  3. Redis crashes mid-load and comes back: generations keep flowing (limits
//     fail open), /v1/health/cache says unhealthy while it is down and healthy
//     after, nothing is lost.
//
// Needs BABYSEA_TEST_PG (scripts/with_postgres.sh), BABYSEA_TEST_REDIS and
// BABYSEA_TEST_REDIS_CTL (scripts/with_redis.sh), BABYSEA_SERVER_BIN and
// BABYSEA_ADMIN_BIN; without them it prints why and exits 77 (skipped).
// The provider emulators run in this process (their fault counters are read
// directly).
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "babysea/ledger.hpp"
#include "babysea/lifecycle.hpp"
#include "babysea/storage.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "runway_emulator.hpp"
#include "server/http_client.hpp"
#include "support/process.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace std::chrono_literals;
namespace bj = boost::json;
using babysea::testing::http_client::request;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr int kSkipExit = 77;
constexpr int kInstances = 3;
constexpr const char* kAccount = "acct_cluster";
constexpr Micros kGrantCredits = 100'000;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

void require_environment() {
  for (const char* name : {"BABYSEA_TEST_PG", "BABYSEA_TEST_REDIS", "BABYSEA_TEST_REDIS_CTL", "BABYSEA_SERVER_BIN",
                           "BABYSEA_ADMIN_BIN"}) {
    if (env(name).empty()) {
      std::fprintf(stderr,
                   "SKIPPED: the cluster test needs %s (run it through scripts/with_postgres.sh and "
                   "scripts/with_redis.sh, as ctest's cluster_test does)\n",
                   name);
      std::fflush(stderr);
      std::exit(kSkipExit);
    }
  }
}

// Binds 127.0.0.1:port (0: any) and closes again; the port bound, 0 when
// it could not.
std::uint16_t try_bind(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  std::uint16_t out = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) out = ntohs(a.sin_port);
  }
  close(fd);
  return out;
}

// A loopback port nobody uses right now, for a server that is restarted on
// it many times (it binds with SO_REUSEADDR). Chosen below the kernel's
// ephemeral range when there is room, so that while the server is down no
// outgoing connection of this test can take the port as its local one.
std::uint16_t free_port() {
  static std::mt19937 rng(std::random_device{}());
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  if (low > 12'000) {
    for (int tries = 0; tries < 200; ++tries) {
      const auto port = static_cast<std::uint16_t>(10'000 + rng() % static_cast<unsigned>(low - 10'000));
      if (try_bind(port) == port) return port;
    }
  }
  const std::uint16_t port = try_bind(0);
  REQUIRE(port != 0);
  return port;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// One babysea-server process: stdout is a pipe (the listening line), stderr
// appends to a log file kept in the test's temp dir. Spawned from the test's
// main thread only: PR_SET_PDEATHSIG fires when the *thread* that forked
// exits, and the main thread outlives every server.
class ServerProcess {
 public:
  ServerProcess(std::string bin, std::string config, std::string log) :
      bin_(std::move(bin)), config_(std::move(config)), log_(std::move(log)) {}
  ~ServerProcess() { kill9(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts it and waits (up to 30 s) for its listening line; returns the
  // line, or an empty string when it exited or stayed silent.
  std::string start() {
    kill9();
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    const int logfd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    REQUIRE(logfd >= 0);
    std::vector<char*> argv{const_cast<char*>(bin_.c_str()), const_cast<char*>("--config"),
                            const_cast<char*>(config_.c_str()), nullptr};
    const pid_t parent = getpid();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(fds[1], 1);
      dup2(logfd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    close(logfd);
    pid_ = pid;
    fd_ = fds[0];
    std::string line;
    const auto deadline = Steady::now() + 30s;
    while (Steady::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char c;
      const ssize_t n = read(fd_, &c, 1);
      if (n <= 0) break;
      if (c == '\n') return line;
      line += c;
    }
    return {};
  }
  bool running() const { return pid_ > 0; }
  void kill9() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  // SIGTERM, then waits up to `seconds`; the exit code (-signal; -1000 on
  // timeout, after which it is SIGKILLed).
  int terminate(int seconds) {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    for (int i = 0; i < seconds * 20; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (fd_ >= 0) close(fd_), fd_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      std::this_thread::sleep_for(50ms);
    }
    kill9();
    return -1000;
  }
  std::string log_tail(std::size_t bytes = 3000) const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
  }

 private:
  std::string bin_, config_, log_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

struct ClusterSpec {
  std::string name;                       // schema and Redis key prefix suffix
  std::int64_t per_key_limit = 1'000'000;  // rate_limits.per_key
  std::int64_t per_key_window_ms = 60'000;
};

// The deployment: emulators in this process, one PostgreSQL schema, one
// Redis, three server configs on fixed ports, an account with credits.
class Cluster {
 public:
  explicit Cluster(ClusterSpec o) : opt_(std::move(o)) {
    using namespace babysea::emu;
    for (EmulatorBase* e : std::initializer_list<EmulatorBase*>{&rep, &fal, &oai, &rw}) {
      e->faults().set_job_timing(JobTiming{milliseconds(100), milliseconds(400)});
    }
    oai.faults().set_latency(milliseconds(300));
    rw.set_min_poll_interval(milliseconds(200));
    rep.start();
    fal.start();
    oai.start();
    rw.start();
    for (int i = 0; i < kInstances; ++i)
      do ports[i] = free_port();
      while (std::count(ports, ports + i, ports[i]) != 0);
    for (int i = 0; i < kInstances; ++i) {
      configs[i] = dir.file("s" + std::to_string(i + 1) + ".json");
      std::ofstream(configs[i]) << config_json(i);
      servers[i] = std::make_unique<ServerProcess>(env("BABYSEA_SERVER_BIN"), configs[i],
                                                   dir.file("s" + std::to_string(i + 1) + ".log"));
    }
    admin({"account-create", kAccount});
    key = std::string(admin({"key-create", kAccount, "--scopes", "full_access", "--name", "cluster"})
                          .at("key").as_string());
    monitor_key = std::string(admin({"key-create", kAccount, "--scopes", "monitor_only", "--name", "monitor"})
                                  .at("key").as_string());
    admin({"grant", kAccount, std::to_string(kGrantCredits), "--key", "cluster-seed"});
  }
  ~Cluster() {
    for (auto& s : servers)
      if (s) s->kill9();
  }

  std::string config_json(int i) const {
    const int next = (i + 1) % kInstances;
    bj::object cfg{
        {"region", "us"},
        {"api_key_pepper", "cluster-test-pepper-0123456789abcdef0123456789"},
        {"callback_base_url", "http://127.0.0.1:" + std::to_string(ports[next]) + "/v1/callbacks"},
        {"database", bj::object{{"engine", "postgres"}, {"url", env("BABYSEA_TEST_PG")}, {"schema", schema()}}},
        {"assets", bj::object{{"directory", dir.file("assets")},
                              {"public_base_url", "http://127.0.0.1:" + std::to_string(ports[i]) + "/assets"}}},
        {"providers",
         bj::object{
             {"replicate", bj::object{{"base_url", rep.base_url()},
                                      {"api_token", "r8_cluster"},
                                      {"webhook_secrets", bj::array{bj::string(rep.webhook_secret())}}}},
             {"fal", bj::object{{"base_url", fal.base_url()},
                                {"api_key", "fal_cluster"},
                                {"jwks_url", fal.jwks_url()},
                                {"user_id", "fal-cluster-user"}}},
             {"openai", bj::object{{"base_url", oai.base_url()}, {"api_key", "sk-cluster"}}},
             {"runway", bj::object{{"base_url", rw.base_url()}, {"api_key", "rw-cluster"},
                                   {"min_poll_interval_ms", 200}}},
         }},
        {"net_guard", bj::object{{"allow_loopback", true}, {"allow_any_port", true}}},
        {"engine", bj::object{{"threads", 4}, {"tick_ms", 50}, {"retry_delay_ms", 300}}},
        {"rate_limits", bj::object{{"per_key", bj::object{{"limit", opt_.per_key_limit},
                                                           {"window_ms", opt_.per_key_window_ms}}},
                                   {"per_account", bj::object{{"limit", 0}}}}},
        {"cluster", bj::object{{"instance_id", "s" + std::to_string(i + 1)},
                               {"heartbeat_ms", 200},
                               {"instance_ttl_ms", 1500},
                               {"lease_ms", 2000}}},
        {"cache", bj::object{{"url", env("BABYSEA_TEST_REDIS")},
                             {"key_prefix", "bs_" + opt_.name},
                             {"timeout_ms", 200},
                             {"fail_open_limits", true}}},
        {"server", bj::object{{"host", "127.0.0.1"}, {"port", ports[i]}, {"create_wait_ms", 1000}}},
    };
    return bj::serialize(cfg);
  }

  std::string schema() const { return "babysea_cluster_" + opt_.name; }

  bj::value admin(std::vector<std::string> args) {
    std::vector<std::string> argv{env("BABYSEA_ADMIN_BIN"), "--config", configs[0]};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = babysea::testing::run_process(argv);
    INFO("babysea-admin " << args[0] << ": " << r.out);
    REQUIRE(r.exit_code == 0);
    return bj::parse(r.out).at("data");
  }

  // Starts instance i (0-based) and marks it up; REQUIREs it listens.
  void start(int i) {
    const std::string line = servers[i]->start();
    INFO("server s" << i + 1 << " log:\n" << servers[i]->log_tail());
    REQUIRE(!line.empty());
    auto doc = bj::parse(line);
    REQUIRE(doc.at("event").as_string() == "listening");
    REQUIRE(doc.at("port").as_int64() == ports[i]);
    up[i] = true;
  }
  void start_all() {
    for (int i = 0; i < kInstances; ++i) start(i);
  }
  void kill9(int i) {
    up[i] = false;
    servers[i]->kill9();
  }
  // SIGTERM to every server; each must stop cleanly.
  void stop_all() {
    for (int i = 0; i < kInstances; ++i) {
      up[i] = false;
      const int rc = servers[i]->terminate(30);
      INFO("server s" << i + 1 << " log:\n" << servers[i]->log_tail());
      CHECK(rc == 0);
    }
  }

  testing::http_client::Response call(int i, const std::string& method, const std::string& target,
                                      const std::string& body = {}, const std::string& idem = {},
                                      milliseconds timeout = 15s) const {
    testing::http_client::Headers h{{"Authorization", "Bearer " + key}};
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    if (!idem.empty()) h.emplace_back("Idempotency-Key", idem);
    return request(ports[i], method, target, h, body, timeout);
  }

  ClusterSpec opt_;
  testing::TempDir dir;
  emu::ReplicateEmulator rep{emu::EmulatorOptions{.api_key = "r8_cluster", .callback_retries = 20,
                                                  .callback_retry_delay = milliseconds(250)}};
  emu::FalEmulator fal{emu::EmulatorOptions{.api_key = "fal_cluster", .callback_retries = 20,
                                            .callback_retry_delay = milliseconds(250)},
                       "fal-cluster-user"};
  emu::OpenAiEmulator oai{emu::EmulatorOptions{.api_key = "sk-cluster"}};
  emu::RunwayEmulator rw{emu::EmulatorOptions{.api_key = "rw-cluster"}};
  std::uint16_t ports[kInstances]{};
  std::string configs[kInstances];
  std::unique_ptr<ServerProcess> servers[kInstances];
  std::atomic<bool> up[kInstances]{};
  std::string key;
  std::string monitor_key;  // health routes
};

// What the generations of the load ask for: a webhook provider (replicate,
// fal video), a synchronous one (openai) and a polling one (runway).
struct Kind {
  const char* path;
  const char* body;
};
constexpr Kind kKinds[] = {
    {"/v1/generate/image/bfl/flux-schnell", R"({"generation_prompt":"a lighthouse","generation_ratio":"1:1"})"},
    {"/v1/generate/video/google/veo-3-fast", R"({"generation_prompt":"waves","generation_duration":8})"},
    {"/v1/generate/image/openai/gpt-image-1", R"({"generation_prompt":"a teapot"})"},
    {"/v1/generate/image/runway/gen4-image", R"({"generation_prompt":"a red fox"})"},
};

bool terminal_status(const std::string& s) { return s == "succeeded" || s == "failed" || s == "canceled"; }

// Client threads submitting, getting and canceling on random instances.
class Load {
 public:
  Load(Cluster& c, int threads) : c_(c) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& th : threads_)
      if (th.joinable()) th.join();
  }
  std::vector<std::string> accepted() const {
    std::lock_guard lk(mu_);
    return accepted_;
  }
  std::map<std::string, int> statuses() const {
    std::lock_guard lk(mu_);
    return statuses_;
  }
  std::vector<std::string> unexpected() const {
    std::lock_guard lk(mu_);
    return unexpected_;
  }
  std::int64_t accepted_count() const { return accepted_n_.load(); }

 private:
  void note(const std::string& what, int status) {
    std::lock_guard lk(mu_);
    statuses_[what + " " + std::to_string(status)]++;
  }
  void run(int t) {
    std::mt19937 rng(static_cast<unsigned>(t * 7919 + 17));
    int n = 0;
    while (!stop_) {
      const int i = static_cast<int>(rng() % kInstances);
      const int dice = static_cast<int>(rng() % 100);
      std::string some;
      {
        std::lock_guard lk(mu_);
        if (!accepted_.empty()) some = accepted_[rng() % accepted_.size()];
      }
      if (dice < 15 && !some.empty()) {
        auto r = c_.call(i, "POST", "/v1/content/generation/cancel/" + some);
        note("cancel", r.ok ? r.status : 0);
        if (r.ok && r.status >= 500 && r.status != 503) add_unexpected("cancel " + std::to_string(r.status) + " " + r.body);
      } else if (dice < 40 && !some.empty()) {
        auto r = c_.call(i, "GET", "/v1/content/" + some);
        note("get", r.ok ? r.status : 0);
        if (r.ok && r.status != 200 && r.status != 503) add_unexpected("get " + std::to_string(r.status) + " " + r.body);
      } else {
        const Kind& k = kKinds[rng() % std::size(kKinds)];
        const std::string idem = "cluster-" + std::to_string(t) + "-" + std::to_string(n++);
        auto r = c_.call(i, "POST", k.path, k.body, idem);
        note("generate", r.ok ? r.status : 0);
        // 200 once a provider acknowledged within the create wait; 202 (the
        // pending form, generation_prediction_id "") when it did not, e.g.
        // while the instance that owns the generation was just killed.
        if (r.ok && (r.status == 200 || r.status == 202)) {
          try {
            const auto doc = r.json();
            const auto& data = doc.at("data");
            if (r.status == 202 && !data.at("generation_prediction_id").as_string().empty())
              add_unexpected("generate 202 with a prediction id: " + r.body);
            std::string id(data.at("generation_id").as_string());
            std::lock_guard lk(mu_);
            accepted_.push_back(id);
            ++accepted_n_;
          } catch (const std::exception& e) {
            add_unexpected(std::string("generate: ") + e.what() + ": " + r.body);
          }
        } else if (r.ok && r.status != 503 && r.status != 429) {
          // 503 (here and above): the store or the instance going away
          // mid-request, a documented transient answer.
          add_unexpected("generate " + std::to_string(r.status) + " " + r.body);
        }
      }
      std::this_thread::sleep_for(milliseconds(20 + rng() % 60));
    }
  }
  void add_unexpected(std::string s) {
    std::lock_guard lk(mu_);
    if (unexpected_.size() < 20) unexpected_.push_back(std::move(s));
  }

  Cluster& c_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> accepted_;
  std::map<std::string, int> statuses_;
  std::vector<std::string> unexpected_;
  std::atomic<std::int64_t> accepted_n_{0};
  std::vector<std::thread> threads_;
};

// Waits (bounded) until every accepted generation reads terminal on some
// live instance; returns the ones that did not.
std::vector<std::string> wait_terminal(Cluster& c, const std::vector<std::string>& ids, milliseconds limit) {
  std::set<std::string> open(ids.begin(), ids.end());
  const auto deadline = Steady::now() + limit;
  int turn = 0;
  while (!open.empty() && Steady::now() < deadline) {
    for (auto it = open.begin(); it != open.end();) {
      const int i = turn++ % kInstances;
      auto r = c.call(i, "GET", "/v1/content/" + *it, {}, {}, 5s);
      bool done = false;
      if (r.ok && r.status == 200) {
        try {
          done = terminal_status(std::string(r.json().at("data").at("generation_status").as_string()));
        } catch (const std::exception&) {
        }
      }
      it = done ? open.erase(it) : std::next(it);
    }
    if (!open.empty()) std::this_thread::sleep_for(250ms);
  }
  return {open.begin(), open.end()};
}

// The store, read directly once every server stopped.
struct StoreVerdict {
  std::size_t generations = 0;
  std::size_t succeeded = 0, failed = 0, canceled = 0;
  std::size_t resubmitted = 0;
  Micros settled = 0;  // sum over the succeeded generations
};

StoreVerdict verify_store(Cluster& c, const std::vector<std::string>& accepted) {
  PostgresOptions po;
  po.conninfo = env("BABYSEA_TEST_PG");
  po.schema = c.schema();
  auto opened = open_postgres_store(po);
  INFO(opened.status().to_string());
  REQUIRE(opened.ok());
  std::unique_ptr<Store> store = std::move(opened).value();

  std::vector<Generation> gens;
  std::map<std::string, HoldRow> holds;
  Status st = store->read([&](UnitOfWork& u) -> Status {
    Status inner = u.generations().for_each_since(kAccount, 0, [&](const GenerationRow& row) {
      auto g = decode_generation(row.doc);
      if (!g.ok()) throw std::runtime_error("decode_generation " + row.id + ": " + g.status().to_string());
      gens.push_back(std::move(g).value());
    });
    if (!inner.ok()) return inner;
    return u.ledger().for_each_hold([&](const HoldRow& h) { holds[h.id] = h; });
  });
  INFO(st.to_string());
  REQUIRE(st.ok());

  StoreVerdict v;
  v.generations = gens.size();
  std::set<std::string> in_store;
  std::set<std::string> resubmitted_attempts;
  std::set<std::string> hold_ids;
  for (const Generation& g : gens) {
    in_store.insert(g.id);
    INFO("generation " << g.id << " " << generation_status_name(g.status) << " model " << g.model);
    CHECK(is_terminal(g.status));
    if (g.status == GenerationStatus::succeeded) ++v.succeeded;
    if (g.status == GenerationStatus::failed) ++v.failed;
    if (g.status == GenerationStatus::canceled) ++v.canceled;
    for (const Attempt& a : g.attempts) {
      INFO("attempt " << a.id << " " << a.provider << " " << attempt_status_name(a.status) << " submits "
                      << a.submits << (a.resubmitted ? " resubmitted" : ""));
      CHECK((a.status != AttemptStatus::submitted && a.status != AttemptStatus::running));
      CHECK((a.submits <= 1 || a.resubmitted));
      if (a.resubmitted) {
        ++v.resubmitted;
        resubmitted_attempts.insert(a.id);
      }
    }
    REQUIRE(!g.hold_id.empty());
    hold_ids.insert(g.hold_id);
    auto h = holds.find(g.hold_id);
    REQUIRE(h != holds.end());
    INFO("hold " << h->second.id << " state " << static_cast<int>(h->second.state) << " settled "
                 << h->second.settled_amount);
    if (g.status == GenerationStatus::succeeded) {
      v.settled += g.settled;
      CHECK(h->second.state == HoldState::settled);
      CHECK(h->second.settled_amount == g.settled);
      CHECK(g.settled > 0);
    } else {
      CHECK(h->second.state == HoldState::released);
      CHECK(g.settled == 0);
    }
  }
  // Nothing accepted was lost.
  for (const auto& id : accepted) {
    INFO("accepted generation " << id);
    CHECK(in_store.count(id) == 1);
  }
  // Every hold belongs to a generation, none is left pending.
  for (const auto& [id, h] : holds) {
    INFO("hold " << id << " ref " << h.ref);
    CHECK(h.state != HoldState::pending);
    CHECK(hold_ids.count(id) == 1);
  }
  // The providers' own count: an attempt that reached a provider twice is one
  // the store marked resubmitted (the crash window), never another.
  for (emu::EmulatorBase* e : std::initializer_list<emu::EmulatorBase*>{&c.rep, &c.fal, &c.oai, &c.rw}) {
    for (const auto& [tag, n] : e->faults().submits_by_tag()) {
      if (tag.empty() || n <= 1) continue;
      INFO("attempt tag " << tag << " submitted " << n << " times");
      CHECK(resubmitted_attempts.count(tag) == 1);
    }
  }

  Ledger ledger(*store, SystemClock::instance());
  REQUIRE(ledger.init().ok());
  auto audit = ledger.audit();
  REQUIRE(audit.ok());
  INFO(audit->to_string());
  CHECK(audit->clean());
  CHECK(audit->pending_holds == 0);
  // The account paid exactly what its successes settled, nothing is held.
  auto bal = ledger.balance(kAccount);
  REQUIRE(bal.ok());
  CHECK(bal->pending_debits == 0);
  CHECK(bal->available() == kGrantCredits * kMicrosPerCredit - v.settled);
  // And the operator's view agrees (babysea-admin on the same config).
  CHECK(c.admin({"audit"}).at("clean").as_bool());
  return v;
}

bool cache_healthy(Cluster& c, int i, bool& answered) {
  auto r = request(c.ports[i], "GET", "/v1/health/cache", {{"Authorization", "Bearer " + c.monitor_key}}, {}, 5s);
  answered = r.ok && r.status == 200;
  if (!answered) {
    UNSCOPED_INFO("GET /v1/health/cache on s" << i + 1 << ": " << r.status << " " << r.body);
    return false;
  }
  try {
    return r.json().at("data").at("healthy").as_bool();
  } catch (const std::exception&) {
    answered = false;
    return false;
  }
}

void report_load(const Load& load) {
  std::string s;
  for (const auto& [k, n] : load.statuses()) s += k + ": " + std::to_string(n) + "  ";
  std::printf("load: %s\n", s.c_str());
  std::fflush(stdout);
}

}  // namespace

TEST_CASE("three instances on one PostgreSQL and Redis survive 30 SIGKILLs under load", "[cluster][crash]") {
  require_environment();
  Cluster c(ClusterSpec{.name = "crash"});
  c.start_all();

  std::mt19937 rng(std::random_device{}());
  int left_down = 0;
  {
    Load load(c, 4);
    std::this_thread::sleep_for(1500ms);
    for (int k = 0; k < 30; ++k) {
      std::this_thread::sleep_for(milliseconds(400 + rng() % 1200));
      const int i = static_cast<int>(rng() % kInstances);
      c.kill9(i);
      if (rng() % 4 == 0) {
        // Long enough for its heartbeat to lapse: another instance recovers
        // its in-flight generations.
        ++left_down;
        std::this_thread::sleep_for(milliseconds(2000 + rng() % 1500));
      } else {
        std::this_thread::sleep_for(milliseconds(rng() % 300));
      }
      c.start(i);
    }
    std::this_thread::sleep_for(1000ms);
    load.stop();
    report_load(load);
    for (const auto& u : load.unexpected()) UNSCOPED_INFO("unexpected answer: " << u);
    CHECK(load.unexpected().empty());
    const auto accepted = load.accepted();
    std::printf("accepted %zu generations; %d kills left the instance down past its ttl\n", accepted.size(),
                left_down);
    REQUIRE(accepted.size() >= 50);
    const auto open = wait_terminal(c, accepted, 90s);
    for (const auto& id : open) UNSCOPED_INFO("not terminal: " << id);
    CHECK(open.empty());
    c.stop_all();
    const StoreVerdict v = verify_store(c, accepted);
    std::printf("store: %zu generations (%zu succeeded, %zu failed, %zu canceled), %zu resubmitted attempts\n",
                v.generations, v.succeeded, v.failed, v.canceled, v.resubmitted);
    CHECK(v.succeeded > 0);
  }
}

TEST_CASE("a per-key rate limit holds across the three instances", "[cluster][rate]") {
  require_environment();
  constexpr std::int64_t kLimit = 30;
  constexpr std::int64_t kWindowMs = 60'000;
  Cluster c(ClusterSpec{.name = "rate", .per_key_limit = kLimit, .per_key_window_ms = kWindowMs});
  c.start_all();
  std::atomic<int> admitted{0}, limited{0}, other{0};
  const auto t0 = Steady::now();
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 2 * kInstances; ++t)
      threads.emplace_back([&, t] {
        for (int n = 0; n < 40; ++n) {
          auto r = c.call(t % kInstances, "GET", "/v1/status", {}, {}, 5s);
          if (r.ok && r.status == 200) ++admitted;
          else if (r.ok && r.status == 429) ++limited;
          else ++other;
        }
      });
    for (auto& th : threads) th.join();
  }
  const auto elapsed_ms = std::chrono::duration_cast<milliseconds>(Steady::now() - t0).count();
  // A token bucket: `limit` at once, then limit / window refilled; the burst
  // lasts a few seconds of a 60 s window. Slack: that refill, plus one.
  const std::int64_t slack = (kLimit * elapsed_ms + kWindowMs - 1) / kWindowMs + 1;
  std::printf("rate: %d admitted, %d limited, %d other in %lld ms (limit %lld, slack %lld)\n", admitted.load(),
              limited.load(), other.load(), static_cast<long long>(elapsed_ms), static_cast<long long>(kLimit),
              static_cast<long long>(slack));
  CHECK(other == 0);
  CHECK(admitted >= kLimit);
  CHECK(admitted <= kLimit + slack);
  CHECK(limited > 0);
  c.stop_all();
}

TEST_CASE("Redis crashing mid-load loses nothing and health follows it", "[cluster][redis]") {
  require_environment();
  Cluster c(ClusterSpec{.name = "redis"});
  c.start_all();
  const std::string ctl = env("BABYSEA_TEST_REDIS_CTL");
  for (int i = 0; i < kInstances; ++i) {
    bool answered = false;
    CHECK(cache_healthy(c, i, answered));
    CHECK(answered);
  }
  std::vector<std::string> accepted;
  {
    Load load(c, 3);
    std::this_thread::sleep_for(4s);
    REQUIRE(std::system(("bash " + shell_quote(ctl) + " stop").c_str()) == 0);
    const std::int64_t before = load.accepted_count();
    // Unhealthy on every instance within a bounded wait.
    for (int i = 0; i < kInstances; ++i) {
      bool down = false;
      const auto deadline = Steady::now() + 10s;
      while (!down && Steady::now() < deadline) {
        bool answered = false;
        down = !cache_healthy(c, i, answered) && answered;
        if (!down) std::this_thread::sleep_for(100ms);
      }
      INFO("instance s" << i + 1 << " while Redis is down");
      CHECK(down);
    }
    std::this_thread::sleep_for(5s);
    const std::int64_t during = load.accepted_count() - before;
    std::printf("accepted while Redis was down: %lld\n", static_cast<long long>(during));
    CHECK(during > 0);
    REQUIRE(std::system(("bash " + shell_quote(ctl) + " start").c_str()) == 0);
    for (int i = 0; i < kInstances; ++i) {
      bool healthy = false;
      const auto deadline = Steady::now() + 15s;
      while (!healthy && Steady::now() < deadline) {
        bool answered = false;
        healthy = cache_healthy(c, i, answered);
        if (!healthy) std::this_thread::sleep_for(100ms);
      }
      INFO("instance s" << i + 1 << " after Redis came back");
      CHECK(healthy);
    }
    const std::int64_t after_start = load.accepted_count();
    std::this_thread::sleep_for(4s);
    CHECK(load.accepted_count() > after_start);
    load.stop();
    report_load(load);
    for (const auto& u : load.unexpected()) UNSCOPED_INFO("unexpected answer: " << u);
    CHECK(load.unexpected().empty());
    accepted = load.accepted();
  }
  const auto open = wait_terminal(c, accepted, 60s);
  for (const auto& id : open) UNSCOPED_INFO("not terminal: " << id);
  CHECK(open.empty());
  c.stop_all();
  const StoreVerdict v = verify_store(c, accepted);
  std::printf("store: %zu generations (%zu succeeded, %zu failed, %zu canceled)\n", v.generations, v.succeeded,
              v.failed, v.canceled);
  CHECK(v.succeeded > 0);
}
