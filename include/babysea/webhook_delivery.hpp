// babysea/webhook_delivery.hpp — outbound webhooks to customers.
//
// Three pieces:
//  - signing and the payload envelope (pure functions): `X-BabySea-Signature:
//    t=<unix>,v1=<lowercase hex HMAC-SHA256 of "t.body">` keyed with the
//    endpoint secret string as is (specs/api.md §6.1), plus X-BabySea-Event,
//    X-BabySea-Timestamp and X-BabySea-Delivery-Id; or Standard Webhooks
//    (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
//    "id.timestamp.body" with the base64-decoded `whsec_` key; during a
//    rotation both the new and the previous secret sign). Envelope:
//    {webhook_event, webhook_timestamp, webhook_delivery_id, webhook_data}.
//  - `WebhookEndpoints`: per-account endpoint registration (URL checked by
//    the NetGuard at registration), listing, rotation, enable/disable, test
//    pings. Every call is filtered by account: another account's endpoint is
//    not_found, like a missing one.
//  - `WebhookDispatcher`: consumes the durable outbox (rows the engine and
//    the ledger append in the same unit as the state change), fans each event
//    out into one delivery row per matching enabled endpoint (in one unit),
//    then delivers: fresh `t` and signature on every attempt, the same
//    delivery id; retry schedule (default immediately, 5 s, 5 min, 30 min,
//    2 h, 5 h, 10 h, 10 h), Retry-After honored (never earlier than the
//    schedule), 3xx is a failure (redirects are never followed), 410 disables
//    the endpoint, the URL is re-checked by the NetGuard before every attempt
//    and the connection goes to the pinned address. A `generation.started`
//    that would go out after a terminal event of the same generation to the
//    same endpoint is canceled instead. Delivery is at-least-once: the row is
//    updated only after the attempt, so a crash re-sends.
//
// Codes: invalid_request (bad event filter, secret, signing mode), url_forbidden
// (guard refusal), not_found (unknown or foreign endpoint), storage codes.
// Thread safety: WebhookEndpoints and WebhookDispatcher are safe for
// concurrent use; the pure functions are reentrant.
// Ownership: both classes borrow the Store, Transport, NetGuard and Clock,
// which must outlive them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"
#include "babysea/transport.hpp"

namespace babysea {

// The event types delivered to customers.
inline constexpr std::string_view kWebhookEvents[] = {
    "generation.started", "generation.completed", "generation.failed",
    "generation.canceled", "credits.low_balance", "webhook.test"};
bool is_webhook_event(std::string_view event) noexcept;

// "t=<unix_s>,v1=<64 lowercase hex>" (no spaces).
std::string babysea_signature_header(std::string_view secret, std::int64_t unix_s, std::string_view body);
// "v1,<base64 HMAC-SHA256(key, id.unix_s.body)>", key = base64 of a "whsec_"
// secret (the prefix is optional). invalid_request when the key is not base64.
Result<std::string> standard_webhooks_signature(std::string_view secret, std::string_view msg_id,
                                                std::int64_t unix_s, std::string_view body);
// The JSON envelope; `data_json` must be a JSON object (inserted as is).
std::string webhook_envelope(std::string_view event, std::int64_t event_ms, std::string_view delivery_id,
                             std::string_view data_json);
// Every header of one attempt (Content-Type included), signed at `now_s`.
Result<std::vector<HttpHeader>> webhook_headers(const WebhookEndpointRow& endpoint, std::string_view delivery_id,
                                                std::string_view event, std::int64_t now_s,
                                                std::string_view body);
// "whsec_" + base64 of 32 random bytes (valid for both signing modes).
std::string new_webhook_secret();

// Whether an enabled endpoint of `account` subscribes to `event`, read in
// the caller's unit of work: the engine appends an event to the outbox only
// then (nothing else reads it).
Result<bool> webhook_event_wanted(UnitOfWork& unit, std::string_view account, std::string_view event);
// Appends one event to the outbox inside the caller's unit of work (the
// engine's; nothing is sent before that unit commits). Returns the event id.
// invalid_request for an unknown event type.
Result<std::string> enqueue_webhook_event(UnitOfWork& unit, std::string_view account, std::string_view event,
                                          std::string_view data_json, std::int64_t now_ms);

// The events an endpoint row selects, as views into its stored list; empty
// means every event.
std::vector<std::string_view> endpoint_events(const WebhookEndpointRow& endpoint);

struct WebhookEndpointSpec {
  std::string url;
  std::string secret;  // empty = generate one (returned once in the row)
  WebhookSigning signing = WebhookSigning::babysea;
  std::vector<std::string> events;  // empty = every event; otherwise kWebhookEvents members
};

class WebhookEndpoints {
 public:
  WebhookEndpoints(Store& store, const NetGuard& guard, const Clock& clock);

  // Checks the URL through the guard (resolving it) and stores the endpoint,
  // under its normalized URL. not_found (nothing stored) when `account` is
  // not an existing customer account.
  Result<WebhookEndpointRow> create(std::string_view account, WebhookEndpointSpec spec);
  Result<std::vector<WebhookEndpointRow>> list(std::string_view account);
  Result<WebhookEndpointRow> get(std::string_view account, std::string_view id);
  // New current secret (generated when empty); the old one becomes previous
  // (standard webhooks keeps signing with both until finish_rotation).
  Result<WebhookEndpointRow> rotate_secret(std::string_view account, std::string_view id, std::string new_secret);
  Status finish_rotation(std::string_view account, std::string_view id);
  Status disable(std::string_view account, std::string_view id);
  // Re-checks the URL before enabling.
  Status enable(std::string_view account, std::string_view id);
  // Queues a `webhook.test` delivery for this endpoint only; returns its delivery id.
  Result<std::string> send_test(std::string_view account, std::string_view id);

 private:
  Result<WebhookEndpointRow> owned(UnitOfWork& u, std::string_view account, std::string_view id);
  Store& store_;
  const NetGuard& guard_;
  const Clock& clock_;
};

struct WebhookDispatcherOptions {
  // Delay before each attempt, counted from the previous failure (the first
  // from the event); its size is the number of attempts.
  std::vector<std::chrono::milliseconds> retry_schedule{
      std::chrono::milliseconds(0),       std::chrono::seconds(5),  std::chrono::minutes(5),
      std::chrono::minutes(30),           std::chrono::hours(2),    std::chrono::hours(5),
      std::chrono::hours(10),             std::chrono::hours(10)};
  std::size_t max_concurrency = 8;   // simultaneous HTTP attempts
  std::size_t max_queue = 1000;      // deliveries taken into memory per pass (the rest wait in storage)
  std::size_t fanout_batch = 256;    // outbox rows fanned out per pass
  std::chrono::milliseconds max_retry_after = std::chrono::hours(24);  // Retry-After ceiling
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  std::chrono::milliseconds headers_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds total_timeout = std::chrono::seconds(15);
  std::size_t max_response_bytes = 64u << 10;
  std::chrono::milliseconds idle_poll = std::chrono::seconds(1);  // background pass interval
  // On a store shared by several instances (Store::shared()), a pass claims
  // the deliveries it sends for this long (WebhookDeliveryTable::claim_due),
  // and only as many as it can send within it; a dispatcher that dies
  // mid-pass leaves them due again after the lease (at-least-once, same id).
  std::chrono::milliseconds lease = std::chrono::minutes(2);
};

struct DispatchStats {
  std::size_t fanned_out = 0;  // delivery rows created
  std::size_t attempted = 0;   // HTTP attempts (or guard refusals) made
  std::size_t delivered = 0;
  std::size_t retried = 0;     // failed attempts rescheduled
  std::size_t gave_up = 0;     // schedule exhausted
  std::size_t canceled = 0;    // endpoint disabled/removed, or started-after-terminal
};

class WebhookDispatcher {
 public:
  WebhookDispatcher(Store& store, Transport& transport, const NetGuard& guard, const Clock& clock,
                    WebhookDispatcherOptions options = {});
  ~WebhookDispatcher();  // stop()
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // One pass on the calling thread: fan out due outbox rows, then attempt
  // every due delivery (up to max_queue, max_concurrency at a time) and wait
  // for those attempts. Passes never overlap.
  Result<DispatchStats> run_once();
  // Background passes on an owned thread: after notify() and every idle_poll.
  void start();
  void stop();
  // Wakes the background thread; never blocks (call after committing an event).
  void notify() noexcept;

 private:
  struct Outcome;
  Status fan_out(DispatchStats& stats);
  void attempt(const WebhookDeliveryRow& row, DispatchStats& stats, std::mutex& stats_mu);

  Store& store_;
  Transport& transport_;
  const NetGuard& guard_;
  const Clock& clock_;
  WebhookDispatcherOptions options_;
  std::mutex pass_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace babysea
