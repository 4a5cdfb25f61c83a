// wire_crash_worker — runs the wire Stack (SQLite FULL, real adapters) against
// emulators that live in the test process, and submits generations
// continuously until it is killed, writing "G <generation id>\n" (one write
// each) once a submit has returned OK (accepted and durable).
//
//   wire_crash_worker key=value...
//     db=<file> assets=<dir> catalog=<dir> seed=<n>
//     replicate=<url> replicate_secret=<whsec> fal=<url> fal_jwks=<url> fal_user=<id>
//     bfl=<url> openai=<url> alibabacloud=<url> byteplus=<url> cloudflare=<url>
//     cloudflare_account=<id> api_key=<key>
//     [only=openai]         submit gpt-image-1 ("openai, replicate") only
//     [count=<n>]           stop submitting after n accepted generations
//     [die_after_store=1]   _exit(137) right after the first asset store
//                           wrote its files (before the engine records it)
//
// Exit codes: 2 bad usage, 1 setup failure; otherwise it runs until killed
// (or stops by itself after 10 minutes).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "wire/wire_stack.hpp"

using namespace babysea;
using namespace babysea::wire;

namespace {

void write_line(const std::string& line) {
  std::string s = line + "\n";
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(1, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos) {
      std::cerr << "usage: wire_crash_worker key=value...\n";
      return 2;
    }
    args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  for (const char* k : {"db", "assets", "catalog", "seed", "replicate", "fal", "bfl", "openai", "alibabacloud",
                        "byteplus", "cloudflare", "cloudflare_account", "api_key"})
    if (!args.count(k)) {
      std::cerr << "wire_crash_worker: missing " << k << "\n";
      return 2;
    }
  try {
    StackOptions so;
    so.db_path = args["db"];
    so.assets_dir = args["assets"];
    so.catalog_dir = args["catalog"];
    const std::string key = args["api_key"];
    so.replicate = {args["replicate"], key, args["replicate_secret"], "", "", ""};
    so.fal = {args["fal"], key, "", args["fal_jwks"], args["fal_user"], ""};
    so.bfl = {args["bfl"], key, "", "", "", ""};
    so.openai = {args["openai"], key, "", "", "", ""};
    so.alibabacloud = {args["alibabacloud"], key, "", "", "", ""};
    so.byteplus = {args["byteplus"], key, "", "", "", ""};
    so.cloudflare = {args["cloudflare"], key, "", "", "", args["cloudflare_account"]};
    so.timing = fast_timing();
    so.timing.submit_ack_timeout = std::chrono::milliseconds(2'000);
    so.timing.start_timeout = std::chrono::milliseconds(2'000);
    so.timing.finish_timeout = std::chrono::milliseconds(3'000);
    so.request_timeout = std::chrono::milliseconds(1'500);
    so.generation_deadline = std::chrono::milliseconds(15'000);
    so.threads = 4;
    if (args["die_after_store"] == "1") so.after_asset_store = [] { ::_exit(137); };
    Stack stack(so);
    stack.login("acct_crash", 10'000 * kMicrosPerCredit);
    write_line("UP");

    std::mt19937_64 rng(std::stoull(args["seed"]));
    struct Pick {
      const char* model;
      const char* order;
      const char* extra = "";  // more request fields
    };
    std::vector<Pick> picks = {
        {"bfl/flux-schnell", "replicate, fal"},
        {"bfl/flux-schnell", "fal, replicate"},
        {"bfl/flux-dev", "bfl, replicate, fal"},
        {"openai/gpt-image-1", "openai, replicate"},
        {"alibaba/wan-2.2-t2i-flash", "alibabacloud"},
        {"bytedance/seedream-4", "byteplus, fal"},
        {"bytedance/seedance-1-lite", "byteplus", R"(,"generation_duration":3)"},
        {"stability/sdxl", "cloudflare, replicate"},
    };
    if (args["only"] == "openai") picks = {{"openai/gpt-image-1", "openai, replicate"}};
    const long limit = args.count("count") ? std::stol(args["count"]) : -1;
    std::atomic<long> submitted{0};
    const auto stop_at = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    std::atomic<bool> stop{false};
    std::vector<std::thread> submitters;
    for (int t = 0; t < (limit > 0 ? 1 : 2); ++t) {
      std::uint64_t s = rng();
      submitters.emplace_back([&, s] {
        std::mt19937_64 r(s);
        while (!stop.load() && std::chrono::steady_clock::now() < stop_at) {
          const Pick& p = picks[r() % picks.size()];
          std::string body = std::string(R"({"generation_prompt":"crash )") + std::to_string(r() % 100000) +
                             R"(","generation_provider_order":")" + p.order + "\"" + p.extra + "}";
          auto out = stack.engine().submit(stack.principal(), p.model, body, {});
          if (out.ok()) {
            write_line("G " + out->generation.id);
            if (limit > 0 && ++submitted >= limit) break;
          } else {
            write_line("E " + out.status().to_string());
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10 + r() % 40));
        }
      });
    }
    for (auto& t : submitters) t.join();
    // Keep the engine running (until killed) so the provider work goes on.
    while (std::chrono::steady_clock::now() < stop_at) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } catch (const std::exception& e) {
    std::cerr << "wire_crash_worker: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
