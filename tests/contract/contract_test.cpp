// The contract test (DESIGN.md §7): every route of specs/api.md §1.3 plus the
// OpenAI-compatible route, on the happy path and on every error that can be
// provoked, over HTTP against the in-process reference server (provider
// emulators behind it) and through the C ABI, each answer checked against the
// shapes written once in tests/contract/api_contract.json.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "babysea.h"
#include "babysea/service.hpp"
#include "contract_checker.hpp"
#include "contract_support.hpp"
#include "fal_emulator.hpp"
#include "replicate_emulator.hpp"
#include "server/http_client.hpp"
#include "server_app.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace babysea::emu;
using babysea::contract::api_contract;
using babysea::contract::to_string;
using babysea::testing::http_client::Headers;
using babysea::testing::http_client::raw_exchange;
using babysea::testing::http_client::request;
using babysea::testing::http_client::Response;
using std::chrono::milliseconds;
namespace bj = boost::json;

namespace {

const std::string kImageModel = "bfl/flux-schnell";
const std::string kVideoModel = "bytedance/seedance-1-pro";
const std::string kImageBody = R"({"generation_prompt": "a lighthouse at dawn", "generation_ratio": "1:1"})";
const std::string kVideoBody = R"({"generation_prompt": "waves at dusk", "generation_duration": 5})";
const std::string kMissingId = "0190a0a0-0000-7000-8000-000000000000";

bool terminal(const std::string& s) { return s == "succeeded" || s == "failed" || s == "canceled"; }

// The decision on the create response: 202 "Generation accepted" exactly when
// no provider acknowledged within the create wait, and then
// generation_prediction_id "" (a replay answers what was stored: exempt).
void check_ack_rule(const Response& r) {
  if (r.header("idempotency-replayed")) return;
  const auto v = r.json();
  const auto& d = v.at("data");
  if (!d.as_object().contains("generation_prediction_id")) return;  // the canceled form
  const bool unacknowledged = d.at("generation_prediction_id").as_string().empty();
  INFO("the 202 decision: " << r.status << " " << r.body);
  CHECK((r.status == 202) == unacknowledged);
  CHECK((v.at("message").as_string() == "Generation accepted") == unacknowledged);
}

// ---------------------------------------------------------------- HTTP door

struct ServerFixture {
  babysea::testing::TempDir dir;
  ReplicateEmulator rep{EmulatorOptions{.api_key = "r8_contract"}};
  FalEmulator fal{EmulatorOptions{.api_key = "fal_contract"}, "fal-user-1"};
  std::unique_ptr<server::ServerApp> app;
  std::uint16_t port = 0;
  std::string full, monitor, generate_only, read_only, poor;
  std::set<std::string> checked_ops;  // operations whose success answer was checked

  explicit ServerFixture(const std::string& extra = {}, int create_wait_ms = 1500) {
    fast();
    rep.start();
    fal.start();
    std::string cfg = R"({
      "region": "us",
      "api_key_pepper": "contract-test-pepper-0123456789abcdef0123456789",
      "callback_base_url": "http://127.0.0.1:{port}/v1/callbacks",
      "database": {"engine": "memory"},
      "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "http://127.0.0.1:{port}/assets"},
      "providers": {
        "replicate": {"base_url": ")" + rep.base_url() + R"(", "api_token": "r8_contract",
                      "webhook_secrets": [")" + rep.webhook_secret() + R"("]},
        "fal": {"base_url": ")" + fal.base_url() + R"(", "api_key": "fal_contract",
                "jwks_url": ")" + fal.jwks_url() + R"(", "user_id": "fal-user-1"}
      },
      "webhooks": {"enabled": false},
      "net_guard": {"allow_loopback": true, "allow_any_port": true},
      "engine": {"threads": 4, "tick_ms": 50, "retry_delay_ms": 100},
      "server": {"host": "127.0.0.1", "port": 0, "create_wait_ms": )" + std::to_string(create_wait_ms) + R"(,
                 "openai_wait_ms": 20000, "max_body_bytes": 65536, "request_timeout_ms": 5000})" +
                      extra + "}";
    auto started = server::ServerApp::start(cfg);
    if (!started.ok()) FAIL("server start: " << started.status().to_string());
    app = std::move(*started);
    port = app->port();
    Runtime& rt = app->runtime();
    auto issue = [&](const std::string& account, ScopeSet s) {
      auto k = rt.issue_api_key(account, s, "contract");
      REQUIRE(k.ok());
      return k->key;
    };
    full = issue("acct_a", kFullAccess);
    monitor = issue("acct_a", kMonitorOnly);
    generate_only = issue("acct_a", kGenerateOnly);
    read_only = issue("acct_a", kReadOnly);
    poor = issue("acct_poor", kFullAccess);
    REQUIRE(rt.grant_credits("acct_a", 10 * kMicrosPerCredit, "seed-a").ok());
  }

  void fast() {
    for (EmulatorBase* e : {static_cast<EmulatorBase*>(&rep), static_cast<EmulatorBase*>(&fal)}) {
      e->faults().set_job_timing(JobTiming{milliseconds(30), milliseconds(80)});
      e->faults().set_latency(milliseconds(0));
    }
  }
  void slow_jobs() {
    rep.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
    fal.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
  }

  Response call(const std::string& method, const std::string& target, const std::string& key,
                const std::string& body = {}, Headers extra = {}) {
    Headers h = std::move(extra);
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    return request(port, method, target, h, body);
  }

  // The target of `op` with its path placeholder replaced by `param`.
  static std::string target(const std::string& op, const std::string& param = {}, const std::string& query = {}) {
    std::string path(api_contract().operation(op).at("path").as_string());
    const auto open = path.find('{');
    if (open != std::string::npos) path = path.substr(0, open) + param + path.substr(path.find('}', open) + 1);
    return query.empty() ? path : path + "?" + query;
  }

  // Calls `op` and checks its success answer against the contract.
  bj::value ok(const std::string& op, const std::string& key, const std::string& param = {},
               const std::string& query = {}, const std::string& body = {}, Headers extra = {}) {
    const std::string method(api_contract().operation(op).at("method").as_string());
    auto r = call(method, target(op, param, query), key, body, std::move(extra));
    return check_ok(op, r);
  }

  bj::value check_ok(const std::string& op, const Response& r) {
    INFO(op << " -> HTTP " << r.status << " " << r.body.substr(0, 2000));
    REQUIRE(r.ok);
    REQUIRE(r.status / 100 == 2);
    REQUIRE(r.header("content-type"));
    CHECK(r.header("content-type")->find("application/json") == 0);
    bj::value v = r.json();
    auto violations = api_contract().check_success(op, v, r.status);
    INFO("contract violations of " << op << ":\n" << to_string(violations));
    CHECK(violations.empty());
    if (op.rfind("generate", 0) == 0) check_ack_rule(r);
    checked_ops.insert(op);
    return v;
  }

  // Checks an error answer of documented case `error_case`.
  bj::value err(const std::string& error_case, const Response& r, const std::string& op = {}) {
    INFO(error_case << " -> HTTP " << r.status << " " << r.body.substr(0, 2000));
    REQUIRE(r.ok);
    REQUIRE(r.header("content-type"));
    CHECK(r.header("content-type")->find("application/json") == 0);
    bj::value v = r.json();
    auto violations = api_contract().check_error(error_case, v, r.status, std::nullopt, &r.headers, op);
    INFO("contract violations of " << error_case << ":\n" << to_string(violations));
    CHECK(violations.empty());
    return v;
  }

  // Polls content.get (every answer checked) until the status is terminal.
  bj::value wait_terminal(const std::string& id, milliseconds timeout = milliseconds(20'000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    bj::value data;
    while (std::chrono::steady_clock::now() < until) {
      data = ok("content.get", full, id).at("data");
      if (terminal(std::string(data.at("generation_status").as_string()))) return data;
      std::this_thread::sleep_for(milliseconds(40));
    }
    FAIL("generation " << id << " did not finish: " << bj::serialize(data));
    return data;
  }
};

// An HTTP answer read from raw bytes (for refusals sent before the body).
Response parse_raw(const std::string& raw) {
  Response r;
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  std::size_t at = raw.find("\r\n") + 2;
  while (at < head_end) {
    const auto eol = raw.find("\r\n", at);
    const std::string line = raw.substr(at, eol - at);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    at = eol + 2;
  }
  r.body = raw.substr(head_end + 4);
  if (auto cl = r.headers.find("content-length"); cl != r.headers.end())
    r.body = r.body.substr(0, std::stoul(cl->second));
  r.ok = true;
  return r;
}

// ---------------------------------------------------------------- C ABI door

struct AbiOut {
  int rc = -1;
  std::string text;
  bj::value json() const {
    bj::error_code ec;
    auto v = bj::parse(text, ec);
    if (ec) throw std::runtime_error("C ABI answer is not JSON: " + text.substr(0, 300));
    return v;
  }
};

template <typename Fn>
AbiOut abi(Fn&& fn) {
  char* out = nullptr;
  AbiOut r;
  r.rc = fn(&out);
  if (out) r.text = out;
  babysea_free(out);
  return r;
}

struct AbiFixture {
  babysea::testing::TempDir dir;
  ReplicateEmulator rep{EmulatorOptions{.api_key = "r8_contract_abi"}};
  FalEmulator fal{EmulatorOptions{.api_key = "fal_contract_abi"}, "fal-user-2"};
  babysea_engine_t* e = nullptr;
  std::string full, monitor, poor;
  std::set<std::string> checked_ops;

  explicit AbiFixture(const std::string& extra = {}) {
    for (EmulatorBase* em : {static_cast<EmulatorBase*>(&rep), static_cast<EmulatorBase*>(&fal)})
      em->faults().set_job_timing(JobTiming{milliseconds(30), milliseconds(80)});
    rep.start();
    fal.start();
    const std::string cfg = R"({
      "region": "us",
      "api_key_pepper": "contract-abi-pepper-0123456789abcdef0123456789",
      "database": {"engine": "memory"},
      "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "https://app.us.babysea.ai/files"},
      "providers": {
        "replicate": {"base_url": ")" + rep.base_url() + R"(", "api_token": "r8_contract_abi",
                      "webhook_secrets": [")" + rep.webhook_secret() + R"("]},
        "fal": {"base_url": ")" + fal.base_url() + R"(", "api_key": "fal_contract_abi",
                "jwks_url": ")" + fal.jwks_url() + R"(", "user_id": "fal-user-2"}
      },
      "webhooks": {"enabled": false},
      "net_guard": {"allow_loopback": true, "allow_any_port": true},
      "engine": {"threads": 2, "tick_ms": 50, "retry_delay_ms": 100})" + extra + "}";
    const int rc = babysea_engine_create(cfg.c_str(), &e);
    INFO(babysea_engine_last_error(nullptr) << " " << babysea_engine_last_error_json(nullptr));
    REQUIRE(rc == 0);
    REQUIRE(e != nullptr);
    auto key = [&](const std::string& account, const std::string& scopes) {
      auto r = abi([&](char** o) {
        return babysea_api_key_issue(e, account.c_str(), (R"({"scopes":")" + scopes + R"("})").c_str(), o);
      });
      INFO(r.text);
      REQUIRE(r.rc == 0);
      return std::string(r.json().at("data").at("key").as_string());
    };
    REQUIRE(abi([&](char** o) { return babysea_account_create(e, "acct_c", o); }).rc == 0);
    REQUIRE(abi([&](char** o) { return babysea_account_create(e, "acct_poor", o); }).rc == 0);
    full = key("acct_c", "full_access");
    monitor = key("acct_c", "monitor_only");
    poor = key("acct_poor", "full_access");
    REQUIRE(abi([&](char** o) { return babysea_credits_grant(e, "acct_c", "10", "seed-c", o); }).rc == 0);
  }
  ~AbiFixture() { babysea_engine_destroy(e); }

  AbiOut call(const std::string& key, const std::string& op, const std::string& args = "{}") {
    return abi([&](char** o) { return babysea_api_call(e, key.c_str(), op.c_str(), args.c_str(), o); });
  }

  // A success answer of `op` (C ABI: no HTTP status; the return value is 0).
  bj::value check_ok(const std::string& op, const AbiOut& r) {
    INFO(op << " -> rc " << r.rc << " " << r.text.substr(0, 2000));
    REQUIRE(r.rc == 0);
    bj::value v = r.json();
    auto violations = api_contract().check_success(op, v);
    INFO("contract violations of " << op << " (C ABI):\n" << to_string(violations));
    CHECK(violations.empty());
    checked_ops.insert(op);
    return v;
  }
  bj::value ok(const std::string& op, const std::string& args = "{}") { return check_ok(op, call(full, op, args)); }

  bj::value err(const std::string& error_case, const AbiOut& r, const std::string& op = {}) {
    INFO(error_case << " -> rc " << r.rc << " " << r.text.substr(0, 2000));
    REQUIRE(r.rc != 0);
    bj::value v = r.json();
    auto violations = api_contract().check_error(error_case, v, std::nullopt, r.rc, nullptr, op);
    INFO("contract violations of " << error_case << " (C ABI):\n" << to_string(violations));
    CHECK(violations.empty());
    return v;
  }

  bj::value wait_terminal(const std::string& id, milliseconds timeout = milliseconds(20'000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    bj::value data;
    while (std::chrono::steady_clock::now() < until) {
      data = check_ok("content.get", abi([&](char** o) { return babysea_generation_get(e, full.c_str(), id.c_str(), o); }))
                 .at("data");
      if (terminal(std::string(data.at("generation_status").as_string()))) return data;
      std::this_thread::sleep_for(milliseconds(40));
    }
    FAIL("generation " << id << " did not finish: " << bj::serialize(data));
    return data;
  }
};

std::set<std::string> ops_of_door(const std::string& door) {
  std::set<std::string> out;
  for (const auto& [name, op] : api_contract().operations())
    for (const auto& d : op.at("doors").as_array())
      if (d.as_string() == door) out.emplace(name);
  return out;
}

// "{model}" and "{model_identifier}" name the same placeholder.
std::string normalize_route(std::string_view route) {
  std::string out;
  bool in = false;
  for (char c : route) {
    if (c == '{') {
      in = true;
      out += "{}";
    } else if (c == '}') {
      in = false;
    } else if (!in) {
      out += c;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("contract: the contract names every operation of the service, with its method, route and scope",
          "[contract]") {
  const auto& c = api_contract();
  std::set<std::string> named;
  for (const auto& info : operations()) {
    const std::string name(info.name);
    INFO(name);
    named.insert(name);
    REQUIRE(c.operations().contains(name));
    const auto& op = c.operation(name);
    CHECK(op.at("method").as_string() == info.method);
    CHECK(normalize_route(op.at("path").as_string()) == normalize_route(info.route));
    CHECK(op.at("scope").as_string() == scope_name(info.scope));
  }
  for (const auto& [name, op] : c.operations()) {
    INFO(std::string(name));
    CHECK(named.count(std::string(name)) == 1);
  }
  // api.md §1.3: seventeen routes, plus the OpenAI-compatible one, over HTTP.
  CHECK(ops_of_door("http").size() == 18);
}

TEST_CASE("contract: HTTP, every route on the happy path", "[contract][http]") {
  ServerFixture f;
  const auto& c = api_contract();

  // Catalog, estimate, account and health routes.
  auto models = f.ok("library.models", f.monitor).at("data");
  CHECK(models.at("models_total").as_int64() == static_cast<std::int64_t>(models.at("models").as_array().size()));
  auto providers = f.ok("library.providers", f.monitor).at("data");
  CHECK(providers.at("providers_total").as_int64() ==
        static_cast<std::int64_t>(providers.at("providers").as_array().size()));
  f.ok("estimate", f.full, kImageModel, "count=2");
  f.ok("estimate", f.full, kVideoModel, "duration=5&resolution=1080p");
  f.ok("status", f.full);
  f.ok("user.account", f.full);
  f.ok("user.billing", f.full);
  f.ok("health.storage", f.monitor);
  f.ok("health.cache", f.monitor);

  // An image generation: created, replayed, polled through its states.
  auto created = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody,
                        {{"Idempotency-Key", "contract:image"}});
  f.check_ok("generate.image", created);
  const std::string image_id(created.json().at("data").at("generation_id").as_string());
  auto replay = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody,
                       {{"Idempotency-Key", "contract:image"}});
  f.check_ok("generate.image", replay);
  REQUIRE(replay.header("idempotency-replayed"));
  CHECK(*replay.header("idempotency-replayed") == "true");
  CHECK(replay.json().at("data").at("generation_id").as_string() == image_id);
  auto image = f.wait_terminal(image_id);
  CHECK(image.at("generation_status").as_string() == "succeeded");

  // A video generation.
  auto video = f.call("POST", ServerFixture::target("generate.video", kVideoModel), f.full, kVideoBody);
  f.check_ok("generate.video", video);
  const std::string video_id(video.json().at("data").at("generation_id").as_string());
  CHECK(f.wait_terminal(video_id).at("generation_status").as_string() == "succeeded");

  // A failed one (every provider's job fails): the record's failed form.
  f.rep.faults().fail_next(3);
  f.fal.faults().fail_next(3);
  auto doomed = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody);
  f.check_ok("generate.image", doomed);
  auto failed = f.wait_terminal(std::string(doomed.json().at("data").at("generation_id").as_string()));
  CHECK(failed.at("generation_status").as_string() == "failed");
  f.rep.faults().clear();
  f.fal.faults().clear();

  // A canceled one, then the replay of its key: the canceled form (§2.4, §9.29).
  f.slow_jobs();
  auto to_cancel = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody,
                          {{"Idempotency-Key", "contract:cancel"}});
  f.check_ok("generate.image", to_cancel);
  const std::string cancel_id(to_cancel.json().at("data").at("generation_id").as_string());
  auto pending = f.ok("content.get", f.full, cancel_id).at("data");  // not terminal: its own form
  CHECK_FALSE(terminal(std::string(pending.at("generation_status").as_string())));
  auto receipt = f.ok("content.cancel", f.full, cancel_id).at("data");
  CHECK(receipt.at("credits_refunded").as_bool());
  CHECK(f.wait_terminal(cancel_id).at("generation_status").as_string() == "canceled");
  auto canceled_replay = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody,
                                {{"Idempotency-Key", "contract:cancel"}});
  f.check_ok("generate.image", canceled_replay);
  {
    auto v = c.check_definition(canceled_replay.json().at("data"), "generation_canceled_form", "$.data");
    INFO(canceled_replay.body << "\n" << to_string(v));
    CHECK(v.empty());
  }
  f.fast();

  // Not acknowledged within the create wait: 202 "Generation accepted", prediction id "".
  f.rep.faults().set_latency(milliseconds(2'500));
  f.fal.faults().set_latency(milliseconds(2'500));
  auto accepted = f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody);
  f.check_ok("generate.image", accepted);
  CHECK(accepted.status == 202);
  f.fast();

  // List, delete, the removed record, usage, provider and model health.
  auto list = f.ok("content.list", f.full, {}, "limit=20&offset=0");
  CHECK(list.at("limit").as_int64() == 20);
  CHECK(list.at("offset").as_int64() == 0);
  CHECK(list.at("total").as_int64() >= 5);
  auto del = f.ok("content.delete", f.full, image_id).at("data");
  CHECK(del.at("files_deleted").as_int64() == static_cast<std::int64_t>(image.at("generation_output_file").as_array().size()));
  auto removed = f.ok("content.get", f.full, image_id).at("data");
  CHECK(removed.as_object().contains("generation_removed"));
  f.ok("usage", f.full, {}, "days=7");
  auto hp = f.ok("health.providers", f.monitor).at("data");
  for (const auto& p : hp.at("providers").as_array()) {
    const auto& w = p.at("window");
    CHECK(w.at("failures").as_int64() + w.at("successes").as_int64() == w.at("total_attempts").as_int64());
  }
  f.ok("health.models", f.monitor);

  // The OpenAI-compatible route answers OpenAI's shape.
  f.ok("openai.images", f.full, {}, {}, R"({"model": "bfl/flux-schnell", "prompt": "a red fox", "n": 1})");

  // Every HTTP operation's success answer was checked.
  for (const auto& op : ops_of_door("http")) {
    INFO("not checked over HTTP: " << op);
    CHECK(f.checked_ops.count(op) == 1);
  }
}

TEST_CASE("contract: HTTP, every documented error that can be provoked", "[contract][http]") {
  ServerFixture f;
  const std::string image = ServerFixture::target("generate.image", kImageModel);

  // 401 BSE1001: no key, an invalid key, a non-Bearer scheme.
  f.err("unauthenticated", f.call("GET", "/v1/status", ""));
  f.err("unauthenticated", f.call("GET", "/v1/status", "bye_0000000000000000_notarealkey"));
  f.err("unauthenticated", request(f.port, "GET", "/v1/content/list", {{"Authorization", "Basic Zm9vOmJhcg=="}}));
  f.err("unauthenticated", f.call("POST", image, "", kImageBody));

  // 403 BSE1002: keys without the route's scope (§9.32).
  f.err("forbidden", f.call("GET", "/v1/status", f.monitor));
  f.err("forbidden", f.call("POST", ServerFixture::target("content.cancel", kMissingId), f.generate_only));
  f.err("forbidden", f.call("POST", image, f.read_only, kImageBody));
  f.err("forbidden", f.call("GET", "/v1/health/storage", f.generate_only));

  // 402 BSE1004.
  f.err("insufficient_credits", f.call("POST", image, f.poor, kImageBody));

  // 400 BSE2001 with details.issues.
  f.err("invalid_request", f.call("POST", image, f.full, R"({"generation_prompt": "x", "generation_ratio": "7:3"})"));
  f.err("invalid_request", f.call("POST", image, f.full, R"({"generation_prompt": "x", "generation_bogus": 1})"));
  f.err("invalid_request", f.call("POST", image, f.full, R"({"generation_ratio": "1:1"})"));
  f.err("invalid_request", f.call("POST", ServerFixture::target("generate.video", kVideoModel), f.full,
                                  R"({"generation_prompt": "waves"})"));  // §9.8: no generation_duration
  f.err("invalid_request", f.call("POST", image, f.full, kImageBody, {{"Idempotency-Key", "has space"}}));
  f.err("invalid_request", f.call("GET", "/v1/content/list?limit=101", f.full));
  f.err("invalid_request", f.call("GET", "/v1/usage?days=91", f.full));
  f.err("invalid_request", f.call("GET", "/v1/estimate/bfl/flux-schnell?count=abc", f.full));

  // 404 BSE2002.
  f.err("model_not_found", f.call("POST", "/v1/generate/image/nobody/nothing", f.full, kImageBody));
  f.err("model_not_found", f.call("GET", "/v1/estimate/nobody/nothing", f.full));

  // 413 BSE2003: a body over server.max_body_bytes (refused before it is read).
  {
    auto raw = raw_exchange(f.port, "POST " + image + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.full +
                                        "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
    auto r = parse_raw(raw.data);
    INFO(raw.data);
    f.err("payload_too_large", r);
  }

  // 415 BSE2004.
  f.err("unsupported_media_type",
        request(f.port, "POST", image, {{"Authorization", "Bearer " + f.full}, {"Content-Type", "text/plain"}},
                kImageBody));

  // 422 BSE2005: input files on private or this server's own addresses.
  const std::string with_input = ServerFixture::target("generate.image", "runway/gen4-image");
  for (const std::string& url : std::vector<std::string>{"http://10.0.0.1/a.png", "http://192.168.1.20/a.png",
                                                          "http://127.0.0.1:" + std::to_string(f.port) + "/assets/x/0.png"}) {
    INFO(url);
    f.err("url_forbidden", f.call("POST", with_input, f.full,
                                  R"({"generation_prompt": "x", "generation_input_file": [")" + url + R"("]})"));
  }

  // 400 BSE2006: a model of the other type on a typed route.
  f.err("route_mismatch", f.call("POST", ServerFixture::target("generate.video", kImageModel), f.full, kImageBody));
  f.err("route_mismatch", f.call("POST", ServerFixture::target("generate.image", kVideoModel), f.full, kVideoBody));

  // 422 BSE2015: the same Idempotency-Key with a different body.
  auto first = f.call("POST", image, f.full, kImageBody, {{"Idempotency-Key", "contract:conflict"}});
  f.check_ok("generate.image", first);
  const std::string first_id(first.json().at("data").at("generation_id").as_string());
  f.err("idempotency_conflict", f.call("POST", image, f.full, R"({"generation_prompt": "something else"})",
                                       {{"Idempotency-Key", "contract:conflict"}}));

  // 409 BSE2016: the same key and body while the original is still executing.
  {
    f.rep.faults().set_latency(milliseconds(1'000));
    f.fal.faults().set_latency(milliseconds(1'000));
    std::vector<Response> out(4);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < out.size(); ++i)
      threads.emplace_back([&, i] {
        out[i] = f.call("POST", image, f.full, kImageBody, {{"Idempotency-Key", "contract:concurrent"}});
      });
    for (auto& t : threads) t.join();
    int in_progress = 0;
    for (const auto& r : out) {
      if (r.status / 100 == 2) {
        f.check_ok("generate.image", r);
      } else {
        f.err("idempotency_in_progress", r);
        ++in_progress;
      }
    }
    CHECK(in_progress >= 1);
    f.fast();
  }

  // 404 BSE3001: unknown generation ids (and an unknown route).
  f.err("not_found", f.call("GET", ServerFixture::target("content.get", kMissingId), f.full));
  f.err("not_found", f.call("DELETE", ServerFixture::target("content.delete", kMissingId), f.full));
  f.err("not_found", f.call("POST", ServerFixture::target("content.cancel", kMissingId), f.full));
  f.err("not_found", f.call("GET", "/v1/nope", f.full));

  // 409 BSE3002: cancel of a terminal generation; delete of a running one.
  f.wait_terminal(first_id);
  f.err("invalid_state", f.call("POST", ServerFixture::target("content.cancel", first_id), f.full));
  f.slow_jobs();
  auto running = f.call("POST", image, f.full, kImageBody);
  f.check_ok("generate.image", running);
  const std::string running_id(running.json().at("data").at("generation_id").as_string());
  f.err("invalid_state", f.call("DELETE", ServerFixture::target("content.delete", running_id), f.full));
  f.ok("content.cancel", f.full, running_id);
  f.fast();

  // 502 BSE4001: every provider refuses the submit outright (a non-retryable
  // 400), so the chain is exhausted within the create wait. api.md §2.2: "If
  // submission fails synchronously on every provider, the generate POST itself
  // returns an error envelope carrying provider_errors"; §8.2 one entry per
  // provider tried.
  {
    f.rep.faults().http_error_next(20, 400, emu::Op::submit);
    f.fal.faults().http_error_next(20, 400, emu::Op::submit);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f.call("POST", image, f.full, kImageBody);
    const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.body);
    CHECK(took < 5'000);  // answered within the create wait, not after it
    {
      auto v = f.err("providers_failed", r);
      // One item per provider tried: a refusal of the input itself (400) fails
      // fast, so the chain stops at the first provider (router.md error classes).
      REQUIRE(v.at("error").as_object().contains("provider_errors"));
      const auto& items = v.at("error").at("provider_errors").as_array();
      REQUIRE(items.size() == 1);
      CHECK(items[0].at("provider").as_string() == "replicate");
    }
    f.rep.faults().clear();
    f.fal.faults().clear();
  }

  // 405 with Allow.
  f.err("method_not_allowed", f.call("PUT", "/v1/status", f.full));
  f.err("method_not_allowed", f.call("POST", "/v1/library/models", f.full));
  f.err("method_not_allowed", f.call("PATCH", ServerFixture::target("content.get", kMissingId), f.full));
}

TEST_CASE("contract: HTTP, 429 BSE1003 with the rate-limit headers", "[contract][http]") {
  ServerFixture f(R"(, "rate_limits": {"per_key": {"limit": 2, "window_ms": 60000}})");
  f.ok("status", f.full);
  f.ok("user.account", f.full);
  f.err("rate_limited", f.call("GET", "/v1/status", f.full));
  f.err("rate_limited", f.call("POST", ServerFixture::target("generate.image", kImageModel), f.full, kImageBody));
}

TEST_CASE("contract: C ABI, every operation on the happy path", "[contract][capi]") {
  AbiFixture f;
  // By name (babysea_api_call), each operation's document.
  f.ok("library.models");
  f.ok("library.providers");
  f.ok("health.providers");
  f.ok("health.models");
  f.ok("health.storage");
  f.ok("health.cache");
  f.ok("status");
  f.ok("user.account");
  f.ok("user.billing");
  f.ok("usage", R"({"query": {"days": 7}})");
  f.ok("estimate", R"({"path_param": "bfl/flux-schnell", "query": {"count": 2}})");
  f.ok("estimate", R"({"path_param": "bytedance/seedance-1-pro", "query": {"duration": 5, "resolution": "1080p"}})");

  // generate.* by name do not wait for the acknowledgement: "Generation accepted".
  auto img = f.ok("generate.image", R"({"path_param": "bfl/flux-schnell", "body": )" + kImageBody +
                                        R"(, "idempotency_key": "abi:image"})");
  const std::string image_id(img.at("data").at("generation_id").as_string());
  auto vid = f.ok("generate.video", R"({"path_param": "bytedance/seedance-1-pro", "body": )" + kVideoBody + "}");
  auto gen = f.ok("generate", R"({"path_param": "bfl/flux-schnell", "body": )" + kImageBody + "}");
  f.ok("content.get", R"({"path_param": ")" + image_id + R"("})");
  f.ok("content.list", R"({"query": {"limit": 10, "offset": 0}})");
  auto done = f.wait_terminal(image_id);
  CHECK(done.at("generation_status").as_string() == "succeeded");
  for (const auto& url : done.at("generation_output_file").as_array())  // §9.16, under the public asset base URL
    CHECK(std::string(url.as_string()).rfind("https://app.us.babysea.ai/files/", 0) == 0);
  f.wait_terminal(std::string(vid.at("data").at("generation_id").as_string()));
  f.wait_terminal(std::string(gen.at("data").at("generation_id").as_string()));
  f.ok("content.delete", R"({"path_param": ")" + image_id + R"("})");
  f.ok("openai.images", R"({"body": {"model": "bfl/flux-schnell", "prompt": "a red fox"}})");

  // The typed functions answer the same documents.
  auto submitted = f.check_ok("generate", abi([&](char** o) {
    return babysea_generation_submit(f.e, f.full.c_str(), "bfl/flux-schnell", kImageBody.c_str(), "abi:typed",
                                     R"({"type":"image","wait_for_ack_ms":5000})", o);
  }));
  const std::string typed_id(submitted.at("data").at("generation_id").as_string());
  CHECK_FALSE(submitted.at("data").at("generation_prediction_id").as_string().empty());  // acknowledged in time
  f.check_ok("content.get", abi([&](char** o) { return babysea_generation_get(f.e, f.full.c_str(), typed_id.c_str(), o); }));
  f.check_ok("content.list", abi([&](char** o) { return babysea_generation_list(f.e, f.full.c_str(), 5, 0, o); }));
  f.check_ok("estimate", abi([&](char** o) {
    return babysea_estimate(f.e, f.full.c_str(), "bfl/flux-schnell", R"({"count":3})", o);
  }));
  f.check_ok("usage", abi([&](char** o) { return babysea_usage(f.e, f.full.c_str(), 30, o); }));
  f.wait_terminal(typed_id);
  f.check_ok("content.delete",
             abi([&](char** o) { return babysea_generation_delete(f.e, f.full.c_str(), typed_id.c_str(), o); }));
  f.rep.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
  f.fal.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
  auto slow = f.check_ok("generate", abi([&](char** o) {
    return babysea_generation_submit(f.e, f.full.c_str(), "bfl/flux-schnell", kImageBody.c_str(), "abi:cancel", nullptr, o);
  }));
  const std::string slow_id(slow.at("data").at("generation_id").as_string());
  f.check_ok("content.cancel",
             abi([&](char** o) { return babysea_generation_cancel(f.e, f.full.c_str(), slow_id.c_str(), o); }));
  // A replay of the canceled generation's key: the canceled form.
  auto replay = f.check_ok("generate", abi([&](char** o) {
    return babysea_generation_submit(f.e, f.full.c_str(), "bfl/flux-schnell", kImageBody.c_str(), "abi:cancel", nullptr, o);
  }));
  CHECK(api_contract().check_definition(replay.at("data"), "generation_canceled_form", "$.data").empty());

  for (const auto& op : ops_of_door("capi")) {
    INFO("not checked through the C ABI: " << op);
    CHECK(f.checked_ops.count(op) == 1);
  }
}

TEST_CASE("contract: C ABI, a representative set of errors", "[contract][capi]") {
  AbiFixture f;
  const std::string image_args = R"({"path_param": "bfl/flux-schnell", "body": )" + kImageBody + "}";
  f.err("unauthenticated", f.call("bye_0000000000000000_notarealkey", "status"));
  f.err("unauthenticated", abi([&](char** o) { return babysea_generation_get(f.e, "bye_wrong", kMissingId.c_str(), o); }));
  f.err("forbidden", f.call(f.monitor, "status"));
  f.err("forbidden", f.call(f.monitor, "generate.image", image_args));
  f.err("insufficient_credits", f.call(f.poor, "generate.image", image_args));
  f.err("insufficient_credits", abi([&](char** o) {
    return babysea_generation_submit(f.e, f.poor.c_str(), "bfl/flux-schnell", kImageBody.c_str(), nullptr, nullptr, o);
  }));
  f.err("invalid_request", f.call(f.full, "generate.image",
                                  R"({"path_param": "bfl/flux-schnell", "body": {"generation_prompt": "x", "generation_ratio": "7:3"}})"));
  f.err("invalid_request", abi([&](char** o) { return babysea_generation_list(f.e, f.full.c_str(), 0, 0, o); }));
  f.err("invalid_request", abi([&](char** o) { return babysea_usage(f.e, f.full.c_str(), 91, o); }));
  f.err("model_not_found", f.call(f.full, "estimate", R"({"path_param": "nobody/nothing"})"));
  f.err("model_not_found", abi([&](char** o) { return babysea_estimate(f.e, f.full.c_str(), "no/such-model", nullptr, o); }));
  f.err("url_forbidden", f.call(f.full, "generate.image",
                                R"({"path_param": "runway/gen4-image", "body": {"generation_prompt": "x", "generation_input_file": ["http://10.0.0.1/a.png"]}})"));
  f.err("route_mismatch", f.call(f.full, "generate.video", image_args));
  f.err("route_mismatch", abi([&](char** o) {
    return babysea_generation_submit(f.e, f.full.c_str(), "bfl/flux-schnell", kImageBody.c_str(), nullptr,
                                     R"({"type":"video"})", o);
  }));
  auto first = f.check_ok("generate.image", f.call(f.full, "generate.image",
                                                   R"({"path_param": "bfl/flux-schnell", "body": )" + kImageBody +
                                                       R"(, "idempotency_key": "abi:conflict"})"));
  f.err("idempotency_conflict",
        f.call(f.full, "generate.image",
               R"({"path_param": "bfl/flux-schnell", "body": {"generation_prompt": "other"}, "idempotency_key": "abi:conflict"})"));
  f.err("not_found", f.call(f.full, "content.get", R"({"path_param": ")" + kMissingId + R"("})"));
  f.err("not_found", abi([&](char** o) { return babysea_generation_cancel(f.e, f.full.c_str(), kMissingId.c_str(), o); }));
  f.err("not_found", abi([&](char** o) { return babysea_generation_delete(f.e, f.full.c_str(), kMissingId.c_str(), o); }));
  const std::string first_id(first.at("data").at("generation_id").as_string());
  f.wait_terminal(first_id);
  f.err("invalid_state", abi([&](char** o) { return babysea_generation_cancel(f.e, f.full.c_str(), first_id.c_str(), o); }));
  f.err("invalid_state", f.call(f.full, "content.cancel", R"({"path_param": ")" + first_id + R"("})"));
}

TEST_CASE("contract: C ABI, 429 BSE1003", "[contract][capi]") {
  AbiFixture f(R"(, "rate_limits": {"per_key": {"limit": 2, "window_ms": 60000}})");
  f.ok("status");
  f.ok("user.account");
  f.err("rate_limited", f.call(f.full, "status"));
  f.err("rate_limited", abi([&](char** o) { return babysea_usage(f.e, f.full.c_str(), 30, o); }));
}
