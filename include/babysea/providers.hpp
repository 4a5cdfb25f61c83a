// babysea/providers.hpp — the provider adapters and their options.
//
// One factory per provider protocol (specs/providers.md §4). Every adapter
// implements `Provider` (provider.hpp): it turns the normalizer's
// `NativePayload` into the provider's submit request, reads the job id,
// polls, cancels where the provider can, verifies and parses callbacks
// (webhooks.hpp verifiers), and maps every provider status onto
// `ProviderStatusKind` and every failure onto `ErrorKind` (with Retry-After).
//
//   adapter    delivery     cancel  callback verification
//   replicate  webhook      yes     Standard Webhooks (webhook-id/-timestamp/-signature, whsec_ secret)
//   fal        webhook      yes     Ed25519 over the fal layout, JWKS keys, user id pinned to ours
//   bfl        webhook      no      X-BFL-Signature: sha256=<hex HMAC of the raw body>
//   openai     synchronous  no      none (submit returns the final status and the images)
//   runway     polling      yes     none (poll no faster than every 5 s)
//   alibabacloud polling    yes     none (DashScope async tasks; cancel while PENDING only)
//   byteplus   polling      yes     none (Seedance tasks; Seedream images answer at once)
//   cloudflare synchronous  no      none (Workers AI: JSON base64 or raw image bytes)
//
// Endpoints are trusted configuration, never user input: each adapter
// resolves the host of its configured base URL itself (through `resolver`,
// cached for `dns_ttl`) and sends every request to that host only. A URL the
// provider hands back (fal status URL, BFL polling_url) is used only when it
// names the configured scheme, host and port; otherwise the answer is
// refused as malformed (BFL is region-bound: a polling URL for another
// region is never followed).
//
// Ownership: the transport, resolver, clock and JWKS fetcher are borrowed and
// must outlive the adapter. Secrets live in the adapter and never appear in
// errors. Thread safety: adapters are safe for concurrent use.
//
// Factories return invalid_request for a bad configuration (no transport,
// unparsable base URL, missing credential, an undecodable webhook secret).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/money.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/provider.hpp"
#include "babysea/status.hpp"
#include "babysea/transport.hpp"
#include "babysea/webhooks.hpp"

namespace babysea {

// What every adapter needs to talk HTTP. Plain struct; defaults documented.
struct ProviderHttpOptions {
  Transport* transport = nullptr;  // required, borrowed
  Resolver* resolver = nullptr;    // borrowed; null: the system resolver (owned by the adapter)
  const Clock* clock = nullptr;    // borrowed; null: SystemClock::instance()
  std::chrono::milliseconds dns_ttl{60'000};  // how long a resolved base host is reused
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{30'000};  // submit / poll / cancel, whole exchange
  std::size_t max_response_bytes = 4u << 20;
  ProviderTiming timing;  // reported by Provider::timing() (adapters may raise minimums)
};

// Replicate (https://replicate.com/docs): POST /v1/predictions (a version
// id) or /v1/models/{owner}/{name}/predictions (an official model), Bearer
// token, webhook + webhook_events_filter ["start","completed"], Standard
// Webhooks callbacks.
struct ReplicateProviderOptions : ProviderHttpOptions {
  std::string base_url = "https://api.replicate.com";
  std::string api_token;  // required
  // Callback secrets ("whsec_..."): current first, then any being rotated out.
  // Empty: callbacks are refused (invalid_signature) and none is asked for.
  std::vector<std::string> webhook_secrets;
  std::int64_t callback_tolerance_s = kCallbackToleranceS;
  bool send_cancel_after = true;  // Cancel-After: <seconds>s from SubmitRequest::deadline_ms
};
Result<std::shared_ptr<Provider>> make_replicate_provider(ReplicateProviderOptions options);

// fal queue (https://docs.fal.ai/documentation/model-apis/inference/queue):
// POST {queue}/{model}?fal_webhook=<url>, `Authorization: Key ...`, status
// / result / cancel under {queue}/{owner}/{app}/requests/{id}.
struct FalProviderOptions : ProviderHttpOptions {
  std::string base_url = "https://queue.fal.run";
  std::string api_key;  // required
  // Callback verification (FalVerifier): JWKS location and our fal user id.
  // Empty user_id: callbacks are refused and none is asked for.
  std::string jwks_url = "https://rest.fal.ai/.well-known/jwks.json";
  std::string user_id;
  // Borrowed; null: the adapter fetches the JWKS itself through its
  // transport (the JWKS URL is trusted configuration, resolved like base_url).
  JwksFetcher* jwks_fetcher = nullptr;
  std::int64_t callback_tolerance_s = kCallbackToleranceS;
  std::int64_t jwks_cache_ttl_ms = 24 * 3600 * 1000;
  std::int64_t jwks_min_fetch_interval_ms = 60'000;
};
Result<std::shared_ptr<Provider>> make_fal_provider(FalProviderOptions options);

// Black Forest Labs (https://docs.bfl.ai): POST {base}{endpoint} with
// `x-key`, answer {id, polling_url, cost?}; poll the polling_url (same host
// as base_url only); webhook_url + webhook_secret in the body; no cancel.
struct BflProviderOptions : ProviderHttpOptions {
  std::string base_url = "https://api.bfl.ai";  // or a regional host (api.eu.bfl.ai, api.us.bfl.ai)
  std::string api_key;                          // required
  // Sent as webhook_secret and used to verify X-BFL-Signature. Empty:
  // callbacks are refused and none is asked for.
  std::string webhook_secret;
  std::vector<std::string> previous_webhook_secrets;  // still accepted on callbacks
  // BFL reports `cost` in BFL credits (1 credit = 0.01 USD); reported_cost is
  // cost × this (babysea micros per BFL credit). 0: do not report cost.
  Micros micros_per_provider_credit = 10'000;
};
Result<std::shared_ptr<Provider>> make_bfl_provider(BflProviderOptions options);

// OpenAI Images (https://platform.openai.com/docs/api-reference/images):
// synchronous POST /v1/images/generations (or the payload's endpoint),
// Bearer key; b64_json outputs are decoded into ProviderOutput::data.
struct OpenAIImagesProviderOptions : ProviderHttpOptions {
  OpenAIImagesProviderOptions() { request_timeout = std::chrono::milliseconds{180'000}; }
  std::string base_url = "https://api.openai.com";
  std::string api_key;        // required
  std::string organization;   // OpenAI-Organization header when not empty
  std::string project;        // OpenAI-Project header when not empty
  std::string default_content_type = "image/png";  // when neither answer nor payload names a format
};
Result<std::shared_ptr<Provider>> make_openai_images_provider(OpenAIImagesProviderOptions options);

// Runway (https://docs.dev.runwayml.com): POST /v1/{endpoint}, Bearer key,
// X-Runway-Version; GET /v1/tasks/{id} (never more often than every 5 s
// per task: a faster poll is answered from the last result without I/O);
// DELETE /v1/tasks/{id} to cancel (only while the task is not final: a
// DELETE of a finished task would delete its outputs).
struct RunwayProviderOptions : ProviderHttpOptions {
  std::string base_url = "https://api.dev.runwayml.com";
  std::string api_key;  // required
  std::string api_version = "2024-11-06";
  std::chrono::milliseconds min_poll_interval{5'000};  // raised to 5 s if lower
};
Result<std::shared_ptr<Provider>> make_runway_provider(RunwayProviderOptions options);

// Alibaba Cloud Model Studio (DashScope,
// https://www.alibabacloud.com/help/en/model-studio/manage-asynchronous-tasks):
// POST /api/v1/services/aigc/{...} (the payload's endpoint) with a Bearer
// key and `X-DashScope-Async: enable` -> output.task_id; GET
// /api/v1/tasks/{id} (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED,
// UNKNOWN); POST /api/v1/tasks/{id}/cancel while PENDING. An endpoint that
// answers synchronously (Qwen-Image multimodal-generation) returns the final
// status at submit. Regions are separate hosts and keys: Singapore
// (dashscope-intl, the default), Beijing (dashscope.aliyuncs.com), US
// (dashscope-us).
// request_timeout defaults to 120 s: the Qwen-Image endpoint answers only
// once the image is made.
struct AlibabaCloudProviderOptions : ProviderHttpOptions {
  AlibabaCloudProviderOptions() { request_timeout = std::chrono::milliseconds{120'000}; }
  std::string base_url = "https://dashscope-intl.aliyuncs.com";
  std::string api_key;  // required
};
Result<std::shared_ptr<Provider>> make_alibabacloud_provider(AlibabaCloudProviderOptions options);

// BytePlus ModelArk (https://docs.byteplus.com/en/docs/ModelArk): Seedream
// images through POST /api/v3/images/generations (answers at once), Seedance
// video through POST /api/v3/contents/generations/tasks and GET
// .../tasks/{id}; DELETE .../tasks/{id} cancels a queued task. Bearer key.
// BytePlus signs no callbacks, so none is asked for: the adapter polls.
// A Seedream request is one exchange that lasts as long as the generation
// (group generation, 4K), hence the longer request timeout.
struct BytePlusProviderOptions : ProviderHttpOptions {
  BytePlusProviderOptions() { request_timeout = std::chrono::milliseconds{180'000}; }
  std::string base_url = "https://ark.ap-southeast.bytepluses.com";
  std::string api_key;  // required
};
Result<std::shared_ptr<Provider>> make_byteplus_provider(BytePlusProviderOptions options);

// Cloudflare Workers AI (https://developers.cloudflare.com/workers-ai/get-started/rest-api/):
// synchronous POST /client/v4/accounts/{account_id}/ai/run/{model} with a
// Bearer token. Some models answer a JSON envelope {result:{image:<base64>},
// success, errors}, others the raw image bytes; both become inline outputs.
struct CloudflareProviderOptions : ProviderHttpOptions {
  CloudflareProviderOptions() { request_timeout = std::chrono::milliseconds{120'000}; }
  std::string base_url = "https://api.cloudflare.com";
  std::string account_id;  // required (one path segment)
  std::string api_token;   // required
};
Result<std::shared_ptr<Provider>> make_cloudflare_provider(CloudflareProviderOptions options);

}  // namespace babysea
