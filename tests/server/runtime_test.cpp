// Runtime: a good config opens (memory and SQLite), every bad field is an
// invalid_request naming it, and the admin helpers work in both modes.
#include <catch2/catch.hpp>

#include <string>

#include "babysea/runtime.hpp"
#include "support/testing.hpp"

using namespace babysea;

namespace {

const char* kPepper = "0123456789abcdef0123456789abcdef-pepper";

std::string base_config(const babysea::testing::TempDir& dir, const std::string& database) {
  return std::string(R"({
    "region": "us",
    "api_key_pepper": ")") + kPepper + R"(",
    "database": )" + database + R"(,
    "assets": {"directory": ")" + dir.file("assets") + R"(", "public_base_url": "http://127.0.0.1:1/assets"},
    "engine": {"threads": 1, "start_workers": false},
    "webhooks": {"enabled": false}
  })";
}

std::string memory_config(const babysea::testing::TempDir& dir) { return base_config(dir, R"({"engine": "memory"})"); }

// Replaces the first occurrence of `from` in `text` (REQUIREs it is there).
std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

// The config with `member` added at the top level.
std::string with_member(const std::string& config, const std::string& member) {
  auto at = config.rfind('}');
  return config.substr(0, at) + ", " + member + "}";
}

void require_bad(const std::string& config, const std::string& field) {
  auto r = Runtime::open(config);
  INFO("field " << field << "; got " << r.status().to_string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Code::invalid_request);
  REQUIRE_FALSE(r.status().issues().empty());
  CHECK(r.status().issues().front().field == field);
  CHECK(std::string(r.status().message()).find(field) != std::string::npos);
}

}  // namespace

TEST_CASE("runtime: a memory config opens and the admin helpers work", "[runtime]") {
  babysea::testing::TempDir dir;
  auto rt = Runtime::open(memory_config(dir));
  REQUIRE(rt.ok());
  Runtime& r = **rt;
  CHECK(r.has_engine());
  CHECK(r.store().name() == "memory");
  CHECK(r.region() == "us");
  CHECK(r.catalog()->find("bfl/flux-schnell") != nullptr);
  CHECK(r.webhook_dispatcher() == nullptr);

  auto key = r.issue_api_key("acct_1", kFullAccess, "test key");
  REQUIRE(key.ok());
  auto who = r.engine().authenticate(key->key);
  REQUIRE(who.ok());
  CHECK(who->account == "acct_1");

  auto g = r.grant_credits("acct_1", 5 * kMicrosPerCredit, "grant-1");
  REQUIRE(g.ok());
  auto again = r.grant_credits("acct_1", 5 * kMicrosPerCredit, "grant-1");
  REQUIRE(again.ok());
  CHECK(again->replayed);
  auto bal = r.balance("acct_1");
  REQUIRE(bal.ok());
  CHECK(bal->available() == 5 * kMicrosPerCredit);

  auto st = r.statement("acct_1");
  REQUIRE(st.ok());
  REQUIRE(st->size() == 1);
  CHECK(st->front().delta == 5 * kMicrosPerCredit);

  auto keys = r.list_api_keys("acct_1");
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  REQUIRE(r.revoke_api_key("acct_1", keys->front().id).ok());
  CHECK(r.engine().authenticate(key->key).code() == Code::unauthenticated);

  auto audit = r.audit();
  REQUIRE(audit.ok());
  CHECK(audit->clean());
  CHECK(r.handle_stripe_webhook("t=1,v1=00", "{}").code() == Code::unsupported);
}

TEST_CASE("runtime: a sqlite config persists across opens; admin mode has no engine", "[runtime]") {
  babysea::testing::TempDir dir;
  std::string cfg = base_config(dir, R"({"engine": "sqlite", "path": ")" + dir.file("db.sqlite") +
                                         R"(", "synchronous": "normal"})");
  std::string key;
  {
    auto rt = Runtime::open(cfg);
    REQUIRE(rt.ok());
    CHECK((*rt)->store().name() == "sqlite");
    auto k = (*rt)->issue_api_key("acct_s", kGenerateOnly);
    REQUIRE(k.ok());
    key = k->key;
    REQUIRE((*rt)->grant_credits("acct_s", 2 * kMicrosPerCredit).ok());
  }
  {
    RuntimeOpenOptions admin;
    admin.engine = false;
    auto rt = Runtime::open(cfg, admin);
    REQUIRE(rt.ok());
    CHECK_FALSE((*rt)->has_engine());
    auto bal = (*rt)->balance("acct_s");
    REQUIRE(bal.ok());
    CHECK(bal->available() == 2 * kMicrosPerCredit);
    auto who = (*rt)->api_keys().authenticate(key);
    REQUIRE(who.ok());
    CHECK(who->account == "acct_s");
    CHECK((*rt)->audit().ok());
  }
}

TEST_CASE("runtime: providers, stripe, guard, server sections are accepted", "[runtime]") {
  babysea::testing::TempDir dir;
  std::string cfg = with_member(memory_config(dir), R"(
    "callback_base_url": "http://127.0.0.1:9/callbacks/",
    "providers": {
      "replicate": {"base_url": "http://127.0.0.1:9", "api_token": "r8_x", "webhook_secrets": ["whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]},
      "fal": {"base_url": "http://127.0.0.1:9", "api_key": "k", "jwks_url": "http://127.0.0.1:9/jwks", "user_id": "u"},
      "bfl": {"base_url": "http://127.0.0.1:9", "api_key": "k", "webhook_secret": "s"},
      "openai": {"base_url": "http://127.0.0.1:9", "api_key": "k"},
      "runway": {"base_url": "http://127.0.0.1:9", "api_key": "k", "request_timeout_ms": 5000}
    },
    "stripe": {"endpoint_secrets": ["whsec_abc"], "packs": [{"price_id": "price_1", "credits": "10", "amount_cents": 1000}]},
    "net_guard": {"allow_loopback": true, "allow_any_port": true, "allow_networks": ["192.0.2.0/24"]},
    "rate_limits": {"per_key": {"limit": 5, "window_ms": 1000}},
    "server": {"host": "127.0.0.1", "port": 0, "create_wait_ms": 50}
  )");
  auto rt = Runtime::open(cfg);
  INFO(rt.status().to_string());
  REQUIRE(rt.ok());
  auto ids = (*rt)->provider_ids();
  CHECK(ids.size() == 5);
  CHECK((*rt)->server_settings().port == 0);
  CHECK((*rt)->server_settings().create_wait_ms == 50);
  CHECK((*rt)->callback_base_url() == "http://127.0.0.1:9/callbacks");
  // Stripe is wired: a bad signature is refused as such.
  CHECK((*rt)->handle_stripe_webhook("t=1,v1=00", "{}").code() == Code::invalid_signature);
}

TEST_CASE("runtime: every bad field is invalid_request naming it", "[runtime]") {
  babysea::testing::TempDir dir;
  const std::string good = memory_config(dir);

  SECTION("document") {
    auto r = Runtime::open("{not json");
    CHECK(r.code() == Code::invalid_request);
    CHECK(Runtime::open("[]").code() == Code::invalid_request);
  }
  SECTION("unknown top-level key") { require_bad(with_member(good, R"("bogus": 1)"), "bogus"); }
  SECTION("pepper") {
    require_bad(replace(good, kPepper, "short"), "api_key_pepper");
    require_bad(replace(good, std::string("\"api_key_pepper\": \"") + kPepper + "\",", ""), "api_key_pepper");
  }
  SECTION("region") { require_bad(replace(good, R"("region": "us")", R"("region": 7)"), "region"); }
  SECTION("database") {
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "postgres"})"), "database.engine");
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "sqlite"})"), "database.path");
    require_bad(replace(good, R"({"engine": "memory"})",
                        R"({"engine": "sqlite", "path": ")" + dir.file("x.db") + R"(", "synchronous": "off"})"),
                "database.synchronous");
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "memory", "colour": 1})"), "database.colour");
    require_bad(replace(good, R"({"engine": "memory"})", R"("memory")"), "database");
  }
  SECTION("assets") {
    require_bad(replace(good, R"("public_base_url")", R"("colour": 1, "public_base_url")"), "assets.colour");
    require_bad(replace(good, R"(, "public_base_url": "http://127.0.0.1:1/assets")", ""), "assets.public_base_url");
  }
  SECTION("catalog") { require_bad(with_member(good, R"("catalog": "/nonexistent/catalog")"), "catalog"); }
  SECTION("providers") {
    require_bad(with_member(good, R"("providers": {"midjourney": {}})"), "providers.midjourney");
    require_bad(with_member(good, R"("providers": {"replicate": {"base_url": "http://127.0.0.1:9"}})"),
                "providers.replicate.api_token");
    require_bad(with_member(good, R"("providers": {"fal": {"api_key": "k", "timeout": 1}})"), "providers.fal.timeout");
    require_bad(with_member(good, R"("providers": {"bfl": {"api_key": "k", "request_timeout_ms": -5}})"),
                "providers.bfl.request_timeout_ms");
    require_bad(with_member(good, R"("providers": {"openai": {"api_key": "k", "base_url": "ftp://x"}})"),
                "providers.openai");
  }
  SECTION("stripe") {
    require_bad(with_member(good, R"("stripe": {"endpoint_secrets": []})"), "stripe.endpoint_secrets");
    require_bad(with_member(good, R"("stripe": {"endpoint_secrets": ["s"], "packs": [{"price_id": "p", "credits": "ten"}]})"),
                "stripe.packs[0].credits");
  }
  SECTION("net guard") {
    require_bad(with_member(good, R"("net_guard": {"allowed_ports": [0]})"), "net_guard.allowed_ports[0]");
    require_bad(with_member(good, R"("net_guard": {"allow_networks": ["10.0.0.0/99"]})"), "net_guard.allow_networks[0]");
    require_bad(with_member(good, R"("net_guard": {"allow_loopback": "yes"})"), "net_guard.allow_loopback");
  }
  SECTION("engine, rate limits, webhooks, server") {
    require_bad(replace(good, R"("threads": 1)", R"("threads": 0)"), "engine.threads");
    require_bad(with_member(good, R"("rate_limits": {"per_key": {"limit": -1}})"), "rate_limits.per_key.limit");
    require_bad(replace(good, R"("enabled": false)", R"("enabled": false, "retry_schedule_ms": [])"),
                "webhooks.retry_schedule_ms");
    require_bad(with_member(good, R"("server": {"port": 70000})"), "server.port");
    require_bad(with_member(good, R"("server": {"hots": "x"})"), "server.hots");
    require_bad(with_member(good, R"("server": {"metrics_token": "short"})"), "server.metrics_token");
    require_bad(with_member(good, R"("server": {"metrics_token": "has a space in it 0123456789"})"),
                "server.metrics_token");
    require_bad(with_member(good, R"("server": {"port": 8.0})"), "server.port");  // integers only
    require_bad(with_member(good, R"("server": {"port": 8e3})"), "server.port");
  }
}
