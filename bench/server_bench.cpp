// server_bench: the served path of babysea-server, as a client sees it.
//
// Starts babysea-emulators (BFL and OpenAI, answering at once: no latency,
// no queued or running time), writes a server config (SQLite, durability
// FULL, in a fresh temp dir; see write_server_config), runs babysea-admin on
// it (an account, a full-access API key, a grant of 1,000,000 credits), then
// babysea-server (port 0; its first stdout line gives the port). A closed-loop
// HTTP/1.1 load generator (Boost.Beast, one thread, C keep-alive
// connections, each sending its next request as soon as it has read the
// previous answer) runs each point for a 1 s warm-up (not counted), then S
// seconds measured: rps = responses completed in the measured window / S;
// p50 / p99 (nearest rank) over those responses' latencies (send to last
// byte read, steady clock). A non-2xx answer or a transport failure is an
// error (the first one's body goes to stderr).
//
// Prints one JSON object. Every point gives <point>_rps, <point>_p50_ms and
// <point>_p99_ms; the points:
//   openai_c1   POST /v1/images/generations
//       {"model":"openai/gpt-image-1","prompt":...,"n":1,"response_format":"url"}
//       on one connection: the server waits for the terminal state (submit,
//       synchronous provider call, asset copy, settlement) before answering
//   openai_c16   the same, 16 connections
//   generate_c1   POST /v1/generate/image/bfl/flux-dev
//       {"generation_prompt":...} on one connection (200 or 202: accepted;
//       the server answers once BFL has acknowledged the submit). flux-dev,
//       not flux-schnell: the catalog serves flux-schnell on replicate and
//       fal only; flux-dev's providers are bfl, replicate, fal, and with only
//       bfl (and openai) configured its route is ["bfl"] (checked before the
//       points). BFL's result comes back by signed webhook to the server.
//   generate_c16   the same, 16 connections
//   status_c16   GET /v1/status, 16 connections
//   rss_mb_start, rss_mb_mid, rss_mb_after   the server's VmRSS (MB of 1,048,576
//       bytes) in the RSS phase: generate at 16 connections until N
//       generations (--generations, default 100,000) have been accepted
//       since the server started (the points' included; at least 100 in the
//       phase), read when the server is idle (every generation terminal) at
//       the phase's start, half way and end (rss_mb_after: after N)
//   rss_mb_boot   VmRSS right after the server started, before any request
//   units_per_generation   babysea_store_units_total (GET /metrics: durable
//       units of work the store committed) over the RSS phase divided by the
//       generations that reached a terminal state in it (the
//       babysea_generations gauges succeeded + failed + canceled); 0 with a
//       warning on stderr when the server does not export that counter
//   units_per_generation_openai   the same over the two OpenAI-compatible
//       points (a synchronous provider)
//   rss_phase_generations, rss_phase_rps, generations_accepted   the RSS
//       phase's accepted generations and their rate (wall time, idle waits
//       excluded), and the total accepted since the server started
//   errors   {"<point>": n, ...}: errors in each measured window (and in the
//       whole RSS phase)
//   seconds, cores   S and std::thread::hardware_concurrency()
// Exits 1 when a point (or the RSS phase) has more than 1% errors, when a
// point completes nothing, or when anything in the setup fails; the children
// are stopped (SIGTERM, then SIGKILL after 20 s) on every exit path.
//
// Usage: server_bench [--seconds S] [--quick] [--generations N] [--keep]
//                     [--server PATH] [--admin PATH] [--emulators PATH]
//   --seconds S       measured seconds per point (default 10; warm-up 1 s)
//   --quick           smoke run: 0.5 s per point (0.25 s warm-up), N = 300
//   --generations N   the RSS phase's target (accepted since server start)
//   --keep            keep the temp dir (config, database, children's logs)
//   --server/--admin/--emulators   the binaries (default: this build's)
// The children's stderr (and the server's stdout after its first line) go
// to <temp dir>/*.log; on a failure their tails are copied to stderr.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef BABYSEA_SERVER_BIN
#define BABYSEA_SERVER_BIN ""
#endif
#ifndef BABYSEA_ADMIN_BIN
#define BABYSEA_ADMIN_BIN ""
#endif
#ifndef BABYSEA_EMULATORS_BIN
#define BABYSEA_EMULATORS_BIN ""
#endif

extern char** environ;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace bj = boost::json;
using tcp = net::ip::tcp;
using Clk = std::chrono::steady_clock;

namespace {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void say(const std::string& s) { std::fprintf(stderr, "server_bench: %s\n", s.c_str()); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// ---------------------------------------------------------------- children

// The children's pids, for the signal handler (async-signal-safe access only).
constexpr int kMaxChildren = 4;
volatile pid_t g_pids[kMaxChildren] = {};

extern "C" void on_signal(int sig) {
  for (int i = 0; i < kMaxChildren; ++i)
    if (g_pids[i] > 0) ::kill(g_pids[i], SIGTERM);
  for (int i = 0; i < kMaxChildren; ++i)
    if (g_pids[i] > 0) ::waitpid(g_pids[i], nullptr, 0);
  ::_exit(128 + sig);
}

std::string tail_of(const std::string& path, std::size_t n = 3000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > n ? "..." + s.substr(s.size() - n) : s;
}

// A child process with its stdout on a pipe and its stderr appended to a log
// file. Stopped with SIGTERM (SIGKILL after 20 s) by stop() or the destructor.
class Child {
 public:
  Child(std::string name, const std::vector<std::string>& argv, std::string log)
      : name_(std::move(name)), log_(std::move(log)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw Failure("pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      pid_ = -1;
      throw Failure("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    fd_ = fds[0];
    for (int i = 0; i < kMaxChildren; ++i)
      if (g_pids[i] <= 0) {
        g_pids[i] = pid_;
        slot_ = i;
        break;
      }
  }
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log() const { return log_; }

  // One line of stdout, waiting at most `timeout_ms` in all.
  std::string read_line(int timeout_ms) {
    const auto deadline = Clk::now() + std::chrono::milliseconds(timeout_ms);
    std::string line;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clk::now()).count();
      if (left <= 0) throw Failure(name_ + " printed no line within " + std::to_string(timeout_ms) + " ms");
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char c;
      const ssize_t n = ::read(fd_, &c, 1);
      if (n <= 0) throw Failure(name_ + " closed its stdout (exited?): " + tail_of(log_));
      if (c == '\n') return line;
      line += c;
    }
  }

  // The rest of stdout until EOF (the child closed it or exited).
  std::string read_all() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

  // Everything else on stdout goes to the log (a full pipe would block the child).
  void drain_stdout_to_log() {
    drainer_ = std::thread([fd = fd_, path = log_] {
      std::ofstream out(path, std::ios::app | std::ios::binary);
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.write(buf, n);
    });
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      forget();
      return false;
    }
    return true;
  }

  // SIGTERM, up to 20 s, then SIGKILL. Returns how it ended.
  std::string stop() {
    std::string how;
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool done = false;
      for (int i = 0; i < 400 && !done; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) done = true;
        else std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!done) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        how = "killed (did not stop within 20 s of SIGTERM)";
      } else {
        how = WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                : "signal " + std::to_string(WTERMSIG(status));
      }
      forget();
    }
    if (drainer_.joinable()) drainer_.join();
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return how;
  }

 private:
  void forget() {
    if (slot_ >= 0) g_pids[slot_] = 0;
    slot_ = -1;
    pid_ = -1;
  }
  std::string name_;
  std::string log_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int slot_ = -1;
  std::thread drainer_;
};

// Runs a command to completion; its stdout is returned, its stderr appended to `log`.
std::string run_to_end(const std::vector<std::string>& argv, const std::string& log) {
  Child c(argv[0], argv, log);
  const std::string out = c.read_all();
  const std::string how = c.stop();
  if (how != "exited 0") throw Failure(argv[0] + " " + argv[3] + " " + how + ": " + out + tail_of(log));
  return out;
}

// --------------------------------------------------------------- HTTP client

struct Response {
  int status = 0;
  std::string body;
  bool ok = false;  // the exchange completed
  std::string error;
};

http::request<http::string_body> make_request(const std::string& method, const std::string& target,
                                              const std::string& auth, const std::string& body, std::uint16_t port) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!auth.empty()) req.set(http::field::authorization, "Bearer " + auth);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// One request on a fresh connection (setup checks, /metrics).
Response fetch(std::uint16_t port, const std::string& method, const std::string& target, const std::string& auth,
               const std::string& body = {}) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto req = make_request(method, target, auth, body, port);
  req.keep_alive(false);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{64} << 20);
  Response out;
  stream.expires_after(std::chrono::seconds(150));
  stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
    if (ec) {
      out.error = "connect: " + ec.message();
      return;
    }
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        out.error = "write: " + wec.message();
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
        if (rec) {
          out.error = "read: " + rec.message();
          return;
        }
        out.ok = true;
      });
    });
  });
  ioc.run();
  if (out.ok) {
    out.status = parser.get().result_int();
    out.body = parser.get().body();
  }
  return out;
}

struct PointResult {
  std::int64_t completed = 0;  // 2xx answers in the measured window
  std::int64_t errors = 0;     // non-2xx answers and transport failures in the window
  std::int64_t accepted = 0;   // 2xx answers over the whole run (warm-up and tail too)
  std::int64_t failed = 0;     // errors over the whole run
  std::vector<double> lat_ms;  // the window's answers (errors included)
  double seconds = 0;          // the measured window (or the count run's wall time)
  std::string first_error;
};

// A closed loop of `concurrency` keep-alive connections on one thread.
// Timed mode: runs until warmup + measure have passed. Count mode
// (target > 0): stops issuing once `target` 2xx answers are in or in flight,
// or when failures pass max(100, 1% of target); the whole run is measured.
class LoadRun {
 public:
  LoadRun(std::uint16_t port, http::request<http::string_body> req, int concurrency, Clk::duration warmup,
          Clk::duration measure, std::int64_t target = 0)
      : ep_(net::ip::make_address("127.0.0.1"), port),
        req_(std::move(req)),
        concurrency_(concurrency),
        warmup_(warmup),
        measure_(measure),
        target_(target) {}

  PointResult run() {
    start_ = Clk::now();
    measure_from_ = target_ > 0 ? start_ : start_ + warmup_;
    end_ = target_ > 0 ? Clk::time_point::max() : measure_from_ + measure_;
    for (int i = 0; i < concurrency_; ++i) std::make_shared<Conn>(*this)->next();
    ioc_.run();
    result_.seconds = target_ > 0 ? std::chrono::duration<double>(Clk::now() - start_).count()
                                  : std::chrono::duration<double>(measure_).count();
    return std::move(result_);
  }

 private:
  struct Conn : std::enable_shared_from_this<Conn> {
    explicit Conn(LoadRun& r) : run(r), stream(r.ioc_), timer(r.ioc_), req(r.req_) {}
    LoadRun& run;
    beast::tcp_stream stream;
    net::steady_timer timer;
    http::request<http::string_body> req;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    Clk::time_point sent;
    bool connected = false;

    void next() {
      if (!run.may_issue()) return;
      ++run.in_flight_;
      if (connected) send();
      else connect();
    }
    void connect() {
      sent = Clk::now();  // a failed connect is timed from here
      stream.expires_after(std::chrono::seconds(10));
      stream.async_connect(run.ep_, [self = shared_from_this()](beast::error_code ec) {
        if (ec) return self->fail("connect: " + ec.message());
        self->connected = true;
        self->stream.socket().set_option(tcp::no_delay(true));
        self->send();
      });
    }
    void send() {
      sent = Clk::now();
      stream.expires_after(std::chrono::seconds(150));
      http::async_write(stream, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("write: " + ec.message());
        self->read();
      });
    }
    void read() {
      parser.emplace();
      parser->body_limit(std::uint64_t{64} << 20);
      http::async_read(stream, buffer, *parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return self->fail("read: " + ec.message());
        self->done();
      });
    }
    void done() {
      const auto now = Clk::now();
      auto& res = parser->get();
      const int st = res.result_int();
      const bool ok = st >= 200 && st < 300;
      run.record(sent, now, ok, ok ? std::string() : "HTTP " + std::to_string(st) + ": " + res.body());
      if (!res.keep_alive()) close();
      --run.in_flight_;
      next();
    }
    void fail(const std::string& what) {
      run.record(sent, Clk::now(), false, what);
      close();
      --run.in_flight_;
      // Back off a little so a dead server does not make a busy loop.
      timer.expires_after(std::chrono::milliseconds(10));
      timer.async_wait([self = shared_from_this()](beast::error_code) { self->next(); });
    }
    void close() {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.close();
      buffer.clear();
      connected = false;
    }
  };

  bool may_issue() const {
    if (target_ > 0)
      return result_.accepted + in_flight_ < target_ && result_.failed <= std::max<std::int64_t>(100, target_ / 100);
    return Clk::now() < end_;
  }

  void record(Clk::time_point sent, Clk::time_point now, bool ok, const std::string& error) {
    if (ok) ++result_.accepted;
    else ++result_.failed;
    if (!ok && result_.first_error.empty()) {
      result_.first_error = error.substr(0, 2000);
      say("first error: " + result_.first_error);
    }
    if (now < measure_from_ || now >= end_) return;
    if (ok) ++result_.completed;
    else ++result_.errors;
    result_.lat_ms.push_back(std::chrono::duration<double, std::milli>(now - sent).count());
  }

  net::io_context ioc_;
  tcp::endpoint ep_;
  http::request<http::string_body> req_;
  int concurrency_;
  Clk::duration warmup_, measure_;
  std::int64_t target_;
  Clk::time_point start_, measure_from_, end_;
  std::int64_t in_flight_ = 0;
  PointResult result_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// ------------------------------------------------------------------ metrics

// Sums every sample of `name` (any labels; `label_filter` must appear in the
// labels when given). nullopt when the metric is absent.
std::optional<double> metric(const std::string& text, const std::string& name, const std::string& label_filter = {}) {
  std::optional<double> sum;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.compare(0, name_end, name) != 0 || name_end != name.size()) continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    if (!label_filter.empty() && line.substr(0, sp).find(label_filter) == std::string::npos) continue;
    sum = sum.value_or(0) + std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return sum;
}

double rss_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;  // kB -> MB
  throw Failure("no VmRSS for pid " + std::to_string(pid));
}

// ---------------------------------------------------------------- the bench

struct Options {
  double seconds = 10;
  double warmup = 1;
  std::int64_t generations = 100'000;
  bool keep = false;
  std::string server = BABYSEA_SERVER_BIN, admin = BABYSEA_ADMIN_BIN, emulators = BABYSEA_EMULATORS_BIN;
};

const char* const kMetricsToken = "server-bench-metrics-token-0123456789";
const char* const kBflSecret = "server-bench-bfl-webhook-secret-0123456789";

std::string write_server_config(const std::string& dir, const bj::value& emu) {
  const auto s = [&](const char* k) { return std::string(emu.at(k).as_string()); };
  bj::object cfg{
      {"region", "us"},
      {"api_key_pepper", "server-bench-pepper-0123456789abcdef0123456789abcdef"},
      // BFL answers by webhook (signed with the secret below); {port} is the bound port.
      {"callback_base_url", "http://127.0.0.1:{port}/v1/callbacks"},
      {"database", {{"engine", "sqlite"}, {"path", dir + "/babysea.db"}, {"synchronous", "full"}}},
      {"assets", {{"directory", dir + "/assets"}, {"public_base_url", "http://127.0.0.1:{port}/assets"}}},
      {"providers",
       {{"bfl", {{"base_url", s("bfl")}, {"api_key", "bfl_bench"}, {"webhook_secret", kBflSecret}}},
        {"openai", {{"base_url", s("openai")}, {"api_key", "sk-bench"}}}}},
      {"net_guard", {{"allow_loopback", true}, {"allow_any_port", true}}},
      // Far above what two cores can submit: the bench must never see a 429.
      {"rate_limits",
       {{"per_key", {{"limit", 1'000'000'000}, {"window_ms", 1000}}},
        {"per_account", {{"limit", 1'000'000'000}, {"window_ms", 1000}}}}},
      {"server", {{"host", "127.0.0.1"}, {"port", 0}, {"metrics_token", kMetricsToken}}},
  };
  const std::string text = bj::serialize(cfg);
  const std::string path = dir + "/server.json";
  std::ofstream(path) << text << "\n";
  say("server config " + path + ": " + text);
  return path;
}

struct Point {
  std::string name;
  PointResult r;
};

class Bench {
 public:
  Bench(Options o, std::string dir) : o_(std::move(o)), dir_(std::move(dir)) {}

  int run() {
    start_emulators();
    const std::string cfg = write_server_config(dir_, emu_);
    admin_setup(cfg);
    start_server(cfg);
    rss_boot_ = rss_mb(server_->pid());
    sanity();

    const auto w = std::chrono::duration_cast<Clk::duration>(std::chrono::duration<double>(o_.warmup));
    const auto m = std::chrono::duration_cast<Clk::duration>(std::chrono::duration<double>(o_.seconds));
    const std::string before_openai = wait_idle();
    point("openai_c1", openai_req(), 1, w, m, true);
    point("openai_c16", openai_req(), 16, w, m, true);
    openai_units_ = units_over(before_openai, wait_idle());
    wait_idle();
    point("generate_c1", generate_req(), 1, w, m, true);
    point("generate_c16", generate_req(), 16, w, m, true);
    wait_idle();
    point("status_c16", make_request("GET", "/v1/status", key_, {}, port_), 16, w, m, false);
    rss_phase();
    print();
    const std::string how = server_->stop();
    if (how != "exited 0") say("warning: babysea-server " + how);
    return bad_ ? 1 : 0;
  }

  void dump_logs() const {
    for (const char* f : {"emulators.log", "server.log", "admin.log"}) {
      const std::string p = dir_ + "/" + f;
      if (std::filesystem::exists(p)) say(std::string("--- tail of ") + f + ":\n" + tail_of(p));
    }
  }

 private:
  void start_emulators() {
    const std::string path = dir_ + "/emulators.json";
    std::ofstream(path) << R"({"address":"127.0.0.1",)"
                        << R"("bfl":{"api_key":"bfl_bench","latency_ms":0,"queued_ms":0,"running_ms":0},)"
                        << R"("openai":{"api_key":"sk-bench","latency_ms":0,"queued_ms":0,"running_ms":0}})"
                        << "\n";
    emulators_ = std::make_unique<Child>("babysea-emulators", std::vector<std::string>{o_.emulators, "--config", path},
                                         dir_ + "/emulators.log");
    const std::string line = emulators_->read_line(30'000);
    emulators_->drain_stdout_to_log();
    emu_ = bj::parse(line);
    say("emulators: " + line);
  }

  void admin_setup(const std::string& cfg) {
    auto admin = [&](std::vector<std::string> args) {
      std::vector<std::string> argv{o_.admin, "--config", cfg};
      argv.insert(argv.end(), args.begin(), args.end());
      return bj::parse(run_to_end(argv, dir_ + "/admin.log")).at("data");
    };
    admin({"account-create", "acct_bench"});
    key_ = std::string(
        admin({"key-create", "acct_bench", "--scopes", "full_access", "--name", "server-bench"}).at("key").as_string());
    // 1,000,000 credits: 40 million flux-dev generations (0.025), 14 million gpt-image-1 (0.07).
    auto grant = admin({"grant", "acct_bench", "1000000", "--key", "server-bench-grant"});
    say("account acct_bench, key " + key_.substr(0, 12) + "..., grant " +
        bj::serialize(grant.at("balance").at("available_micros")) + " micros");
  }

  void start_server(const std::string& cfg) {
    server_ = std::make_unique<Child>("babysea-server", std::vector<std::string>{o_.server, "--config", cfg},
                                      dir_ + "/server.log");
    const std::string line = server_->read_line(60'000);
    server_->drain_stdout_to_log();
    const bj::value v = bj::parse(line);
    port_ = static_cast<std::uint16_t>(v.at("port").to_number<std::int64_t>());
    say("server pid " + std::to_string(server_->pid()) + ": " + line);
  }

  http::request<http::string_body> openai_req() const {
    return make_request("POST", "/v1/images/generations", key_,
                        R"({"model":"openai/gpt-image-1","prompt":"a lighthouse at dawn, volumetric light",)"
                        R"("n":1,"response_format":"url"})",
                        port_);
  }
  http::request<http::string_body> generate_req() const {
    return make_request("POST", "/v1/generate/image/bfl/flux-dev", key_,
                        R"({"generation_prompt":"a red fox in fresh snow, golden hour"})", port_);
  }

  // One request of each kind before the points: it must route where the bench says.
  void sanity() {
    const auto send = [&](const http::request<http::string_body>& req) {
      return fetch(port_, std::string(req.method_string()), std::string(req.target()), key_, req.body());
    };
    Response a = send(openai_req());
    if (!a.ok || a.status != 200 || a.body.find("\"url\"") == std::string::npos)
      throw Failure("OpenAI-compatible route: " + std::to_string(a.status) + " " + a.error + a.body);
    Response g = send(generate_req());
    if (!g.ok || (g.status != 200 && g.status != 202) ||
        g.body.find(R"("generation_provider_order":["bfl"])") == std::string::npos)
      throw Failure("generate route (must route to bfl only): " + std::to_string(g.status) + " " + g.error + g.body);
    accepted_ += 2;
  }

  void point(const std::string& name, http::request<http::string_body> req, int c, Clk::duration w, Clk::duration m,
             bool generates) {
    if (!server_->alive()) throw Failure("babysea-server died: " + tail_of(server_->log()));
    LoadRun run(port_, std::move(req), c, w, m);
    PointResult r = run.run();
    if (generates) accepted_ += r.accepted;
    const auto n = r.completed + r.errors;
    say(name + ": " + std::to_string(r.completed) + " ok, " + std::to_string(r.errors) + " errors, " +
        fmt("%.1f rps", static_cast<double>(r.completed) / r.seconds) + fmt(", p50 %.3f ms", percentile(r.lat_ms, 0.5)) +
        fmt(", p99 %.3f ms", percentile(r.lat_ms, 0.99)));
    if (r.completed == 0 || static_cast<double>(r.errors) > 0.01 * static_cast<double>(n)) {
      say(name + ": FAILED (nothing completed or more than 1% errors)");
      bad_ = true;
    }
    points_.push_back({name, std::move(r)});
  }

  std::string metrics_text() {
    Response r = fetch(port_, "GET", "/metrics", kMetricsToken);
    if (!r.ok || r.status != 200) throw Failure("GET /metrics: " + std::to_string(r.status) + " " + r.error + r.body);
    return r.body;
  }
  static double terminal(const std::string& text) {
    double t = 0;
    for (const char* s : {"succeeded", "failed", "canceled"})
      t += metric(text, "babysea_generations", std::string("status=\"") + s + "\"").value_or(0);
    return t;
  }
  // Durable units per generation that ended between two scrapes.
  static double units_over(const std::string& before, const std::string& after) {
    const double done = terminal(after) - terminal(before);
    const auto u0 = metric(before, "babysea_store_units_total");
    const auto u1 = metric(after, "babysea_store_units_total");
    if (!u0 || !u1) {
      say("warning: the server exports no babysea_store_units_total; units per generation are 0");
      return 0;
    }
    return done > 0 ? (*u1 - *u0) / done : 0;
  }
  // Until no generation is pending or processing; returns the metrics text then.
  std::string wait_idle() {
    const auto t0 = Clk::now();
    const auto limit = std::chrono::minutes(10);
    while (true) {
      std::string text = metrics_text();
      const double open = metric(text, "babysea_generations", "status=\"pending\"").value_or(0) +
                          metric(text, "babysea_generations", "status=\"processing\"").value_or(0);
      if (open == 0) {
        const double waited = std::chrono::duration<double>(Clk::now() - t0).count();
        if (waited > 1) say(fmt("idle after %.1f s", waited));
        return text;
      }
      if (Clk::now() - t0 > limit) throw Failure("generations still open after 10 minutes: " + fmt("%.0f", open));
      if (!server_->alive()) throw Failure("babysea-server died: " + tail_of(server_->log()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  void rss_phase() {
    const std::int64_t phase = std::max<std::int64_t>(o_.generations - accepted_, 100);
    const std::int64_t half = phase / 2;
    say("RSS phase: " + std::to_string(phase) + " generations (" + std::to_string(accepted_) +
        " accepted so far, target " + std::to_string(o_.generations) + ")");
    const std::string before = wait_idle();
    rss_start_ = rss_mb(server_->pid());
    double busy_s = 0;
    const auto batch = [&](std::int64_t n) {
      LoadRun run(port_, generate_req(), 16, {}, {}, n);
      PointResult r = run.run();
      accepted_ += r.accepted;
      phase_accepted_ += r.accepted;
      phase_errors_ += r.failed;
      busy_s += r.seconds;
      if (r.accepted < n) say("RSS phase: only " + std::to_string(r.accepted) + " of " + std::to_string(n) + " accepted");
      say(fmt("RSS phase: %.0f accepted", static_cast<double>(phase_accepted_)) +
          fmt(" (%.1f/s)", static_cast<double>(r.accepted) / r.seconds));
    };
    batch(half);
    wait_idle();
    rss_mid_ = rss_mb(server_->pid());
    say(fmt("rss start %.1f MB", rss_start_) + fmt(", mid %.1f MB", rss_mid_));
    batch(phase - half);
    std::string after = wait_idle();
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the usage log and other background writes settle
    after = metrics_text();
    rss_after_ = rss_mb(server_->pid());
    phase_rps_ = busy_s > 0 ? static_cast<double>(phase_accepted_) / busy_s : 0;
    say(fmt("rss after %.1f MB", rss_after_));
    units_ = units_over(before, after);
    say(fmt("RSS phase: %.0f generations terminal", terminal(after) - terminal(before)));
    if (auto ob = metric(after, "babysea_outbox_pending")) say(fmt("outbox pending at the end: %.0f", *ob));
    if (static_cast<double>(phase_errors_) > 0.01 * static_cast<double>(phase_accepted_ + phase_errors_) ||
        phase_accepted_ < phase) {
      say("RSS phase: FAILED (more than 1% errors or short of the target)");
      bad_ = true;
    }
  }

  void print() const {
    std::string out = "{";
    auto num = [&](const std::string& k, double v, const char* f = "%.3f") {
      if (out.size() > 1) out += ",";
      out += "\"" + k + "\":" + fmt(f, std::isfinite(v) ? v : 0);
    };
    // Every point: <name>_rps, <name>_p50_ms, <name>_p99_ms.
    for (const auto& p : points_) {
      num(p.name + "_rps", static_cast<double>(p.r.completed) / p.r.seconds, "%.1f");
      num(p.name + "_p50_ms", percentile(p.r.lat_ms, 0.5));
      num(p.name + "_p99_ms", percentile(p.r.lat_ms, 0.99));
    }
    num("rss_mb_after", rss_after_, "%.1f");
    num("units_per_generation", units_, "%.2f");
    num("units_per_generation_openai", openai_units_, "%.2f");
    num("rss_mb_boot", rss_boot_, "%.1f");
    num("rss_mb_start", rss_start_, "%.1f");
    num("rss_mb_mid", rss_mid_, "%.1f");
    num("rss_phase_generations", static_cast<double>(phase_accepted_), "%.0f");
    num("rss_phase_rps", phase_rps_, "%.1f");
    num("generations_accepted", static_cast<double>(accepted_), "%.0f");
    out += ",\"errors\":{";
    for (std::size_t i = 0; i < points_.size(); ++i)
      out += (i ? ",\"" : "\"") + points_[i].name + "\":" + std::to_string(points_[i].r.errors);
    out += ",\"rss_phase\":" + std::to_string(phase_errors_) + "}";
    num("seconds", o_.seconds, "%g");
    num("cores", static_cast<double>(std::thread::hardware_concurrency()), "%.0f");
    out += "}";
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
  }

  Options o_;
  std::string dir_;
  std::unique_ptr<Child> emulators_, server_;  // server_ last: destroyed (stopped) first
  bj::value emu_;
  std::string key_;
  std::uint16_t port_ = 0;
  std::vector<Point> points_;
  std::int64_t accepted_ = 0, phase_accepted_ = 0, phase_errors_ = 0;
  double rss_boot_ = 0, rss_start_ = 0, rss_mid_ = 0, rss_after_ = 0, units_ = 0, openai_units_ = 0, phase_rps_ = 0;
  bool bad_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool quick = false;
  bool generations_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--quick") quick = true;
    else if (a == "--seconds" && has) o.seconds = std::atof(argv[++i]);
    else if (a == "--generations" && has) o.generations = std::atoll(argv[++i]), generations_set = true;
    else if (a == "--server" && has) o.server = argv[++i];
    else if (a == "--admin" && has) o.admin = argv[++i];
    else if (a == "--emulators" && has) o.emulators = argv[++i];
    else if (a == "--keep") o.keep = true;
    else {
      std::fprintf(stderr,
                   "usage: server_bench [--seconds S] [--quick] [--generations N] [--keep]\n"
                   "                    [--server PATH] [--admin PATH] [--emulators PATH]\n");
      return 2;
    }
  }
  if (quick) {
    o.seconds = 0.5;
    o.warmup = 0.25;
    if (!generations_set) o.generations = 300;
  }
  if (!(o.seconds > 0)) {
    say("--seconds must be positive");
    return 2;
  }
  for (const std::string* p : {&o.server, &o.admin, &o.emulators})
    if (p->empty() || ::access(p->c_str(), X_OK) != 0) {
      say("not an executable: '" + *p + "' (build babysea_server_bin, babysea_admin, babysea_emulators_bin)");
      return 2;
    }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::string tmpl = (std::filesystem::temp_directory_path() / "babysea-server-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    say("mkdtemp: " + std::string(std::strerror(errno)));
    return 1;
  }
  const std::string dir = tmpl;
  int rc = 1;
  {
    Bench bench(o, dir);
    try {
      rc = bench.run();
    } catch (const std::exception& e) {
      say(std::string("FAILED: ") + e.what());
      bench.dump_logs();
      rc = 1;
    }
  }  // the children stop here
  if (o.keep) {
    say("kept " + dir);
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}
