// The reference server in-process (ServerApp on port 0) against the provider
// emulators, over real HTTP: every route, the error shapes, protocol
// refusals, idempotent replay, a full generation with a verified customer
// webhook, a cancel, usage and health, Stripe and provider callbacks, and the
// OpenAI-compatible route.
#include <catch2/catch.hpp>
#include <sodium.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api.hpp"
#include "babysea/stripe.hpp"
#include "emulator_server.hpp"
#include "fal_emulator.hpp"
#include "http_client.hpp"
#include "replicate_emulator.hpp"
#include "server_app.hpp"
#include "support/testing.hpp"

using namespace babysea;
using namespace babysea::emu;
using babysea::testing::http_client::Headers;
using babysea::testing::http_client::raw_exchange;
using babysea::testing::http_client::request;
using babysea::testing::http_client::Response;
using std::chrono::milliseconds;
namespace bj = boost::json;

namespace {

const std::string kStripeSecret = "whsec_stripe_test_secret";
constexpr std::string_view kMetricsToken = "metrics-token-for-tests-0123";

// Records customer webhook deliveries.
class HookReceiver {
 public:
  HookReceiver() {
    server_.route("POST", "/hook", [this](const EmuRequest& r) {
      std::lock_guard lock(mu_);
      got_.push_back(r);
      cv_.notify_all();
      if (fail_next_ > 0) {
        --fail_next_;
        return EmuResponse::text(500, "try again");
      }
      return EmuResponse::text(200, "ok");
    });
    server_.start();
  }
  std::string url() const { return server_.base_url() + "/hook"; }
  void fail_next(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }
  // Every delivery of `event` for `generation_id` received so far.
  std::vector<EmuRequest> all(const std::string& event, const std::string& generation_id) {
    std::lock_guard lock(mu_);
    std::vector<EmuRequest> out;
    for (const auto& r : got_) {
      auto v = bj::parse(r.body);
      if (v.at("webhook_event").as_string() == event &&
          v.at("webhook_data").at("generation_id").as_string() == generation_id)
        out.push_back(r);
    }
    return out;
  }
  // Waits until a delivery of `event` arrived; returns it.
  std::optional<EmuRequest> wait_event(const std::string& event, const std::string& generation_id,
                                       milliseconds timeout = milliseconds(15'000)) {
    std::unique_lock lock(mu_);
    std::optional<EmuRequest> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& r : got_) {
        auto v = bj::parse(r.body);
        if (v.at("webhook_event").as_string() == event &&
            v.at("webhook_data").at("generation_id").as_string() == generation_id) {
          found = r;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  EmulatorServer server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EmuRequest> got_;
  int fail_next_ = 0;
};

std::string hex(const unsigned char* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

// Verifies X-BabySea-Signature the way the SDK's verifyWebhook does.
bool verify_babysea_signature(const std::string& header, const std::string& body, const std::string& secret) {
  std::string t, v1;
  std::size_t start = 0;
  while (start <= header.size()) {
    auto comma = header.find(',', start);
    std::string part = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (t.empty() && part.rfind("t=", 0) == 0) t = part.substr(2);
    if (v1.empty() && part.rfind("v1=", 0) == 0) v1 = part.substr(3);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (t.empty() || v1.empty()) return false;
  std::string msg = t + "." + body;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, mac);
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  return hex(mac, sizeof mac) == v1 && std::llabs(now - std::stoll(t)) <= 300;
}

struct Fixture {
  babysea::testing::TempDir dir;
  ReplicateEmulator rep{EmulatorOptions{.api_key = "r8_server_test"}};
  FalEmulator fal{EmulatorOptions{.api_key = "fal_server_test"}, "fal-user-1"};
  HookReceiver hooks;
  std::unique_ptr<server::ServerApp> app;
  std::uint16_t port = 0;
  std::string full, full_b, monitor, generate_only, read_only, poor;

  // `extra`: more top-level config members; `assets_extra`: more members of
  // "assets"; `server_extra`: more members of "server".
  explicit Fixture(const std::string& extra = {}, const std::string& assets_extra = {},
                   const std::string& server_extra = {}) {
    rep.faults().set_job_timing(JobTiming{milliseconds(50), milliseconds(150)});
    fal.faults().set_job_timing(JobTiming{milliseconds(50), milliseconds(150)});
    rep.start();
    fal.start();
    std::string cfg = R"({
      "region": "us",
      "api_key_pepper": "server-test-pepper-0123456789abcdef0123456789",
      "callback_base_url": "http://127.0.0.1:{port}/v1/callbacks",
      "database": {"engine": "memory"},
      "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "http://127.0.0.1:{port}/assets")" +
                      assets_extra + R"(},
      "providers": {
        "replicate": {"base_url": ")" + rep.base_url() + R"(", "api_token": "r8_server_test",
                      "webhook_secrets": [")" + rep.webhook_secret() + R"("]},
        "fal": {"base_url": ")" + fal.base_url() + R"(", "api_key": "fal_server_test",
                "jwks_url": ")" + fal.jwks_url() + R"(", "user_id": "fal-user-1"}
      },
      "stripe": {"endpoint_secrets": [")" + kStripeSecret + R"("],
                 "packs": [{"price_id": "price_small", "credits": "5", "amount_cents": 500}]},
      "webhooks": {"enabled": true, "idle_poll_ms": 100, "retry_schedule_ms": [0, 200, 500]},
      "net_guard": {"allow_loopback": true, "allow_any_port": true},
      "engine": {"threads": 4, "tick_ms": 50, "retry_delay_ms": 200},
      "server": {"host": "127.0.0.1", "port": 0, "create_wait_ms": 3000, "openai_wait_ms": 20000,
                 "max_body_bytes": 65536, "max_header_bytes": 8192, "request_timeout_ms": 5000,
                 "metrics_token": ")" + std::string(kMetricsToken) + R"(")" +
                      server_extra + "}" + extra + "}";
    auto started = server::ServerApp::start(cfg);
    if (!started.ok()) FAIL("server start: " << started.status().to_string());
    app = std::move(*started);
    port = app->port();
    Runtime& rt = app->runtime();
    auto issue = [&](const std::string& account, ScopeSet s) {
      auto k = rt.issue_api_key(account, s, "test");
      REQUIRE(k.ok());
      return k->key;
    };
    full = issue("acct_a", kFullAccess);
    full_b = issue("acct_b", kFullAccess);
    monitor = issue("acct_a", kMonitorOnly);
    generate_only = issue("acct_a", kGenerateOnly);
    read_only = issue("acct_a", kReadOnly);
    poor = issue("acct_poor", kFullAccess);
    REQUIRE(rt.grant_credits("acct_a", 10 * kMicrosPerCredit, "seed-a").ok());
    REQUIRE(rt.grant_credits("acct_b", 10 * kMicrosPerCredit, "seed-b").ok());
  }

  Response call(const std::string& method, const std::string& target, const std::string& key,
                const std::string& body = {}, Headers extra = {}) {
    Headers h = std::move(extra);
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    return request(port, method, target, h, body);
  }

  // Polls GET /v1/content/{id} until the status is terminal.
  bj::value wait_terminal(const std::string& id, const std::string& key, milliseconds timeout = milliseconds(20'000)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    bj::value last;
    while (std::chrono::steady_clock::now() < until) {
      auto r = call("GET", "/v1/content/" + id, key);
      REQUIRE(r.status == 200);
      last = r.json().at("data");
      std::string s(last.at("generation_status").as_string());
      if (s == "succeeded" || s == "failed" || s == "canceled") return last;
      std::this_thread::sleep_for(milliseconds(50));
    }
    FAIL("generation did not finish: " << bj::serialize(last));
    return last;
  }
};

void check_error_shape(const Response& r, int status, const std::string& code, const std::string& type) {
  INFO(r.body);
  REQUIRE(r.ok);
  CHECK(r.status == status);
  REQUIRE(r.header("content-type"));
  CHECK(r.header("content-type")->find("application/json") == 0);
  auto v = r.json();
  CHECK(v.at("status").as_string() == "error");
  CHECK(v.at("request_id").is_string());
  CHECK(v.at("error").at("code").as_string() == code);
  CHECK(v.at("error").at("type").as_string() == type);
  CHECK(v.at("error").at("message").is_string());
  CHECK(v.at("error").at("retryable").is_bool());
}

// Body without its per-request fields, for byte-identity comparisons.
std::string stable_body(const Response& r) {
  auto v = r.json();
  v.as_object().erase("request_id");
  v.as_object().erase("timestamp");
  return bj::serialize(v);
}

// A response header's value, empty when absent.
std::string header_of(const Response& r, const char* name) {
  const std::string* v = r.header(name);
  return v ? *v : std::string();
}

const std::string kSchnell = R"({"generation_prompt": "a lighthouse at dawn", "generation_ratio": "1:1"})";

}  // namespace

TEST_CASE("server: authentication, scopes and error shapes", "[server]") {
  Fixture f;
  auto r = f.call("GET", "/v1/status", "");
  check_error_shape(r, 401, "BSE1001", "unauthenticated");
  CHECK_FALSE(r.json().at("error").at("retryable").as_bool());
  auto bad = f.call("GET", "/v1/status", "bye_0000000000000000_notarealkey");
  check_error_shape(bad, 401, "BSE1001", "unauthenticated");
  CHECK(stable_body(bad) == stable_body(r));
  auto basic = request(f.port, "GET", "/v1/status", {{"Authorization", "Basic Zm9vOmJhcg=="}});
  check_error_shape(basic, 401, "BSE1001", "unauthenticated");

  check_error_shape(f.call("GET", "/v1/status", f.monitor), 403, "BSE1002", "forbidden");
  check_error_shape(f.call("POST", "/v1/content/generation/cancel/0190a0a0-0000-7000-8000-000000000000", f.generate_only),
                    403, "BSE1002", "forbidden");
  check_error_shape(f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.read_only, kSchnell), 403, "BSE1002",
                    "forbidden");

  // Status, account, billing.
  auto st = f.call("GET", "/v1/status", f.full);
  REQUIRE(st.status == 200);
  auto sv = st.json();
  CHECK(sv.at("status").as_string() == "success");
  CHECK(sv.at("message").is_string());
  CHECK(sv.at("timestamp").is_string());
  CHECK(sv.at("data").at("account_id").as_string() == "acct_a");
  CHECK(sv.at("data").at("apikey_id").is_string());
  CHECK(sv.at("data").at("apikey_prefix").as_string().starts_with("bye_"));
  CHECK(sv.at("data").at("apikey_last_used_at").is_string());  // this very call used it
  REQUIRE(st.header("x-request-id"));
  CHECK(*st.header("x-request-id") == std::string(sv.at("request_id").as_string()));
  REQUIRE(st.header("x-ratelimit-limit"));
  REQUIRE(st.header("x-ratelimit-remaining"));
  REQUIRE(st.header("x-ratelimit-reset"));
  auto acct = f.call("GET", "/v1/user/account", f.full);
  REQUIRE(acct.status == 200);
  CHECK(acct.json().at("data").at("account_id").as_string() == "acct_a");
  auto bill = f.call("GET", "/v1/user/billing", f.full);
  REQUIRE(bill.status == 200);
  CHECK(bill.json().at("data").at("billing_credit_balance").to_number<double>() == Approx(10.0));

  // An expired key is answered like any invalid key.
  const std::int64_t now_ms = f.app->runtime().clock().now_ms();
  auto short_lived = f.app->runtime().issue_api_key("acct_a", kFullAccess, "short", now_ms + 1'000);
  REQUIRE(short_lived.ok());
  CHECK(f.call("GET", "/v1/status", short_lived->key).status == 200);
  std::this_thread::sleep_for(milliseconds(1'200));
  auto expired = f.call("GET", "/v1/status", short_lived->key);
  check_error_shape(expired, 401, "BSE1001", "unauthenticated");
  CHECK(stable_body(expired) == stable_body(r));

  // Unknown route, wrong method.
  check_error_shape(f.call("GET", "/v1/nope", f.full), 404, "BSE3001", "not_found");
  check_error_shape(f.call("PUT", "/v1/status", f.full), 405, "BSE2001", "method_not_allowed");
  check_error_shape(f.call("POST", "/v1/status", f.full), 405, "BSE2001", "method_not_allowed");
}

TEST_CASE("server: library, estimate, health, metrics", "[server]") {
  Fixture f;
  auto models = f.call("GET", "/v1/library/models", f.monitor);
  REQUIRE(models.status == 200);
  auto mv = models.json().at("data");
  CHECK(mv.at("models_total").as_int64() == static_cast<std::int64_t>(mv.at("models").as_array().size()));
  for (const auto& m : mv.at("models").as_array()) {
    CHECK_FALSE(m.at("schema").at("generation_ratio").as_array().empty());
    CHECK_FALSE(m.at("schema").at("generation_output_format").as_array().empty());
  }
  auto providers = f.call("GET", "/v1/library/providers", f.monitor);
  REQUIRE(providers.status == 200);
  // Only providers with an adapter: all eight of the API.
  const auto pv = providers.json().at("data");
  CHECK(pv.at("providers_total").as_int64() == 8);
  std::set<std::string> ids;
  for (const auto& p : pv.at("providers").as_array())
    ids.insert(std::string(p.at("provider_id").as_string()));
  CHECK(ids == std::set<std::string>{"alibabacloud", "bfl", "byteplus", "cloudflare", "fal", "openai", "replicate",
                                     "runway"});

  auto est = f.call("GET", "/v1/estimate/bfl/flux-schnell?count=4", f.full);
  INFO(est.body);
  REQUIRE(est.status == 200);
  auto ev = est.json().at("data");
  CHECK(ev.at("model_identifier").as_string() == "bfl/flux-schnell");
  CHECK(ev.at("cost_total_consumed").to_number<double>() == Approx(4 * ev.at("cost_per_generation").to_number<double>()));
  check_error_shape(f.call("GET", "/v1/estimate/bfl/flux-schnell?count=abc", f.full), 400, "BSE2001",
                    "invalid_request");
  check_error_shape(f.call("GET", "/v1/estimate/nobody/nothing", f.full), 404, "BSE2002", "model_not_found");

  for (std::string path : {"/v1/health/inference/providers", "/v1/health/inference/models", "/v1/health/storage",
                           "/v1/health/cache"}) {
    auto h = f.call("GET", path, f.monitor);
    INFO(path << " " << h.body);
    REQUIRE(h.status == 200);
    CHECK(h.json().at("data").is_object());
  }
  {
    // No shared cache configured: {service, healthy:false, latency_ms, error}.
    auto cache = f.call("GET", "/v1/health/cache", f.monitor).json().at("data");
    CHECK(cache.at("service").as_string() == "redis");
    CHECK_FALSE(cache.at("healthy").as_bool());
    CHECK(cache.at("latency_ms").is_number());
    CHECK(cache.at("error").as_string() == "no shared cache configured");
  }
  CHECK(f.call("GET", "/v1/health/storage", f.monitor).json().at("data").at("healthy").as_bool());
  check_error_shape(f.call("GET", "/v1/health/storage", f.generate_only), 403, "BSE1002", "forbidden");

  // /metrics only for the holder of the metrics token (not an API key).
  auto metrics = request(f.port, "GET", "/metrics", {{"Authorization", "Bearer " + std::string(kMetricsToken)}});
  REQUIRE(metrics.status == 200);
  CHECK(metrics.header("content-type")->find("text/plain") == 0);
  CHECK(metrics.body.find("babysea_") != std::string::npos);
  for (const Headers& h : {Headers{}, Headers{{"Authorization", "Bearer " + f.full}},
                           Headers{{"Authorization", "Bearer " + std::string(kMetricsToken) + "x"}},
                           Headers{{"Authorization", "Basic " + std::string(kMetricsToken)}},
                           Headers{{"Authorization", "Bearer " + std::string(kMetricsToken).substr(1)}}}) {
    auto denied = request(f.port, "GET", "/metrics", h);
    check_error_shape(denied, 401, "BSE1001", "unauthenticated");
    CHECK(denied.body.find("babysea_") == std::string::npos);
    REQUIRE(denied.header("www-authenticate"));
  }

  auto pre = request(f.port, "OPTIONS", "/v1/status",
                     {{"Origin", "https://example.com"}, {"Access-Control-Request-Method", "GET"}});
  CHECK(pre.status == 200);
  REQUIRE(pre.header("access-control-expose-headers"));
  CHECK(pre.header("access-control-expose-headers")->find("Idempotency-Replayed") != std::string::npos);
}

TEST_CASE("server: a full image generation, webhook, replay, list, delete, usage", "[server]") {
  Fixture f;
  WebhookEndpointSpec spec;
  spec.url = f.hooks.url();
  spec.secret = "whsec_hook_test_secret";
  auto ep = f.app->runtime().webhook_endpoints().create("acct_a", spec);
  INFO(ep.status().to_string());
  REQUIRE(ep.ok());

  auto created = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell, {{"Idempotency-Key", "job:1"}});
  INFO(created.body);
  REQUIRE(created.status == 200);
  CHECK_FALSE(created.header("idempotency-replayed"));
  auto data = created.json().at("data");
  const std::string id(data.at("generation_id").as_string());
  CHECK(data.at("model_identifier").as_string() == "bfl/flux-schnell");
  CHECK(data.at("generation_initialized").as_bool());
  REQUIRE(data.at("generation_provider_order").is_array());

  auto g = f.wait_terminal(id, f.full);
  INFO(bj::serialize(g));
  REQUIRE(g.at("generation_status").as_string() == "succeeded");
  // The attempts, in order: here one, on the provider used.
  const auto& attempts = g.at("generation_attempts").as_array();
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0].at("attempt").as_int64() == 1);
  CHECK(attempts[0].at("provider") == g.at("generation_provider_used"));
  CHECK(attempts[0].at("state").as_string() == "succeeded");
  CHECK(attempts[0].at("outcome").as_string() == "used");
  CHECK_FALSE(attempts[0].as_object().contains("error"));
  auto outputs = g.at("generation_output_file").as_array();
  REQUIRE_FALSE(outputs.empty());
  std::string url(outputs[0].as_string());
  const std::string base = "http://127.0.0.1:" + std::to_string(f.port);
  REQUIRE(url.rfind(base + "/assets/", 0) == 0);
  auto file = request(f.port, "GET", url.substr(base.size()));
  CHECK(file.status == 200);
  CHECK_FALSE(file.body.empty());
  CHECK(request(f.port, "GET", "/assets/../etc/passwd").status == 404);

  // The customer webhook: started then completed, signed.
  auto completed = f.hooks.wait_event("generation.completed", id);
  REQUIRE(completed);
  REQUIRE(completed->header("x-babysea-signature"));
  CHECK(verify_babysea_signature(*completed->header("x-babysea-signature"), completed->body, "whsec_hook_test_secret"));
  CHECK_FALSE(verify_babysea_signature(*completed->header("x-babysea-signature"), completed->body + " ", "whsec_hook_test_secret"));
  CHECK(completed->header("x-babysea-event") == std::optional<std::string>("generation.completed"));
  CHECK(completed->header("x-babysea-delivery-id"));
  CHECK(f.hooks.wait_event("generation.started", id));

  // Replay: same key, same body.
  auto replay = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell, {{"Idempotency-Key", "job:1"}});
  REQUIRE(replay.status == 200);
  REQUIRE(replay.header("idempotency-replayed"));
  CHECK(*replay.header("idempotency-replayed") == "true");
  CHECK(replay.json().at("data").at("generation_id").as_string() == id);
  // Same key, different body: BSE2015, not retryable.
  auto conflict = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full,
                         R"({"generation_prompt": "something else"})", {{"Idempotency-Key", "job:1"}});
  check_error_shape(conflict, 422, "BSE2015", "idempotency_conflict");
  CHECK_FALSE(conflict.json().at("error").at("retryable").as_bool());
  // Invalid keys.
  check_error_shape(f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell, {{"Idempotency-Key", "has space"}}),
                    400, "BSE2001", "invalid_request");
  check_error_shape(f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell,
                           {{"Idempotency-Key", std::string(256, 'k')}}),
                    400, "BSE2001", "invalid_request");

  // Another account sees nothing: byte-identical to a missing id.
  auto foreign = f.call("GET", "/v1/content/" + id, f.full_b);
  auto missing = f.call("GET", "/v1/content/0190a0a0-0000-7000-8000-000000000000", f.full_b);
  check_error_shape(foreign, 404, "BSE3001", "not_found");
  CHECK(stable_body(foreign) == stable_body(missing));
  check_error_shape(f.call("DELETE", "/v1/content/" + id, f.full_b), 404, "BSE3001", "not_found");

  // List.
  auto list = f.call("GET", "/v1/content/list?limit=20&offset=0", f.full);
  REQUIRE(list.status == 200);
  auto lv = list.json();
  CHECK(lv.at("total").as_int64() >= 1);
  CHECK(lv.at("limit").as_int64() == 20);
  CHECK(lv.at("offset").as_int64() == 0);
  CHECK(lv.at("data").at("generations").is_array());
  check_error_shape(f.call("GET", "/v1/content/list?limit=101", f.full), 400, "BSE2001", "invalid_request");

  // Cancel of a terminal generation: 409.
  check_error_shape(f.call("POST", "/v1/content/generation/cancel/" + id, f.full), 409, "BSE3002", "invalid_state");

  // Usage.
  auto usage = f.call("GET", "/v1/usage?days=7", f.full);
  INFO(usage.body);
  REQUIRE(usage.status == 200);
  CHECK(usage.json().at("data").at("account_id").as_string() == "acct_a");
  check_error_shape(f.call("GET", "/v1/usage?days=91", f.full), 400, "BSE2001", "invalid_request");

  // Delete: files gone, record stays with generation_removed.
  auto del = f.call("DELETE", "/v1/content/" + id, f.full);
  INFO(del.body);
  REQUIRE(del.status == 200);
  CHECK(del.json().at("data").at("files_deleted").as_int64() == static_cast<std::int64_t>(outputs.size()));
  CHECK(request(f.port, "GET", url.substr(base.size())).status == 404);
  auto after = f.call("GET", "/v1/content/" + id, f.full);
  REQUIRE(after.status == 200);
  CHECK(after.json().at("data").at("generation_removed").as_bool());
}

TEST_CASE("server: cancel refunds; validation, credits and route errors", "[server]") {
  Fixture f;
  f.rep.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
  f.fal.faults().set_job_timing(JobTiming{milliseconds(3'000), milliseconds(10'000)});
  auto before = f.app->runtime().balance("acct_a");
  REQUIRE(before.ok());
  auto created = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell);
  INFO(created.body);
  REQUIRE(created.status == 200);
  const std::string id(created.json().at("data").at("generation_id").as_string());
  auto cancel = f.call("POST", "/v1/content/generation/cancel/" + id, f.full);
  INFO(cancel.body);
  REQUIRE(cancel.status == 200);
  auto cv = cancel.json().at("data");
  CHECK(cv.at("generation_status").as_string() == "canceled");
  CHECK(cv.at("credits_refunded").as_bool());
  CHECK(f.wait_terminal(id, f.full).at("generation_status").as_string() == "canceled");
  auto after = f.app->runtime().balance("acct_a");
  REQUIRE(after.ok());
  CHECK(after->available() == before->available());
  check_error_shape(f.call("POST", "/v1/content/generation/cancel/" + id, f.full), 409, "BSE3002", "invalid_state");

  // Validation with issues.
  auto bad = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full,
                    R"({"generation_prompt": "x", "generation_ratio": "7:3"})");
  check_error_shape(bad, 400, "BSE2001", "invalid_request");
  auto issues = bad.json().at("error").at("details").at("issues").as_array();
  REQUIRE_FALSE(issues.empty());
  CHECK(issues[0].at("field").as_string() == "generation_ratio");
  check_error_shape(f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full,
                           R"({"generation_prompt": "x", "generation_bogus": 1})"),
                    400, "BSE2001", "invalid_request");
  // Route / model type mismatch, unknown model, media type, SSRF.
  check_error_shape(f.call("POST", "/v1/generate/video/bfl/flux-schnell", f.full, kSchnell), 400, "BSE2006",
                    "invalid_request");
  check_error_shape(f.call("POST", "/v1/generate/image/nobody/nothing", f.full, kSchnell), 404, "BSE2002",
                    "model_not_found");
  check_error_shape(request(f.port, "POST", "/v1/generate/image/bfl/flux-schnell",
                            {{"Authorization", "Bearer " + f.full}, {"Content-Type", "text/plain"}}, kSchnell),
                    415, "BSE2004", "unsupported_media_type");
  check_error_shape(f.call("POST", "/v1/generate/image/runway/gen4-image", f.full,
                           R"({"generation_prompt": "x", "generation_input_file": ["http://10.0.0.1/a.png"]})"),
                    422, "BSE2005", "url_forbidden");
  // Insufficient credits.
  auto poor = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.poor, kSchnell);
  check_error_shape(poor, 402, "BSE1004", "insufficient_credits");
  CHECK_FALSE(poor.json().at("error").at("retryable").as_bool());
}

TEST_CASE("server: protocol refusals close the connection", "[server]") {
  Fixture f;
  const std::string good =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kMetricsToken) + "\r\n\r\n";
  auto expect_refusal = [&](const std::string& bytes, const std::string& status_line) {
    auto r = raw_exchange(f.port, bytes + good);
    INFO(bytes << " -> " << r.data);
    CHECK(r.data.rfind(status_line, 0) == 0);
    CHECK(r.closed);
    // Exactly one response: the pipelined request behind it was not processed.
    std::size_t n = 0;
    for (auto at = r.data.find("HTTP/1.1 "); at != std::string::npos; at = r.data.find("HTTP/1.1 ", at + 1)) ++n;
    CHECK(n == 1);
  };
  expect_refusal("POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 "HTTP/1.1 400");
  expect_refusal("POST /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                 "HTTP/1.1 400");
  expect_refusal("POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 "HTTP/1.1 400");
  expect_refusal("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405");
  expect_refusal("CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 4");
  expect_refusal("POST /v1/status HTTP/1.1\r\nHost: x\r\nX-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\n\r\n",
                 "HTTP/1.1 400");
  expect_refusal("GET http://evil.example/v1/status HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400");
  expect_refusal("GET /v1/status HTTP/1.1\r\n\r\n", "HTTP/1.1 400");
  expect_refusal("GET /v1/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400");
  expect_refusal("GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n", "HTTP/1.1 431");
  expect_refusal("POST /v1/generate/image/bfl/flux-schnell HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
                 "HTTP/1.1 413");
  expect_refusal("POST /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                 "HTTP/1.1 400");
  // A well-formed keep-alive pipeline gets both answers.
  auto ok = raw_exchange(f.port, good + "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                     std::string(kMetricsToken) + "\r\nConnection: close\r\n\r\n");
  std::size_t n = 0;
  for (auto at = ok.data.find("HTTP/1.1 200"); at != std::string::npos; at = ok.data.find("HTTP/1.1 200", at + 1)) ++n;
  CHECK(n == 2);
}

TEST_CASE("server: rate limits answer 429 with headers", "[server]") {
  Fixture f(R"(, "rate_limits": {"per_key": {"limit": 3, "window_ms": 60000}})");
  Response last;
  for (int i = 0; i < 4; ++i) last = f.call("GET", "/v1/status", f.full);
  check_error_shape(last, 429, "BSE1003", "rate_limited");
  CHECK(last.json().at("error").at("retryable").as_bool());
  REQUIRE(last.header("retry-after"));
  CHECK(std::stoll(*last.header("retry-after")) >= 1);
  REQUIRE(last.header("x-ratelimit-limit"));
  CHECK(*last.header("x-ratelimit-limit") == "3");
  CHECK(last.header("x-ratelimit-remaining"));
  CHECK(last.header("x-ratelimit-reset"));
  // A 429 creates nothing, and forwarding headers do not change the bucket.
  auto more = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell,
                     {{"X-Forwarded-For", "10.9.8.7"}, {"Idempotency-Key", "rl-1"}});
  check_error_shape(more, 429, "BSE1003", "rate_limited");
}

TEST_CASE("server: Stripe and provider callbacks", "[server]") {
  Fixture f;
  const std::string event = R"({"id":"evt_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_1","object":"checkout.session","payment_status":"paid","mode":"payment","client_reference_id":"acct_a","payment_intent":"pi_1","amount_total":500,"currency":"usd","metadata":{"account_id":"acct_a","price_id":"price_small"}}}})";
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
  auto bad = request(f.port, "POST", "/v1/webhooks/stripe",
                     {{"Stripe-Signature", "t=" + std::to_string(now) + ",v1=00"}, {"Content-Type", "application/json"}},
                     event);
  INFO(bad.body);
  CHECK(bad.status == 400);
  auto good = request(f.port, "POST", "/v1/webhooks/stripe",
                      {{"Stripe-Signature", stripe_signature_header(kStripeSecret, now, event)},
                       {"Content-Type", "application/json"}},
                      event);
  INFO(good.body);
  REQUIRE(good.status == 200);
  CHECK(good.json().at("data").at("effect").as_string() == "granted");
  auto bal = f.app->runtime().balance("acct_a");
  REQUIRE(bal.ok());
  CHECK(bal->available() == 15 * kMicrosPerCredit);
  // Redelivery: a 2xx no-op.
  auto dup = request(f.port, "POST", "/v1/webhooks/stripe",
                     {{"Stripe-Signature", stripe_signature_header(kStripeSecret, now, event)},
                      {"Content-Type", "application/json"}},
                     event);
  REQUIRE(dup.status == 200);
  CHECK(dup.json().at("data").at("effect").as_string() == "duplicate");
  CHECK(f.app->runtime().balance("acct_a")->available() == 15 * kMicrosPerCredit);

  auto cb = request(f.port, "POST", "/v1/callbacks/replicate",
                    {{"webhook-id", "msg_1"}, {"webhook-timestamp", std::to_string(now)},
                     {"webhook-signature", "v1,AAAA"}, {"Content-Type", "application/json"}},
                    R"({"id":"p1","status":"succeeded"})");
  INFO(cb.body);
  CHECK(cb.status == 401);
  CHECK(cb.json().at("error").at("type").as_string() == "invalid_signature");
}

TEST_CASE("server: OpenAI-compatible images route", "[server]") {
  Fixture f;
  auto r = f.call("POST", "/v1/images/generations", f.full,
                  R"({"model": "bfl/flux-schnell", "prompt": "a red fox", "n": 1, "size": "1024x1024"})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto v = r.json();
  CHECK(v.at("created").is_int64());
  REQUIRE(v.at("data").as_array().size() >= 1);
  CHECK(v.at("data").as_array()[0].at("url").is_string());
  const std::string url(v.at("data").as_array()[0].at("url").as_string());
  const std::string base = "http://127.0.0.1:" + std::to_string(f.port);
  REQUIRE(url.rfind(base + "/assets/", 0) == 0);
  CHECK(request(f.port, "GET", url.substr(base.size())).status == 200);  // the signed link downloads

  auto b64 = f.call("POST", "/v1/images/generations", f.full,
                    R"({"model": "bfl/flux-schnell", "prompt": "a red fox", "response_format": "b64_json"})");
  INFO(b64.body);
  REQUIRE(b64.status == 200);
  CHECK_FALSE(b64.json().at("data").as_array()[0].at("b64_json").as_string().empty());

  auto unauth = f.call("POST", "/v1/images/generations", "", R"({"prompt": "x"})");
  CHECK(unauth.status == 401);
  CHECK(unauth.json().at("error").at("code").as_string() == "invalid_api_key");
  auto nomodel = f.call("POST", "/v1/images/generations", f.full, R"({"model": "dall-e-9", "prompt": "x"})");
  CHECK(nomodel.status == 404);
  CHECK(nomodel.json().at("error").at("type").is_string());
  auto size = f.call("POST", "/v1/images/generations", f.full,
                     R"({"model": "bfl/flux-schnell", "prompt": "x", "size": "1000x7"})");
  CHECK(size.status == 400);
  CHECK(size.json().at("error").at("param").as_string() == "size");
}

TEST_CASE("server: a webhook redelivery keeps its delivery id with a fresh signature", "[server]") {
  Fixture f;
  WebhookEndpointSpec spec;
  spec.url = f.hooks.url();
  spec.secret = "whsec_redelivery_secret";
  spec.events = {"generation.completed"};
  REQUIRE(f.app->runtime().webhook_endpoints().create("acct_a", spec).ok());
  f.hooks.fail_next(1);
  auto created = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell);
  REQUIRE(created.status == 200);
  const std::string id(created.json().at("data").at("generation_id").as_string());
  REQUIRE(f.wait_terminal(id, f.full).at("generation_status").as_string() == "succeeded");
  auto until = std::chrono::steady_clock::now() + milliseconds(15'000);
  std::vector<EmuRequest> got;
  while (std::chrono::steady_clock::now() < until) {
    got = f.hooks.all("generation.completed", id);
    if (got.size() >= 2) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  REQUIRE(got.size() >= 2);
  CHECK(got[0].header("x-babysea-delivery-id") == got[1].header("x-babysea-delivery-id"));
  CHECK(bj::parse(got[0].body).at("webhook_delivery_id") == bj::parse(got[1].body).at("webhook_delivery_id"));
  for (const auto& r : got)
    CHECK(verify_babysea_signature(*r.header("x-babysea-signature"), r.body, "whsec_redelivery_secret"));
}

TEST_CASE("server: concurrent duplicates create one generation", "[server]") {
  Fixture f;
  f.rep.faults().set_latency(milliseconds(800));
  f.fal.faults().set_latency(milliseconds(800));
  std::vector<Response> out(6);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < out.size(); ++i)
    threads.emplace_back([&, i] {
      out[i] = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell, {{"Idempotency-Key", "dup:1"}});
    });
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  int in_progress = 0;
  for (const auto& r : out) {
    INFO(r.body);
    if (r.status == 200) {
      ids.insert(std::string(r.json().at("data").at("generation_id").as_string()));
    } else {
      check_error_shape(r, 409, "BSE2016", "idempotency_in_progress");
      CHECK(r.json().at("error").at("retryable").as_bool());
      ++in_progress;
    }
  }
  CHECK(ids.size() == 1);
  auto list = f.call("GET", "/v1/content/list", f.full);
  REQUIRE(list.status == 200);
  CHECK(list.json().at("total").as_int64() == 1);
}

namespace {

// What a refusal must leave unchanged: the ledger (balances and journal) and
// the account's generations and webhook endpoints.
struct Durable {
  Micros posted = 0, pending = 0;
  std::size_t entries = 0, endpoints = 0;
  std::int64_t generations = 0;
  bool operator==(const Durable&) const = default;
};

Durable durable(Fixture& f) {
  Runtime& rt = f.app->runtime();
  Durable d;
  auto b = rt.balance("acct_a");
  REQUIRE(b.ok());
  d.posted = b->posted();
  d.pending = b->pending_debits;
  auto st = rt.statement("acct_a", 100000);
  REQUIRE(st.ok());
  d.entries = st->size();
  auto eps = rt.webhook_endpoints().list("acct_a");
  REQUIRE(eps.ok());
  d.endpoints = eps->size();
  REQUIRE(rt.store().read([&](UnitOfWork& u) {
    std::vector<GenerationRow> rows;
    return u.generations().list_for_account("acct_a", 0, 1000, rows, d.generations);
  }).ok());
  return d;
}

}  // namespace

TEST_CASE("server: every error code maps to a deliberate HTTP class", "[server]") {
  int walked = 0;
  for (int c = 1; c < 200; ++c) {
    const Code code = static_cast<Code>(c);
    if (code_name(code) == "unknown") continue;
    ++walked;
    const auto cls = babysea::wire_error(code);
    INFO(code_name(code) << " -> " << cls.http << " " << cls.bse);
    const bool internal = code == Code::internal || code == Code::storage_error || code == Code::corruption;
    CHECK((cls.http == 500) == internal);
    CHECK(cls.http >= 400);
    CHECK(cls.http <= 504);
    CHECK(std::string(cls.bse).size() == 7);
  }
  CHECK(walked >= 24);
  CHECK(babysea::wire_error(Code::unsupported).http == 404);
  CHECK(babysea::wire_error(Code::unsupported_media_type).http == 415);
  CHECK(babysea::wire_error(Code::unavailable).http == 503);
}

TEST_CASE("server: a callback to a provider that sends none is a client error, not a 500", "[server]") {
  babysea::testing::TempDir dir;
  std::string cfg = R"({
    "api_key_pepper": "callback-test-pepper-0123456789abcdef0123456789",
    "callback_base_url": "http://127.0.0.1:{port}/v1/callbacks",
    "database": {"engine": "memory"},
    "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "http://127.0.0.1:{port}/assets"},
    "providers": {"openai": {"base_url": "http://127.0.0.1:9", "api_key": "sk-test"},
                  "runway": {"base_url": "http://127.0.0.1:9", "api_key": "rw-test"}},
    "server": {"port": 0}
  })";
  auto app = server::ServerApp::start(cfg);
  REQUIRE(app.ok());
  for (const char* provider : {"openai", "runway"}) {
    INFO(provider);
    auto r = request((*app)->port(), "POST", std::string("/v1/callbacks/") + provider,
                     {{"Content-Type", "application/json"}}, R"({"id":"x","status":"succeeded"})");
    check_error_shape(r, 404, "BSE3001", "unsupported");
  }
}

TEST_CASE("server: JSON bodies are application/json in UTF-8 only; integers are JSON integers", "[server]") {
  Fixture f;
  const auto before = durable(f);
  const std::string gen = "/v1/generate/image/bfl/flux-schnell";
  for (const char* type : {"application/json; charset=utf-16", "application/json;charset=latin1",
                           "application/json; charset=utf-8; charset=utf-8", "application/json; foo=bar",
                           "application/json;", "application/jsonx", "text/json", "application/json, text/plain"}) {
    INFO(type);
    check_error_shape(request(f.port, "POST", gen, {{"Authorization", "Bearer " + f.full}, {"Content-Type", type}},
                              kSchnell),
                      415, "BSE2004", "unsupported_media_type");
  }
  check_error_shape(request(f.port, "POST", gen,
                            {{"Authorization", "Bearer " + f.full},
                             {"Content-Type", "application/json"},
                             {"Content-Type", "application/json"}},
                            kSchnell),
                    415, "BSE2004", "unsupported_media_type");
  // The OpenAI-compatible route takes the same media types.
  auto oa = request(f.port, "POST", "/v1/images/generations",
                    {{"Authorization", "Bearer " + f.full}, {"Content-Type", "application/json; charset=utf-16"}},
                    R"({"prompt":"x","model":"bfl/flux-schnell"})");
  CHECK(oa.status == 415);
  for (const char* seed : {"4.0", "4e0", "4E+0", "40e-1"}) {
    INFO(seed);
    auto r = f.call("POST", gen, f.full, std::string(R"({"generation_prompt":"x","generation_seed":)") + seed + "}");
    check_error_shape(r, 400, "BSE2001", "invalid_request");
    CHECK(r.json().at("error").at("details").at("issues").at(0).at("code").as_string() == "invalid_type");
  }
  CHECK(durable(f) == before);
  // The accepted forms of the media type still create generations.
  for (const char* type : {"application/json", "Application/JSON; Charset=UTF-8", "application/json;charset=\"utf-8\""}) {
    INFO(type);
    auto r = request(f.port, "POST", gen, {{"Authorization", "Bearer " + f.full}, {"Content-Type", type}},
                     R"({"generation_prompt":"x","generation_seed":4})");
    CHECK(r.status == 200);
  }
}

TEST_CASE("server: URLs that reach the server itself or parse differently are refused", "[server]") {
  Fixture f;
  const auto before = durable(f);
  const std::string self = "http://127.0.0.1:" + std::to_string(f.port);
  for (const std::string& url : {self + "/hook", "http://localhost:" + std::to_string(f.port) + "/x",
                                 "http://127.0.0.2:" + std::to_string(f.port) + "/x"}) {
    INFO(url);
    WebhookEndpointSpec spec;
    spec.url = url;
    auto ep = f.app->runtime().webhook_endpoints().create("acct_a", spec);
    REQUIRE_FALSE(ep.ok());
    CHECK(ep.code() == Code::url_forbidden);
    CHECK(ep.status().issues().front().code == "self");
  }
  for (const std::string& url : {self + "/assets/x/0.png", std::string("http://8.8.8.8.localtest.me/a.png"),
                                 std::string("http://127.0.0.1:8o/a.png")}) {
    INFO(url);
    check_error_shape(f.call("POST", "/v1/generate/image/runway/gen4-image", f.full,
                             R"({"generation_prompt": "x", "generation_input_file": [")" + url + R"("]})"),
                      422, "BSE2005", "url_forbidden");
  }
  // Webhook endpoints only for existing accounts.
  WebhookEndpointSpec spec;
  spec.url = f.hooks.url();
  CHECK(f.app->runtime().webhook_endpoints().create("acct_nobody", spec).code() == Code::not_found);
  CHECK(durable(f) == before);
}

namespace {

// The one value of query parameter `name` in `url` ("" when absent).
std::string url_param(const std::string& url, const std::string& name) {
  const auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::size_t at = q + 1;
  while (at <= url.size()) {
    const auto amp = url.find('&', at);
    const std::string pair = url.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  return {};
}

// A succeeded generation's output URLs as GET /v1/content/{id} returns them.
std::vector<std::string> succeeded_outputs(Fixture& f, std::string* id_out = nullptr) {
  auto created = f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.full, kSchnell);
  INFO(created.body);
  REQUIRE(created.status == 200);
  const std::string id(created.json().at("data").at("generation_id").as_string());
  auto g = f.wait_terminal(id, f.full);
  INFO(bj::serialize(g));
  REQUIRE(g.at("generation_status").as_string() == "succeeded");
  std::vector<std::string> out;
  for (const auto& u : g.at("generation_output_file").as_array()) out.emplace_back(u.as_string());
  REQUIRE_FALSE(out.empty());
  if (id_out) *id_out = id;
  return out;
}

}  // namespace

TEST_CASE("server: asset links are signed and expire; a bad link answers like a missing file", "[server][assets]") {
  Fixture f;
  const AssetUrlSigner* signer = f.app->runtime().asset_url_signer();
  REQUIRE(signer != nullptr);
  CHECK(signer->lifetime() == std::chrono::seconds(3600));
  WebhookEndpointSpec spec;
  spec.url = f.hooks.url();
  REQUIRE(f.app->runtime().webhook_endpoints().create("acct_a", spec).ok());
  std::string id;
  const auto outputs = succeeded_outputs(f, &id);
  const std::string base = "http://127.0.0.1:" + std::to_string(f.port);
  const std::string& url = outputs[0];
  REQUIRE(url.rfind(base + "/assets/" + id + "/", 0) == 0);
  const std::string target = url.substr(base.size());
  const std::string path = target.substr(0, target.find('?'));
  const std::string expires = url_param(url, "expires");
  const std::string signature = url_param(url, "signature");
  REQUIRE_FALSE(expires.empty());
  REQUIRE(signature.size() == 43);
  CHECK(target == path + "?expires=" + expires + "&signature=" + signature);

  // The signed link downloads, cached privately and never past its expiry.
  auto file = request(f.port, "GET", target);
  REQUIRE(file.status == 200);
  CHECK_FALSE(file.body.empty());
  REQUIRE(file.header("cache-control"));
  const std::string cache = *file.header("cache-control");
  INFO(cache);
  REQUIRE(cache.rfind("private, max-age=", 0) == 0);
  const std::int64_t max_age = std::stoll(cache.substr(17));
  const std::int64_t now_s = f.app->runtime().clock().now_ms() / 1000;
  CHECK(max_age <= std::stoll(expires) - now_s);
  CHECK(max_age > 3'500);
  CHECK(request(f.port, "HEAD", target).status == 200);

  // Every GET signs afresh: a later one carries a later expiry, and both work.
  std::this_thread::sleep_for(milliseconds(1'100));
  auto fresh = f.call("GET", "/v1/content/" + id, f.full);
  REQUIRE(fresh.status == 200);
  const std::string url2(fresh.json().at("data").at("generation_output_file").as_array()[0].as_string());
  CHECK(std::stoll(url_param(url2, "expires")) > std::stoll(expires));
  CHECK(request(f.port, "GET", url2.substr(base.size())).status == 200);
  CHECK(request(f.port, "GET", target).status == 200);
  auto list = f.call("GET", "/v1/content/list", f.full);
  REQUIRE(list.status == 200);
  const std::string listed(
      list.json().at("data").at("generations").as_array()[0].at("generation_output_file").as_array()[0].as_string());
  CHECK(request(f.port, "GET", listed.substr(base.size())).status == 200);

  // Missing, tampered, ambiguous or foreign signatures: the answer of a nonexistent file.
  const std::string gen_dir = path.substr(0, path.rfind('/') + 1);
  auto missing_file = request(f.port, "GET", gen_dir + "99.png");
  check_error_shape(missing_file, 404, "BSE3001", "not_found");
  const std::string reference = stable_body(missing_file);
  std::string flipped = signature;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  const std::string later = std::to_string(std::stoll(expires) + 60);
  std::vector<std::string> refused = {
      path,                                                                     // no parameters
      path + "?expires=" + expires,                                             // no signature
      path + "?signature=" + signature,                                         // no expiry
      path + "?expires=" + expires + "&signature=" + flipped,                   // a flipped signature byte
      path + "?expires=" + later + "&signature=" + signature,                   // a changed expiry
      path + "?expires=0" + expires + "&signature=" + signature,                // a non-canonical expiry
      path + "?expires=" + expires + "x&signature=" + signature,                // a non-digit expiry
      path + "?expires=" + expires + "&signature=" + signature + "A",           // a wrong length
      path + "?expires=" + expires + "&signature=" + signature + "&signature=" + signature,  // repeated
      gen_dir + "99.png?expires=" + expires + "&signature=" + signature,        // another path's signature
      "/assets/0190a0a0-0000-7000-8000-000000000000/0.png?expires=" + expires + "&signature=" + signature,
  };
  for (const auto& t : refused) {
    INFO(t);
    auto r = request(f.port, "GET", t);
    check_error_shape(r, 404, "BSE3001", "not_found");
    CHECK(stable_body(r) == reference);
  }
  // A genuine link for a file that does not exist is the same 404 too.
  auto signed_missing = signer->sign(base + gen_dir + "99.png", f.app->runtime().clock().now_ms());
  REQUIRE(signed_missing.ok());
  auto sm = request(f.port, "GET", signed_missing->substr(base.size()));
  check_error_shape(sm, 404, "BSE3001", "not_found");
  CHECK(stable_body(sm) == reference);

  // A genuine but expired link: 403 with a clear message.
  const std::string plain = base + path;
  auto past = signer->sign(plain, f.app->runtime().clock().now_ms() - 2 * 3'600'000);
  REQUIRE(past.ok());
  auto expired = request(f.port, "GET", past->substr(base.size()));
  check_error_shape(expired, 403, "BSE1002", "forbidden");
  CHECK(std::string(expired.json().at("error").at("message").as_string()).find("expired") != std::string::npos);

  // The customer webhook carries a link signed when the event was rendered.
  auto completed = f.hooks.wait_event("generation.completed", id);
  REQUIRE(completed);
  const std::string hooked(
      bj::parse(completed->body).at("webhook_data").at("generation_output_file").as_array()[0].as_string());
  REQUIRE(hooked.rfind(plain + "?expires=", 0) == 0);
  CHECK(request(f.port, "GET", hooked.substr(base.size())).status == 200);

  // The stored row keeps the plain URL.
  std::string doc;
  REQUIRE(f.app->runtime().store().read([&](UnitOfWork& u) {
    GenerationRow row;
    Status s = u.generations().get(id, row);
    doc = row.doc;
    return s;
  }).ok());
  CHECK(doc.find(path) != std::string::npos);
  CHECK(doc.find("signature") == std::string::npos);
}

TEST_CASE("server: assets.public true serves plain URLs as before", "[server][assets]") {
  Fixture f({}, R"(, "public": true)");
  CHECK(f.app->runtime().asset_url_signer() == nullptr);
  const auto outputs = succeeded_outputs(f);
  const std::string base = "http://127.0.0.1:" + std::to_string(f.port);
  const std::string& url = outputs[0];
  REQUIRE(url.rfind(base + "/assets/", 0) == 0);
  CHECK(url.find('?') == std::string::npos);
  auto file = request(f.port, "GET", url.substr(base.size()));
  REQUIRE(file.status == 200);
  CHECK_FALSE(file.body.empty());
  REQUIRE(file.header("cache-control"));
  CHECK(*file.header("cache-control") == "public, max-age=3600");
  check_error_shape(request(f.port, "GET", url.substr(base.size(), url.rfind('/') - base.size()) + "/99.png"), 404,
                    "BSE3001", "not_found");
}

TEST_CASE("server: a short url_ttl_s expires links after a deterministic wait", "[server][assets]") {
  Fixture f({}, R"(, "url_ttl_s": 1)");
  const auto outputs = succeeded_outputs(f);
  const std::string base = "http://127.0.0.1:" + std::to_string(f.port);
  const std::string target = outputs[0].substr(base.size());
  const std::int64_t expiry_ms = std::stoll(url_param(outputs[0], "expires")) * 1000;
  // Wait until the server's clock has passed the expiry, then it is 403.
  while (f.app->runtime().clock().now_ms() < expiry_ms) std::this_thread::sleep_for(milliseconds(50));
  check_error_shape(request(f.port, "GET", target), 403, "BSE1002", "forbidden");
}

namespace {
// The public id of a key `bye_<id>_<secret>`.
std::string key_id_of(const std::string& key) { return key.substr(4, key.find('_', 4) - 4); }

// Writes what the server queued, then reads one account's usage-log rows.
std::vector<RequestLogRow> logged(server::ServerApp& app, const std::string& account) {
  RequestLog* log = app.runtime().request_log();
  REQUIRE(log != nullptr);
  REQUIRE(log->flush().ok());
  std::vector<RequestLogRow> rows;
  REQUIRE(app.runtime().store().read([&](UnitOfWork& u) {
    return u.request_log().list_for_account(account, 0, 1000, rows);
  }).ok());
  return rows;
}
}  // namespace

TEST_CASE("server: one usage-log row per authenticated request, none before authentication", "[server][usage]") {
  Fixture f(R"(, "rate_limits": {"per_key": {"limit": 5, "window_ms": 60000}})");
  const std::string missing = "/v1/content/0190a0a0-0000-7000-8000-000000000000";

  // Refused before authentication: no row.
  check_error_shape(f.call("GET", "/v1/status", ""), 401, "BSE1001", "unauthenticated");
  check_error_shape(f.call("GET", "/v1/status", "bye_0000000000000000_notarealkey"), 401, "BSE1001", "unauthenticated");
  check_error_shape(f.call("GET", "/v1/nope", f.full), 404, "BSE3001", "not_found");
  check_error_shape(f.call("PUT", "/v1/status", f.full), 405, "BSE2001", "method_not_allowed");
  CHECK(request(f.port, "OPTIONS", "/v1/status", {{"Origin", "https://example.com"}}).status == 200);
  CHECK(request(f.port, "GET", "/metrics", {{"Authorization", "Bearer " + std::string(kMetricsToken)}}).status == 200);
  auto refused = raw_exchange(f.port, "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.full +
                                         "\r\nX-HTTP-Method-Override: DELETE\r\n\r\n");  // a protocol refusal
  CHECK(refused.data.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(logged(*f.app, "acct_a").empty());

  // Authenticated: every answer leaves a row, the refusals after authentication (403, 429) too.
  CHECK(f.call("GET", "/v1/status", f.full).status == 200);
  check_error_shape(f.call("GET", missing, f.full), 404, "BSE3001", "not_found");
  check_error_shape(f.call("DELETE", missing, f.full), 404, "BSE3001", "not_found");
  check_error_shape(f.call("GET", "/v1/estimate/nobody/nothing", f.full), 404, "BSE2002", "model_not_found");
  check_error_shape(f.call("GET", "/v1/content/list?limit=101", f.full), 400, "BSE2001", "invalid_request");
  check_error_shape(f.call("GET", "/v1/status", f.full), 429, "BSE1003", "rate_limited");  // the 6th call of this key
  // Another account named in headers changes nothing: the row is the key's (AUTH-09).
  check_error_shape(
      f.call("GET", "/v1/status", f.monitor, {}, {{"X-Account-Id", "acct_b"}, {"X-BabySea-Account", "acct_b"}}), 403,
      "BSE1002", "forbidden");
  CHECK(f.call("GET", "/v1/library/models", f.monitor).status == 200);
  check_error_shape(f.call("POST", "/v1/generate/image/bfl/flux-schnell", f.read_only, kSchnell), 403, "BSE1002",
                    "forbidden");
  auto openai = f.call("POST", "/v1/images/generations", f.read_only, R"({"prompt": "a cat"})");
  CHECK(openai.status == 403);
  CHECK(f.call("GET", "/v1/status", f.full_b).status == 200);

  struct Want {
    std::string key, method, route;
    int status;
    std::string code;
  };
  const std::vector<Want> want{
      {f.full, "GET", "/v1/status", 200, ""},
      {f.full, "GET", "/v1/content/{id}", 404, "BSE3001"},
      {f.full, "DELETE", "/v1/content/{id}", 404, "BSE3001"},
      {f.full, "GET", "/v1/estimate/{model}", 404, "BSE2002"},
      {f.full, "GET", "/v1/content/list", 400, "BSE2001"},
      {f.full, "GET", "/v1/status", 429, "BSE1003"},
      {f.monitor, "GET", "/v1/status", 403, "BSE1002"},
      {f.monitor, "GET", "/v1/library/models", 200, ""},
      {f.read_only, "POST", "/v1/generate/image/{model}", 403, "BSE1002"},
      {f.read_only, "POST", "/v1/images/generations", 403, "BSE1002"},
  };
  auto rows = logged(*f.app, "acct_a");
  REQUIRE(rows.size() == want.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i << ": " << rows[i].method << " " << rows[i].route << " " << rows[i].status);
    CHECK(rows[i].account == "acct_a");
    CHECK(rows[i].key_id == key_id_of(want[i].key));
    CHECK(rows[i].method == want[i].method);
    CHECK(rows[i].route == want[i].route);
    CHECK(rows[i].status == want[i].status);
    CHECK(rows[i].error_code == want[i].code);
    CHECK(rows[i].latency_us >= 0);
    CHECK(rows[i].time_ms > 0);
  }
  auto b = logged(*f.app, "acct_b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].key_id == key_id_of(f.full_b));

  // /v1/usage counts them (not itself: its row is written after it answered).
  auto usage = f.call("GET", "/v1/usage?days=1", f.read_only);
  INFO(usage.body);
  REQUIRE(usage.status == 200);
  const auto u = usage.json().at("data");
  CHECK(u.at("usage_total_requests").as_int64() == 10);
  CHECK(u.at("usage_total_success").as_int64() == 2);
  CHECK(u.at("usage_total_client_errors").as_int64() == 8);
  CHECK(u.at("usage_total_server_errors").as_int64() == 0);
  CHECK(u.at("usage_total_generations").as_int64() == 0);
  std::map<std::string, bj::object> endpoints;
  for (const auto& e : u.at("usage_endpoints").as_array())
    endpoints[std::string(e.at("endpoint").as_string())] = e.as_object();
  CHECK(endpoints.size() == 7);
  const bj::object& status = endpoints.at("/v1/status");
  CHECK(status.at("total_requests").as_int64() == 3);
  CHECK(status.at("success_count").as_int64() == 1);
  CHECK(status.at("client_error_count").as_int64() == 2);
  CHECK(status.at("server_error_count").as_int64() == 0);
  CHECK(bj::serialize(status.at("error_codes")) == R"({"BSE1002":1,"BSE1003":1})");
  const bj::object& content = endpoints.at("/v1/content/{id}");
  CHECK(content.at("total_requests").as_int64() == 2);
  CHECK(bj::serialize(content.at("error_codes")) == R"({"BSE3001":2})");
  CHECK(bj::serialize(endpoints.at("/v1/library/models").at("error_codes")) == "{}");
  CHECK(endpoints.at("/v1/images/generations").at("client_error_count").as_int64() == 1);
  CHECK(logged(*f.app, "acct_a").size() == 11);  // now with the /v1/usage call

  // The writer's counters are in the metrics.
  auto metrics = request(f.port, "GET", "/metrics", {{"Authorization", "Bearer " + std::string(kMetricsToken)}});
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("babysea_request_log_written_total 12\n") != std::string::npos);
  CHECK(metrics.body.find("babysea_request_log_dropped_total{reason=\"queue_full\"} 0\n") != std::string::npos);
}

TEST_CASE("server: usage_log.enabled false writes no rows", "[server][usage]") {
  Fixture f(R"(, "usage_log": {"enabled": false})");
  CHECK(f.app->runtime().request_log() == nullptr);
  CHECK(f.call("GET", "/v1/status", f.full).status == 200);
  auto usage = f.call("GET", "/v1/usage", f.full);
  REQUIRE(usage.status == 200);
  CHECK(usage.json().at("data").at("usage_total_requests").as_int64() == 0);
  CHECK(usage.json().at("data").at("usage_endpoints").as_array().empty());
}

TEST_CASE("server: the playground is served with its security headers", "[server][playground]") {
  Fixture f;
  auto page = request(f.port, "GET", "/playground/");
  REQUIRE(page.status == 200);
  CHECK(header_of(page, "content-type") == "text/html; charset=utf-8");
  CHECK(page.body.find("app.js") != std::string::npos);
  const std::string csp = header_of(page, "content-security-policy");
  for (const char* d : {"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                        "frame-ancestors 'none'", "form-action 'none'", "require-trusted-types-for 'script'"})
    CHECK(csp.find(d) != std::string::npos);
  CHECK(csp.find("unsafe") == std::string::npos);
  CHECK(header_of(page, "x-content-type-options") == "nosniff");
  CHECK(header_of(page, "x-frame-options") == "DENY");
  CHECK(header_of(page, "referrer-policy") == "no-referrer");
  CHECK(request(f.port, "GET", "/playground/index.html").body == page.body);
  auto script = request(f.port, "GET", "/playground/app.js");
  CHECK(script.status == 200);
  CHECK(header_of(script, "content-type") == "text/javascript; charset=utf-8");
  CHECK(header_of(request(f.port, "GET", "/playground/app.css"), "content-type") == "text/css; charset=utf-8");
  CHECK(request(f.port, "HEAD", "/playground/app.js").status == 200);
  auto bare = request(f.port, "GET", "/playground");
  CHECK(bare.status == 308);
  CHECK(header_of(bare, "location") == "/playground/");
  // Only plain names of known types; a miss is the API's 404 with the page's headers.
  for (const char* bad : {"/playground/../v1/status", "/playground/..%2fapi.cpp", "/playground/%2e%2e/x.js",
                          "/playground/.js", "/playground/a.b.js", "/playground/sub/app.js", "/playground/app.js.map",
                          "/playground/nope.js", "/playground/index.htm"}) {
    INFO(bad);
    auto r = request(f.port, "GET", bad);
    check_error_shape(r, 404, "BSE3001", "not_found");
    CHECK(header_of(r, "x-frame-options") == "DENY");
  }
  // Not a method the page answers: the API's route table says so.
  CHECK(request(f.port, "POST", "/playground/").status == 404);
  // API answers are nosniff too.
  CHECK(header_of(f.call("GET", "/v1/status", f.full), "x-content-type-options") == "nosniff");
}

TEST_CASE("server: the playground can be switched off or served from a directory", "[server][playground]") {
  SECTION("off") {
    Fixture f({}, {}, R"(, "playground": false)");
    check_error_shape(request(f.port, "GET", "/playground/"), 404, "BSE3001", "not_found");
  }
  SECTION("from a directory, read on each request") {
    babysea::testing::TempDir pages;
    const std::string index = pages.file("index.html");
    std::ofstream(index) << "<!doctype html><title>mine</title>";
    Fixture f({}, {}, R"(, "playground_dir": ")" + pages.path().string() + R"(")");
    CHECK(request(f.port, "GET", "/playground/").body == "<!doctype html><title>mine</title>");
    std::ofstream(index) << "<!doctype html><title>edited</title>";
    CHECK(request(f.port, "GET", "/playground/").body == "<!doctype html><title>edited</title>");
    CHECK(request(f.port, "GET", "/playground/app.js").status == 404);
  }
  SECTION("a directory without index.html does not start") {
    babysea::testing::TempDir empty;
    const std::string cfg = R"({"region": "us", "api_key_pepper": "server-test-pepper-0123456789abcdef0123456789",
      "database": {"engine": "memory"}, "assets": {"directory": ")" + empty.file("assets") + R"(",
      "public_base_url": "http://127.0.0.1:{port}/assets"},
      "server": {"port": 0, "playground_dir": ")" + empty.path().string() + R"("}})";
    auto started = server::ServerApp::start(cfg);
    REQUIRE_FALSE(started.ok());
    INFO(started.status().to_string());
    CHECK(started.status().message().find("playground_dir") != std::string::npos);
  }
}
