// babysea-server and babysea-admin as processes on one SQLite database:
// admin creates an account, a key and a grant; the server (port 0) prints
// its address as one JSON line, serves the key, sees a revocation made by
// the admin while it runs, and stops cleanly on SIGTERM.
#include <catch2/catch.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "http_client.hpp"
#include "support/process.hpp"
#include "support/testing.hpp"

extern char** environ;

namespace bj = boost::json;
using babysea::testing::http_client::request;

namespace {

// A child with a stdout pipe; stopped with SIGTERM (then SIGKILL) on scope exit.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& argv) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    fd_ = fds[0];
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  // Reads one line (blocking, bounded by the test timeout).
  std::string read_line() {
    std::string line;
    char c;
    while (read(fd_, &c, 1) == 1) {
      if (c == '\n') break;
      line += c;
    }
    return line;
  }
  // SIGTERM, then waits up to `seconds`; returns the exit code (-1 on timeout).
  int terminate(int seconds) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < seconds * 20; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

bj::value admin(const std::string& bin, const std::string& config, std::vector<std::string> args, int expect = 0) {
  std::vector<std::string> argv{bin, "--config", config};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = babysea::testing::run_process(argv);
  INFO(r.out);
  REQUIRE(r.exit_code == expect);
  bj::value doc = bj::parse(r.out);
  // The service's document: data on success, the error envelope otherwise.
  return expect == 0 ? doc.at("data") : doc;
}

}  // namespace

TEST_CASE("babysea-server and babysea-admin processes on one SQLite database", "[server][process]") {
  const char* server_bin = std::getenv("BABYSEA_SERVER_BIN");
  const char* admin_bin = std::getenv("BABYSEA_ADMIN_BIN");
  REQUIRE(server_bin);
  REQUIRE(admin_bin);
  babysea::testing::TempDir dir;
  const std::string config = dir.file("config.json");
  {
    std::ofstream out(config);
    out << R"({
      "region": "us",
      "api_key_pepper": "bin-test-pepper-0123456789abcdef0123456789",
      "database": {"engine": "sqlite", "path": ")" << dir.file("babysea.db") << R"("},
      "assets": {"directory": ")" << dir.file("assets") << R"(", "public_base_url": "http://127.0.0.1:{port}/assets"},
      "engine": {"threads": 1},
      "server": {"host": "127.0.0.1", "port": 0}
    })";
  }
  admin(admin_bin, config, {"account-create", "acct_x"});
  auto key = admin(admin_bin, config, {"key-create", "acct_x", "--scopes", "full_access", "--name", "ci"});
  const std::string api_key(key.at("key").as_string());
  const std::string key_id(key.at("id").as_string());
  CHECK(api_key.rfind("bye_", 0) == 0);
  auto grant = admin(admin_bin, config, {"grant", "acct_x", "3.5", "--key", "grant-1"});
  CHECK(grant.at("balance").at("available_micros").as_int64() == 3'500'000);
  auto again = admin(admin_bin, config, {"grant", "acct_x", "3.5", "--key", "grant-1"});
  CHECK(again.at("replayed").as_bool());
  CHECK(admin(admin_bin, config, {"balance", "acct_x"}).at("available_micros").as_int64() == 3'500'000);
  CHECK(admin(admin_bin, config, {"statement", "acct_x"}).at("entries").as_array().size() == 1);
  CHECK(admin(admin_bin, config, {"key-list", "acct_x"}).at("keys").as_array().size() == 1);
  CHECK(admin(admin_bin, config, {"audit"}).at("clean").as_bool());
  auto bad = admin(admin_bin, config, {"grant", "acct_x", "-1"}, 1);
  CHECK(bad.at("error").at("code").is_string());

  ServerProcess server({server_bin, "--config", config});
  auto line = bj::parse(server.read_line());
  CHECK(line.at("event").as_string() == "listening");
  const auto port = static_cast<std::uint16_t>(line.at("port").as_int64());
  REQUIRE(port != 0);
  auto bill = request(port, "GET", "/v1/user/billing", {{"Authorization", "Bearer " + api_key}});
  INFO(bill.body);
  REQUIRE(bill.status == 200);
  CHECK(bj::parse(bill.body).at("data").at("billing_credit_balance").to_number<double>() == Approx(3.5));

  admin(admin_bin, config, {"key-revoke", "acct_x", key_id});
  CHECK(request(port, "GET", "/v1/status", {{"Authorization", "Bearer " + api_key}}).status == 401);

  CHECK(server.terminate(20) == 0);
  CHECK(server.read_line() == R"({"event":"stopped"})");
}
