// The wire documents of babysea, one renderer per domain type (specs/api.md;
// DESIGN.md §7). Nothing else in the tree writes these shapes: the service
// layer wraps them in envelopes; the engine renders webhook payloads through
// webhook_data(); the C ABI renders its event documents through event().
//
// Conventions: credits are decimals (money.hpp format_credits); operator
// documents (keys, balances, statements, endpoints) add the exact integer as
// `<name>_micros` and carry times as unix milliseconds (`*_ms`); API documents
// carry RFC 3339 UTC times with milliseconds (text.hpp).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/auth.hpp"
#include "babysea/catalog.hpp"
#include "babysea/engine.hpp"
#include "babysea/ledger.hpp"
#include "babysea/lifecycle.hpp"
#include "babysea/runtime.hpp"
#include "babysea/schema.hpp"
#include "babysea/service.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"
#include "babysea/stripe.hpp"

namespace babysea::render {

// ---------------------------------------------------------------- errors

// How a Code answers on the wire: babysea::wire_error (service.hpp).
using babysea::WireError;
// The BSE code of a refusal that has no Code (by HTTP status).
const char* generic_bse(int http_status) noexcept;
// internal, storage_error, corruption: their message is never shown.
bool is_internal(Code code) noexcept;

// The BabySea error envelope. `type` "" = code_name(status.code()).
std::string error_document(std::string_view request_id, std::int64_t now_ms, const Status& status,
                           std::string_view bse, std::string_view type = {});
// The same for a refusal without a Status (HTTP protocol errors).
std::string error_document(std::string_view request_id, std::int64_t now_ms, std::string_view bse,
                           std::string_view type, std::string_view message, bool retryable);

// The success envelope; `data` is a rendered document inserted as is;
// `paging` adds total/limit/offset beside it (content.list).
struct Paging {
  std::int64_t total = 0, limit = 0, offset = 0;
};
std::string success_document(std::string_view request_id, std::int64_t now_ms, std::string_view message,
                             std::string_view data, const std::optional<Paging>& paging = std::nullopt);

// ------------------------------------------------------------ generations

// The generation record (api.md §3.2).
std::string generation(const GenerationView& g);
// {"generations":[…]} (api.md §1.3 #4).
std::string generation_list(const GenerationPage& page);
// The create response (api.md §2.4): the normal form, or the canceled form
// for a replay of a generation canceled since. `generation_prediction_id` is
// "" while the first provider has not acknowledged (the 202 pending form).
std::string create_response(const GenerationView& g);
std::string cancel_receipt(const CancelReceipt& r);
std::string delete_receipt(const DeleteReceipt& r);
// webhook_data (api.md §6.3) of a generation at `now_ms`.
std::string webhook_data(const Generation& g, const AssetStore& assets, std::int64_t now_ms);
// A lifecycle event for the C ABI: {type, generation_id, account, status, data}.
std::string event(const LifecycleEvent& e);
// {"events":[…],"dropped":n}; `events` are rendered event() documents.
std::string event_batch(const std::vector<std::string>& events, std::uint64_t dropped);

// ------------------------------------------------------- catalog, estimate
std::string estimate(const Estimate& e);
std::string models(const Catalog& catalog);
// Every provider of the catalog with its profile; `configured` ids are active.
std::string providers(const Catalog& catalog, const std::vector<std::string>& configured);

// --------------------------------------------------------- account, usage
std::string usage(const Usage& u, std::string_view account, std::optional<Micros> balance);
// /v1/status (api.md §7.3): the calling key.
std::string key_status(const Principal& p, const ApiKeyInfo* info);
std::string account(std::string_view account_id, std::int64_t created_ms);
std::string billing(std::string_view account_id, Micros available);

// ------------------------------------------------------------------ health
std::string health_providers(const EngineHealth& h);
std::string health_models(const EngineHealth& h);
std::string health_storage(bool healthy, double latency_ms, std::string_view bucket, std::string_view error);
std::string health_cache(const CacheHealth& c);
// The engine's whole health (C ABI): {healthy, providers:{…}, models:{…}}.
std::string health(const EngineHealth& h);

// --------------------------------------------------------- operator docs
std::string principal(const Principal& p);
std::string issued_key(const IssuedKey& k);
std::string api_key_list(const std::vector<ApiKeyInfo>& keys);
std::string key_revoked(std::string_view key_id);
std::string account_created(std::string_view account);
std::string balance(const Balance& b);
std::string statement(std::string_view account, const std::vector<StatementEntry>& entries);
std::string grant(const GrantResult& g, const Balance& after);
std::string webhook_endpoint(const WebhookEndpointRow& r, bool with_secret);
std::string webhook_endpoint_list(const std::vector<WebhookEndpointRow>& rows);
std::string webhook_endpoint_enabled(std::string_view id, bool enabled);
std::string webhook_test(std::string_view delivery_id);
std::string audit(const AuditReport& a);
std::string stripe_outcome(const StripeOutcome& o);
std::string callback_result(const CallbackResult& r);

// ------------------------------------------------------- Prometheus text
// babysea_store_units_total, babysea_store_failed_units_total, babysea_store_reads_total.
std::string store_metrics(const StoreCounters& c);

// ------------------------------------------------------- OpenAI's shapes
// {"error":{"message","type","param","code"}} ("" param/code = null).
std::string openai_error(std::string_view type, std::string_view code, std::string_view message,
                         std::string_view param);
// One image of an OpenAI images answer: url, or b64_json.
struct OpenAiImage {
  std::string url;
  std::string b64_json;
};
std::string openai_images(std::int64_t created_s, const std::vector<OpenAiImage>& images,
                          std::string_view revised_prompt);

}  // namespace babysea::render
