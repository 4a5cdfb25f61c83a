// api.cpp — routes of specs/api.md onto the Engine (see api.hpp).
#include "api.hpp"

#include <sodium.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include "babysea/ids.hpp"
#include "babysea/money.hpp"
#include "json/json.hpp"
#include "json/strict.hpp"

namespace babysea::server {
namespace {

using json::JsonWriter;

// ------------------------------------------------------------------ helpers

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A JSON request body's media type: `application/json`, optionally with one
// `charset=utf-8` parameter (case-insensitive, the value bare or quoted).
// Anything else (another charset, another parameter, a malformed list) is
// refused: the body is read as UTF-8 JSON and nothing else.
bool json_media_type(std::string_view value) {
  std::size_t semi = value.find(';');
  if (!iequals(trim_ows(value.substr(0, semi)), "application/json")) return false;
  bool charset = false;
  while (semi != std::string_view::npos) {
    value.remove_prefix(semi + 1);
    semi = value.find(';');
    std::string_view param = trim_ows(value.substr(0, semi));
    auto eq = param.find('=');
    if (eq == std::string_view::npos || charset || !iequals(param.substr(0, eq), "charset")) return false;
    std::string_view v = param.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (!iequals(v, "utf-8")) return false;
    charset = true;
  }
  return true;
}

// `Authorization: Bearer <token>` (auth.hpp bearer_credential) against the
// configured token, compared in constant time over fixed-size digests (the
// length leaks nothing either).
bool bearer_matches(std::string_view authorization, std::string_view token) {
  auto presented = bearer_credential(authorization);
  if (!presented) return false;
  unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
  crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(presented->data()), presented->size(), nullptr,
                     0);
  crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  return crypto_verify_32(a, b) == 0;
}

constexpr const char* kJsonMediaMessage = "Content-Type must be application/json (charset utf-8 if any)";

// Exactly one Content-Type header, naming JSON in UTF-8.
bool json_body_type(const HttpRequest& req) {
  const std::string* ct = req.header("Content-Type");
  return ct && req.header_count("Content-Type") == 1 && json_media_type(*ct);
}

std::string rfc3339(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// The path of an absolute URL ("" for the root), without a trailing '/'.
std::string url_path(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return {};
  std::string p(u->encoded_path());
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

bool safe_component(std::string_view s, bool allow_dot) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::string content_type_for(std::string_view file) {
  auto dot = file.rfind('.');
  std::string ext = dot == std::string_view::npos ? "" : std::string(file.substr(dot + 1));
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "webp") return "image/webp";
  if (ext == "gif") return "image/gif";
  if (ext == "mp4") return "video/mp4";
  if (ext == "webm") return "video/webm";
  if (ext == "mov") return "video/quicktime";
  return "application/octet-stream";
}

std::optional<std::string> read_file(const std::filesystem::path& p, std::size_t max_bytes = std::size_t{256} << 20) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return std::nullopt;
  auto size = std::filesystem::file_size(p, ec);
  if (ec || size > max_bytes) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) return std::nullopt;
  return data;
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.size() > 18) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The value of query parameter `name` when it is given exactly once (absent
// or repeated: nullopt, so an ambiguous signed link is refused, not guessed).
std::optional<std::string> single_param(const boost::urls::params_view& params, std::string_view name) {
  std::optional<std::string> found;
  for (auto p : params) {
    if (p.key != name) continue;
    if (found) return std::nullopt;
    found = std::string(p.has_value ? p.value : "");
  }
  return found;
}

// --------------------------------------------------------------- error map

using ErrorInfo = HttpErrorClass;

}  // namespace

HttpErrorClass http_error_class(Code code) {
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

namespace {

ErrorInfo error_info(Code code) { return http_error_class(code); }

bool is_internal(Code c) {
  return c == Code::internal || c == Code::storage_error || c == Code::corruption || c == Code::ok;
}

struct Ctx {
  std::string request_id;
  std::int64_t now_ms = 0;
  std::optional<RateInfo> rate;
  // This request's usage-log row once it is authenticated (Api::handle writes
  // it); the error builders record their BSE code in it.
  RequestLogRow* log = nullptr;
};

// The BSE code of an error answered without a Status (protocol refusals, the
// OpenAI route's own checks): the generic code of its HTTP status.
const char* generic_bse(int status) {
  return status == 413 ? "BSE2003" : status == 415 ? "BSE2004" : status >= 500 ? "BSE5000" : "BSE2001";
}

void add_common_headers(HttpResponse& r, const Ctx& ctx) {
  r.headers.emplace_back("X-Request-Id", ctx.request_id);
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Access-Control-Expose-Headers",
                         "Idempotency-Replayed, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
                         "Retry-After, X-Request-Id");
  r.headers.emplace_back("Cache-Control", "no-store");
  if (ctx.rate) {
    r.headers.emplace_back("X-RateLimit-Limit", std::to_string(ctx.rate->limit));
    r.headers.emplace_back("X-RateLimit-Remaining", std::to_string(ctx.rate->remaining));
    r.headers.emplace_back("X-RateLimit-Reset", std::to_string(ctx.rate->reset_unix_s));
    if (ctx.rate->retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(ctx.rate->retry_after_s));
  }
}

HttpResponse json_response(int status, std::string body, const Ctx& ctx) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  add_common_headers(r, ctx);
  return r;
}

// The BabySea error envelope (specs/api.md §1.5).
std::string error_body(std::string_view request_id, std::int64_t now_ms, std::string_view bse, std::string_view type,
                       std::string_view message, bool retryable, const std::vector<FieldIssue>& issues = {},
                       bool provider_errors = false) {
  JsonWriter w;
  w.begin_object();
  w.field("status", "error");
  if (!request_id.empty()) w.field("request_id", request_id);
  w.field("message", message);
  if (now_ms > 0) w.field("timestamp", rfc3339(now_ms));
  w.key("error").begin_object();
  w.field("code", bse);
  w.field("type", type);
  w.field("message", message);
  w.field("retryable", retryable);
  if (!issues.empty() && !provider_errors) {
    w.key("details").begin_object().key("issues").begin_array();
    for (const auto& i : issues) {
      w.begin_object().field("field", i.field).field("code", i.code).field("message", i.message).end_object();
    }
    w.end_array().end_object();
  }
  if (provider_errors) {
    w.key("provider_errors").begin_array();
    for (const auto& i : issues) {
      w.begin_object()
          .field("provider", i.field)
          .field("code", "BSE4001")
          .field("type", i.code)
          .field("message", i.message)
          .field("retryable", false)
          .end_object();
    }
    w.end_array();
  }
  w.end_object();
  w.end_object();
  return std::move(w).take();
}

HttpResponse error_response(const Status& s, const Ctx& ctx, std::optional<ErrorInfo> override_info = std::nullopt,
                            std::string_view type_override = {}) {
  ErrorInfo info = override_info ? *override_info : error_info(s.code());
  const bool internal = is_internal(s.code());
  std::string message = internal ? "internal error" : std::string(s.message());
  std::string type = type_override.empty() ? std::string(code_name(s.code())) : std::string(type_override);
  bool retryable = internal ? true : s.retryable();
  if (s.code() == Code::idempotency_conflict) retryable = false;
  if (s.code() == Code::idempotency_in_progress || s.code() == Code::rate_limited) retryable = true;
  auto body = error_body(ctx.request_id, ctx.now_ms, info.bse, type, message, retryable, internal ? std::vector<FieldIssue>{} : s.issues(),
                         s.code() == Code::providers_failed);
  if (ctx.log) ctx.log->error_code = info.bse;
  return json_response(info.http, std::move(body), ctx);
}

// The success envelope (specs/api.md §1.4); `data_json` is inserted as is.
HttpResponse success(const Ctx& ctx, std::string_view message, std::string_view data_json, int status = 200,
                     const std::function<void(JsonWriter&)>& top_level = {}) {
  JsonWriter w;
  w.begin_object();
  w.field("status", "success");
  w.field("request_id", ctx.request_id);
  w.field("message", message);
  w.field("timestamp", rfc3339(ctx.now_ms));
  w.key("data").raw(data_json);
  if (top_level) top_level(w);
  w.end_object();
  return json_response(status, std::move(w).take(), ctx);
}

// ------------------------------------------------------------ OpenAI shape

HttpResponse openai_error(int status, std::string_view type, std::string_view code, std::string_view message,
                          const Ctx& ctx, std::string_view param = {}) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("message", message);
  w.field("type", type);
  if (param.empty()) w.key("param").null();
  else w.field("param", param);
  if (code.empty()) w.key("code").null();
  else w.field("code", code);
  w.end_object().end_object();
  if (ctx.log) ctx.log->error_code = starts_with(code, "BSE") ? std::string(code) : generic_bse(status);
  return json_response(status, std::move(w).take(), ctx);
}

HttpResponse openai_error_from(const Status& s, const Ctx& ctx) {
  ErrorInfo info = error_info(s.code());
  std::string message = is_internal(s.code()) ? "internal error" : std::string(s.message());
  std::string_view type = "invalid_request_error";
  std::string_view code = code_name(s.code());
  std::string param;
  switch (s.code()) {
    case Code::unauthenticated: code = "invalid_api_key"; break;
    case Code::forbidden: type = "permission_error"; break;
    case Code::rate_limited: type = "requests"; code = "rate_limit_exceeded"; break;
    case Code::insufficient_credits: type = "insufficient_quota"; code = "insufficient_quota"; break;
    case Code::model_not_found: code = "model_not_found"; param = "model"; break;
    default:
      if (info.http >= 500) type = "server_error";
  }
  if (param.empty() && !s.issues().empty()) param = s.issues().front().field;
  HttpResponse r = openai_error(info.http, type, code, message, ctx, param);
  if (ctx.log) ctx.log->error_code = info.bse;
  return r;
}

// ------------------------------------------------------------- renderers

void write_credits(JsonWriter& w, Micros m) { w.raw(format_credits(m)); }

std::string models_json(const Catalog& catalog) {
  JsonWriter w;
  w.begin_object().key("models").begin_array();
  for (const Model& m : catalog.models()) {
    w.begin_object();
    w.field("model_type", model_type_name(m.type));
    w.field("model_identifier", m.identifier);
    w.field("model_name", m.display_name);
    if (m.pricing.flat) {
      w.key("model_pricing");
      write_credits(w, *m.pricing.flat);
    } else if (!m.pricing.tiers.empty()) {
      w.key("model_pricing").begin_object();
      for (const auto& [tier, micros] : m.pricing.tiers) {
        w.key(tier);
        write_credits(w, micros);
      }
      w.end_object();
    }
    w.field("model_pricing_unit", m.pricing.unit == PriceUnit::per_second ? "second" : "generation");
    w.key("model_supported_provider").begin_array();
    for (const auto& p : m.providers) w.value(p);
    w.end_array();
    w.key("model_provider_orders").begin_array();
    for (const auto& p : m.provider_orders) w.value(p);
    w.end_array();
    const Capabilities& c = m.capabilities;
    w.key("schema").begin_object();
    w.field("generation_prompt", true);
    w.key("generation_ratio").begin_array();
    for (const auto& r : c.ratios) w.value(r);
    w.end_array();
    w.key("generation_output_format").begin_array();
    for (const auto& f : c.output_formats) w.value(f);
    w.end_array();
    if (m.type == ModelType::image) w.field("generation_output_number", c.max_outputs);
    w.field("generation_input_file", c.max_input_files > 0);
    if (m.type == ModelType::video) {
      w.key("generation_duration").begin_array();
      for (auto d : c.durations) w.value(d);
      w.end_array();
    }
    if (!c.resolutions.empty()) {
      w.key("generation_resolution").begin_array();
      for (const auto& r : c.resolutions) w.value(r);
      w.end_array();
    }
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

struct ProviderProfile {
  const char* id;
  const char* description;
  const char* website;
  const char* docs;
  const char* delivery;
  const char* cancel;  // nullptr = null
  const char* verification;
};

const ProviderProfile kProfiles[] = {
    {"alibabacloud", "Alibaba Cloud Model Studio", "https://www.alibabacloud.com", "https://www.alibabacloud.com/help/en/model-studio/", "polling", nullptr, nullptr},
    {"bfl", "Black Forest Labs API", "https://bfl.ai", "https://docs.bfl.ai", "webhook_with_polling", nullptr, "hmac_sha256"},
    {"byteplus", "BytePlus ModelArk", "https://www.byteplus.com", "https://docs.byteplus.com", "polling", nullptr, nullptr},
    {"cloudflare", "Cloudflare Workers AI", "https://www.cloudflare.com", "https://developers.cloudflare.com/workers-ai/", "synchronous", nullptr, nullptr},
    {"fal", "fal.ai queue API", "https://fal.ai", "https://docs.fal.ai", "webhook_with_polling", "queue_cancel_api", "ed25519"},
    {"openai", "OpenAI Images API", "https://openai.com", "https://platform.openai.com/docs", "synchronous", nullptr, nullptr},
    {"replicate", "Replicate predictions API", "https://replicate.com", "https://replicate.com/docs", "webhook_with_polling", "prediction_cancel_api", "hmac_sha256"},
    {"runway", "Runway API", "https://runwayml.com", "https://docs.dev.runwayml.com", "polling", "prediction_cancel_api", nullptr},
};

std::string providers_json(const Catalog& catalog, const std::vector<std::string>& configured) {
  JsonWriter w;
  w.begin_object().key("providers").begin_array();
  for (const ProviderInfo& p : catalog.providers()) {
    const ProviderProfile* prof = nullptr;
    for (const auto& x : kProfiles)
      if (p.id == x.id) prof = &x;
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
    w.field("provider_description", prof ? prof->description : "");
    w.field("provider_website", prof ? prof->website : "");
    w.field("provider_docs", prof ? prof->docs : "");
    w.field("provider_status", on ? "active" : "not_configured");
    w.key("babysea_implementation").begin_object();
    w.field("delivery_method", prof ? prof->delivery : "polling");
    w.key("cancel_method");
    if (prof && prof->cancel) w.value(prof->cancel);
    else w.null();
    w.key("webhook_verification");
    if (prof && prof->verification) w.value(prof->verification);
    else w.null();
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

void nullable_time(JsonWriter& w, std::string_view key, std::int64_t ms) {
  w.key(key);
  if (ms > 0) w.value(rfc3339(ms));
  else w.null();
}

// Inserts `account_id` (and optionally a credit balance) into an object the
// engine rendered, when it does not carry them already.
std::string with_account_fields(std::string_view object_json, std::string_view account,
                                std::optional<std::pair<std::string, Micros>> balance) {
  auto v = json::parse_strict(object_json);
  if (!v.ok() || !v->is_object()) return std::string(object_json);
  JsonWriter w;
  w.begin_object();
  if (!v->find("account_id")) w.field("account_id", account);
  for (const auto& m : v->object) {
    w.key(m.first);
    json::write_value(w, m.second);
  }
  if (balance && !v->find(balance->first)) {
    w.key(balance->first);
    write_credits(w, balance->second);
  }
  w.end_object();
  return std::move(w).take();
}

// Route scope table (specs/api.md §7.2).
struct Authed {
  Principal principal;
};

}  // namespace

// ====================================================================== Api

Api::Api(Runtime& runtime) : rt_(runtime) {
  callback_prefix_ = url_path(rt_.callback_base_url());
  assets_prefix_ = url_path(rt_.assets_public_base_url());
}

std::string Api::refusal_body(int status, std::string_view code, std::string_view message) {
  const char* bse = generic_bse(status);
  std::int64_t now = SystemClock::instance().now_ms();
  return error_body("req_" + new_id(now), now, bse, code, message, status >= 500);
}

HttpResponse Api::handle(const HttpRequest& req) {
  const auto started = std::chrono::steady_clock::now();
  RequestLogRow row;
  HttpResponse r = dispatch(req, row);
  // One usage-log row per authenticated request (security.md I13), only
  // enqueued: the log's own thread writes it.
  if (RequestLog* log = rt_.request_log(); log && !row.account.empty()) {
    row.method = req.method;
    row.status = r.status;
    if (r.status < 400) row.error_code.clear();
    else if (row.error_code.empty()) row.error_code = generic_bse(r.status);
    row.latency_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
    (void)log->record(std::move(row));
  }
  return r;
}

HttpResponse Api::dispatch(const HttpRequest& req, RequestLogRow& log_row) {
  Engine& engine = rt_.engine();
  Ctx ctx;
  ctx.now_ms = rt_.clock().now_ms();
  ctx.request_id = "req_" + new_id(ctx.now_ms);

  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed)
    return error_response(Status(Code::invalid_request, "malformed request target"), ctx);
  const std::string path(parsed->encoded_path());
  auto query = [&](std::string_view name) -> std::optional<std::string> {
    for (auto p : parsed->params())
      if (p.key == name) return std::string(p.has_value ? p.value : "");
    return std::nullopt;
  };
  const std::string& method = req.method;
  const bool get = method == "GET" || method == "HEAD";

  // CORS preflight: answered without credentials.
  if (method == "OPTIONS") {
    HttpResponse r = success(ctx, "ok", "{}");
    r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "Authorization, Content-Type, Idempotency-Key, X-BabySea-SDK-Name, X-BabySea-SDK-Version, "
                           "X-BabySea-SDK-Runtime, X-BabySea-SDK-Runtime-Version");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    return r;
  }

  // ---------------------------------------------------------- unauthenticated
  if (path == "/metrics" && get) {
    // Cross-tenant totals: only for the scraper holding the metrics token.
    const std::string& token = rt_.server_settings().metrics_token;
    if (token.empty()) return error_response(Status(Code::not_found, "no such route"), ctx);
    const std::string* authz = req.header("Authorization");
    if (req.header_count("Authorization") != 1 || !authz || !bearer_matches(*authz, token)) {
      HttpResponse r = error_response(Status(Code::unauthenticated, "a valid metrics token is required"), ctx);
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"metrics\"");
      return r;
    }
    HttpResponse r;
    r.body = engine.metrics_text();
    if (const RequestLog* log = rt_.request_log()) r.body += log->metrics_text();
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    return r;
  }

  if (!assets_prefix_.empty() && starts_with(path, assets_prefix_ + "/") && get) {
    const Status no_file(Code::not_found, "file not found");
    // Unless assets are public, the link must be signed for this exact path
    // (else the very answer of a missing file: no oracle) and not expired.
    std::string cache_control = "public, max-age=3600";
    if (const AssetUrlSigner* signer = rt_.asset_url_signer()) {
      const auto expires = single_param(parsed->params(), AssetUrlSigner::kExpiresParam);
      const auto signature = single_param(parsed->params(), AssetUrlSigner::kSignatureParam);
      const auto check = expires && signature ? signer->verify(path, *expires, *signature, ctx.now_ms)
                                              : AssetUrlSigner::Check::invalid;
      if (check == AssetUrlSigner::Check::invalid) return error_response(no_file, ctx);
      if (check == AssetUrlSigner::Check::expired)
        return error_response(
            Status(Code::forbidden, "this asset link has expired; fetch the generation again for a fresh link"), ctx);
      // Cached privately, never past the link's expiry.
      const std::int64_t left_ms = parse_int(*expires).value_or(0) * 1000 - ctx.now_ms;
      cache_control = "private, max-age=" + std::to_string(std::max<std::int64_t>(0, left_ms / 1000));
    }
    std::string_view rest = std::string_view(path).substr(assets_prefix_.size() + 1);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      auto gen = rest.substr(0, slash);
      auto file = rest.substr(slash + 1);
      if (safe_component(gen, false) && safe_component(file, true) && file.find('/') == std::string_view::npos &&
          file.front() != '.') {
        auto data = read_file(std::filesystem::path(rt_.assets_directory()) / std::string(gen) / std::string(file));
        if (data) {
          HttpResponse r;
          r.body = std::move(*data);
          r.headers.emplace_back("Content-Type", content_type_for(file));
          r.headers.emplace_back("X-Content-Type-Options", "nosniff");
          r.headers.emplace_back("Cache-Control", cache_control);
          r.headers.emplace_back("Access-Control-Allow-Origin", "*");
          return r;
        }
      }
    }
    return error_response(no_file, ctx);
  }

  if (!callback_prefix_.empty() || !rt_.callback_base_url().empty()) {
    const std::string prefix = callback_prefix_ + "/";
    if (starts_with(path, prefix) && method == "POST") {
      std::string provider = path.substr(prefix.size());
      if (!safe_component(provider, false)) return error_response(Status(Code::not_found, "unknown provider"), ctx);
      std::vector<CallbackHeader> headers;
      headers.reserve(req.headers.size());
      for (const auto& [k, v] : req.headers) headers.push_back(CallbackHeader{k, v});
      auto r = engine.handle_provider_callback(provider, headers, req.body);
      if (!r.ok()) return error_response(r.status(), ctx);
      JsonWriter w;
      w.begin_object().field("applied", r->applied).field("generation_id", r->generation_id).end_object();
      return success(ctx, r->applied ? "callback applied" : "duplicate callback", w.str());
    }
  }

  if (path == "/v1/webhooks/stripe" && method == "POST") {
    if (req.body.size() > kStripeMaxBodyBytes)
      return error_response(Status(Code::payload_too_large, "body too large"), ctx);
    const std::string* sig = req.header("Stripe-Signature");
    auto r = rt_.handle_stripe_webhook(sig ? *sig : std::string_view(), req.body);
    if (!r.ok()) {
      if (r.code() == Code::invalid_signature)
        return error_response(r.status(), ctx, ErrorInfo{400, "BSE1005"});
      return error_response(r.status(), ctx);
    }
    static const char* kEffects[] = {"granted", "clawed_back", "no_effect", "duplicate"};
    JsonWriter w;
    w.begin_object()
        .field("event_id", r->event_id)
        .field("type", r->type)
        .field("effect", kEffects[static_cast<int>(r->effect)])
        .field("detail", r->detail)
        .end_object();
    return success(ctx, "ok", w.str());
  }

  // -------------------------------------------------------- route matching
  enum class R {
    none, gen_image, gen_video, content_list, content_get, content_delete, cancel, estimate, status, usage,
    account, billing, lib_models, lib_providers, health_providers, health_models, health_storage, health_cache,
    openai_images
  };
  // The route template a usage-log row names (no default: a new route cannot compile unmapped).
  auto route_template = [](R r) -> const char* {
    switch (r) {
      case R::gen_image: return "/v1/generate/image/{model}";
      case R::gen_video: return "/v1/generate/video/{model}";
      case R::content_list: return "/v1/content/list";
      case R::content_get:
      case R::content_delete: return "/v1/content/{id}";
      case R::cancel: return "/v1/content/generation/cancel/{id}";
      case R::estimate: return "/v1/estimate/{model}";
      case R::status: return "/v1/status";
      case R::usage: return "/v1/usage";
      case R::account: return "/v1/user/account";
      case R::billing: return "/v1/user/billing";
      case R::lib_models: return "/v1/library/models";
      case R::lib_providers: return "/v1/library/providers";
      case R::health_providers: return "/v1/health/inference/providers";
      case R::health_models: return "/v1/health/inference/models";
      case R::health_storage: return "/v1/health/storage";
      case R::health_cache: return "/v1/health/cache";
      case R::openai_images: return "/v1/images/generations";
      case R::none: break;
    }
    return "";
  };
  R route = R::none;
  std::string tail;
  bool method_ok = false;
  auto match_prefix = [&](std::string_view prefix, R r, bool ok_method) {
    if (route != R::none || !starts_with(path, prefix) || path.size() == prefix.size()) return;
    route = r;
    tail = path.substr(prefix.size());
    method_ok = ok_method;
  };
  auto match_exact = [&](std::string_view p, R r, bool ok_method) {
    if (route != R::none || path != p) return;
    route = r;
    method_ok = ok_method;
  };
  match_prefix("/v1/generate/image/", R::gen_image, method == "POST");
  match_prefix("/v1/generate/video/", R::gen_video, method == "POST");
  match_exact("/v1/content/list", R::content_list, get);
  match_prefix("/v1/content/generation/cancel/", R::cancel, method == "POST");
  if (route == R::none && starts_with(path, "/v1/content/") && path.size() > 12 &&
      path.find('/', 12) == std::string::npos) {
    tail = path.substr(12);
    if (method == "DELETE") route = R::content_delete, method_ok = true;
    else route = R::content_get, method_ok = get;
  }
  match_prefix("/v1/estimate/", R::estimate, get);
  match_exact("/v1/status", R::status, get);
  match_exact("/v1/usage", R::usage, get);
  match_exact("/v1/user/account", R::account, get);
  match_exact("/v1/user/billing", R::billing, get);
  match_exact("/v1/library/models", R::lib_models, get);
  match_exact("/v1/library/providers", R::lib_providers, get);
  match_exact("/v1/health/inference/providers", R::health_providers, get);
  match_exact("/v1/health/inference/models", R::health_models, get);
  match_exact("/v1/health/storage", R::health_storage, get);
  match_exact("/v1/health/cache", R::health_cache, get);
  match_exact("/v1/images/generations", R::openai_images, method == "POST");
  if (route == R::none) return error_response(Status(Code::not_found, "no such route"), ctx);
  const bool openai = route == R::openai_images;
  if (!method_ok) {
    Status s(Code::invalid_request, "method not allowed on this route");
    if (openai) return openai_error(405, "invalid_request_error", "method_not_allowed", s.message(), ctx);
    HttpResponse r = error_response(s, ctx, ErrorInfo{405, "BSE2001"}, "method_not_allowed");
    r.headers.emplace_back("Allow", route == R::gen_image || route == R::gen_video || route == R::cancel ? "POST"
                                    : route == R::content_get                                          ? "GET, DELETE"
                                                                                                       : "GET");
    return r;
  }

  // ----------------------------------------------------------- identity
  const std::string* authz = req.header("Authorization");
  Result<Principal> who = req.header_count("Authorization") == 1 && authz
                              ? rt_.api_keys().authenticate_bearer(*authz)
                              : Result<Principal>(invalid_api_key());
  if (!who.ok()) {
    HttpResponse r = openai ? openai_error_from(who.status(), ctx) : error_response(who.status(), ctx);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  const Principal& p = *who;
  // Authenticated: from here on the request has its usage-log row.
  log_row.time_ms = ctx.now_ms;
  log_row.account = p.account;
  log_row.key_id = p.key_id;
  log_row.route = route_template(route);
  ctx.log = &log_row;
  RateInfo rate;
  Status limited = engine.acquire(p, &rate);
  ctx.rate = rate;
  if (!limited.ok()) {
    if (ctx.rate->retry_after_s <= 0) ctx.rate->retry_after_s = 1;
    return openai ? openai_error_from(limited, ctx) : error_response(limited, ctx);
  }
  Scope needed = Scope::library_read;
  switch (route) {
    case R::gen_image:
    case R::gen_video:
    case R::openai_images: needed = Scope::generation_write; break;
    case R::content_list:
    case R::content_get: needed = Scope::generation_read; break;
    case R::content_delete:
    case R::cancel: needed = Scope::generation_delete; break;
    case R::status:
    case R::usage:
    case R::account:
    case R::billing: needed = Scope::account_read; break;
    case R::health_providers:
    case R::health_models:
    case R::health_storage:
    case R::health_cache: needed = Scope::health_read; break;
    default: needed = Scope::library_read;
  }
  if (Status s = require_scope(p, needed); !s.ok())
    return openai ? openai_error_from(s, ctx) : error_response(s, ctx);

  // ------------------------------------------------------------- routes
  switch (route) {
    case R::gen_image:
    case R::gen_video: {
      const ModelType type = route == R::gen_image ? ModelType::image : ModelType::video;
      const std::string& model = tail;
      const Model* m = rt_.catalog()->find(model);
      if (m && m->type != type) {
        return error_response(
            Status(Code::invalid_request,
                   model + " is a " + std::string(model_type_name(m->type)) + " model; use the " +
                       std::string(model_type_name(m->type)) + " route",
                   {FieldIssue{"model_identifier", "route_mismatch", "model type does not match the route"}}),
            ctx, ErrorInfo{400, "BSE2006"});
      }
      std::string idem;
      if (const std::string* k = req.header("Idempotency-Key")) {
        if (req.header_count("Idempotency-Key") != 1 || !valid_idempotency_key(*k))
          return error_response(Status(Code::invalid_request, "invalid Idempotency-Key",
                                       {FieldIssue{"Idempotency-Key", "invalid_format",
                                                   "1-255 characters of A-Z a-z 0-9 _ - : ."}}),
                                ctx);
        idem = *k;
      }
      if (!req.body.empty() && !json_body_type(req))
        return error_response(Status(Code::unsupported_media_type, kJsonMediaMessage), ctx);
      SubmitOptions so;
      so.expected_type = type;
      so.wait_for_ack = std::chrono::milliseconds(rt_.server_settings().create_wait_ms);
      auto out = engine.submit(p, model, req.body.empty() ? std::string_view("{}") : std::string_view(req.body), idem, so);
      if (!out.ok()) return error_response(out.status(), ctx);
      HttpResponse r = success(ctx, out->replayed ? "Generation replayed" : "Generation created", out->response_json);
      if (out->replayed) r.headers.emplace_back("Idempotency-Replayed", "true");
      return r;
    }
    case R::content_list: {
      std::int64_t limit = 50, offset = 0;
      if (auto l = query("limit")) {
        auto v = parse_int(*l);
        if (!v || *v < 1 || *v > 100)
          return error_response(Status(Code::invalid_request, "limit must be an integer 1..100",
                                       {FieldIssue{"limit", "out_of_range", "must be an integer 1..100"}}),
                                ctx);
        limit = *v;
      }
      if (auto o = query("offset")) {
        auto v = parse_int(*o);
        if (!v || *v < 0)
          return error_response(Status(Code::invalid_request, "offset must be a non-negative integer",
                                       {FieldIssue{"offset", "out_of_range", "must be a non-negative integer"}}),
                                ctx);
        offset = *v;
      }
      auto page = engine.list(p, limit, offset);
      if (!page.ok()) return error_response(page.status(), ctx);
      JsonWriter w;
      w.begin_object().key("generations").begin_array();
      for (const auto& g : page->generations) w.raw(generation_json(g));
      w.end_array().end_object();
      const auto total = page->total, lim = page->limit, off = page->offset;
      return success(ctx, "Generations listed", w.str(), 200, [&](JsonWriter& top) {
        top.field("total", total).field("limit", lim).field("offset", off);
      });
    }
    case R::content_get: {
      auto g = engine.get(p, tail);
      if (!g.ok()) return error_response(g.status(), ctx);
      return success(ctx, "Generation retrieved", generation_json(*g));
    }
    case R::content_delete: {
      auto d = engine.remove(p, tail);
      if (!d.ok()) return error_response(d.status(), ctx);
      JsonWriter w;
      w.begin_object()
          .field("generation_id", d->generation_id)
          .field("files_deleted", static_cast<std::int64_t>(d->files_deleted))
          .end_object();
      return success(ctx, "Generation deleted", w.str());
    }
    case R::cancel: {
      if (tail.find('/') != std::string::npos) return error_response(Status(Code::not_found, "no such route"), ctx);
      auto c = engine.cancel(p, tail);
      if (!c.ok()) return error_response(c.status(), ctx);
      JsonWriter w;
      w.begin_object()
          .field("generation_id", c->generation_id)
          .field("generation_status", "canceled")
          .field("provider_cancel_sent", c->provider_cancel_sent)
          .field("credits_refunded", c->credits_refunded)
          .end_object();
      return success(ctx, "Generation canceled", w.str());
    }
    case R::estimate: {
      EstimateParams ep;
      std::vector<FieldIssue> issues;
      if (auto v = query("count")) {
        auto n = parse_int(*v);
        if (!n || *n < 1 || *n > 1000) issues.push_back({"count", "out_of_range", "must be an integer 1..1000"});
        else ep.count = *n;
      }
      if (auto v = query("duration")) {
        auto n = parse_int(*v);
        if (!n || *n < 1 || *n > 3600) issues.push_back({"duration", "out_of_range", "must be an integer number of seconds"});
        else ep.duration_seconds = *n;
      }
      if (auto v = query("resolution")) ep.resolution = *v;
      if (auto v = query("audio")) {
        if (*v == "true") ep.audio = true;
        else if (*v == "false") ep.audio = false;
        else issues.push_back({"audio", "invalid_type", "must be true or false"});
      }
      if (!issues.empty()) return error_response(Status(Code::invalid_request, "invalid estimate parameters", issues), ctx);
      if (auto b = rt_.ledger().balance(p.account); b.ok()) ep.balance = b->available();
      auto e = engine.estimate(p, tail, ep);
      if (!e.ok()) return error_response(e.status(), ctx);
      return success(ctx, "Estimate computed", estimate_json(*e));
    }
    case R::status: {
      auto keys = rt_.api_keys().list(p.account);
      if (!keys.ok()) return error_response(keys.status(), ctx);
      const ApiKeyInfo* info = nullptr;
      for (const auto& k : *keys)
        if (k.id == p.key_id) info = &k;
      JsonWriter w;
      w.begin_object();
      w.field("account_id", p.account);
      w.field("apikey_id", p.key_id);
      w.key("apikey_name");
      if (info && !info->name.empty()) w.value(info->name);
      else w.null();
      w.key("apikey_prefix");
      if (info) w.value(info->prefix);
      else w.null();
      nullable_time(w, "apikey_created_at", info ? info->created_ms : 0);
      nullable_time(w, "apikey_last_used_at", info ? info->last_used_ms : 0);
      nullable_time(w, "apikey_expires_at", info ? info->expires_ms : 0);
      w.field("apikey_scopes", format_scopes(p.scopes));
      w.field("apikey_region", p.region);
      w.end_object();
      return success(ctx, "Status retrieved", w.str());
    }
    case R::usage: {
      std::int64_t days = 30;
      if (auto v = query("days")) {
        auto n = parse_int(*v);
        if (!n || *n < 1 || *n > 90)
          return error_response(Status(Code::invalid_request, "days must be an integer 1..90",
                                       {FieldIssue{"days", "out_of_range", "must be an integer 1..90"}}),
                                ctx);
        days = *n;
      }
      auto u = engine.usage(p, days);
      if (!u.ok()) return error_response(u.status(), ctx);
      std::optional<std::pair<std::string, Micros>> bal;
      if (auto b = rt_.ledger().balance(p.account); b.ok()) bal = std::make_pair(std::string("usage_credit_balance"), b->available());
      return success(ctx, "Usage retrieved", with_account_fields(usage_json(*u), p.account, bal));
    }
    case R::account: {
      std::int64_t created = 0;
      (void)rt_.store().read([&](UnitOfWork& u) {
        AccountRow row;
        if (u.ledger().get_account(p.account, row).ok()) created = row.created_ms;
        return Status();
      });
      JsonWriter w;
      w.begin_object();
      w.field("account_id", p.account);
      w.field("account_name", p.account);
      w.key("account_email").null();
      w.field("account_is_personal", true);
      w.key("account_picture_url").null();
      nullable_time(w, "account_created_at", created);
      w.end_object();
      return success(ctx, "Account retrieved", w.str());
    }
    case R::billing: {
      auto b = rt_.ledger().balance(p.account);
      Micros available = b.ok() ? b->available() : 0;
      JsonWriter w;
      w.begin_object();
      w.field("account_id", p.account);
      w.key("billing_plan").null();
      w.key("billing_credit_balance");
      write_credits(w, available);
      w.key("billing_subscription_status").null();
      w.field("billing_cancel_at_period_end", false);
      w.field("billing_currency", "usd");
      w.key("billing_period_starts_at").null();
      w.key("billing_period_ends_at").null();
      w.key("billing_created_at").null();
      w.key("billing_updated_at").null();
      w.end_object();
      return success(ctx, "Billing retrieved", w.str());
    }
    case R::lib_models: return success(ctx, "Models listed", models_json(*rt_.catalog()));
    case R::lib_providers:
      return success(ctx, "Providers listed", providers_json(*rt_.catalog(), rt_.provider_ids()));
    case R::health_providers: return success(ctx, "Provider health", health_providers_json(engine.health()));
    case R::health_models: return success(ctx, "Model health", health_models_json(engine.health()));
    case R::health_storage: {
      auto t0 = std::chrono::steady_clock::now();
      Status s = rt_.store().read([](UnitOfWork& u) {
        AccountRow row;
        Status g = u.ledger().get_account("system:escrow", row);
        return g.code() == Code::not_found ? Status() : g;
      });
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::error_code ec;
      bool dir_ok = std::filesystem::is_directory(rt_.assets_directory(), ec);
      JsonWriter w;
      w.begin_object();
      w.field("service", "storage");
      w.field("healthy", s.ok() && dir_ok);
      w.field("latency_ms", ms);
      w.field("bucket", rt_.assets_public_base_url());
      if (!s.ok()) w.field("error", "database unavailable");
      else if (!dir_ok) w.field("error", "asset directory unavailable");
      w.end_object();
      return success(ctx, "Storage health", w.str());
    }
    case R::health_cache: {
      const CacheHealth c = engine.health().cache;
      JsonWriter w;
      w.begin_object().field("service", "redis").field("healthy", c.healthy).field("latency_ms", c.latency_ms);
      if (!c.healthy) w.field("error", c.error.empty() ? std::string("shared cache unavailable") : c.error);
      w.end_object();
      return success(ctx, "Cache health", w.str());
    }
    case R::openai_images: break;
    case R::none: break;
  }

  // ------------------------------------------- OpenAI-compatible images
  if (!json_body_type(req))
    return openai_error(415, "invalid_request_error", "unsupported_media_type", kJsonMediaMessage, ctx);
  auto body = json::parse_strict(req.body.empty() ? std::string_view("null") : std::string_view(req.body));
  if (!body.ok() || !body->is_object())
    return openai_error(400, "invalid_request_error", "invalid_json", "request body must be a JSON object", ctx);
  auto str = [&](std::string_view k) -> std::optional<std::string> {
    const json::Value* v = body->find(k);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) return std::string("\x01");
    return v->string;
  };
  auto prompt = str("prompt");
  if (!prompt || *prompt == "\x01" || prompt->empty())
    return openai_error(400, "invalid_request_error", "missing_prompt", "prompt is required", ctx, "prompt");
  std::string model_id;
  if (auto m = str("model")) {
    if (*m == "\x01") return openai_error(400, "invalid_request_error", "invalid_type", "model must be a string", ctx, "model");
    model_id = *m;
  } else {
    for (const Model& candidate : rt_.catalog()->models())
      if (candidate.type == ModelType::image) {
        model_id = candidate.identifier;
        break;
      }
  }
  const Model* model = rt_.catalog()->find(model_id);
  if (!model || model->type != ModelType::image)
    return openai_error(404, "invalid_request_error", "model_not_found",
                        "The model '" + model_id.substr(0, 200) + "' does not exist or is not an image model", ctx,
                        "model");
  std::int64_t n = 1;
  if (const json::Value* v = body->find("n"); v && !v->is_null()) {
    if (!v->is_integer() || v->integer < 1 || v->integer > 10)
      return openai_error(400, "invalid_request_error", "invalid_value", "n must be an integer 1..10", ctx, "n");
    n = v->integer;
  }
  std::string response_format = "url";
  if (auto f = str("response_format")) {
    if (*f != "url" && *f != "b64_json")
      return openai_error(400, "invalid_request_error", "invalid_value", "response_format must be url or b64_json",
                          ctx, "response_format");
    response_format = *f;
  }
  std::optional<std::string> ratio;
  if (auto s = str("size"); s && *s != "auto") {
    auto x = s->find('x');
    std::optional<std::int64_t> w = x == std::string::npos ? std::nullopt : parse_int(std::string_view(*s).substr(0, x));
    std::optional<std::int64_t> h = x == std::string::npos ? std::nullopt : parse_int(std::string_view(*s).substr(x + 1));
    if (!w || !h || *w <= 0 || *h <= 0)
      return openai_error(400, "invalid_request_error", "invalid_size", "size must be WIDTHxHEIGHT", ctx, "size");
    auto g = std::gcd(*w, *h);
    std::string r = std::to_string(*w / g) + ":" + std::to_string(*h / g);
    const auto& ratios = model->capabilities.ratios;
    if (std::find(ratios.begin(), ratios.end(), r) == ratios.end())
      return openai_error(400, "invalid_request_error", "invalid_size",
                          "size " + *s + " (ratio " + r + ") is not supported by " + model_id, ctx, "size");
    ratio = r;
  }
  std::optional<std::string> format;
  if (auto f = str("output_format")) {
    format = *f == "jpeg" ? std::string("jpg") : *f;
  }
  JsonWriter params;
  params.begin_object();
  params.field("generation_prompt", *prompt);
  if (ratio) params.field("generation_ratio", *ratio);
  if (n != 1 || model->capabilities.max_outputs > 1) params.field("generation_output_number", n);
  if (format) params.field("generation_output_format", *format);
  params.end_object();

  std::string idem;
  if (const std::string* k = req.header("Idempotency-Key"); k && valid_idempotency_key(*k)) idem = *k;
  SubmitOptions so;
  so.expected_type = ModelType::image;
  auto out = engine.submit(p, model_id, params.str(), idem, so);
  if (!out.ok()) return openai_error_from(out.status(), ctx);
  const std::string gen_id = out->generation.id;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(rt_.server_settings().openai_wait_ms);
  Result<GenerationView> g = out->generation;
  while (true) {
    g = engine.get(p, gen_id);
    if (!g.ok()) return openai_error_from(g.status(), ctx);
    if (g->status == GenerationStatus::succeeded || g->status == GenerationStatus::failed ||
        g->status == GenerationStatus::canceled)
      break;
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)engine.cancel(p, gen_id);
      return openai_error(504, "server_error", "timeout", "the generation did not finish in time", ctx);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (g->status != GenerationStatus::succeeded) {
    std::string msg = g->error.empty() ? "the generation " + std::string(generation_status_name(g->status)) : g->error;
    return openai_error(g->status == GenerationStatus::canceled ? 409 : 500, "server_error",
                        g->error_code.empty() ? "generation_failed" : g->error_code, msg, ctx);
  }
  JsonWriter w;
  w.begin_object();
  w.field("created", static_cast<std::int64_t>(g->completed_ms > 0 ? g->completed_ms / 1000 : ctx.now_ms / 1000));
  w.key("data").begin_array();
  const std::string base = rt_.assets_public_base_url();
  for (const auto& url : g->outputs) {
    w.begin_object();
    if (response_format == "b64_json") {
      std::optional<std::string> bytes;
      std::string b = base;
      while (!b.empty() && b.back() == '/') b.pop_back();
      const std::string_view plain = std::string_view(url).substr(0, url.find_first_of("?#"));  // a signed link
      if (starts_with(plain, b + "/")) {
        std::string rel(plain.substr(b.size() + 1));
        auto slash = rel.find('/');
        if (slash != std::string::npos && safe_component(rel.substr(0, slash), false) &&
            safe_component(rel.substr(slash + 1), true))
          bytes = read_file(std::filesystem::path(rt_.assets_directory()) / rel.substr(0, slash) / rel.substr(slash + 1));
      }
      if (!bytes) return openai_error(500, "server_error", "asset_unavailable", "stored output is unavailable", ctx);
      w.field("b64_json", base64(*bytes));
    } else {
      w.field("url", url);
    }
    w.field("revised_prompt", *prompt);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  HttpResponse r = json_response(200, std::move(w).take(), ctx);
  r.headers.emplace_back("X-BabySea-Generation-Id", gen_id);
  return r;
}

}  // namespace babysea::server
