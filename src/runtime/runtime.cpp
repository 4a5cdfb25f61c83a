// Runtime: parses the deployment config (strict, every bad key named) and
// wires store, guard, transport, providers, assets, catalog, engine, webhooks
// and Stripe together (runtime.hpp).
#include "babysea/runtime.hpp"

#include <libpq-fe.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <utility>

#include "babysea/assets.hpp"
#include "babysea/catalog.hpp"
#include "babysea/ids.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "babysea/transport.hpp"
#include "cache/redis_client.hpp"
#include "service/object_reader.hpp"
#include "json/strict.hpp"
#include "storage/postgres/pg_conn.hpp"

namespace babysea::runtime_detail {
extern const std::string_view kBuiltin_providers_json;
extern const std::string_view kBuiltin_models_json;
extern const std::string_view kBuiltin_bridges_json;
}  // namespace babysea::runtime_detail

namespace babysea {
namespace {

using json::Value;
using std::chrono::milliseconds;

// ------------------------------------------------------------ config reader

using Section = service::ObjectReader;

struct ProviderHttpConfig {
  milliseconds connect_timeout{5'000};
  milliseconds request_timeout{0};  // 0: the adapter's default
  milliseconds dns_ttl{60'000};
  std::size_t max_response_bytes = 4u << 20;
};

void read_http(Section& s, ProviderHttpConfig& h) {
  s.millis("connect_timeout_ms", h.connect_timeout, 1, 600'000);
  s.millis("request_timeout_ms", h.request_timeout, 1, 3'600'000);
  s.millis("dns_ttl_ms", h.dns_ttl, 0, 86'400'000);
  s.integer("max_response_bytes", h.max_response_bytes, 1024, std::int64_t{1} << 30);
}

void apply_http(const ProviderHttpConfig& h, ProviderHttpOptions& o) {
  o.connect_timeout = h.connect_timeout;
  if (h.request_timeout.count() > 0) o.request_timeout = h.request_timeout;
  o.dns_ttl = h.dns_ttl;
  o.max_response_bytes = h.max_response_bytes;
}

struct Config {
  std::string region = "us";
  std::string pepper;
  std::string callback_base_url;
  std::string catalog = "builtin";

  std::string db_engine;
  SqliteOptions sqlite;
  PostgresOptions postgres;

  std::string assets_directory;
  std::string assets_public_base_url;
  std::size_t assets_max_bytes = std::size_t{64} << 20;
  milliseconds assets_fetch_timeout{60'000};
  bool assets_public = false;           // true: plain URLs, no signatures
  std::int64_t assets_url_ttl_s = 3600;  // lifetime of a signed URL
  std::string assets_url_secret;         // empty: derived from the pepper

  std::optional<ReplicateProviderOptions> replicate;
  std::optional<FalProviderOptions> fal;
  std::optional<BflProviderOptions> bfl;
  std::optional<OpenAIImagesProviderOptions> openai;
  std::optional<RunwayProviderOptions> runway;
  std::optional<AlibabaCloudProviderOptions> alibabacloud;
  std::optional<BytePlusProviderOptions> byteplus;
  std::optional<CloudflareProviderOptions> cloudflare;

  std::optional<StripeOptions> stripe;

  bool webhooks_enabled = true;
  WebhookDispatcherOptions dispatcher;

  bool usage_log_enabled = true;
  RequestLogOptions usage_log;

  NetGuardOptions guard;
  BeastTransportOptions transport;
  EngineOptions engine;
  ServerSettings server;
};

void read_stripe_prices(Section& s, std::string_view key, std::vector<StripePrice>& out) {
  const Value* v = s.get(key);
  if (!v) return;
  auto& errors = s.errors();
  if (!v->is_array()) return errors.fail(s.field(key), "type", "expected an array");
  for (std::size_t i = 0; i < v->array.size(); ++i) {
    Section p(&v->array[i], s.field(key) + "[" + std::to_string(i) + "]", errors);
    if (!p.present()) return;
    StripePrice price;
    p.str("price_id", price.price_id, true);
    std::string credits;
    p.str("credits", credits, true);
    if (errors.ok()) {
      auto c = parse_credits(credits);
      if (!c.ok() || *c <= 0) return errors.fail(p.field("credits"), "invalid", "expected positive decimal credits");
      price.credits = *c;
    }
    p.integer("amount_cents", price.amount_cents, -1, std::int64_t{1} << 40);
    p.finish();
    out.push_back(std::move(price));
  }
}

void read_rate(Section& parent, std::string_view key, RateLimit& out) {
  Section s = parent.object(key);
  s.integer("limit", out.limit, 0, 1'000'000'000);
  s.integer("window_ms", out.window_ms, 1, 86'400'000);
  s.finish();
}

// Empty when libpq accepts `conninfo` (a "postgresql://" URL or key=value
// pairs), else why not. libpq's own message may quote the offending part of
// the string, which can be a password: every quoted span is left out.
std::string check_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts != nullptr) {
    PQconninfoFree(opts);
    return {};
  }
  std::string detail;
  if (err != nullptr) {
    bool quoted = false;
    for (const char* p = err; *p; ++p) {
      if (*p == '"') {
        if (!quoted) detail += "\"...\"";
        quoted = !quoted;
      } else if (!quoted) {
        detail += *p;
      }
    }
    PQfreemem(err);
  }
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  std::string why = "not a valid PostgreSQL connection string (a postgresql:// URL or libpq key=value pairs)";
  if (!detail.empty()) why += ": " + detail;
  return why + " (the value is not shown: it may hold a password)";
}

Result<Config> parse_config(std::string_view text) {
  auto doc = json::parse_strict(text);
  if (!doc.ok()) {
    return Status(Code::invalid_request, "config: " + std::string(doc.status().message()),
                  {FieldIssue{"(document)", "json", std::string(doc.status().message())}});
  }
  service::ReadErrors errors("config");
  Config c;
  Section root(&*doc, "", errors);

  root.str("region", c.region, false, true);
  root.str("api_key_pepper", c.pepper, true);
  if (errors.ok() && c.pepper.size() < 32)
    errors.fail("api_key_pepper", "too_short", "must be at least 32 bytes");
  if (errors.ok() && (c.region.size() > 32))
    errors.fail("region", "too_long", "must be at most 32 bytes");
  root.str("callback_base_url", c.callback_base_url);
  root.str("catalog", c.catalog, false, true);

  {
    Section db = root.object("database");
    if (!db.present()) errors.fail("database", "required", "is required");
    db.str("engine", c.db_engine, true);
    if (errors.ok() && c.db_engine != "sqlite" && c.db_engine != "postgres" && c.db_engine != "memory")
      errors.fail("database.engine", "unsupported_value", "expected \"sqlite\", \"postgres\" or \"memory\"");
    if (c.db_engine == "sqlite") {
      db.str("path", c.sqlite.path, true);
      std::string sync = "full";
      db.str("synchronous", sync);
      if (errors.ok()) {
        if (sync == "full") c.sqlite.durability = Durability::full;
        else if (sync == "normal") c.sqlite.durability = Durability::normal;
        else errors.fail("database.synchronous", "unsupported_value", "expected \"full\" or \"normal\"");
      }
      db.integer("readers", c.sqlite.readers, 1, 64);
      db.millis("busy_timeout_ms", c.sqlite.busy_timeout, 0, 600'000);
    }
    if (c.db_engine == "postgres") {
      db.str("url", c.postgres.conninfo, true);
      if (errors.ok()) {
        std::string why = check_conninfo(c.postgres.conninfo);
        if (!why.empty()) errors.fail("database.url", "invalid", why);
      }
      db.str("schema", c.postgres.schema, false, true);
      if (errors.ok()) {
        if (Status s = pg::validate_identifier(c.postgres.schema, "schema"); !s.ok())
          errors.fail("database.schema", "invalid", std::string(s.message()));
      }
      db.integer("pool_size", c.postgres.pool_size, 1, 256);
      db.boolean("synchronous_commit", c.postgres.synchronous_commit);
      db.integer("max_retries", c.postgres.max_retries, 0, 100);
      db.integer("max_batch", c.postgres.max_batch, 1, 4096);
      db.integer("write_lanes", c.postgres.write_lanes, 1, 256);
      if (errors.ok() && c.postgres.write_lanes > c.postgres.pool_size)
        errors.fail("database.write_lanes", "range", "must not exceed pool_size");
    }
    db.finish();
  }

  {
    Section a = root.object("assets");
    if (!a.present()) errors.fail("assets", "required", "is required");
    a.str("directory", c.assets_directory, true);
    a.str("public_base_url", c.assets_public_base_url, true);
    a.integer("max_bytes_per_file", c.assets_max_bytes, 1, std::int64_t{1} << 34);
    a.millis("fetch_timeout_ms", c.assets_fetch_timeout, 1, 3'600'000);
    a.boolean("public", c.assets_public);
    a.integer("url_ttl_s", c.assets_url_ttl_s, 1, 604'800);
    if (a.has("url_secret")) {
      a.str("url_secret", c.assets_url_secret, true);
      if (errors.ok() && c.assets_url_secret.size() < 32)
        errors.fail("assets.url_secret", "too_short", "must be at least 32 bytes");
      if (errors.ok() && c.assets_url_secret == c.pepper)
        errors.fail("assets.url_secret", "reused", "must differ from api_key_pepper");
    }
    a.finish();
  }

  {
    Section p = root.object("providers");
    // One section per adapter: base_url, the adapter's own keys, then the
    // HTTP options every adapter shares.
    auto provider = [&p](const char* name, auto& slot, auto&& own) {
      if (!p.has(name)) return;
      Section s = p.object(name);
      typename std::remove_reference_t<decltype(slot)>::value_type o;
      ProviderHttpConfig h;
      s.str("base_url", o.base_url, false, true);
      own(s, o);
      read_http(s, h);
      s.finish();
      apply_http(h, o);
      slot = std::move(o);
    };
    provider("replicate", c.replicate, [](Section& s, ReplicateProviderOptions& o) {
      s.str("api_token", o.api_token, true);
      s.strings("webhook_secrets", o.webhook_secrets);
      s.boolean("send_cancel_after", o.send_cancel_after);
    });
    provider("fal", c.fal, [](Section& s, FalProviderOptions& o) {
      s.str("api_key", o.api_key, true);
      s.str("jwks_url", o.jwks_url, false, true);
      s.str("user_id", o.user_id);
    });
    provider("bfl", c.bfl, [](Section& s, BflProviderOptions& o) {
      s.str("api_key", o.api_key, true);
      s.str("webhook_secret", o.webhook_secret);
      s.strings("previous_webhook_secrets", o.previous_webhook_secrets);
      s.integer("micros_per_provider_credit", o.micros_per_provider_credit, 0, kMicrosPerCredit * 1000);
    });
    provider("openai", c.openai, [](Section& s, OpenAIImagesProviderOptions& o) {
      s.str("api_key", o.api_key, true);
      s.str("organization", o.organization);
      s.str("project", o.project);
    });
    provider("runway", c.runway, [](Section& s, RunwayProviderOptions& o) {
      s.str("api_key", o.api_key, true);
      s.str("api_version", o.api_version, false, true);
      s.millis("min_poll_interval_ms", o.min_poll_interval, 0, 3'600'000);
    });
    provider("alibabacloud", c.alibabacloud,
             [](Section& s, AlibabaCloudProviderOptions& o) { s.str("api_key", o.api_key, true); });
    provider("byteplus", c.byteplus, [](Section& s, BytePlusProviderOptions& o) { s.str("api_key", o.api_key, true); });
    provider("cloudflare", c.cloudflare, [](Section& s, CloudflareProviderOptions& o) {
      s.str("account_id", o.account_id, true);
      s.str("api_token", o.api_token, true);
    });
    p.finish();
  }

  if (root.has("stripe")) {
    Section s = root.object("stripe");
    StripeOptions o;
    s.strings("endpoint_secrets", o.endpoint_secrets);
    if (errors.ok() && o.endpoint_secrets.empty())
      errors.fail("stripe.endpoint_secrets", "required", "at least one secret is required");
    s.integer("tolerance_s", o.tolerance_s, 1, 86'400);
    read_stripe_prices(s, "packs", o.packs);
    read_stripe_prices(s, "plans", o.plans);
    s.finish();
    c.stripe = std::move(o);
  } else {
    root.get("stripe");
  }

  {
    Section w = root.object("webhooks");
    w.boolean("enabled", c.webhooks_enabled);
    w.integer("max_concurrency", c.dispatcher.max_concurrency, 1, 1024);
    w.millis("idle_poll_ms", c.dispatcher.idle_poll, 1, 3'600'000);
    w.millis("total_timeout_ms", c.dispatcher.total_timeout, 1, 600'000);
    if (w.has("retry_schedule_ms")) {
      const Value* v = w.get("retry_schedule_ms");
      if (!v->is_array() || v->array.empty()) {
        errors.fail("webhooks.retry_schedule_ms", "type", "expected a non-empty array of integers");
      } else {
        std::vector<milliseconds> sched;
        for (std::size_t i = 0; i < v->array.size(); ++i) {
          const Value& e = v->array[i];
          if (!e.is_integer() || e.integer < 0 || e.integer > 7LL * 86'400'000) {
            errors.fail("webhooks.retry_schedule_ms[" + std::to_string(i) + "]", "range",
                        "expected milliseconds between 0 and 7 days");
            break;
          }
          sched.emplace_back(e.integer);
        }
        c.dispatcher.retry_schedule = std::move(sched);
      }
    }
    w.finish();
  }

  {
    Section g = root.object("net_guard");
    g.boolean("allow_http", c.guard.allow_http);
    if (g.has("allowed_ports")) {
      const Value* v = g.get("allowed_ports");
      if (!v->is_array()) {
        errors.fail("net_guard.allowed_ports", "type", "expected an array of ports");
      } else {
        std::vector<std::uint16_t> ports;
        for (std::size_t i = 0; i < v->array.size(); ++i) {
          const Value& e = v->array[i];
          if (!e.is_integer() || e.integer < 1 || e.integer > 65535) {
            errors.fail("net_guard.allowed_ports[" + std::to_string(i) + "]", "range", "expected a port 1..65535");
            break;
          }
          ports.push_back(static_cast<std::uint16_t>(e.integer));
        }
        c.guard.allowed_ports = std::move(ports);
      }
    }
    bool any_port = false, loopback = false, priv = false;
    g.boolean("allow_any_port", any_port);
    g.boolean("allow_loopback", loopback);
    g.boolean("allow_private", priv);
    if (any_port) {
      c.guard.allowed_ports.clear();
      for (int port = 1; port <= 65535; ++port) c.guard.allowed_ports.push_back(static_cast<std::uint16_t>(port));
    }
    std::vector<std::string> nets;
    if (loopback) nets.insert(nets.end(), {"127.0.0.0/8", "::1/128"});
    if (priv) nets.insert(nets.end(), {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"});
    std::vector<std::string> extra;
    g.strings("allow_networks", extra);
    for (std::size_t i = 0; i < extra.size(); ++i) {
      if (!IpNetwork::parse(extra[i])) {
        errors.fail("net_guard.allow_networks[" + std::to_string(i) + "]", "invalid", "expected a CIDR block");
        break;
      }
      nets.push_back(extra[i]);
    }
    for (const auto& n : nets)
      if (auto net = IpNetwork::parse(n)) c.guard.allow_overrides.push_back(*net);
    g.integer("max_url_bytes", c.guard.max_url_bytes, 64, 65'536);
    g.integer("max_redirects", c.guard.max_redirects, 0, 20);
    g.finish();
  }

  {
    Section t = root.object("transport");
    c.transport.threads = 2;
    t.integer("threads", c.transport.threads, 1, 64);
    t.boolean("verify_peer", c.transport.verify_peer);
    t.str("ca_file", c.transport.ca_file);
    t.finish();
  }

  {
    Section e = root.object("engine");
    EngineOptions& o = c.engine;
    e.integer("threads", o.threads, 1, 256);
    e.boolean("start_workers", o.start_workers);
    e.millis("generation_deadline_ms", o.generation_deadline, 1'000, 7LL * 86'400'000);
    e.millis("hold_grace_ms", o.hold_grace, 0, 7LL * 86'400'000);
    e.millis("tick_ms", o.tick, 1, 60'000);
    e.millis("router_refresh_ms", o.router_refresh, 10, 3'600'000);
    e.millis("idempotency_ttl_ms", o.idempotency_ttl, 1'000, 30LL * 86'400'000);
    e.integer("max_asset_tries", o.max_asset_tries, 1, 100);
    e.millis("retry_delay_ms", o.retry_delay, 0, 3'600'000);
    e.integer("max_cancel_tries", o.max_cancel_tries, 0, 1000);
    e.finish();
  }

  {
    Section r = root.object("rate_limits");
    read_rate(r, "per_key", c.engine.rate_limits.per_key);
    read_rate(r, "per_account", c.engine.rate_limits.per_account);
    r.integer("max_buckets", c.engine.rate_limits.max_buckets, 1, 100'000'000);
    r.finish();
  }

  {
    Section k = root.object("cache");
    CacheOptions& o = c.engine.cache;
    k.str("url", o.url);
    if (errors.ok() && !o.url.empty()) {
      if (auto parsed = cache::parse_redis_url(o.url); !parsed.ok())
        errors.fail("cache.url", parsed.code() == Code::unsupported ? "unsupported_value" : "invalid",
                    std::string(parsed.status().message()));
    }
    k.str("key_prefix", o.key_prefix, false, true);
    if (errors.ok() && o.key_prefix.size() > 128) errors.fail("cache.key_prefix", "too_long", "must be at most 128 bytes");
    k.millis("timeout_ms", o.timeout, 1, 60'000);
    k.boolean("fail_open_limits", o.fail_open_limits);
    k.millis("ranking_ttl_ms", o.ranking_ttl, 1'000, 7LL * 86'400'000);
    k.finish();
  }

  {
    Section k = root.object("cluster");
    ClusterOptions& o = c.engine.cluster;
    k.str("instance_id", o.instance_id);
    if (errors.ok() && !o.instance_id.empty() && !valid_instance_id(o.instance_id))
      errors.fail("cluster.instance_id", "invalid_format", "must be 1-64 characters of [A-Za-z0-9_.:-]");
    k.millis("heartbeat_ms", o.heartbeat, 10, 3'600'000);
    k.millis("instance_ttl_ms", o.instance_ttl, 100, 86'400'000);
    k.millis("lease_ms", o.lease, 100, 86'400'000);
    if (errors.ok() && o.instance_ttl <= o.heartbeat)
      errors.fail("cluster.instance_ttl_ms", "range", "must be greater than heartbeat_ms");
    k.finish();
  }

  {
    Section s = root.object("server");
    ServerSettings& o = c.server;
    s.str("host", o.host, false, true);
    s.integer("port", o.port, 0, 65535);
    s.integer("threads", o.threads, 1, 256);
    s.integer("handler_threads", o.handler_threads, 1, 1024);
    s.integer("max_body_bytes", o.max_body_bytes, 1024, std::int64_t{1} << 30);
    s.integer("max_header_bytes", o.max_header_bytes, 1024, 1 << 20);
    s.integer("create_wait_ms", o.create_wait_ms, 0, 600'000);
    s.integer("openai_wait_ms", o.openai_wait_ms, 0, 3'600'000);
    s.integer("request_timeout_ms", o.request_timeout_ms, 100, 3'600'000);
    s.str("metrics_token", o.metrics_token);
    s.boolean("playground", o.playground);
    s.str("playground_dir", o.playground_dir);
    if (!o.metrics_token.empty() &&
        (o.metrics_token.size() < 16 || o.metrics_token.size() > 256 ||
         !std::all_of(o.metrics_token.begin(), o.metrics_token.end(),
                      [](char ch) { return ch > 0x20 && ch < 0x7f; })))
      errors.fail("server.metrics_token", "invalid", "must be 16-256 visible ASCII characters");
    s.finish();
  }

  {
    Section u = root.object("usage_log");
    RequestLogOptions& o = c.usage_log;
    u.boolean("enabled", c.usage_log_enabled);
    std::int64_t retention_days = 90;
    u.integer("retention_days", retention_days, 1, 3650);
    o.retention = milliseconds(retention_days * 86'400'000);
    u.millis("flush_ms", o.flush_interval, 1, 60'000);
    u.integer("max_queue", o.max_queue, 1, 16'777'216);
    u.finish();
  }

  root.finish();
  if (!errors.ok()) return errors.status();
  c.engine.region = c.region;
  c.engine.api_key_pepper = c.pepper;
  c.engine.callback_base_url = c.callback_base_url;
  while (!c.engine.callback_base_url.empty() && c.engine.callback_base_url.back() == '/')
    c.engine.callback_base_url.pop_back();
  return c;
}

// The asset URL signer, or none in public mode. Its key is never a raw
// secret: BLAKE2b of assets.url_secret (else api_key_pepper) keyed with its
// own label gives a master key, and a KDF subkey of it under its own context
// signs. Deterministic, so links stay valid across restarts, and unrelated
// to the API key hashing key derived from the same pepper.
Result<std::shared_ptr<const AssetUrlSigner>> make_url_signer(const Config& c) {
  if (c.assets_public) return std::shared_ptr<const AssetUrlSigner>();
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");
  static constexpr std::string_view kLabel = "babysea asset url master v1";
  static constexpr char kContext[crypto_kdf_CONTEXTBYTES + 1] = "bsassets";
  const std::string& secret = c.assets_url_secret.empty() ? c.pepper : c.assets_url_secret;
  unsigned char master[crypto_kdf_KEYBYTES];
  crypto_generichash(master, sizeof master, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size());
  std::array<unsigned char, AssetUrlSigner::kKeyBytes> key{};
  const int derived = crypto_kdf_derive_from_key(key.data(), key.size(), 1, kContext, master);
  sodium_memzero(master, sizeof master);
  if (derived != 0) return Status(Code::internal, "cannot derive the asset URL key");
  auto signer = std::make_shared<const AssetUrlSigner>(key, std::chrono::seconds(c.assets_url_ttl_s));
  sodium_memzero(key.data(), key.size());
  return signer;
}

Status with_field(Status s, std::string_view field) {
  if (s.ok()) return s;
  std::vector<FieldIssue> issues = s.issues();
  issues.insert(issues.begin(), FieldIssue{std::string(field), std::string(code_name(s.code())),
                                           std::string(s.message())});
  return Status(s.code(), "config: " + std::string(field) + ": " + std::string(s.message()), std::move(issues));
}

}  // namespace

// ------------------------------------------------------------------ Impl

struct Runtime::Impl {
  Config config;
  const Clock* clock = &SystemClock::instance();
  StoreCounterCells store_counters;  // outlives the store that counts into it
  // Construction order; destruction runs backwards (see ~Runtime).
  std::unique_ptr<Store> store;
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<NetGuard> guard;
  std::unique_ptr<UrlPolicy> url_policy;
  std::unique_ptr<Transport> transport;
  std::vector<std::shared_ptr<Provider>> providers;
  std::shared_ptr<const AssetUrlSigner> url_signer;  // null in public mode
  std::unique_ptr<AssetStore> assets;
  std::shared_ptr<const Catalog> catalog;
  std::unique_ptr<Ledger> own_ledger;           // admin mode only
  std::unique_ptr<ApiKeyService> own_api_keys;  // admin mode only
  std::unique_ptr<Engine> engine;
  std::unique_ptr<WebhookEndpoints> endpoints;
  std::unique_ptr<WebhookDispatcher> dispatcher;
  std::unique_ptr<StripeWebhooks> stripe;
  std::unique_ptr<RequestLog> request_log;  // engine mode, usage_log.enabled

  Ledger& ledger() { return engine ? engine->ledger() : *own_ledger; }
  ApiKeyService& api_keys() { return engine ? engine->api_keys() : *own_api_keys; }
};

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  if (!impl_) return;
  // Stop delivering first, then stop the engine (in-flight provider work
  // ends), then everything the engine borrowed; the store goes last.
  // The dispatcher object outlives the engine: an event callback already
  // running may still call notify() (harmless on a stopped dispatcher).
  if (impl_->dispatcher) impl_->dispatcher->stop();
  if (impl_->engine) impl_->engine->set_event_callback({});
  impl_->request_log.reset();  // writes what is still queued while the store is open
  impl_->stripe.reset();
  impl_->engine.reset();
  impl_->dispatcher.reset();
  impl_->endpoints.reset();
  impl_->own_api_keys.reset();
  impl_->own_ledger.reset();
  impl_->assets.reset();
  impl_->providers.clear();
  impl_->transport.reset();
  impl_->url_policy.reset();
  impl_->guard.reset();
  impl_->resolver.reset();
  impl_->store.reset();
}

Result<ListenAddress> Runtime::listen_address(std::string_view config_json) {
  auto doc = json::parse_strict(config_json);
  if (!doc.ok() || !doc->is_object()) {
    auto r = Runtime::open(config_json);  // the precise config error
    if (!r.ok()) return std::move(r).take_status();
    return Status(Code::invalid_request, "config: expected a JSON object");
  }
  ListenAddress a;
  if (const Value* s = doc->find("server"); s && s->is_object()) {
    if (const Value* h = s->find("host"); h && h->is_string()) a.host = h->string;
    if (const Value* p = s->find("port"); p && p->is_integer() && p->integer >= 0 && p->integer <= 65535)
      a.port = static_cast<std::uint16_t>(p->integer);
  }
  return a;
}

Result<std::unique_ptr<Runtime>> Runtime::open(std::string_view config_json, const RuntimeOpenOptions& options) {
  BABYSEA_ASSIGN_OR_RETURN(Config config, parse_config(config_json));
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  Config& c = impl->config;
  BABYSEA_ASSIGN_OR_RETURN(impl->url_signer, make_url_signer(c));

  // Store.
  if (c.db_engine == "memory") {
    impl->store = open_memory_store();
  } else if (c.db_engine == "postgres") {
    // Unreachable server, refused login, unknown database: the url is at fault.
    auto s = open_postgres_store(c.postgres);
    if (!s.ok()) {
      Status st = std::move(s).take_status();
      const bool connect = st.code() == Code::unavailable;
      return with_field(std::move(st), connect ? "database.url" : "database");
    }
    impl->store = std::move(*s);
  } else {
    auto s = open_sqlite_store(c.sqlite);
    if (!s.ok()) return with_field(std::move(s).take_status(), "database");
    impl->store = std::move(*s);
  }
  impl->store = count_units(std::move(impl->store), impl->store_counters);

  // Guard (also needed by webhook endpoint registration in admin mode). It
  // refuses URLs that reach this server itself: where the host says it
  // listens, else the configured server address.
  impl->resolver = make_system_resolver();
  {
    const std::string& host = options.listen_host.empty() ? c.server.host : options.listen_host;
    const std::uint16_t port = options.listen_port != 0 ? options.listen_port : c.server.port;
    if (port != 0) {
      std::vector<IpAddress> addresses;
      if (auto a = IpAddress::parse(host)) addresses.push_back(*a);
      else if (auto r = impl->resolver->resolve(host); r.ok()) addresses = std::move(r).value();
      if (addresses.empty()) addresses.push_back(IpAddress{});  // unknown: every address of this host
      for (const auto& a : addresses) c.guard.self.push_back(SelfEndpoint{a, port});
    }
  }
  impl->guard = std::make_unique<NetGuard>(*impl->resolver, c.guard);
  impl->url_policy = make_url_policy(*impl->guard);

  // Catalog.
  if (c.catalog == "builtin") {
    auto cat = Catalog::load_json(runtime_detail::kBuiltin_providers_json, runtime_detail::kBuiltin_models_json,
                                  runtime_detail::kBuiltin_bridges_json);
    if (!cat.ok()) return with_field(std::move(cat).take_status(), "catalog");
    impl->catalog = std::move(*cat);
  } else {
    std::error_code ec;
    if (!std::filesystem::is_directory(c.catalog, ec))
      return Status(Code::invalid_request, "config: catalog: not a directory",
                    {FieldIssue{"catalog", "not_found", "expected \"builtin\" or a catalog directory"}});
    auto cat = Catalog::load_directory(c.catalog);
    if (!cat.ok()) return with_field(std::move(cat).take_status(), "catalog");
    impl->catalog = std::move(*cat);
  }

  if (options.engine) {
    impl->transport = make_beast_transport(c.transport);

    // Providers: each configured one on the shared transport; a factory's refusal
    // names the provider's section.
    auto add = [&](auto& section, auto make, std::string_view field) -> Status {
      if (!section) return Status();
      section->transport = impl->transport.get();
      auto made = make(*section);
      if (!made.ok()) return with_field(std::move(made).take_status(), field);
      impl->providers.push_back(std::move(*made));
      return Status();
    };
    BABYSEA_RETURN_IF_ERROR(add(c.replicate, make_replicate_provider, "providers.replicate"));
    BABYSEA_RETURN_IF_ERROR(add(c.fal, make_fal_provider, "providers.fal"));
    BABYSEA_RETURN_IF_ERROR(add(c.bfl, make_bfl_provider, "providers.bfl"));
    BABYSEA_RETURN_IF_ERROR(add(c.openai, make_openai_images_provider, "providers.openai"));
    BABYSEA_RETURN_IF_ERROR(add(c.runway, make_runway_provider, "providers.runway"));
    BABYSEA_RETURN_IF_ERROR(add(c.alibabacloud, make_alibabacloud_provider, "providers.alibabacloud"));
    BABYSEA_RETURN_IF_ERROR(add(c.byteplus, make_byteplus_provider, "providers.byteplus"));
    BABYSEA_RETURN_IF_ERROR(add(c.cloudflare, make_cloudflare_provider, "providers.cloudflare"));

    // Assets.
    std::error_code ec;
    std::filesystem::create_directories(c.assets_directory, ec);
    if (ec || !std::filesystem::is_directory(c.assets_directory, ec))
      return Status(Code::invalid_request, "config: assets.directory: cannot create the directory",
                    {FieldIssue{"assets.directory", "unusable", "cannot create the directory"}});
    DirectoryAssetOptions ao;
    ao.root = c.assets_directory;
    ao.public_base_url = c.assets_public_base_url;
    ao.max_bytes_per_file = c.assets_max_bytes;
    ao.fetch_timeout = c.assets_fetch_timeout;
    ao.url_signer = impl->url_signer;
    impl->assets = make_directory_asset_store(std::move(ao), *impl->guard, *impl->transport);

    // Engine.
    EngineConfig ec2;
    ec2.store = impl->store.get();
    ec2.clock = impl->clock;
    ec2.catalog = impl->catalog;
    ec2.providers = impl->providers;
    ec2.assets = impl->assets.get();
    ec2.options = c.engine;
    ec2.options.normalize.url_policy = impl->url_policy.get();
    auto engine = Engine::create(std::move(ec2));
    if (!engine.ok()) return with_field(std::move(engine).take_status(), "engine");
    impl->engine = std::move(*engine);
  } else {
    impl->own_ledger = std::make_unique<Ledger>(*impl->store, *impl->clock, c.engine.ledger);
    BABYSEA_RETURN_IF_ERROR(impl->own_ledger->init());
    auto keys = ApiKeyService::create(*impl->store, *impl->clock,
                                      ApiKeyOptions{c.region, c.pepper, 60'000});
    if (!keys.ok()) return with_field(std::move(keys).take_status(), "api_key_pepper");
    impl->own_api_keys = std::move(*keys);
  }

  impl->endpoints = std::make_unique<WebhookEndpoints>(*impl->store, *impl->guard, *impl->clock);
  if (impl->engine && c.webhooks_enabled) {
    impl->dispatcher = std::make_unique<WebhookDispatcher>(*impl->store, *impl->transport, *impl->guard,
                                                           *impl->clock, c.dispatcher);
    WebhookDispatcher* d = impl->dispatcher.get();
    impl->engine->set_event_callback([d](const LifecycleEvent&) { d->notify(); });
    d->start();
  }
  if (c.stripe)
    impl->stripe = std::make_unique<StripeWebhooks>(impl->ledger(), *impl->store, *impl->clock, *c.stripe);
  if (impl->engine && c.usage_log_enabled)
    impl->request_log = std::make_unique<RequestLog>(*impl->store, *impl->clock, c.usage_log);

  return std::unique_ptr<Runtime>(new Runtime(std::move(impl)));
}

bool Runtime::has_engine() const { return impl_->engine != nullptr; }
Engine& Runtime::engine() { return *impl_->engine; }
Store& Runtime::store() { return *impl_->store; }
StoreCounters Runtime::store_counters() const { return impl_->store_counters.load(); }
Ledger& Runtime::ledger() { return impl_->ledger(); }
ApiKeyService& Runtime::api_keys() { return impl_->api_keys(); }
WebhookEndpoints& Runtime::webhook_endpoints() { return *impl_->endpoints; }
WebhookDispatcher* Runtime::webhook_dispatcher() { return impl_->dispatcher.get(); }
RequestLog* Runtime::request_log() { return impl_->request_log.get(); }
const Clock& Runtime::clock() const { return *impl_->clock; }
const std::shared_ptr<const Catalog>& Runtime::catalog() const { return impl_->catalog; }
const ServerSettings& Runtime::server_settings() const { return impl_->config.server; }
const std::string& Runtime::region() const { return impl_->config.region; }
const std::string& Runtime::callback_base_url() const { return impl_->config.engine.callback_base_url; }
const std::string& Runtime::assets_directory() const { return impl_->config.assets_directory; }
const std::string& Runtime::assets_public_base_url() const { return impl_->config.assets_public_base_url; }
const AssetUrlSigner* Runtime::asset_url_signer() const { return impl_->url_signer.get(); }

std::vector<std::string> Runtime::provider_ids() const {
  std::vector<std::string> ids;
  for (const auto& p : impl_->providers) ids.emplace_back(p->id());
  return ids;
}

Result<StripeOutcome> Runtime::handle_stripe_webhook(std::string_view signature_header, std::string_view raw_body) {
  if (!impl_->stripe) return Status(Code::unsupported, "Stripe webhooks are not configured");
  return impl_->stripe->handle(signature_header, raw_body);
}

Status Runtime::create_account(std::string_view account) { return impl_->ledger().create_account(account); }

Result<IssuedKey> Runtime::issue_api_key(std::string_view account, ScopeSet scopes, std::string_view name,
                                         std::int64_t expires_ms) {
  BABYSEA_RETURN_IF_ERROR(impl_->ledger().create_account(account));
  IssueKeyRequest req;
  req.account = std::string(account);
  req.scopes = scopes;
  req.name = std::string(name);
  req.expires_ms = expires_ms;
  return impl_->api_keys().issue(req);
}

Result<std::vector<ApiKeyInfo>> Runtime::list_api_keys(std::string_view account) {
  return impl_->api_keys().list(account);
}

Status Runtime::revoke_api_key(std::string_view account, std::string_view key_id) {
  return impl_->api_keys().revoke(account, key_id);
}

Result<GrantResult> Runtime::grant_credits(std::string_view account, Micros amount, std::string_view key,
                                           std::string_view ref) {
  BABYSEA_RETURN_IF_ERROR(impl_->ledger().create_account(account));
  std::string k = key.empty() ? "admin:" + new_id(impl_->clock->now_ms()) : std::string(key);
  return impl_->ledger().grant(account, amount, k, ref.empty() ? std::string_view("admin grant") : ref);
}

Result<Balance> Runtime::balance(std::string_view account) { return impl_->ledger().balance(account); }

Result<std::vector<StatementEntry>> Runtime::statement(std::string_view account, std::size_t limit) {
  std::vector<StatementEntry> out;
  Status s = impl_->store->read([&](UnitOfWork& u) -> Status {
    AccountRow row;
    BABYSEA_RETURN_IF_ERROR(u.ledger().get_account(account, row));
    return u.ledger().for_each_entry([&](const EntryRow& e) {
      if (e.debit_account != account && e.credit_account != account) return;
      StatementEntry se;
      se.entry = e;
      if (e.credit_account == account) se.delta += e.amount;
      if (e.debit_account == account) se.delta -= e.amount;
      out.push_back(std::move(se));
    });
  });
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.entry.seq < b.entry.seq; });
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
  return out;
}

Result<AuditReport> Runtime::audit() { return impl_->ledger().audit(); }

}  // namespace babysea
