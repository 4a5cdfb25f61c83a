// babysea/runtime.hpp — a whole deployment built from one JSON config document.
//
// `Runtime::open(config_json)` parses and validates the document strictly
// (unknown keys, wrong types and out-of-range values are invalid_request with
// one FieldIssue whose `field` is the dotted path of the bad key, e.g.
// "database.synchronous"), then builds, in this order: the store, the SSRF
// guard and its resolver, the outbound HTTP transport, the provider adapters,
// the asset store, the catalog, the Engine, customer webhook endpoints and the
// webhook dispatcher (started), the Stripe top-up handler and the usage log's
// writer. The destructor stops the dispatcher, writes what the usage log has
// queued, then destroys the engine (waiting for in-flight provider work),
// then everything the engine borrowed, and the store last.
//
// Config document (every key optional unless marked; defaults in brackets):
//
//   region                 string ["us"]: this deployment's region
//   api_key_pepper         string, >= 32 bytes (required): API key hash key
//   callback_base_url      string [""]: provider callbacks go to <this>/<provider id>;
//                          empty = polling only
//   catalog                "builtin" [default] | "<directory with providers.json,
//                          models.json, bridges.json>"
//   database               { engine: "sqlite" | "postgres" | "memory" (required),
//                            sqlite:   path: string (required), synchronous: "full" | "normal" ["full"],
//                                      readers: int [4], busy_timeout_ms: int [5000];
//                            postgres: url: string (required): a "postgresql://" URL or libpq
//                                      key=value conninfo (checked with libpq; never echoed, it may
//                                      hold a password), schema: string ["babysea"] (1-63 of
//                                      [A-Za-z0-9_], not starting with a digit), pool_size: int [4]
//                                      (1..256), synchronous_commit: bool [true], max_retries: int [5]
//                                      (0..100), max_batch: int [64] (1..4096; 1: a transaction per
//                                      unit), write_lanes: int [1] (1..pool_size)
//                                      (PostgresOptions, storage.hpp) }
//                          (postgres: an unreachable server or refused login fails open with
//                          unavailable naming "database.url"; add connect_timeout=<s> to the url
//                          to bound the wait)
//   assets                 { directory: string (required), public_base_url: string (required),
//                            max_bytes_per_file: int, fetch_timeout_ms: int,
//                            public: bool [false]: true = plain output URLs anyone holding one
//                            can fetch (an explicit opt-in); false = clients get expiring signed
//                            URLs (AssetUrlSigner, assets.hpp),
//                            url_ttl_s: int [3600] (1..604800): lifetime of a signed URL,
//                            url_secret: string (>= 32 bytes, not the pepper) [derived from
//                            api_key_pepper]: source of the signing key (never used raw;
//                            changing it invalidates the links handed out) }
//   providers              { replicate: { base_url, api_token (required), webhook_secrets: [..],
//                                         send_cancel_after: bool },
//                            fal:       { base_url, api_key (required), jwks_url, user_id },
//                            bfl:       { base_url, api_key (required), webhook_secret,
//                                         previous_webhook_secrets: [..], micros_per_provider_credit },
//                            openai:    { base_url, api_key (required), organization, project },
//                            runway:    { base_url, api_key (required), api_version,
//                                         min_poll_interval_ms },
//                            alibabacloud: { base_url, api_key (required) },
//                            byteplus:  { base_url, api_key (required) },
//                            cloudflare: { base_url, account_id (required), api_token (required) }
//                            (each also: connect_timeout_ms, request_timeout_ms, dns_ttl_ms,
//                             max_response_bytes) } — only configured providers are used
//   stripe                 { endpoint_secrets: [string] (required when present), tolerance_s: int [300],
//                            packs: [{price_id, credits: "decimal", amount_cents}],
//                            plans: [{price_id, credits: "decimal", amount_cents}] }
//   webhooks               { enabled: bool [true], max_concurrency: int [8], idle_poll_ms: int [1000],
//                            retry_schedule_ms: [int] [0,5s,5m,30m,2h,5h,10h,10h],
//                            total_timeout_ms: int [15000] }
//   net_guard              { allow_http: bool [true], allowed_ports: [int] [80,443],
//                            allow_any_port: bool [false], allow_loopback: bool [false],
//                            allow_private: bool [false], allow_networks: ["cidr"],
//                            max_url_bytes: int [2048], max_redirects: int [5] }
//                          (loopback/private/any port: tests and demos only)
//   transport              { threads: int [2], verify_peer: bool [true], ca_file: string }
//   engine                 { threads: int [4], start_workers: bool [true],
//                            generation_deadline_ms, hold_grace_ms, tick_ms, router_refresh_ms,
//                            idempotency_ttl_ms, max_asset_tries, retry_delay_ms, max_cancel_tries }
//   rate_limits            { per_key: {limit, window_ms} [600/60000],
//                            per_account: {limit, window_ms} [1200/60000], max_buckets }
//   server                 { host: string ["127.0.0.1"], port: int [8080] (0 = any free port),
//                            threads: int [2] (I/O), handler_threads: int [32] (requests block
//                            on durable commits and reads only; a request waiting for its
//                            generation, the create wait or the OpenAI-compatible wait, holds
//                            no thread),
//                            max_body_bytes: int [1048576],
//                            max_header_bytes: int [16384], create_wait_ms: int [10000],
//                            openai_wait_ms: int [120000], request_timeout_ms: int [30000],
//                            metrics_token: string [none: /metrics is not served],
//                            playground: bool [true] (the browser playground at /playground/),
//                            playground_dir: string [built-in files] }
//                          (read only by the reference server; host and port also tell the SSRF
//                          guard which endpoint is this server itself, see RuntimeOpenOptions)
//   usage_log              { enabled: bool [true], retention_days: int [90] (1..3650),
//                            flush_ms: int [200] (1..60000), max_queue: int [65536] (1..16777216) }
//                          (the per-request usage log, request_log.hpp; built only with an engine,
//                          written by the host's front door, e.g. the reference server)
//
// Administration (admin CLI, C ABI): account creation, API key issue / list /
// revoke, credit grants, balance, statement and audit take no Principal; they
// are host calls no customer key can reach (auth.hpp, security.md I5).
//
// Runtime::open with `RuntimeOpenOptions::engine = false` builds only the
// store, ledger, API keys and webhook endpoints (no engine, no workers, no
// recovery, no providers): what the admin CLI uses next to a running server.
//
// Codes: invalid_request (config, with issues), plus the codes of the parts
// (storage_error / corruption on open, unavailable when PostgreSQL cannot be
// reached, ledger and key codes on admin calls); a store that fails to open
// names "database" (or "database.url" when unavailable) as its issue field.
//
// Thread safety: every method is safe to call concurrently; the accessors
// return objects that are themselves safe for concurrent use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/auth.hpp"
#include "babysea/engine.hpp"
#include "babysea/ledger.hpp"
#include "babysea/money.hpp"
#include "babysea/request_log.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"
#include "babysea/stripe.hpp"
#include "babysea/webhook_delivery.hpp"

namespace babysea {

// The reference server's own settings (the "server" section).
struct ServerSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port
  int threads = 2;           // I/O threads
  int handler_threads = 32;  // request handlers (they may block on the engine)
  std::size_t max_body_bytes = 1u << 20;
  std::size_t max_header_bytes = 16u << 10;
  std::int64_t create_wait_ms = 10'000;    // generate: bounded wait for the provider ack
  std::int64_t openai_wait_ms = 120'000;   // /v1/images/generations: wait for the terminal state
  std::int64_t request_timeout_ms = 30'000;  // reading one request
  // Bearer token that GET /metrics requires (16-256 visible ASCII chars).
  // Empty: /metrics is not served at all.
  std::string metrics_token;
  // The browser playground at /playground/ (static files; the page talks
  // only to this API with the key pasted into it).
  bool playground = true;
  // Serve the playground's files from this directory instead of the copies
  // built into the server (empty: the built-in copies).
  std::string playground_dir;
};

struct RuntimeOpenOptions {
  // false: no engine, providers, transport workers or dispatcher (admin use).
  bool engine = true;
  // Where the host serves this runtime (the reference server's bound address
  // and port). The SSRF guard refuses URLs that reach it (net_guard.hpp
  // `self`). Empty / 0: server.host and server.port of the config (nothing
  // when that port is 0).
  std::string listen_host;
  std::uint16_t listen_port = 0;
};

// One journal entry of an account's statement.
struct StatementEntry {
  EntryRow entry;
  Micros delta = 0;  // effect on the account's posted balance (+ credit, - debit)
};

// Where the reference server listens (the config's server.host and
// server.port, before the rest of the document is read).
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> open(std::string_view config_json,
                                               const RuntimeOpenOptions& options = {});
  // The listen address of `config_json` (a server binds it first, then opens
  // the Runtime with RuntimeOpenOptions::listen_port). A document that is not
  // a JSON object answers open()'s own error for it.
  static Result<ListenAddress> listen_address(std::string_view config_json);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // --- parts --------------------------------------------------------------
  bool has_engine() const;
  Engine& engine();  // REQUIRES: has_engine()
  Store& store();
  // What the store has run since the runtime opened it (units committed,
  // units failed, reads): babysea_store_* in /metrics.
  StoreCounters store_counters() const;
  Ledger& ledger();
  ApiKeyService& api_keys();
  WebhookEndpoints& webhook_endpoints();
  // nullptr when outbound webhooks are disabled or there is no engine.
  WebhookDispatcher* webhook_dispatcher();
  // The usage log's writer; nullptr when usage_log.enabled is false or there
  // is no engine. It writes what is queued before the store closes.
  RequestLog* request_log();
  const Clock& clock() const;
  const std::shared_ptr<const Catalog>& catalog() const;
  const ServerSettings& server_settings() const;
  const std::string& region() const;
  const std::string& callback_base_url() const;
  // The provider ids configured (and given to the engine).
  std::vector<std::string> provider_ids() const;
  // The assets section: where files live and the URL prefix they are served under.
  const std::string& assets_directory() const;
  const std::string& assets_public_base_url() const;
  // Signs and checks output URLs (the server's asset route verifies with it).
  // nullptr when assets.public is true (plain public URLs).
  const AssetUrlSigner* asset_url_signer() const;

  // --- Stripe -------------------------------------------------------------
  // Verifies and applies one Stripe webhook delivery. unsupported when the
  // config has no stripe section.
  Result<StripeOutcome> handle_stripe_webhook(std::string_view signature_header, std::string_view raw_body);

  // --- administration (no Principal: host calls only) ---------------------
  // Creates a customer account (OK when it exists).
  Status create_account(std::string_view account);
  // Creates the account if needed and issues a key in this region.
  Result<IssuedKey> issue_api_key(std::string_view account, ScopeSet scopes, std::string_view name = {},
                                  std::int64_t expires_ms = 0);
  Result<std::vector<ApiKeyInfo>> list_api_keys(std::string_view account);
  Status revoke_api_key(std::string_view account, std::string_view key_id);
  // Grants `amount` to `account` (creating it if needed), idempotent by `key`
  // (empty: a fresh key is generated).
  Result<GrantResult> grant_credits(std::string_view account, Micros amount, std::string_view key = {},
                                    std::string_view ref = {});
  Result<Balance> balance(std::string_view account);
  // The newest `limit` journal entries touching `account`, oldest first.
  Result<std::vector<StatementEntry>> statement(std::string_view account, std::size_t limit = 100);
  Result<AuditReport> audit();

  struct Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea
