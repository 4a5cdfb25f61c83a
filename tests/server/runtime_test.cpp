// Runtime: a good config opens (memory, SQLite and, when BABYSEA_TEST_PG
// names a server, PostgreSQL), every bad field is an invalid_request naming
// it, an unreachable PostgreSQL is unavailable naming database.url, and the
// admin helpers work in both modes.
#include <catch2/catch.hpp>

#include <libpq-fe.h>
#include <sodium.h>

#include <set>
#include <string>

#include "babysea/runtime.hpp"
#include "json/json.hpp"
#include "support/stores.hpp"
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

std::string json_quoted(std::string_view text) {
  std::string out;
  json::append_quoted(out, text);
  return out;
}

// A "database" section for PostgreSQL at `url`, with extra members.
std::string postgres_db(const std::string& url, const std::string& extra = "") {
  return R"({"engine": "postgres", "url": )" + json_quoted(url) + (extra.empty() ? "" : ", " + extra) + "}";
}

// No status text, message or issue, mentions `secret`.
void require_no_secret(const Status& s, const std::string& secret) {
  INFO(s.to_string());
  CHECK(s.to_string().find(secret) == std::string::npos);
  CHECK(std::string(s.message()).find(secret) == std::string::npos);
  for (const auto& i : s.issues()) CHECK(i.message.find(secret) == std::string::npos);
}

// The test server's conninfo (key=value) rewritten as a postgresql:// URL, its
// parts taken apart by libpq.
std::string conninfo_as_url(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err) PQfreemem(err);
  REQUIRE(opts != nullptr);
  auto encode = [](std::string_view v) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : v) {
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/') {
        out += static_cast<char>(ch);
      } else {
        out += '%';
        out += hex[ch >> 4];
        out += hex[ch & 15];
      }
    }
    return out;
  };
  std::string dbname;
  std::string query;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (std::string_view(o->keyword) == "dbname") {
      dbname = o->val;
      continue;
    }
    query += (query.empty() ? "?" : "&") + std::string(o->keyword) + "=" + encode(o->val);
  }
  PQconninfoFree(opts);
  return "postgresql:///" + encode(dbname) + query;
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

TEST_CASE("runtime: cache and cluster sections reach the engine; an unreachable cache fails open", "[runtime]") {
  babysea::testing::TempDir dir;
  {
    auto rt = Runtime::open(memory_config(dir));
    REQUIRE(rt.ok());
    const EngineHealth h = (*rt)->engine().health();
    CHECK_FALSE(h.cache.configured);
    CHECK_FALSE(h.cache.healthy);
    CHECK(h.cache.error == "no shared cache configured");
    CHECK(h.cache.limits == "local");
    const std::string m = (*rt)->engine().metrics_text();
    CHECK(m.find("babysea_cache_up 0") != std::string::npos);
    CHECK(m.find("babysea_rate_limit_mode{mode=\"local\"} 1") != std::string::npos);
  }
  // Nothing listens on port 1: the engine opens, limits decide locally, and
  // health says why (never the password).
  const std::string secret = "s3cret-cache-password";
  auto rt = Runtime::open(with_member(memory_config(dir), R"(
    "cache": {"url": "redis://:)" + secret + R"(@127.0.0.1:1/0", "key_prefix": "bs-test", "timeout_ms": 200,
              "fail_open_limits": true, "ranking_ttl_ms": 30000},
    "cluster": {"instance_id": "node-a", "heartbeat_ms": 500, "instance_ttl_ms": 5000, "lease_ms": 10000},
    "rate_limits": {"per_key": {"limit": 2, "window_ms": 60000}}
  )"));
  INFO(rt.status().to_string());
  REQUIRE(rt.ok());
  Engine& e = (*rt)->engine();
  EngineHealth h = e.health();
  CHECK(h.instance_id == "node-a");
  CHECK(h.cache.configured);
  CHECK_FALSE(h.cache.healthy);
  CHECK_FALSE(h.cache.error.empty());
  CHECK(h.cache.error.find(secret) == std::string::npos);
  CHECK(h.cache.rankings == "fallback");
  CHECK_FALSE(h.cache.ranking_leader);
  const Principal p{"acct", "key", kFullAccess, "us"};
  CHECK(e.acquire(p).ok());
  CHECK(e.acquire(p).ok());
  CHECK(e.acquire(p).code() == Code::rate_limited);  // the local limiter, same limit
  h = e.health();
  CHECK(h.cache.limits == "local");
  const std::string m = e.metrics_text();
  CHECK(m.find("babysea_cache_up 0") != std::string::npos);
  CHECK(m.find("babysea_rate_limit_mode{mode=\"local\"} 1") != std::string::npos);
  CHECK(m.find("babysea_cache_errors_total") != std::string::npos);
  CHECK(m.find(secret) == std::string::npos);
}

TEST_CASE("runtime: a durable config persists across opens; admin mode has no engine", "[runtime]") {
  // sqlite, plus postgres when BABYSEA_TEST_PG names a server (runtime_test_postgres),
  // its conninfo given as is (key=value) and as a postgresql:// URL.
  const std::string kind = GENERATE(from_range(babysea::testing::store_kinds({"sqlite-file"})));
  const bool as_url = GENERATE(false, true);  // postgres only (sqlite runs twice)
  CAPTURE(kind, as_url);
  babysea::testing::TempDir dir;
  std::unique_ptr<babysea::testing::StoreFixture> pg;  // the schema, dropped at the end
  std::string database;
  if (kind == "postgres") {
    pg = std::make_unique<babysea::testing::StoreFixture>("postgres");
    pg->store.reset();
    const std::string conninfo = babysea::testing::test_postgres_conninfo();
    database = postgres_db(as_url ? conninfo_as_url(conninfo) : conninfo,
                           R"("schema": )" + json_quoted(pg->pg_options.schema) +
                               R"(, "pool_size": 2, "synchronous_commit": false, "max_retries": 3, "max_batch": 16, )"
                               R"("write_lanes": 2)");
  } else {
    database = R"({"engine": "sqlite", "path": )" + json_quoted(dir.file("db.sqlite")) + R"(, "synchronous": "normal"})";
  }
  const std::string cfg = base_config(dir, database);
  const std::string store_name = kind == "postgres" ? "postgres" : "sqlite";
  std::string key;
  {
    auto rt = Runtime::open(cfg);
    INFO(rt.status().to_string());
    REQUIRE(rt.ok());
    CHECK((*rt)->store().name() == store_name);
    auto k = (*rt)->issue_api_key("acct_s", kGenerateOnly);
    REQUIRE(k.ok());
    key = k->key;
    REQUIRE((*rt)->grant_credits("acct_s", 2 * kMicrosPerCredit, "grant-s").ok());
    auto again = (*rt)->grant_credits("acct_s", 2 * kMicrosPerCredit, "grant-s");
    REQUIRE(again.ok());
    CHECK(again->replayed);
    auto bal = (*rt)->balance("acct_s");
    REQUIRE(bal.ok());
    CHECK(bal->available() == 2 * kMicrosPerCredit);
  }
  {
    RuntimeOpenOptions admin;
    admin.engine = false;
    auto rt = Runtime::open(cfg, admin);
    INFO(rt.status().to_string());
    REQUIRE(rt.ok());
    CHECK_FALSE((*rt)->has_engine());
    CHECK((*rt)->store().name() == store_name);
    auto bal = (*rt)->balance("acct_s");
    REQUIRE(bal.ok());
    CHECK(bal->available() == 2 * kMicrosPerCredit);
    auto who = (*rt)->api_keys().authenticate(key);
    REQUIRE(who.ok());
    CHECK(who->account == "acct_s");
    auto st = (*rt)->statement("acct_s");
    REQUIRE(st.ok());
    CHECK(st->size() == 1);
    auto audit = (*rt)->audit();
    REQUIRE(audit.ok());
    CHECK(audit->clean());
  }
}

TEST_CASE("runtime: an unreachable postgres is unavailable naming database.url", "[runtime]") {
  babysea::testing::TempDir dir;
  // Nothing listens on port 1; connect_timeout bounds the wait regardless.
  for (const std::string url : {"postgresql://babysea:s3cret-pw@127.0.0.1:1/x?connect_timeout=2",
                                "host=127.0.0.1 port=1 dbname=x user=babysea password=s3cret-pw connect_timeout=2"}) {
    for (bool engine : {true, false}) {
      INFO(url << (engine ? " (engine)" : " (admin)"));
      RuntimeOpenOptions options;
      options.engine = engine;
      auto r = Runtime::open(base_config(dir, postgres_db(url)), options);
      INFO(r.status().to_string());
      REQUIRE_FALSE(r.ok());
      CHECK(r.code() == Code::unavailable);
      REQUIRE_FALSE(r.status().issues().empty());
      CHECK(r.status().issues().front().field == "database.url");
      CHECK(std::string(r.status().message()).find("database.url") != std::string::npos);
      require_no_secret(r.status(), "s3cret-pw");
    }
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
      "runway": {"base_url": "http://127.0.0.1:9", "api_key": "k", "request_timeout_ms": 5000},
      "alibabacloud": {"base_url": "http://127.0.0.1:9", "api_key": "sk-x"},
      "byteplus": {"base_url": "http://127.0.0.1:9", "api_key": "ark-x"},
      "cloudflare": {"base_url": "http://127.0.0.1:9", "account_id": "acc0123", "api_token": "cf-x"}
    },
    "stripe": {"endpoint_secrets": ["whsec_abc"], "packs": [{"price_id": "price_1", "credits": "10", "amount_cents": 1000}]},
    "net_guard": {"allow_loopback": true, "allow_any_port": true, "allow_networks": ["192.0.2.0/24"]},
    "rate_limits": {"per_key": {"limit": 5, "window_ms": 1000}},
    "server": {"host": "127.0.0.1", "port": 0, "create_wait_ms": 50}
  )");
  auto rt = Runtime::open(cfg);
  INFO(rt.status().to_string());
  REQUIRE(rt.ok());
  // Every provider profile the catalog serves has an adapter behind it.
  auto ids = (*rt)->provider_ids();
  std::set<std::string> configured(ids.begin(), ids.end());
  std::set<std::string> profiles;
  for (const auto& p : (*rt)->catalog()->providers()) profiles.insert(p.id);
  CHECK(configured == profiles);
  CHECK(ids.size() == 8);
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
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "mysql"})"), "database.engine");
    {
      auto r = Runtime::open(replace(good, R"({"engine": "memory"})", R"({"engine": "mysql"})"));
      const std::string m(r.status().message());
      CHECK(m.find("sqlite") != std::string::npos);
      CHECK(m.find("postgres") != std::string::npos);
      CHECK(m.find("memory") != std::string::npos);
    }
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "sqlite"})"), "database.path");
    require_bad(replace(good, R"({"engine": "memory"})",
                        R"({"engine": "sqlite", "path": ")" + dir.file("x.db") + R"(", "synchronous": "off"})"),
                "database.synchronous");
    require_bad(replace(good, R"({"engine": "memory"})", R"({"engine": "memory", "colour": 1})"), "database.colour");
    require_bad(replace(good, R"({"engine": "memory"})", R"("memory")"), "database");
  }
  SECTION("database: postgres") {
    const std::string db = R"({"engine": "memory"})";
    const std::string url = "postgresql://babysea@127.0.0.1:1/babysea";
    require_bad(replace(good, db, R"({"engine": "postgres"})"), "database.url");
    require_bad(replace(good, db, postgres_db("")), "database.url");
    require_bad(replace(good, db, R"({"engine": "postgres", "url": 5432})"), "database.url");
    require_bad(replace(good, db, postgres_db("postgresql://h/db?no_such_option=1")), "database.url");
    require_bad(replace(good, db, postgres_db("host=h no_such_option=1")), "database.url");
    require_bad(replace(good, db, postgres_db("mysql://h/db")), "database.url");
    require_bad(replace(good, db, postgres_db(url, R"("schema": "")")), "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("schema": "1st")")), "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("schema": "bad-name")")), "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("schema": "x\"; DROP SCHEMA public; --")")), "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("schema": ")" + std::string(64, 's') + "\"")),
                "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("schema": 7)")), "database.schema");
    require_bad(replace(good, db, postgres_db(url, R"("pool_size": 0)")), "database.pool_size");
    require_bad(replace(good, db, postgres_db(url, R"("pool_size": 257)")), "database.pool_size");
    require_bad(replace(good, db, postgres_db(url, R"("pool_size": "4")")), "database.pool_size");
    require_bad(replace(good, db, postgres_db(url, R"("synchronous_commit": "on")")), "database.synchronous_commit");
    require_bad(replace(good, db, postgres_db(url, R"("max_retries": -1)")), "database.max_retries");
    require_bad(replace(good, db, postgres_db(url, R"("max_retries": 101)")), "database.max_retries");
    require_bad(replace(good, db, postgres_db(url, R"("max_batch": 0)")), "database.max_batch");
    require_bad(replace(good, db, postgres_db(url, R"("max_batch": 4097)")), "database.max_batch");
    require_bad(replace(good, db, postgres_db(url, R"("write_lanes": 0)")), "database.write_lanes");
    require_bad(replace(good, db, postgres_db(url, R"("pool_size": 2, "write_lanes": 3)")), "database.write_lanes");
    // Keys of another engine are unknown here, as unknown keys are for sqlite.
    require_bad(replace(good, db, postgres_db(url, R"("path": "x.db")")), "database.path");
    require_bad(replace(good, db, postgres_db(url, R"("synchronous": "full")")), "database.synchronous");
    require_bad(replace(good, db, postgres_db(url, R"("colour": 1)")), "database.colour");
    require_bad(replace(good, db, R"({"engine": "sqlite", "path": "x.db", "url": ")" + url + "\"}"), "database.url");
  }
  SECTION("database: a bad postgres url never shows its password") {
    const std::string db = R"({"engine": "memory"})";
    for (const std::string bad : {"postgresql://u:s3cret-pw@[::1/db", "host=h password=s3cret-pw oops",
                                  "host=h s3cret-pw", "postgresql://u:s3cret-pw@h/db?s3cret-pw=1",
                                  "host=h password='s3cret-pw"}) {
      INFO(bad);
      auto r = Runtime::open(replace(good, db, postgres_db(bad)));
      REQUIRE_FALSE(r.ok());
      CHECK(r.code() == Code::invalid_request);
      REQUIRE_FALSE(r.status().issues().empty());
      CHECK(r.status().issues().front().field == "database.url");
      require_no_secret(r.status(), "s3cret-pw");
    }
  }
  SECTION("assets") {
    require_bad(replace(good, R"("public_base_url")", R"("colour": 1, "public_base_url")"), "assets.colour");
    require_bad(replace(good, R"(, "public_base_url": "http://127.0.0.1:1/assets")", ""), "assets.public_base_url");
    const std::string url = R"("public_base_url": "http://127.0.0.1:1/assets")";
    require_bad(replace(good, url, url + R"(, "public": "no")"), "assets.public");
    require_bad(replace(good, url, url + R"(, "url_ttl_s": 0)"), "assets.url_ttl_s");
    require_bad(replace(good, url, url + R"(, "url_ttl_s": 604801)"), "assets.url_ttl_s");
    require_bad(replace(good, url, url + R"(, "url_ttl_s": 60.0)"), "assets.url_ttl_s");
    require_bad(replace(good, url, url + R"(, "url_secret": "too-short-0123456789")"), "assets.url_secret");
    require_bad(replace(good, url, url + R"(, "url_secret": "")"), "assets.url_secret");
    require_bad(replace(good, url, url + R"(, "url_secret": 42)"), "assets.url_secret");
    require_bad(replace(good, url, url + R"(, "url_secret": ")" + kPepper + R"(")"), "assets.url_secret");
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
  SECTION("cache and cluster") {
    require_bad(with_member(good, R"("cache": {"url": "http://cache.example"})"), "cache.url");
    require_bad(with_member(good, R"("cache": {"url": "rediss://cache.example"})"), "cache.url");
    require_bad(with_member(good, R"("cache": {"url": 6379})"), "cache.url");
    require_bad(with_member(good, R"("cache": {"url": "redis://h", "bogus": 1})"), "cache.bogus");
    require_bad(with_member(good, R"("cache": {"key_prefix": ""})"), "cache.key_prefix");
    require_bad(with_member(good, R"("cache": {"timeout_ms": 0})"), "cache.timeout_ms");
    require_bad(with_member(good, R"("cache": {"fail_open_limits": "yes"})"), "cache.fail_open_limits");
    require_bad(with_member(good, R"("cache": {"ranking_ttl_ms": 10})"), "cache.ranking_ttl_ms");
    require_bad(with_member(good, R"("cluster": {"instance": "a"})"), "cluster.instance");
    require_bad(with_member(good, R"("cluster": {"instance_id": "has space"})"), "cluster.instance_id");
    require_bad(with_member(good, R"("cluster": {"instance_id": "a/b"})"), "cluster.instance_id");
    require_bad(with_member(good, R"("cluster": {"heartbeat_ms": 5000, "instance_ttl_ms": 5000})"),
                "cluster.instance_ttl_ms");
    require_bad(with_member(good, R"("cluster": {"lease_ms": -1})"), "cluster.lease_ms");
  }
}

TEST_CASE("runtime: asset URLs are signed by default with a key derived from the pepper", "[runtime]") {
  babysea::testing::TempDir dir;
  const std::string good = memory_config(dir);
  const std::string url = R"("public_base_url": "http://127.0.0.1:1/assets")";
  auto a = Runtime::open(good);
  REQUIRE(a.ok());
  const AssetUrlSigner* signer = (*a)->asset_url_signer();
  REQUIRE(signer != nullptr);
  CHECK(signer->lifetime() == std::chrono::seconds(3600));
  const std::int64_t now = 1'700'000'000'000;
  const std::string path = "/assets/gen_1/0.png";
  const std::string expires = std::to_string(now / 1000 + 3600);
  const std::string sig = signer->signature(path, now / 1000 + 3600);

  // Stable across restarts: another runtime on the same pepper accepts it.
  auto b = Runtime::open(good);
  REQUIRE(b.ok());
  CHECK((*b)->asset_url_signer()->verify(path, expires, sig, now) == AssetUrlSigner::Check::valid);

  // The key is not the pepper itself (nor its API key hashing key): an HMAC
  // under the raw pepper bytes does not verify.
  {
    const std::string pepper(kPepper);
    const std::string msg = "babysea-asset-url-v1\n" + path + "\n" + expires;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(pepper.data()), pepper.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    crypto_auth_hmacsha256_final(&st, mac);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK(std::string(b64) != sig);
    CHECK(signer->verify(path, expires, b64, now) == AssetUrlSigner::Check::invalid);
  }

  // url_secret gives another key; url_ttl_s the lifetime.
  auto c = Runtime::open(replace(good, url, url + R"(, "url_secret": "another-secret-for-asset-links-0123456789", "url_ttl_s": 60)"));
  REQUIRE(c.ok());
  REQUIRE((*c)->asset_url_signer() != nullptr);
  CHECK((*c)->asset_url_signer()->lifetime() == std::chrono::seconds(60));
  CHECK((*c)->asset_url_signer()->verify(path, expires, sig, now) == AssetUrlSigner::Check::invalid);

  // public: true is the explicit opt-in to plain URLs.
  auto d = Runtime::open(replace(good, url, url + R"(, "public": true)"));
  REQUIRE(d.ok());
  CHECK((*d)->asset_url_signer() == nullptr);
  auto e = Runtime::open(replace(good, url, url + R"(, "public": false)"));
  REQUIRE(e.ok());
  CHECK((*e)->asset_url_signer() != nullptr);
}

TEST_CASE("runtime: the usage_log section builds the request log, strictly read", "[runtime]") {
  babysea::testing::TempDir dir;
  const std::string good = memory_config(dir);
  {
    auto rt = Runtime::open(good);
    REQUIRE(rt.ok());
    RequestLog* log = (*rt)->request_log();  // on by default
    REQUIRE(log != nullptr);
    RequestLogRow row{(*rt)->clock().now_ms(), "acct_u", "key_u", "GET", "/v1/usage", 200, "", 10};
    REQUIRE(log->record(row));
    REQUIRE(log->flush().ok());
    std::vector<RouteRequestCounts> counts;
    REQUIRE((*rt)->store().read([&](UnitOfWork& u) { return u.request_log().summarize("acct_u", 0, counts); }).ok());
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].total == 1);
  }
  {
    auto rt = Runtime::open(with_member(good, R"("usage_log": {"enabled": false})"));
    REQUIRE(rt.ok());
    CHECK((*rt)->request_log() == nullptr);
  }
  {
    auto rt = Runtime::open(
        with_member(good, R"("usage_log": {"retention_days": 3650, "flush_ms": 1, "max_queue": 16777216})"));
    INFO(rt.status().to_string());
    CHECK(rt.ok());
  }
  {
    RuntimeOpenOptions admin;
    admin.engine = false;
    auto rt = Runtime::open(good, admin);
    REQUIRE(rt.ok());
    CHECK((*rt)->request_log() == nullptr);  // only a runtime with an engine writes the log
  }
  require_bad(with_member(good, R"("usage_log": {"enabled": "yes"})"), "usage_log.enabled");
  require_bad(with_member(good, R"("usage_log": {"retention_days": 0})"), "usage_log.retention_days");
  require_bad(with_member(good, R"("usage_log": {"retention_days": 3651})"), "usage_log.retention_days");
  require_bad(with_member(good, R"("usage_log": {"flush_ms": 0})"), "usage_log.flush_ms");
  require_bad(with_member(good, R"("usage_log": {"flush_ms": 60001})"), "usage_log.flush_ms");
  require_bad(with_member(good, R"("usage_log": {"max_queue": 0})"), "usage_log.max_queue");
  require_bad(with_member(good, R"("usage_log": {"max_queue": 1.5})"), "usage_log.max_queue");
  require_bad(with_member(good, R"("usage_log": {"retention": 30})"), "usage_log.retention");
  require_bad(with_member(good, R"("usage_log": [])"), "usage_log");
}
