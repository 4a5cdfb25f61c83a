// babysea/service.hpp — every host operation of babysea, once, behind every
// front door (specs/api.md; DESIGN.md §7).
//
// The C ABI, the reference HTTP server and the admin CLI only marshal: each
// turns what it received into a `Call` (or an operator call's arguments) and
// hands back the `Reply`'s document. The service owns the rest, in one order
// for every operation: authenticate → rate-limit → scope → validate → call the
// engine or runtime → render the wire document (or the error document), and
// one usage-log row per authenticated call (security.md I13).
//
// Documents. Every reply body is one JSON document in the shapes of
// specs/api.md:
//   success  {"status":"success","request_id","message","timestamp","data":{…}}
//            (+ "total","limit","offset" beside data on content.list)
//   error    {"status":"error","request_id","message","timestamp",
//             "error":{"code":"BSE…","type","message","retryable",
//                      "details"?:{"issues":[{field,code,message}]},
//                      "provider_errors"?:[…]}}
// except `openai.images`, which answers OpenAI's own shapes, and the metrics
// text. An idempotent replay of a generate answers message
// "Generation replayed" (kReplayedMessage) and sets Reply::replayed; the HTTP
// door turns that into `Idempotency-Replayed: true`.
//
// Operator calls (accounts, keys, credits, webhook endpoints, audit, provider
// callbacks, Stripe events) trust their caller (the host process or the admin
// CLI): they take no API key and write no usage-log row.
//
// Ownership: borrows the Runtime, which must outlive the Service.
// Thread safety: every method is safe to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/auth.hpp"
#include "babysea/catalog.hpp"
#include "babysea/status.hpp"

namespace babysea {

class Runtime;

// How an error Code answers on the wire: the HTTP status and the BSE code of
// specs/api.md §1.5. Every Code is mapped deliberately (client errors 4xx,
// transient ones 503); only internal failures answer 500.
struct WireError {
  int http;
  const char* bse;
};
WireError wire_error(Code code) noexcept;

// The API operations (specs/api.md §1.3, plus the OpenAI-compatible route).
enum class Operation {
  generate_image,
  generate_video,
  generate,  // C ABI: the model's own type decides (no route to mismatch)
  content_get,
  content_list,
  content_cancel,
  content_delete,
  estimate,
  status,
  usage,
  account,
  billing,
  library_models,
  library_providers,
  health_providers,
  health_models,
  health_storage,
  health_cache,
  openai_images,
};

// One operation as data: its stable name (the C ABI's babysea_call), the
// HTTP method and route template (the usage log's route), and the scope it
// needs (specs/api.md §7.2).
struct OperationInfo {
  Operation op;
  std::string_view name;    // "content.get"
  std::string_view method;  // "GET"
  std::string_view route;   // "/v1/content/{id}"
  Scope scope;
};
std::span<const OperationInfo> operations() noexcept;
const OperationInfo& operation_info(Operation op) noexcept;
std::optional<Operation> operation_named(std::string_view name) noexcept;

// The input of one API operation, as text: every door hands the service the
// same strings, so every check runs once, here.
struct Call {
  // The credential. HTTP: every `Authorization` header value received (Bearer
  // scheme). C ABI and bindings: the raw key (`api_key`).
  std::vector<std::string_view> authorization;
  std::optional<std::string_view> api_key;

  std::string path_param;                                   // {model} or {id}
  std::vector<std::pair<std::string, std::string>> query;  // name, value (decoded)
  std::string_view body;                                    // JSON text, "" = none
  // HTTP: every Content-Type header value; the body must be JSON in UTF-8
  // (one header, application/json, charset utf-8 if any). Other doors leave
  // check_media_type false.
  std::vector<std::string_view> content_type;
  bool check_media_type = false;
  std::vector<std::string_view> idempotency_key;            // every header value
  std::optional<std::int64_t> wait_for_ack_ms;              // C ABI override of the create wait
};

struct Reply {
  int http_status = 200;
  Code code = Code::ok;           // babysea::Code of the outcome (C ABI return)
  std::string body;               // the JSON document (or metrics text)
  std::string message;            // the document's human message
  std::string content_type = "application/json";
  std::string request_id;         // "req_…"
  std::string error_code;         // BSE code on failure, "" on success
  bool replayed = false;          // an idempotent replay
  std::optional<RateInfo> rate;   // the caller's bucket, once rate-limited
  // Headers the answer needs beyond the above (WWW-Authenticate, Allow,
  // X-BabySea-Generation-Id).
  std::vector<std::pair<std::string, std::string>> headers;
  bool ok() const { return code == Code::ok; }
};

inline constexpr std::string_view kReplayedMessage = "Generation replayed";

// An API key to issue: `scopes` a preset or a comma-separated list
// ("full_access", "generation:write,generation:read"); expires_ms 0 = never.
struct ApiKeyArgs {
  std::string scopes = "full_access";
  std::string name;
  std::int64_t expires_ms = 0;
};

// The signing scheme names of a webhook endpoint spec: "babysea" (the
// default, the scheme the BabySea SDKs verify), "standard_webhooks", "both".
struct WebhookEndpointArgs {
  std::string url;
  std::string secret;   // "" = generate one
  std::string signing;  // "" = babysea
  std::vector<std::string> events;
};

class Service {
 public:
  explicit Service(Runtime& runtime);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // ------------------------------------------------------------ API calls
  // Runs one operation for the caller in `call`, and returns when it has
  // its answer (a generate waits for the provider's acknowledgement up to
  // the create wait, the OpenAI-compatible route for the terminal state up
  // to openai_wait_ms).
  Reply call(Operation op, const Call& call);
  // The same without holding the calling thread through those waits:
  // `done` is called exactly once with the answer, on this thread before
  // call_async returns, or later on an engine thread when the call waits
  // for its generation (the engine's watch, Engine::watch). The work before
  // the wait (authentication, the durable submit) runs on this thread.
  // `call` is read only before call_async returns. `done` must not block.
  void call_async(Operation op, const Call& call, std::function<void(Reply)> done);
  // Answers every call still waiting at once (a generate with the
  // generation as it stands, the OpenAI-compatible route 503), and later
  // calls without waiting. Then returns; the destructor does it too.
  void close();

  // An error reply for a refusal made before any operation was chosen (no
  // route, a malformed request target, a protocol error): the error document
  // with the Code's HTTP status and BSE code. `override_status` and
  // `override_type` replace them (405 method_not_allowed).
  Reply error(const Status& status, int override_status = 0, std::string_view override_type = {}) const;

  // A success document with empty data (a CORS preflight).
  Reply acknowledge(std::string_view message) const;
  // An OpenAI-shaped refusal of the OpenAI-compatible route made before the
  // operation runs (405 on its path).
  Reply openai_refusal(int http_status, std::string_view code, std::string_view message) const;

  // The body of a protocol refusal answered by the HTTP layer itself (400,
  // 413, 431, 503 before a request is routed).
  static std::string refusal_body(int http_status, std::string_view type, std::string_view message);

  // The line a server prints once it listens:
  // {"event":"listening","host":..,"port":N,"base_url":".."}.
  static std::string listening_document(std::string_view host, std::uint16_t port, std::string_view base_url);

  // /metrics: the engine's and the request log's counters as Prometheus text,
  // only for the bearer of the configured metrics token (404 when none).
  Reply metrics(const std::vector<std::string_view>& authorization) const;

  // The provider id of a callback path under callback_base_url's path
  // ("/callbacks/fal" → "fal"), nullopt for another path.
  std::optional<std::string> callback_provider(std::string_view path) const;

  // Asset files under the path of the assets public base URL: the file of a
  // valid signed link (`expires`, `signature` query parameters) for the exact
  // path unless assets are public; a missing or bad signature answers like a
  // missing file (404), an expired one 403.
  bool is_asset_path(std::string_view path) const;
  Reply asset(std::string_view path, std::optional<std::string_view> expires,
              std::optional<std::string_view> signature) const;

  // ------------------------------------------------------- operator calls
  Reply authenticate(std::string_view api_key);  // data: {account, key_id, scopes[], region}
  Reply provider_callback(std::string_view provider, const std::vector<std::pair<std::string, std::string>>& headers,
                          std::string_view body);
  Reply stripe_event(std::string_view signature_header, std::string_view body);
  Reply account_create(std::string_view account);
  // `request_json`: {"scopes": "preset" | "a,b" | [..], "name", "expires_ms"}.
  Reply api_key_issue(std::string_view account, std::string_view request_json);
  Reply api_key_issue(std::string_view account, const ApiKeyArgs& args);
  Reply api_key_list(std::string_view account);
  Reply api_key_revoke(std::string_view account, std::string_view key_id);
  // `amount`: decimal credits ("2.5"); `key`: idempotency key ("" = none).
  Reply credits_grant(std::string_view account, std::string_view amount, std::string_view key,
                      std::string_view ref = {});
  Reply credits_balance(std::string_view account);
  Reply credits_statement(std::string_view account, std::int64_t limit);
  // `spec_json`: {"url", "secret"?, "signing"?, "events"?: [..]}.
  Reply webhook_endpoint_create(std::string_view account, std::string_view spec_json);
  Reply webhook_endpoint_create(std::string_view account, const WebhookEndpointArgs& args);
  Reply webhook_endpoint_list(std::string_view account);
  Reply webhook_endpoint_set_enabled(std::string_view account, std::string_view endpoint_id, bool enabled);
  Reply webhook_endpoint_test(std::string_view account, std::string_view endpoint_id);
  Reply ledger_audit();
  // The engine's whole health: {healthy, providers:{…}, models:{…}}.
  Reply health();
 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace babysea
