/* babysea.h — the C ABI of babysea.
 *
 * This header is the only stable binary surface of libbabysea.so. It is valid
 * C11 and C++. Conventions:
 *
 *  - Every function is prefixed babysea_; handles are opaque; NULL handles and
 *    NULL required pointers are refused with BABYSEA_INVALID_REQUEST (1).
 *  - Return values are the pinned numbers of babysea::Code: 0 is success, any
 *    other value an error (babysea_error_name() names it). Codes are never
 *    renumbered; new ones are only added.
 *  - JSON in, JSON out. Configuration, parameters and results are UTF-8 JSON
 *    text. Every call that produces output takes `char** out` as its LAST
 *    argument and ALWAYS stores a library-owned, NUL-terminated string there
 *    (unless `out` itself is NULL, or memory ran out: then NULL):
 *      - on success, the result document;
 *      - on failure, the error document
 *          {"error":{"code":3,"type":"insufficient_credits","message":"...",
 *                    "retryable":false,"issues":[{"field":..,"code":..,"message":..}]}}
 *        ("issues" lists field-level validation problems; it is present, maybe
 *        empty, on every error).
 *    Release it with babysea_free() in both cases. Carrying the error in the
 *    output keeps it with the call even when a binding runs the call on a
 *    worker thread.
 *  - Credits on the wire are decimal strings ("12.5", at most 6 fractional
 *    digits); "*_micros" fields carry the same amount as integer micro-credits.
 *  - No C++ exception ever crosses this boundary (out-of-memory included: it
 *    is reported as BABYSEA_INTERNAL with a static message).
 *
 * Thread safety: every function may be called from any thread, concurrently,
 * on the same engine — except babysea_engine_destroy(), which must be the last
 * call on its engine: no other call on it may be running or start afterwards.
 *
 * Last error: besides the error document in `out`, each thread remembers the
 * outcome of its own most recent call (thread-local, like errno): see
 * babysea_engine_last_error(). Calls made on other threads never change what
 * a thread reads there.
 */
#ifndef BABYSEA_H_
#define BABYSEA_H_

#include <stddef.h>
#include <stdint.h>

#include "babysea/version.hpp"

#if defined(BABYSEA_BUILDING_LIBRARY)
#define BABYSEA_CAPI __attribute__((visibility("default")))
#else
#define BABYSEA_CAPI
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ codes */

/* The pinned numbers of babysea::Code (include/babysea/status.hpp). */
enum babysea_code {
  BABYSEA_OK = 0,
  BABYSEA_INVALID_REQUEST = 1,
  BABYSEA_NOT_FOUND = 2,
  BABYSEA_INSUFFICIENT_CREDITS = 3,
  BABYSEA_IDEMPOTENCY_CONFLICT = 4,
  BABYSEA_IDEMPOTENCY_IN_PROGRESS = 5,
  BABYSEA_INVALID_STATE = 6,
  BABYSEA_UNAUTHENTICATED = 7,
  BABYSEA_FORBIDDEN = 8,
  BABYSEA_RATE_LIMITED = 9,
  BABYSEA_MODEL_NOT_FOUND = 10,
  BABYSEA_PAYLOAD_TOO_LARGE = 11,
  BABYSEA_UNSUPPORTED_MEDIA_TYPE = 12,
  BABYSEA_URL_FORBIDDEN = 13,
  BABYSEA_INVALID_SIGNATURE = 14,
  BABYSEA_PROVIDERS_FAILED = 15,
  BABYSEA_PROVIDER_TIMEOUT = 16,
  BABYSEA_UNAVAILABLE = 17,
  BABYSEA_STORAGE_ERROR = 18,
  BABYSEA_CORRUPTION = 19,
  BABYSEA_INTERNAL = 20,
  BABYSEA_INVALID_AMOUNT = 21,
  BABYSEA_CANCELED = 22,
  BABYSEA_TIMEOUT = 23,
  BABYSEA_UNSUPPORTED = 24
};

/* --------------------------------------------------------------- version */

/* Run-time version, e.g. "0.1.0"; compare with BABYSEA_VERSION_STRING to catch
 * a header/library mismatch. The string is static: do not free it. */
BABYSEA_CAPI const char* babysea_version(void);

/* Run-time version number, (major * 10000 + minor * 100 + patch). */
BABYSEA_CAPI int babysea_version_number(void);

/* Stable snake_case name of an error code ("insufficient_credits"), or
 * "unknown" for a number babysea does not define. Static: do not free. */
BABYSEA_CAPI const char* babysea_error_name(int code);

/* Releases memory that babysea returned to the caller. NULL is a no-op. */
BABYSEA_CAPI void babysea_free(void* ptr);

/* ---------------------------------------------------------------- engine */

/* One deployment: store, providers, asset store, engine, webhook dispatcher,
 * Stripe handler and admin helpers, built from one JSON configuration (the
 * document babysea::Runtime::open takes; see include/babysea/runtime.hpp). */
typedef struct babysea_engine babysea_engine_t;

/* Builds an engine from `config_json`. On success *engine receives the handle
 * (release it with babysea_engine_destroy). On failure *engine is NULL and
 * babysea_engine_last_error(NULL) on this thread tells why (for a bad
 * configuration, babysea_engine_last_error_json(NULL) lists the issues).
 * Opening runs recovery of earlier work on the same store. */
BABYSEA_CAPI int babysea_engine_create(const char* config_json, babysea_engine_t** engine);

/* babysea_engine_create for callers that run it on a worker thread (where
 * the thread-local last error is out of reach): *out (may be NULL) receives
 * "{}" on success or the error document, to be freed with babysea_free. */
BABYSEA_CAPI int babysea_engine_open(const char* config_json, babysea_engine_t** engine, char** out);

/* Stops the engine (waits for in-flight provider calls; durable state is
 * kept: a new engine on the same store resumes it), then calls the event
 * callback's destroy function. NULL is a no-op. REQUIRES: no other call on
 * `engine` is running or will start; not called from the event callback. */
BABYSEA_CAPI void babysea_engine_destroy(babysea_engine_t* engine);

/* The message of the calling thread's most recent call on `engine` if that
 * call failed, else "" (NULL `engine`: the most recent failed
 * babysea_engine_create, or call refused for a NULL engine, on this thread).
 * Thread-local: valid until this thread's next babysea call; do not free. */
BABYSEA_CAPI const char* babysea_engine_last_error(const babysea_engine_t* engine);

/* The code of that same call (0 when it succeeded or none was made). */
BABYSEA_CAPI int babysea_engine_last_error_code(const babysea_engine_t* engine);

/* The error document of that same call, or "" when it succeeded: the error
 * envelope of the REST API, {"status":"error","message":..,"error":{"code":
 * "BSE2001","type":"invalid_request","message":..,"retryable":bool,
 * "details":{"issues":[{"field","code","message"}]}}} (the BSE codes of
 * specs/api.md; the return value is the numeric code). Same lifetime as babysea_engine_last_error. */
BABYSEA_CAPI const char* babysea_engine_last_error_json(const babysea_engine_t* engine);

/* ---------------------------------------------------------------- events */

/* Lifecycle events (generation.started / completed / failed / canceled) as
 *   {"type":"generation.completed","generation_id":"...","account":"...",
 *    "status":"succeeded","data":{...webhook data...}}
 * `event_json` is valid only during the call. */
typedef void (*babysea_event_fn)(const char* event_json, void* user_data);

/* Installs (or, with fn == NULL, removes) the event callback; replaces the
 * previous one. The callback runs on engine worker threads — several may run
 * at once — never under an engine lock; it must be thread-safe, return
 * quickly, and must not call babysea_engine_destroy. `destroy` (may be NULL)
 * is called exactly once with `user_data` when the callback can no longer be
 * invoked: after it is replaced (once any invocation in flight has returned)
 * or when the engine is destroyed. If this call fails, `destroy` is called
 * before it returns. */
BABYSEA_CAPI int babysea_engine_set_event_callback(babysea_engine_t* engine, babysea_event_fn fn,
                                                   void* user_data, void (*destroy)(void* user_data));

/* A pull alternative to the callback, for hosts (and bindings) that want the
 * events on their own thread: after babysea_events_subscribe, events are also
 * queued in the engine (at most `capacity`; when full the oldest are dropped
 * and counted). */
BABYSEA_CAPI int babysea_events_subscribe(babysea_engine_t* engine, size_t capacity);

/* Waits up to `timeout_ms` (0: do not wait) for queued events and takes all of
 * them: *out = {"events":[<event>...],"dropped":N}, possibly with no events.
 * BABYSEA_UNAVAILABLE when not subscribed, or when babysea_events_unsubscribe
 * ran (it wakes every waiter). */
BABYSEA_CAPI int babysea_events_next(babysea_engine_t* engine, int64_t timeout_ms, char** out);

/* Stops queueing, drops the queue, and wakes any babysea_events_next waiter. */
BABYSEA_CAPI int babysea_events_unsubscribe(babysea_engine_t* engine);

/* ------------------------------------------------------------- documents
 *
 * Every call that answers a document (customer and operator calls alike)
 * answers the same document the REST server sends for the same call, built
 * by the same service layer (include/babysea/service.hpp):
 *   {"status":"success","request_id":"req_..","message":..,"timestamp":..,
 *    "data":{...}}   (content list: "total","limit","offset" beside "data")
 * and on failure the error envelope above, in *out as well. Below, "data ="
 * names the `data` member. A generate that replays an Idempotency-Key
 * answers message "Generation replayed". */

/* ------------------------------------------------- customer calls (API key)
 *
 * Each call takes the caller's API key text ("bye_..."), authenticates it,
 * takes one rate-limit token for it and checks the scope the operation needs,
 * exactly like the REST API, and leaves the same usage-log row (counted by
 * /v1/usage under the route's template). A key that does not verify gives
 * BABYSEA_UNAUTHENTICATED; a missing scope BABYSEA_FORBIDDEN; another
 * account's generation is BABYSEA_NOT_FOUND, as if it did not exist. */

/* The key's identity: data = {"account":..,"key_id":..,"scopes":[..],"region":..}.
 * Does not take a rate-limit token. */
BABYSEA_CAPI int babysea_authenticate(babysea_engine_t* engine, const char* api_key, char** out);

/* Submits a generation of `model` ("bfl/flux-schnell") with `params_json`
 * (the generation_* object). `idempotency_key` may be NULL or "" (none).
 * `options_json` may be NULL: {"type":"image"|"video","wait_for_ack_ms":N}
 * ("type" refuses a model of the other type, like the typed REST routes;
 * "wait_for_ack_ms" waits that long for the provider's job id, default 0).
 * data = the create response (specs/api.md §2.4); generation_prediction_id is
 * "" until a provider acknowledged (message "Generation accepted").
 * Returns once the generation is durably accepted. */
BABYSEA_CAPI int babysea_generation_submit(babysea_engine_t* engine, const char* api_key, const char* model,
                                           const char* params_json, const char* idempotency_key,
                                           const char* options_json, char** out);

/* data = the generation record (specs/api.md §3.2). */
BABYSEA_CAPI int babysea_generation_get(babysea_engine_t* engine, const char* api_key,
                                        const char* generation_id, char** out);

/* Newest first; limit 1..100, offset >= 0.
 * data = {"generations":[...]}; "total", "limit", "offset" beside data. */
BABYSEA_CAPI int babysea_generation_list(babysea_engine_t* engine, const char* api_key, int64_t limit,
                                         int64_t offset, char** out);

/* data = {"generation_id":..,"generation_status":"canceled",
 *         "provider_cancel_sent":bool,"credits_refunded":bool}. */
BABYSEA_CAPI int babysea_generation_cancel(babysea_engine_t* engine, const char* api_key,
                                           const char* generation_id, char** out);

/* Soft delete of a terminal generation: data = {"generation_id":..,"files_deleted":N}. */
BABYSEA_CAPI int babysea_generation_delete(babysea_engine_t* engine, const char* api_key,
                                           const char* generation_id, char** out);

/* Prices `model`. `params_json` may be NULL:
 * {"count":1,"duration":5,"resolution":"1080p","audio":false}. data = EstimateData. */
BABYSEA_CAPI int babysea_estimate(babysea_engine_t* engine, const char* api_key, const char* model,
                                  const char* params_json, char** out);

/* Usage over the last `days` (1..90). data = UsageData (specs/api.md §8.5). */
BABYSEA_CAPI int babysea_usage(babysea_engine_t* engine, const char* api_key, int64_t days, char** out);

/* Any API operation by its stable name, with the REST route's checks and
 * answer: "generate.image", "generate.video", "generate", "content.get",
 * "content.list", "content.cancel", "content.delete", "estimate", "status",
 * "usage", "user.account", "user.billing", "library.models",
 * "library.providers", "health.providers", "health.models",
 * "health.storage", "health.cache", "openai.images" (OpenAI's shapes).
 * `args_json` may be NULL: {"path_param": "<model or generation id>",
 * "query": {"limit": 10, ...}, "body": {...}, "idempotency_key": ".."}. */
BABYSEA_CAPI int babysea_api_call(babysea_engine_t* engine, const char* api_key, const char* operation,
                                  const char* args_json, char** out);

/* ----------------------------------------------------- inbound deliveries */

/* A provider's callback as received: `provider` id ("replicate"), the HTTP
 * headers as a JSON object {"name":"value",...} or array [["name","value"],...],
 * and the raw body bytes (`body` may be NULL only when body_len is 0).
 * data = {"applied":bool,"generation_id":".."}. */
BABYSEA_CAPI int babysea_provider_callback(babysea_engine_t* engine, const char* provider,
                                           const char* headers_json, const void* body, size_t body_len,
                                           char** out);

/* A Stripe webhook delivery: the Stripe-Signature header value and the raw
 * body. data = {"event_id":..,"type":..,"effect":"granted"|"clawed_back"|
 * "no_effect"|"duplicate","account":..,"amount":"..","shortfall":".."}. */
BABYSEA_CAPI int babysea_stripe_event(babysea_engine_t* engine, const char* signature_header,
                                      const void* body, size_t body_len, char** out);

/* ---------------------------------------------- admin calls (host only)
 *
 * These take an account id, not an API key: they are for the host, never to
 * be exposed to customers as they are. */

/* Creates a customer account (an existing one is left as it is).
 * data = {"account":"..","created":true}. */
BABYSEA_CAPI int babysea_account_create(babysea_engine_t* engine, const char* account, char** out);

/* Issues an API key for `account` in this deployment's region.
 * `request_json`: {"scopes":"full_access" | "generation:write,..." | [..],
 *                  "name":"..", "expires_ms":0}
 * data = {"key":"bye_...", ...the key's listing fields}. The key text is shown
 * only here. */
BABYSEA_CAPI int babysea_api_key_issue(babysea_engine_t* engine, const char* account,
                                       const char* request_json, char** out);

/* data = {"keys":[{"id","account","scopes","region","name","prefix",
 *         "created_ms","expires_ms","last_used_ms","revoked_ms"}...]}. */
BABYSEA_CAPI int babysea_api_key_list(babysea_engine_t* engine, const char* account, char** out);

/* Revokes a key of `account` (twice is fine). data = {"key_id":..,"revoked":true}. */
BABYSEA_CAPI int babysea_api_key_revoke(babysea_engine_t* engine, const char* account, const char* key_id,
                                        char** out);

/* Grants credits to `account` (a top-up): `amount` is a decimal credit string
 * ("10", "0.5"); `key` makes it idempotent (a repeat is replayed, a repeat with
 * another amount is BABYSEA_IDEMPOTENCY_CONFLICT).
 * data = {"entry_id":..,"account":..,"amount":"..","amount_micros":N,"key":..,
 *         "replayed":bool,"balance":<the balance document below>}. */
BABYSEA_CAPI int babysea_credits_grant(babysea_engine_t* engine, const char* account, const char* amount,
                                       const char* key, char** out);

/* data = {"account":..,"available":"..","posted":"..","pending":"..",
 *         "available_micros":N,"posted_micros":N,"pending_micros":N}. */
BABYSEA_CAPI int babysea_credits_balance(babysea_engine_t* engine, const char* account, char** out);

/* The account's journal: its newest `limit` (1..1000) entries, oldest first:
 * data = {"account":..,"entries":[{"id","kind","debit","credit","amount",
 *         "amount_micros","delta","delta_micros","pending_delta_micros","hold_id","ref",
 *         "created_ms"}...]}. */
BABYSEA_CAPI int babysea_credits_statement(babysea_engine_t* engine, const char* account, int64_t limit,
                                           char** out);

/* Customer webhook endpoints of `account` (deliveries of lifecycle and
 * credit events, signed; specs/api.md §6). `spec_json`:
 *   {"url":"https://...","secret":"" (empty: generated),
 *    "signing":"babysea"|"standard_webhooks"|"both","events":["generation.completed",..]}
 * The URL is checked by the network guard. data = the endpoint
 * {"id","account","url","secret","signing","events":[..],"enabled",...}; the
 * secret is returned by create only. */
BABYSEA_CAPI int babysea_webhook_endpoint_create(babysea_engine_t* engine, const char* account,
                                                 const char* spec_json, char** out);

/* data = {"endpoints":[...]} (secrets omitted). */
BABYSEA_CAPI int babysea_webhook_endpoint_list(babysea_engine_t* engine, const char* account, char** out);

/* Disables (enabled = 0) or re-enables (enabled = 1; the URL is checked again)
 * an endpoint of `account`. data = {"id":..,"enabled":bool}. */
BABYSEA_CAPI int babysea_webhook_endpoint_set_enabled(babysea_engine_t* engine, const char* account,
                                                      const char* endpoint_id, int enabled, char** out);

/* Queues a "webhook.test" delivery to that endpoint only. data = {"delivery_id":".."}. */
BABYSEA_CAPI int babysea_webhook_endpoint_test(babysea_engine_t* engine, const char* account,
                                               const char* endpoint_id, char** out);

/* Checks the ledger invariants over the whole store:
 * data = {"clean":bool,"violations":[..],"accounts":N,"entries":N,"holds":N,
 *         "pending_holds":N}. A dirty ledger is a successful call with
 * "clean":false. */
BABYSEA_CAPI int babysea_ledger_audit(babysea_engine_t* engine, char** out);

/* ------------------------------------------------------ operations */

/* data = {"healthy":bool,"providers":<providers health>,"models":<models health>}. */
BABYSEA_CAPI int babysea_health(babysea_engine_t* engine, char** out);

/* Prometheus text exposition (version 0.0.4) in *out (not JSON). */
BABYSEA_CAPI int babysea_metrics_text(babysea_engine_t* engine, char** out);

/* Processes everything due now on the calling thread (timers, polls, retries,
 * customer webhook deliveries). `steps` (may be NULL) receives the number of
 * lifecycle steps applied. For hosts that run without worker threads. */
BABYSEA_CAPI int babysea_engine_run_due(babysea_engine_t* engine, int64_t* steps);

/* Waits until no provider work is queued or running (worker mode). */
BABYSEA_CAPI int babysea_engine_drain(babysea_engine_t* engine);

#ifdef __cplusplus
}
#endif

#endif /* BABYSEA_H_ */
