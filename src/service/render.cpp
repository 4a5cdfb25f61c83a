// One renderer per domain type (render.hpp).
#include "service/render.hpp"

#include <algorithm>

#include "babysea/money.hpp"
#include "babysea/webhook_delivery.hpp"
#include "json/json.hpp"
#include "service/text.hpp"

namespace babysea::render {
namespace {

using json::JsonWriter;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void credits(JsonWriter& w, std::string_view key, Micros micros) {
  w.key(key);
  w.raw(format_credits(micros));
}

// An operator document's amount: the decimal and the exact micro-credits.
void credits_exact(JsonWriter& w, std::string_view key, Micros micros) {
  w.field(key, format_credits(micros));
  w.field(std::string(key) + "_micros", static_cast<std::int64_t>(micros));
}

void time_or_null(JsonWriter& w, std::string_view key, std::int64_t ms) {
  w.key(key);
  if (ms > 0)
    w.value(text::rfc3339_ms(ms));
  else
    w.null();
}

void seconds_or_null(JsonWriter& w, std::string_view key, std::int64_t ms) {
  w.key(key);
  if (ms >= 0)
    w.value(static_cast<double>(ms) / 1000.0);
  else
    w.null();
}

void string_or_null(JsonWriter& w, std::string_view key, std::string_view v) {
  w.key(key);
  if (v.empty())
    w.null();
  else
    w.value(v);
}

template <typename Strings>
void string_array(JsonWriter& w, std::string_view key, const Strings& v) {
  w.key(key);
  w.begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
}

void scopes_array(JsonWriter& w, std::string_view key, ScopeSet scopes) {
  w.key(key).begin_array();
  for (std::uint32_t bit = 1; bit <= ScopeSet::kAllBits; bit <<= 1)
    if ((scopes.bits() & bit) != 0) w.value(scope_name(static_cast<Scope>(bit)));
  w.end_array();
}

// Re-writes one JSON value (the canonical request holds scalars and arrays).
bool copy_value(JsonWriter& w, simdjson::ondemand::value v, int depth) {
  simdjson::ondemand::json_type t;
  if (v.type().get(t) || depth > 8) return false;
  switch (t) {
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      w.value(s);
      return true;
    }
    case simdjson::ondemand::json_type::number:
      w.raw(trim(v.raw_json_token()));
      return true;
    case simdjson::ondemand::json_type::boolean: {
      bool b = false;
      if (v.get_bool().get(b)) return false;
      w.value(b);
      return true;
    }
    case simdjson::ondemand::json_type::null:
      w.null();
      return true;
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array a;
      if (v.get_array().get(a)) return false;
      w.begin_array();
      for (auto item : a) {
        simdjson::ondemand::value iv;
        if (item.get(iv) || !copy_value(w, iv, depth + 1)) return false;
      }
      w.end_array();
      return true;
    }
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object o;
      if (v.get_object().get(o)) return false;
      w.begin_object();
      for (auto f : o) {
        std::string_view k;
        simdjson::ondemand::value fv;
        if (f.unescaped_key().get(k) || f.value().get(fv)) return false;
        w.key(k);
        if (!copy_value(w, fv, depth + 1)) return false;
      }
      w.end_object();
      return true;
    }
  }
  return false;
}

// Copies every member of the canonical request object (the echoed inputs).
void echo_params(JsonWriter& w, std::string_view params_json, bool& audio_known, bool& audio) {
  if (params_json.empty()) return;
  auto padded = json::pad(params_json);
  auto& parser = json::thread_parser();
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return;
  for (auto f : obj) {
    std::string_view key;
    if (f.unescaped_key().get(key)) return;
    if (key == "generation_provider_order") continue;  // rendered as the resolved array
    std::string k(key);
    simdjson::ondemand::value v;
    if (f.value().get(v)) return;
    if (k == "generation_generate_audio") {
      bool b = false;
      if (!v.get_bool().get(b)) {
        audio_known = true;
        audio = b;
        w.field(k, b);
        continue;
      }
    }
    w.key(k);
    if (!copy_value(w, v, 1)) w.null();
  }
}

void write_generation(JsonWriter& w, const GenerationView& g) {
  w.begin_object();
  w.field("account_id", g.account);
  w.field("generation_id", g.id);
  w.field("model_identifier", g.model);
  string_array(w, "generation_provider_order", g.provider_order);
  string_or_null(w, "generation_provider_used", g.provider_used);
  string_or_null(w, "generation_prediction_id", g.prediction_id);
  w.field("generation_status", generation_status_name(g.status));
  bool audio_known = false, audio = false;
  echo_params(w, g.params_json, audio_known, audio);
  if (audio_known) w.field("generation_audio_mode", audio ? "audio" : "noaudio");
  w.key("generation_output_file");
  if (g.outputs.empty()) {
    w.null();
  } else {
    w.begin_array();
    for (const auto& u : g.outputs) w.value(u);
    w.end_array();
  }
  time_or_null(w, "generation_created_at", g.created_ms);
  time_or_null(w, "generation_started_at", g.started_ms);
  time_or_null(w, "generation_completed_at", g.completed_ms);
  seconds_or_null(w, "generation_metrics_total_time", g.completed_ms > 0 ? g.completed_ms - g.created_ms : -1);
  seconds_or_null(w, "generation_metrics_predict_time", g.predict_ms);
  if (g.status == GenerationStatus::failed) {
    w.field("generation_error", g.error);
    w.field("generation_error_code", g.error_code);
  }
  if (g.removed) w.field("generation_removed", true);
  if (g.status == GenerationStatus::failed || g.status == GenerationStatus::canceled)
    w.field("credits_refunded", g.credits_refunded);
  // babysea's extension: the provider attempts in order (failovers included).
  w.key("generation_attempts").begin_array();
  for (const auto& a : g.attempts) {
    w.begin_object();
    w.field("attempt", static_cast<std::int64_t>(a.order));
    w.field("provider", a.provider);
    w.field("state", a.state);
    string_or_null(w, "outcome", a.outcome);
    if (!a.error_kind.empty()) w.field("error_kind", a.error_kind);
    if (!a.error_message.empty()) w.field("error", a.error_message);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

// ------------------------------------------------------------------ errors

}  // namespace babysea::render

namespace babysea {

WireError wire_error(Code code) noexcept {
  // No default: a Code added without a row here fails to compile (-Wswitch).
  switch (code) {
    case Code::unauthenticated: return {401, "BSE1001"};
    case Code::forbidden: return {403, "BSE1002"};
    case Code::rate_limited: return {429, "BSE1003"};
    case Code::insufficient_credits: return {402, "BSE1004"};
    case Code::invalid_signature: return {401, "BSE1005"};
    case Code::invalid_request:
    case Code::invalid_amount: return {400, "BSE2001"};
    case Code::model_not_found: return {404, "BSE2002"};
    case Code::payload_too_large: return {413, "BSE2003"};
    case Code::unsupported_media_type: return {415, "BSE2004"};
    case Code::url_forbidden: return {422, "BSE2005"};
    case Code::idempotency_conflict: return {422, "BSE2015"};
    case Code::idempotency_in_progress: return {409, "BSE2016"};
    case Code::not_found: return {404, "BSE3001"};
    case Code::invalid_state: return {409, "BSE3002"};
    case Code::providers_failed: return {502, "BSE4001"};
    case Code::provider_timeout: return {504, "BSE4002"};
    case Code::unsupported: return {404, "BSE3001"};  // e.g. callbacks of a provider that sends none
    case Code::unavailable:
    case Code::timeout:
    case Code::canceled: return {503, "BSE5000"};  // transient or shutting down: retryable
    case Code::ok:
    case Code::storage_error:
    case Code::corruption:
    case Code::internal: return {500, "BSE5000"};
  }
  return {500, "BSE5000"};  // a value outside the enum
}

}  // namespace babysea

namespace babysea::render {

const char* generic_bse(int status) noexcept {
  return status == 413 ? "BSE2003" : status == 415 ? "BSE2004" : status >= 500 ? "BSE5000" : "BSE2001";
}

bool is_internal(Code c) noexcept {
  return c == Code::internal || c == Code::storage_error || c == Code::corruption || c == Code::ok;
}

namespace {

void error_head(JsonWriter& w, std::string_view request_id, std::int64_t now_ms, std::string_view message) {
  w.begin_object();
  w.field("status", "error");
  if (!request_id.empty()) w.field("request_id", request_id);
  w.field("message", message);
  if (now_ms > 0) w.field("timestamp", text::rfc3339_ms(now_ms));
}

}  // namespace

std::string error_document(std::string_view request_id, std::int64_t now_ms, std::string_view bse,
                           std::string_view type, std::string_view message, bool retryable) {
  JsonWriter w;
  error_head(w, request_id, now_ms, message);
  w.key("error").begin_object();
  w.field("code", bse).field("type", type).field("message", message).field("retryable", retryable);
  w.end_object();
  w.end_object();
  return std::move(w).take();
}

std::string error_document(std::string_view request_id, std::int64_t now_ms, const Status& s, std::string_view bse,
                           std::string_view type) {
  const bool internal = is_internal(s.code());
  const std::string message = internal ? "internal error" : text::valid_utf8(s.message());
  bool retryable = internal ? true : s.retryable();
  if (s.code() == Code::idempotency_conflict) retryable = false;
  if (s.code() == Code::idempotency_in_progress || s.code() == Code::rate_limited) retryable = true;
  const bool provider_errors = s.code() == Code::providers_failed;
  JsonWriter w;
  error_head(w, request_id, now_ms, message);
  w.key("error").begin_object();
  w.field("code", bse);
  w.field("type", type.empty() ? code_name(s.code()) : type);
  w.field("message", message);
  w.field("retryable", retryable);
  if (!internal && !s.issues().empty()) {
    if (provider_errors) {
      w.key("provider_errors").begin_array();
      for (const auto& i : s.issues()) {
        w.begin_object()
            .field("provider", text::valid_utf8(i.field))
            .field("code", "BSE4001")
            .field("type", text::valid_utf8(i.code))
            .field("message", text::valid_utf8(i.message))
            .field("retryable", false)
            .end_object();
      }
      w.end_array();
    } else {
      w.key("details").begin_object().key("issues").begin_array();
      for (const auto& i : s.issues())
        w.begin_object()
            .field("field", text::valid_utf8(i.field))
            .field("code", text::valid_utf8(i.code))
            .field("message", text::valid_utf8(i.message))
            .end_object();
      w.end_array().end_object();
    }
  }
  w.end_object();
  w.end_object();
  return std::move(w).take();
}

std::string success_document(std::string_view request_id, std::int64_t now_ms, std::string_view message,
                             std::string_view data, const std::optional<Paging>& paging) {
  JsonWriter w;
  w.begin_object();
  w.field("status", "success");
  w.field("request_id", request_id);
  w.field("message", message);
  w.field("timestamp", text::rfc3339_ms(now_ms));
  w.key("data").raw(data);
  if (paging) w.field("total", paging->total).field("limit", paging->limit).field("offset", paging->offset);
  w.end_object();
  return std::move(w).take();
}

// ------------------------------------------------------------ generations

std::string generation(const GenerationView& g) {
  JsonWriter w;
  write_generation(w, g);
  return std::move(w).take();
}

std::string generation_list(const GenerationPage& page) {
  JsonWriter w;
  w.begin_object().key("generations").begin_array();
  for (const auto& g : page.generations) write_generation(w, g);
  w.end_array().end_object();
  return std::move(w).take();
}

std::string create_response(const GenerationView& g) {
  JsonWriter w;
  w.begin_object();
  if (g.status == GenerationStatus::canceled) {
    w.field("generation_id", g.id);
    w.field("generation_status", "canceled");
  } else {
    w.field("model_identifier", g.model);
    string_array(w, "generation_provider_order", g.provider_order);
    w.field("generation_prediction_id", g.prediction_id);
    w.field("generation_id", g.id);
    w.field("generation_initialized", true);
  }
  w.end_object();
  return std::move(w).take();
}

std::string cancel_receipt(const CancelReceipt& r) {
  JsonWriter w;
  w.begin_object()
      .field("generation_id", r.generation_id)
      .field("generation_status", "canceled")
      .field("provider_cancel_sent", r.provider_cancel_sent)
      .field("credits_refunded", r.credits_refunded)
      .end_object();
  return std::move(w).take();
}

std::string delete_receipt(const DeleteReceipt& r) {
  JsonWriter w;
  w.begin_object()
      .field("generation_id", r.generation_id)
      .field("files_deleted", static_cast<std::int64_t>(r.files_deleted))
      .end_object();
  return std::move(w).take();
}

std::string webhook_data(const Generation& g, const AssetStore& assets, std::int64_t now_ms) {
  JsonWriter w;
  w.begin_object();
  w.field("account_id", g.account);
  w.field("model_identifier", g.model);
  w.field("generation_status", generation_status_name(g.status));
  w.field("generation_id", g.id);
  if (!g.attempts.empty()) w.field("generation_provider_initialize", g.attempts.front().provider);
  if (g.status == GenerationStatus::succeeded && !g.provider_used.empty())
    w.field("generation_provider_used", g.provider_used);
  if (!g.prediction_id.empty()) w.field("generation_prediction_id", g.prediction_id);
  if (g.status == GenerationStatus::succeeded) {
    w.key("generation_output_file").begin_array();
    for (const auto& u : g.outputs) w.value(assets.client_url(u, now_ms));
    w.end_array();
  }
  if (g.status == GenerationStatus::failed) {
    w.field("generation_error", g.error);
    w.field("generation_error_code", g.error_code);
  }
  if (is_terminal(g.status)) w.field("credits_refunded", g.credits_refunded);
  w.end_object();
  return std::move(w).take();
}

std::string event(const LifecycleEvent& e) {
  JsonWriter w;
  w.begin_object();
  w.field("type", e.type);
  w.field("generation_id", e.generation_id);
  w.field("account", e.account);
  w.field("status", generation_status_name(e.status));
  w.key("data");
  if (e.data_json.empty())
    w.null();
  else
    w.raw(e.data_json);
  w.end_object();
  return std::move(w).take();
}

std::string event_batch(const std::vector<std::string>& events, std::uint64_t dropped) {
  JsonWriter w;
  w.begin_object().key("events").begin_array();
  for (const auto& e : events) w.raw(e);
  w.end_array();
  w.field("dropped", dropped);
  w.end_object();
  return std::move(w).take();
}

// ------------------------------------------------------- catalog, estimate

std::string estimate(const Estimate& e) {
  JsonWriter w;
  w.begin_object();
  w.field("model_identifier", e.model_identifier);
  w.field("model_type", model_type_name(e.model_type));
  w.field("assets_count", e.assets_count);
  if (e.cost_per_second) credits(w, "cost_per_second", *e.cost_per_second);
  if (e.duration_seconds) w.field("duration_seconds", *e.duration_seconds);
  if (e.resolution) w.field("resolution", *e.resolution);
  if (e.audio) w.field("audio", *e.audio);
  credits(w, "cost_per_generation", e.cost_per_generation);
  credits(w, "cost_total_consumed", e.cost_total);
  w.key("credit_balance");
  if (e.balance)
    w.raw(format_credits(*e.balance));
  else
    w.null();
  w.key("credit_balance_can_afford");
  if (e.can_afford)
    w.value(*e.can_afford);
  else
    w.null();
  w.key("credit_balance_max_affordable");
  if (e.max_affordable)
    w.value(*e.max_affordable);
  else
    w.null();
  w.end_object();
  return std::move(w).take();
}

std::string models(const Catalog& catalog) {
  JsonWriter w;
  w.begin_object().key("models").begin_array();
  for (const Model& m : catalog.models()) {
    w.begin_object();
    w.field("model_type", model_type_name(m.type));
    w.field("model_identifier", m.identifier);
    w.field("model_name", m.display_name);
    if (m.pricing.flat) {
      credits(w, "model_pricing", *m.pricing.flat);
    } else if (!m.pricing.tiers.empty()) {
      w.key("model_pricing").begin_object();
      for (const auto& [tier, micros] : m.pricing.tiers) credits(w, tier, micros);
      w.end_object();
    }
    w.field("model_pricing_unit", m.pricing.unit == PriceUnit::per_second ? "second" : "generation");
    string_array(w, "model_supported_provider", m.providers);
    string_array(w, "model_provider_orders", m.provider_orders);
    const Capabilities& c = m.capabilities;
    w.key("schema").begin_object();
    w.field("generation_prompt", true);
    string_array(w, "generation_ratio", c.ratios);
    string_array(w, "generation_output_format", c.output_formats);
    w.field("generation_output_number", c.max_outputs);  // api.md §3.3: every model, video too
    w.field("generation_input_file", c.max_input_files > 0);
    if (m.type == ModelType::video) {
      w.key("generation_duration").begin_array();
      for (auto d : c.durations) w.value(d);
      w.end_array();
    }
    if (!c.resolutions.empty()) string_array(w, "generation_resolution", c.resolutions);
    if (c.audio) w.field("generation_generate_audio", true);
    w.end_object();
    w.key("specific_schema").begin_array();
    for (const auto& f : m.fields)
      if (!f.core) w.value(f.name);
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.field("models_total", static_cast<std::int64_t>(catalog.models().size()));
  w.end_object();
  return std::move(w).take();
}

std::string providers(const Catalog& catalog, const std::vector<std::string>& configured) {
  JsonWriter w;
  w.begin_object().key("providers").begin_array();
  for (const ProviderInfo& p : catalog.providers()) {
    bool image = false, video = false;
    std::int64_t models = 0;
    for (const Model& m : catalog.models()) {
      if (std::find(m.providers.begin(), m.providers.end(), p.id) == m.providers.end()) continue;
      ++models;
      (m.type == ModelType::image ? image : video) = true;
    }
    const bool on = std::find(configured.begin(), configured.end(), p.id) != configured.end();
    w.begin_object();
    w.field("provider_id", p.id);
    w.field("provider_name", p.display_name);
    w.field("provider_description", p.description);
    w.field("provider_website", p.website);
    w.field("provider_docs", p.docs);
    w.field("provider_status", on ? "active" : "not_configured");
    w.key("babysea_implementation").begin_object();
    w.field("delivery_method", p.delivery_method);
    string_or_null(w, "cancel_method", p.cancel_method);
    string_or_null(w, "webhook_verification", p.webhook_verification);
    w.field("error_mapping", "bse_error_codes");
    w.field("cost_tracking", "per_generation_usd");
    w.field("schema_conversion", "unified_to_native");
    w.field("failover_strategy", "sequential_provider_chain");
    w.field("health_monitoring", "circuit_breaker");
    w.key("supported_media_types").begin_array();
    if (image) w.value("image");
    if (video) w.value("video");
    w.end_array();
    w.field("supported_models_total", models);
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.field("providers_total", static_cast<std::int64_t>(catalog.providers().size()));
  w.end_object();
  return std::move(w).take();
}

// --------------------------------------------------------- account, usage

std::string usage(const Usage& u, std::string_view account, std::optional<Micros> balance) {
  JsonWriter w;
  w.begin_object();
  w.field("account_id", account);
  w.field("usage_period_days", u.days);
  if (balance) credits(w, "usage_credit_balance", *balance);
  w.field("usage_total_requests", u.requests.total);
  w.field("usage_total_success", u.requests.success);
  w.field("usage_total_client_errors", u.requests.client_errors);
  w.field("usage_total_server_errors", u.requests.server_errors);
  w.field("usage_total_generations", u.total.requests);
  std::int64_t submissions = 0;
  Micros est = 0, wasted = 0;
  for (const auto& p : u.by_provider) submissions += p.attempts;
  w.field("usage_total_provider_submissions", submissions);
  credits(w, "usage_total_credits_used", u.total.credits_used);
  w.key("usage_endpoints").begin_array();
  for (const auto& e : u.by_endpoint) {
    w.begin_object();
    w.field("endpoint", e.route);
    w.field("total_requests", e.total);
    w.field("success_count", e.success);
    w.field("client_error_count", e.client_errors);
    w.field("server_error_count", e.server_errors);
    w.key("error_codes").begin_object();
    for (const auto& [code, n] : e.error_codes) w.field(code, n);
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.key("usage_models").begin_array();
  for (const auto& [name, c] : u.by_model) {
    w.begin_object();
    w.field("model_identifier", name);
    w.field("total_requests", c.requests);
    w.field("success_count", c.succeeded);
    w.field("failed_count", c.failed);
    w.field("cancelled_count", c.cancelled);
    credits(w, "credits_used", c.credits_used);
    w.end_object();
  }
  w.end_array();
  w.key("usage_providers").begin_array();
  for (const auto& p : u.by_provider) {
    w.begin_object();
    w.field("provider", p.provider);
    w.field("total_submissions", p.attempts);
    w.field("used_count", p.used);
    w.field("cancelled_count", p.cancelled);
    w.field("discarded_count", p.discarded);
    w.field("failed_count", p.failed);
    credits(w, "total_estimated_cost", p.estimated_cost);
    credits(w, "wasted_estimated_cost", p.wasted_cost);
    est += p.estimated_cost;
    wasted += p.wasted_cost;
    w.end_object();
  }
  w.end_array();
  credits(w, "usage_total_estimated_cost", est);
  credits(w, "usage_total_wasted_cost", wasted);
  w.end_object();
  return std::move(w).take();
}

std::string key_status(const Principal& p, const ApiKeyInfo* info) {
  JsonWriter w;
  w.begin_object();
  w.field("account_id", p.account);
  w.field("apikey_id", p.key_id);
  string_or_null(w, "apikey_name", info ? std::string_view(info->name) : std::string_view());
  string_or_null(w, "apikey_prefix", info ? std::string_view(info->prefix) : std::string_view());
  time_or_null(w, "apikey_created_at", info ? info->created_ms : 0);
  time_or_null(w, "apikey_last_used_at", info ? info->last_used_ms : 0);
  time_or_null(w, "apikey_expires_at", info ? info->expires_ms : 0);
  scopes_array(w, "apikey_scopes", p.scopes);
  w.field("apikey_region", p.region);
  w.end_object();
  return std::move(w).take();
}

std::string account(std::string_view account_id, std::int64_t created_ms) {
  JsonWriter w;
  w.begin_object();
  w.field("account_id", account_id);
  w.field("account_name", account_id);
  w.key("account_email").null();
  w.field("account_is_personal", true);
  w.key("account_picture_url").null();
  time_or_null(w, "account_created_at", created_ms);
  w.end_object();
  return std::move(w).take();
}

std::string billing(std::string_view account_id, Micros available) {
  JsonWriter w;
  w.begin_object();
  w.field("account_id", account_id);
  w.key("billing_plan").null();
  credits(w, "billing_credit_balance", available);
  w.key("billing_subscription_status").null();
  w.field("billing_cancel_at_period_end", false);
  w.field("billing_currency", "usd");
  for (const char* k : {"billing_period_starts_at", "billing_period_ends_at", "billing_created_at", "billing_updated_at"})
    w.key(k).null();
  w.end_object();
  return std::move(w).take();
}

// ------------------------------------------------------------------ health

namespace {

void write_health_providers(JsonWriter& w, const EngineHealth& h, bool with_service) {
  w.begin_object();
  if (with_service) w.field("service", "providers");
  w.field("healthy", h.healthy);
  w.field("providers_total", static_cast<std::int64_t>(h.providers.size()));
  w.key("providers").begin_array();
  for (const auto& p : h.providers) {
    w.begin_object();
    w.field("provider", p.provider);
    w.field("status", health_state_name(p.status));
    w.field("failure_rate", p.failure_rate);
    w.key("window").begin_object();
    w.field("total_attempts", p.total_attempts);
    w.field("failures", p.failures);
    w.field("successes", p.successes);
    w.field("duration_seconds", p.duration_seconds);
    // babysea's extension: latency of the successes, and the window in slices.
    w.field("latency_p50_ms", p.latency_p50_ms);
    w.field("latency_p95_ms", p.latency_p95_ms);
    w.key("series").begin_array();
    for (const auto& b : p.series) {
      w.begin_object();
      time_or_null(w, "start", b.start_ms);
      w.field("successes", b.successes).field("failures", b.failures).field("latency_p95_ms", b.latency_p95_ms);
      w.end_object();
    }
    w.end_array();
    w.end_object();
    for (const auto& [name, b] : h.breakers)
      if (name == p.provider) w.field("breaker_state", breaker_state_name(b.state));
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void write_health_models(JsonWriter& w, const EngineHealth& h, bool with_service) {
  w.begin_object();
  if (with_service) w.field("service", "models");
  w.field("healthy", h.healthy);
  w.field("models_total", static_cast<std::int64_t>(h.models.size()));
  w.key("models").begin_array();
  for (const auto& m : h.models) {
    w.begin_object();
    w.field("model_identifier", m.model);
    w.field("model_type", m.type.empty() ? std::string("unknown") : m.type);
    if (m.flat_price) credits(w, "model_pricing", *m.flat_price);
    w.field("available", m.available);
    w.key("providers").begin_object();
    for (const auto& [provider, native] : m.providers) {
      w.key(provider).begin_object();
      w.field("available", std::find(m.providers_available.begin(), m.providers_available.end(), provider) !=
                               m.providers_available.end());
      string_or_null(w, "raw_model_id", native);
      w.end_object();
    }
    w.end_object();
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string health_providers(const EngineHealth& h) {
  JsonWriter w;
  write_health_providers(w, h, true);
  return std::move(w).take();
}

std::string health_models(const EngineHealth& h) {
  JsonWriter w;
  write_health_models(w, h, true);
  return std::move(w).take();
}

std::string health_storage(bool healthy, double latency_ms, std::string_view bucket, std::string_view error) {
  JsonWriter w;
  w.begin_object();
  w.field("service", "storage");
  w.field("healthy", healthy);
  w.field("latency_ms", latency_ms);
  w.field("bucket", bucket);
  if (!error.empty()) w.field("error", error);
  w.end_object();
  return std::move(w).take();
}

std::string health_cache(const CacheHealth& c) {
  JsonWriter w;
  w.begin_object().field("service", "redis").field("healthy", c.healthy).field("latency_ms", c.latency_ms);
  if (!c.healthy) w.field("error", c.error.empty() ? std::string("shared cache unavailable") : c.error);
  w.end_object();
  return std::move(w).take();
}

std::string health(const EngineHealth& h) {
  JsonWriter w;
  w.begin_object();
  w.field("healthy", h.healthy);
  w.key("providers");
  write_health_providers(w, h, true);
  w.key("models");
  write_health_models(w, h, true);
  w.end_object();
  return std::move(w).take();
}

// --------------------------------------------------------- operator docs

std::string principal(const Principal& p) {
  JsonWriter w;
  w.begin_object();
  w.field("account", p.account);
  w.field("key_id", p.key_id);
  scopes_array(w, "scopes", p.scopes);
  w.field("region", p.region);
  w.end_object();
  return std::move(w).take();
}

namespace {

void write_key(JsonWriter& w, const ApiKeyInfo& k) {
  w.field("id", k.id);
  w.field("account", k.account);
  scopes_array(w, "scopes", k.scopes);
  w.field("region", k.region);
  w.field("name", k.name);
  w.field("prefix", k.prefix);
  w.field("created_ms", k.created_ms);
  w.field("expires_ms", k.expires_ms);
  w.field("last_used_ms", k.last_used_ms);
  w.field("revoked_ms", k.revoked_ms);
}

void write_balance(JsonWriter& w, const Balance& b) {
  w.begin_object();
  w.field("account", b.account);
  credits_exact(w, "available", b.available());
  credits_exact(w, "posted", b.posted());
  credits_exact(w, "pending", b.pending_debits);
  w.end_object();
}

std::string_view entry_kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::grant: return "grant";
    case EntryKind::hold: return "hold";
    case EntryKind::settle: return "settle";
    case EntryKind::release: return "release";
    case EntryKind::expire: return "expire";
    case EntryKind::clawback: return "clawback";
  }
  return "unknown";
}

std::string_view signing_name(WebhookSigning s) {
  switch (s) {
    case WebhookSigning::babysea: return "babysea";
    case WebhookSigning::standard_webhooks: return "standard_webhooks";
    case WebhookSigning::both: return "both";
  }
  return "unknown";
}

std::string_view stripe_effect_name(StripeEffect e) {
  switch (e) {
    case StripeEffect::granted: return "granted";
    case StripeEffect::clawed_back: return "clawed_back";
    case StripeEffect::no_effect: return "no_effect";
    case StripeEffect::duplicate: return "duplicate";
  }
  return "unknown";
}

void write_endpoint(JsonWriter& w, const WebhookEndpointRow& r, bool with_secret) {
  w.begin_object();
  w.field("id", r.id);
  w.field("account", r.account);
  w.field("url", r.url);
  if (with_secret) w.field("secret", r.secret);
  w.field("signing", signing_name(r.signing));
  string_array(w, "events", endpoint_events(r));
  w.field("enabled", r.enabled);
  w.field("disabled_reason", r.disabled_reason);
  w.field("created_ms", r.created_ms);
  w.field("updated_ms", r.updated_ms);
  w.end_object();
}

}  // namespace

std::string issued_key(const IssuedKey& k) {
  JsonWriter w;
  w.begin_object();
  w.field("key", k.key);
  write_key(w, k.info);
  w.end_object();
  return std::move(w).take();
}

std::string api_key_list(const std::vector<ApiKeyInfo>& keys) {
  JsonWriter w;
  w.begin_object().key("keys").begin_array();
  for (const auto& k : keys) {
    w.begin_object();
    write_key(w, k);
    w.end_object();
  }
  w.end_array().end_object();
  return std::move(w).take();
}

std::string key_revoked(std::string_view key_id) {
  JsonWriter w;
  w.begin_object().field("key_id", key_id).field("revoked", true).end_object();
  return std::move(w).take();
}

std::string account_created(std::string_view account) {
  JsonWriter w;
  w.begin_object().field("account", account).field("created", true).end_object();
  return std::move(w).take();
}

std::string balance(const Balance& b) {
  JsonWriter w;
  write_balance(w, b);
  return std::move(w).take();
}

std::string statement(std::string_view account, const std::vector<StatementEntry>& entries) {
  JsonWriter w;
  w.begin_object();
  w.field("account", account);
  w.key("entries").begin_array();
  for (const auto& e : entries) {
    w.begin_object();
    w.field("id", e.entry.seq);
    w.field("kind", entry_kind_name(e.entry.kind));
    w.field("debit", e.entry.debit_account);
    w.field("credit", e.entry.credit_account);
    credits_exact(w, "amount", e.entry.amount);
    credits_exact(w, "delta", e.delta);
    w.field("pending_delta_micros", static_cast<std::int64_t>(e.entry.pending_delta));
    w.field("hold_id", e.entry.hold_id);
    w.field("ref", e.entry.ref);
    w.field("created_ms", e.entry.created_ms);
    w.end_object();
  }
  w.end_array().end_object();
  return std::move(w).take();
}

std::string grant(const GrantResult& g, const Balance& after) {
  JsonWriter w;
  w.begin_object();
  w.field("entry_id", g.entry.seq);
  w.field("account", g.entry.credit_account);
  credits_exact(w, "amount", g.entry.amount);
  w.field("key", g.entry.idem_key);
  w.field("replayed", g.replayed);
  w.key("balance");
  write_balance(w, after);
  w.end_object();
  return std::move(w).take();
}

std::string webhook_endpoint(const WebhookEndpointRow& r, bool with_secret) {
  JsonWriter w;
  write_endpoint(w, r, with_secret);
  return std::move(w).take();
}

std::string webhook_endpoint_list(const std::vector<WebhookEndpointRow>& rows) {
  JsonWriter w;
  w.begin_object().key("endpoints").begin_array();
  for (const auto& r : rows) write_endpoint(w, r, false);
  w.end_array().end_object();
  return std::move(w).take();
}

std::string webhook_endpoint_enabled(std::string_view id, bool enabled) {
  JsonWriter w;
  w.begin_object().field("id", id).field("enabled", enabled).end_object();
  return std::move(w).take();
}

std::string webhook_test(std::string_view delivery_id) {
  JsonWriter w;
  w.begin_object().field("delivery_id", delivery_id).end_object();
  return std::move(w).take();
}

std::string audit(const AuditReport& a) {
  JsonWriter w;
  w.begin_object();
  w.field("clean", a.clean());
  w.key("violations").begin_array();
  for (const auto& v : a.violations) w.value(v.to_string());
  w.end_array();
  w.field("accounts", static_cast<std::int64_t>(a.accounts));
  w.field("entries", static_cast<std::int64_t>(a.entries));
  w.field("holds", static_cast<std::int64_t>(a.holds));
  w.field("pending_holds", static_cast<std::int64_t>(a.pending_holds));
  w.end_object();
  return std::move(w).take();
}

std::string stripe_outcome(const StripeOutcome& o) {
  JsonWriter w;
  w.begin_object();
  w.field("event_id", o.event_id);
  w.field("type", o.type);
  w.field("effect", stripe_effect_name(o.effect));
  w.field("account", o.account);
  credits_exact(w, "amount", o.amount);
  credits_exact(w, "shortfall", o.shortfall);
  w.field("detail", o.detail);
  w.end_object();
  return std::move(w).take();
}

std::string callback_result(const CallbackResult& r) {
  JsonWriter w;
  w.begin_object().field("applied", r.applied).field("generation_id", r.generation_id).end_object();
  return std::move(w).take();
}

// ------------------------------------------------------- OpenAI's shapes

std::string openai_error(std::string_view type, std::string_view code, std::string_view message,
                         std::string_view param) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("message", message);
  w.field("type", type);
  string_or_null(w, "param", param);
  string_or_null(w, "code", code);
  w.end_object().end_object();
  return std::move(w).take();
}

std::string openai_images(std::int64_t created_s, const std::vector<OpenAiImage>& images,
                          std::string_view revised_prompt) {
  JsonWriter w;
  w.begin_object();
  w.field("created", created_s);
  w.key("data").begin_array();
  for (const auto& i : images) {
    w.begin_object();
    if (!i.b64_json.empty())
      w.field("b64_json", i.b64_json);
    else
      w.field("url", i.url);
    w.field("revised_prompt", revised_prompt);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return std::move(w).take();
}

std::string store_metrics(const StoreCounters& c) {
  std::string out;
  const auto counter = [&out](std::string_view name, std::string_view help, std::uint64_t v) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name);
    out.append(" counter\n").append(name).append(" ").append(std::to_string(v)).append("\n");
  };
  counter("babysea_store_units_total", "Durable units of work committed by the store.", c.units);
  counter("babysea_store_failed_units_total", "Units of work the store refused or rolled back.", c.failed_units);
  counter("babysea_store_reads_total", "Read-only snapshots taken from the store.", c.reads);
  return out;
}

}  // namespace babysea::render
