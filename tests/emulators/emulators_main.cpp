// babysea-emulators — runs provider emulators as a standalone process.
//
//   babysea-emulators --config <file.json>
//
// Config (every key optional; a provider is started only when its key is present):
//   {
//     "address": "127.0.0.1",
//     "replicate": {"port": 0, "api_key": "...", "webhook_secret": "whsec_...", <common>},
//     "fal":       {"port": 0, "api_key": "...", "user_id": "...", <common>},
//     "bfl":       {"port": 0, "api_key": "...", <common>},
//     "openai":    {"port": 0, "api_key": "...", <common>},
//     "runway":    {"port": 0, "api_key": "...", "min_poll_interval_ms": 5000,
//                   "enforce_poll_interval": false, <common>},
//     "alibabacloud": {"port": 0, "api_key": "...", <common>},
//     "byteplus":  {"port": 0, "api_key": "...", <common>},
//     "cloudflare": {"port": 0, "api_key": "...", "account_id": "<32 hex>", <common>}
//   }
//   <common>: "latency_ms", "queued_ms", "running_ms", "output_ttl_ms", "threads"
// Once every emulator listens it prints one JSON line on stdout:
//   {"replicate":"http://127.0.0.1:PORT",...,"replicate_webhook_secret":"whsec_...",
//    "fal_jwks_url":"http://127.0.0.1:PORT/.well-known/jwks.json","fal_user_id":"..."}
// and runs until SIGTERM or SIGINT. Exit codes: 0 clean stop, 2 bad usage or
// config, 1 cannot listen.
#include <signal.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "alibabacloud_emulator.hpp"
#include "bfl_emulator.hpp"
#include "byteplus_emulator.hpp"
#include "cloudflare_emulator.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "runway_emulator.hpp"

namespace json = boost::json;
using namespace babysea::emu;

namespace {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::int64_t get_int(const json::object& o, std::string_view key, std::int64_t def, std::int64_t lo, std::int64_t hi) {
  auto it = o.find(key);
  if (it == o.end()) return def;
  if (!it->value().is_int64()) throw ConfigError(std::string(key) + " must be an integer");
  auto v = it->value().as_int64();
  if (v < lo || v > hi) throw ConfigError(std::string(key) + " out of range");
  return v;
}

std::string get_string(const json::object& o, std::string_view key, std::string def) {
  auto it = o.find(key);
  if (it == o.end()) return def;
  if (!it->value().is_string()) throw ConfigError(std::string(key) + " must be a string");
  return std::string(it->value().as_string());
}

void check_keys(const json::object& o, const std::vector<std::string_view>& allowed, std::string_view where) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto a : allowed) ok = ok || kv.key() == a;
    if (!ok) throw ConfigError("unknown key " + std::string(kv.key()) + " in " + std::string(where));
  }
}

const json::object* section(const json::object& root, std::string_view name) {
  auto it = root.find(name);
  if (it == root.end()) return nullptr;
  if (!it->value().is_object()) throw ConfigError(std::string(name) + " must be an object");
  return &it->value().as_object();
}

EmulatorOptions common(const json::object& o, const std::string& address, std::string_view default_key) {
  EmulatorOptions opt;
  opt.address = address;
  opt.port = static_cast<std::uint16_t>(get_int(o, "port", 0, 0, 65535));
  opt.threads = static_cast<int>(get_int(o, "threads", 2, 1, 8));
  opt.api_key = get_string(o, "api_key", std::string(default_key));
  return opt;
}

void apply_faults(EmulatorBase& e, const json::object& o) {
  auto& f = e.faults();
  f.set_latency(std::chrono::milliseconds(get_int(o, "latency_ms", 0, 0, 3'600'000)));
  JobTiming t;
  t.queued = std::chrono::milliseconds(get_int(o, "queued_ms", 100, 0, 86'400'000));
  t.running = std::chrono::milliseconds(get_int(o, "running_ms", 200, 0, 86'400'000));
  f.set_job_timing(t);
  f.set_output_ttl(std::chrono::milliseconds(get_int(o, "output_ttl_ms", 0, 0, 86'400'000)));
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.starts_with("--config=")) {
      path = a.substr(9);
    } else {
      std::cerr << "usage: babysea-emulators --config <file.json>\n";
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "usage: babysea-emulators --config <file.json>\n";
    return 2;
  }

  // Signals are taken synchronously by sigwait; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::unique_ptr<EmulatorBase>> running;
  json::object out;
  try {
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    auto doc = json::parse(ss.str(), ec);
    if (ec || !doc.is_object()) throw ConfigError("config is not a JSON object");
    const auto& root = doc.as_object();
    check_keys(root, {"address", "replicate", "fal", "bfl", "openai", "runway", "alibabacloud", "byteplus", "cloudflare"},
               "config");
    std::string address = get_string(root, "address", "127.0.0.1");
    // A provider whose section holds only the common keys (plus `extra`):
    // made, faulted per the section, started, its base URL printed.
    auto plain = [&](const char* name, std::initializer_list<std::string_view> extra, auto make) {
      const auto* s = section(root, name);
      if (!s) return;
      std::vector<std::string_view> keys = {"port", "threads", "api_key", "latency_ms", "queued_ms", "running_ms",
                                            "output_ttl_ms"};
      keys.insert(keys.end(), extra.begin(), extra.end());
      check_keys(*s, keys, name);
      std::unique_ptr<EmulatorBase> e = make(*s);
      apply_faults(*e, *s);
      e->start();
      out[name] = e->base_url();
      running.push_back(std::move(e));
    };

    if (const auto* s = section(root, "replicate")) {
      check_keys(*s, {"port", "threads", "api_key", "webhook_secret", "latency_ms", "queued_ms", "running_ms",
                      "output_ttl_ms"},
                 "replicate");
      auto e = std::make_unique<ReplicateEmulator>(common(*s, address, "r8_emulated"),
                                                   get_string(*s, "webhook_secret", ""));
      apply_faults(*e, *s);
      e->start();
      out["replicate"] = e->base_url();
      out["replicate_webhook_secret"] = e->webhook_secret();
      running.push_back(std::move(e));
    }
    if (const auto* s = section(root, "fal")) {
      check_keys(*s, {"port", "threads", "api_key", "user_id", "latency_ms", "queued_ms", "running_ms",
                      "output_ttl_ms"},
                 "fal");
      auto e = std::make_unique<FalEmulator>(common(*s, address, "fal_emulated"),
                                             get_string(*s, "user_id", "emulated-fal-user"));
      apply_faults(*e, *s);
      e->start();
      out["fal"] = e->base_url();
      out["fal_jwks_url"] = e->jwks_url();
      out["fal_user_id"] = e->user_id();
      running.push_back(std::move(e));
    }
    plain("bfl", {}, [&](const json::object& s) {
      return std::make_unique<BflEmulator>(common(s, address, "bfl_emulated"));
    });
    plain("openai", {}, [&](const json::object& s) {
      return std::make_unique<OpenAiEmulator>(common(s, address, "sk-emulated"));
    });
    plain("alibabacloud", {}, [&](const json::object& s) {
      return std::make_unique<AlibabaCloudEmulator>(common(s, address, "sk-dashscope-emulated"));
    });
    plain("byteplus", {}, [&](const json::object& s) {
      return std::make_unique<BytePlusEmulator>(common(s, address, "ark-emulated"));
    });
    plain("cloudflare", {"account_id"}, [&](const json::object& s) {
      return std::make_unique<CloudflareEmulator>(common(s, address, "cf-emulated"),
                                                  get_string(s, "account_id", CloudflareEmulator::kDefaultAccount));
    });
    if (const auto* s = section(root, "runway")) {
      check_keys(*s, {"port", "threads", "api_key", "latency_ms", "queued_ms", "running_ms", "output_ttl_ms",
                      "min_poll_interval_ms", "enforce_poll_interval"},
                 "runway");
      auto e = std::make_unique<RunwayEmulator>(common(*s, address, "rw_emulated"));
      apply_faults(*e, *s);
      e->set_min_poll_interval(std::chrono::milliseconds(get_int(*s, "min_poll_interval_ms", 5000, 0, 3'600'000)));
      if (auto it = s->find("enforce_poll_interval"); it != s->end()) {
        if (!it->value().is_bool()) throw ConfigError("enforce_poll_interval must be a boolean");
        e->set_enforce_poll_interval(it->value().as_bool());
      }
      e->start();
      out["runway"] = e->base_url();
      running.push_back(std::move(e));
    }
  } catch (const ConfigError& e) {
    std::cerr << "babysea-emulators: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "babysea-emulators: " << e.what() << "\n";
    return 1;
  }

  std::cout << json::serialize(out) << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  for (auto& e : running) e->stop();
  return 0;
}
