// The standalone babysea-emulators process: config in, one JSON line of base
// URLs out, real traffic, clean exit on SIGTERM; a bad config exits 2.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>

#include "babysea/transport.hpp"
#include "emulator_base.hpp"
#include "support/testing.hpp"

extern char** environ;

using namespace babysea;
namespace json = boost::json;

namespace {

struct Spawned {
  pid_t pid = -1;
  int fd = -1;
};

Spawned spawn(const std::string& bin, const std::string& config) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::vector<std::string> args{bin, "--config", config};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Spawned s;
  REQUIRE(posix_spawn(&s.pid, bin.c_str(), &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  s.fd = fds[0];
  return s;
}

// Reads one line (up to `timeout_ms`).
std::string read_line(int fd, int timeout_ms) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char c;
    if (read(fd, &c, 1) != 1) break;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return line;
}

int wait_exit(pid_t pid, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    usleep(10'000);
  }
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  return -999;
}

}  // namespace

TEST_CASE("babysea-emulators runs providers from a JSON config", "[emulators][bin]") {
  const char* bin = std::getenv("BABYSEA_EMULATORS_BIN");
  if (bin == nullptr) {
    WARN("BABYSEA_EMULATORS_BIN not set (run through ctest)");
    return;
  }
  babysea::testing::TempDir dir;
  {
    std::ofstream f(dir.file("emu.json"));
    f << R"({"replicate":{"api_key":"r8_x","webhook_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
             "fal":{"user_id":"u-1","queued_ms":10,"running_ms":10},
             "bfl":{"api_key":"k","queued_ms":0,"running_ms":30,"latency_ms":5},
             "openai":{},
             "runway":{"min_poll_interval_ms":1000,"enforce_poll_interval":true},
             "alibabacloud":{"api_key":"sk-ds","queued_ms":0,"running_ms":10},
             "byteplus":{"api_key":"ark-k"},
             "cloudflare":{"api_key":"cf-t","account_id":"acc42"}})";
  }
  auto child = spawn(bin, dir.file("emu.json"));
  auto line = read_line(child.fd, 10'000);
  INFO(line);
  boost::system::error_code ec;
  auto v = json::parse(line, ec);
  REQUIRE_FALSE(ec);
  auto& o = v.as_object();
  for (auto name : {"replicate", "fal", "bfl", "openai", "runway", "alibabacloud", "byteplus", "cloudflare"}) {
    REQUIRE(o.contains(name));
    CHECK(std::string(o.at(name).as_string()).starts_with("http://127.0.0.1:"));
  }
  CHECK(o.at("replicate_webhook_secret").as_string() == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  CHECK(o.at("fal_user_id").as_string() == "u-1");

  auto transport = make_beast_transport();
  auto send = [&](std::string method, std::string url, std::vector<HttpHeader> headers, std::string body) {
    HttpRequest r;
    r.method = std::move(method);
    r.url = url;
    r.headers = std::move(headers);
    r.body = std::move(body);
    auto t = emu::parse_http_url(url);
    REQUIRE(t);
    auto res = transport->send(std::move(r), ConnectTarget{IpAddress::v4(127, 0, 0, 1), t->port});
    REQUIRE(res.ok());
    return res.value();
  };
  std::string bfl = std::string(o.at("bfl").as_string());
  auto sub = send("POST", bfl + "/v1/flux-dev", {{"x-key", "k"}}, R"({"prompt":"x"})");
  REQUIRE(sub.status == 200);
  auto polling = std::string(json::parse(sub.body).as_object().at("polling_url").as_string());
  std::string status;
  for (int i = 0; i < 100 && status != "Ready"; ++i) {
    status = std::string(json::parse(send("GET", polling, {{"x-key", "k"}}, "").body).as_object().at("status").as_string());
    if (status != "Ready") usleep(20'000);
  }
  CHECK(status == "Ready");
  auto jwks = send("GET", std::string(o.at("fal_jwks_url").as_string()), {}, "");
  CHECK(jwks.status == 200);
  CHECK(jwks.body.find("\"Ed25519\"") != std::string::npos);

  // Runway enforces its configured poll interval.
  std::string rw = std::string(o.at("runway").as_string());
  std::vector<HttpHeader> rh{{"Authorization", "Bearer rw_emulated"}, {"X-Runway-Version", "2024-11-06"}};
  auto task = send("POST", rw + "/v1/text_to_image", rh, R"({"model":"gen4_image","promptText":"x"})");
  REQUIRE(task.status == 200);
  auto tid = std::string(json::parse(task.body).as_object().at("id").as_string());
  CHECK(send("GET", rw + "/v1/tasks/" + tid, rh, "").status == 200);
  CHECK(send("GET", rw + "/v1/tasks/" + tid, rh, "").status == 429);

  // The configured key and Cloudflare account are the ones checked.
  std::string cf = std::string(o.at("cloudflare").as_string()) + "/client/v4/accounts/";
  const std::string run = "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0";
  auto image = send("POST", cf + "acc42" + run, {{"Authorization", "Bearer cf-t"}}, R"({"prompt":"x"})");
  CHECK(image.status == 200);
  CHECK(image.body.starts_with("\x89PNG"));
  CHECK(send("POST", cf + "other" + run, {{"Authorization", "Bearer cf-t"}}, R"({"prompt":"x"})").status != 200);
  std::string ds = std::string(o.at("alibabacloud").as_string());
  CHECK(send("GET", ds + "/api/v1/tasks/x", {{"Authorization", "Bearer nope"}}, "").status == 401);

  REQUIRE(kill(child.pid, SIGTERM) == 0);
  CHECK(wait_exit(child.pid, 10'000) == 0);
  close(child.fd);
}

TEST_CASE("babysea-emulators refuses a bad config", "[emulators][bin]") {
  const char* bin = std::getenv("BABYSEA_EMULATORS_BIN");
  if (bin == nullptr) {
    WARN("BABYSEA_EMULATORS_BIN not set (run through ctest)");
    return;
  }
  babysea::testing::TempDir dir;
  {
    std::ofstream f(dir.file("bad.json"));
    f << R"({"replicate":{"prot":1}})";
  }
  auto child = spawn(bin, dir.file("bad.json"));
  CHECK(wait_exit(child.pid, 10'000) == 2);
  close(child.fd);
  auto missing = spawn(bin, dir.file("missing.json"));
  CHECK(wait_exit(missing.pid, 10'000) == 2);
  close(missing.fd);
}
