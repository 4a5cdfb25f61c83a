// OpenAI compatibility through the official `openai` npm package: installs it
// into the build tree at the exact version of the committed lockfile
// (tests/server/openai_oracle/package-lock.json, `npm ci` in
// <build>/tests/server/node-openai; again only when the lockfile changed, so
// it runs offline once installed; the test FAILS when that is impossible) and
// runs openai_client.mjs against an in-process server backed by the
// Replicate emulator.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "replicate_emulator.hpp"
#include "server_app.hpp"
#include "support/process.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace babysea::emu;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("openai npm client against /v1/images/generations", "[server][openai]") {
  const char* script = std::getenv("BABYSEA_OPENAI_SCRIPT");
  const char* prefix_env = std::getenv("BABYSEA_NODE_PREFIX");
  REQUIRE(script);
  REQUIRE(prefix_env);
  const fs::path prefix(prefix_env);
  const fs::path pinned = babysea::testing::source_dir() / "tests" / "server" / "openai_oracle";
  const std::string lock = slurp(pinned / "package-lock.json");
  REQUIRE(lock.find("\"node_modules/openai\"") != std::string::npos);
  fs::create_directories(prefix);
  const fs::path stamp = prefix / "node_modules" / ".babysea-lockfile";
  if (!fs::exists(prefix / "node_modules" / "openai" / "package.json") || slurp(stamp) != lock) {
    for (const char* f : {"package.json", "package-lock.json"})
      fs::copy_file(pinned / f, prefix / f, fs::copy_options::overwrite_existing);
    auto install = babysea::testing::run_process(
        {"npm", "ci", "--prefix", prefix.string(), "--no-audit", "--no-fund", "--loglevel=error"});
    INFO(install.out);
    REQUIRE(install.exit_code == 0);
    fs::copy_file(pinned / "package-lock.json", stamp, fs::copy_options::overwrite_existing);
  }
  REQUIRE(fs::exists(prefix / "node_modules" / "openai" / "package.json"));
  // ESM resolves `openai` next to the script: run a copy inside the prefix.
  fs::copy_file(script, prefix / "openai_client.mjs", fs::copy_options::overwrite_existing);

  babysea::testing::TempDir dir;
  ReplicateEmulator rep{EmulatorOptions{.api_key = "r8_openai_test"}};
  rep.faults().set_job_timing(JobTiming{milliseconds(50), milliseconds(100)});
  rep.start();
  std::string cfg = R"({
    "api_key_pepper": "openai-test-pepper-0123456789abcdef0123456789",
    "callback_base_url": "http://127.0.0.1:{port}/v1/callbacks",
    "database": {"engine": "memory"},
    "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "http://127.0.0.1:{port}/assets"},
    "providers": {"replicate": {"base_url": ")" + rep.base_url() + R"(", "api_token": "r8_openai_test",
                                "webhook_secrets": [")" + rep.webhook_secret() + R"("]}},
    "webhooks": {"enabled": false},
    "net_guard": {"allow_loopback": true, "allow_any_port": true},
    "engine": {"threads": 2, "tick_ms": 50},
    "server": {"port": 0, "openai_wait_ms": 30000}
  })";
  auto app = server::ServerApp::start(cfg);
  REQUIRE(app.ok());
  auto key = (*app)->runtime().issue_api_key("acct_openai", kFullAccess, "openai");
  REQUIRE(key.ok());
  REQUIRE((*app)->runtime().grant_credits("acct_openai", 5 * kMicrosPerCredit).ok());

  auto run = babysea::testing::run_process(
      {"node", (prefix / "openai_client.mjs").string(), (*app)->base_url(), key->key});
  INFO(run.out);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find(R"("ok":"true")") != std::string::npos);
}
