// The engine handle of the C ABI: a babysea::Runtime (the whole deployment
// from one JSON config) plus the event fan-out to the host's callback and to
// the pull queue. Every entry point runs behind capi::guarded.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea.h"
#include "babysea/auth.hpp"
#include "babysea/engine.hpp"
#include "babysea/lifecycle.hpp"
#include "babysea/money.hpp"
#include "babysea/runtime.hpp"
#include "babysea/status.hpp"
#include "babysea/stripe.hpp"
#include "babysea/webhook_delivery.hpp"
#include "capi_internal.hpp"
#include "json/json.hpp"
#include "json/strict.hpp"

namespace babysea::capi {
namespace {

// The host's callback: destroy(user_data) runs when the last reference goes,
// i.e. once it is replaced or the engine is gone and no invocation is in flight.
struct CallbackSlot {
  babysea_event_fn fn = nullptr;
  void* user_data = nullptr;
  void (*destroy)(void*) = nullptr;
  CallbackSlot(babysea_event_fn f, void* u, void (*d)(void*)) : fn(f), user_data(u), destroy(d) {}
  CallbackSlot(const CallbackSlot&) = delete;
  CallbackSlot& operator=(const CallbackSlot&) = delete;
  ~CallbackSlot() {
    if (destroy != nullptr) destroy(user_data);
  }
};

std::string event_json(const LifecycleEvent& e) {
  json::JsonWriter w;
  w.begin_object();
  w.field("type", e.type);
  w.field("generation_id", e.generation_id);
  w.field("account", e.account);
  w.field("status", generation_status_name(e.status));
  w.key("data");
  if (e.data_json.empty()) {
    w.null();
  } else {
    w.raw(e.data_json);
  }
  w.end_object();
  return std::move(w).take();
}

class EventHub {
 public:
  void set_callback(std::shared_ptr<CallbackSlot> slot) {
    std::shared_ptr<CallbackSlot> old;
    {
      std::lock_guard lock(mu_);
      old = std::exchange(callback_, std::move(slot));
    }
    // `old` is released here, outside the lock; its destroy runs now or when
    // the last in-flight invocation returns.
  }

  // Called on engine threads. Never throws.
  void deliver(const LifecycleEvent& e) noexcept {
    try {
      std::shared_ptr<CallbackSlot> cb;
      bool queue = false;
      {
        std::lock_guard lock(mu_);
        cb = callback_;
        queue = subscribed_;
      }
      if (!cb && !queue) return;
      std::string text = event_json(e);
      if (queue) {
        std::lock_guard lock(mu_);
        if (subscribed_) {
          while (queue_.size() >= capacity_ && !queue_.empty()) {
            queue_.pop_front();
            ++dropped_;
          }
          queue_.push_back(text);
          cv_.notify_all();
        }
      }
      if (cb && cb->fn != nullptr) cb->fn(text.c_str(), cb->user_data);
    } catch (...) {
      // An event is best effort (it is also in the store's outbox): never let
      // a failure unwind into the engine's worker.
    }
  }

  void subscribe(std::size_t capacity) {
    std::lock_guard lock(mu_);
    subscribed_ = true;
    capacity_ = capacity == 0 ? 1 : capacity;
    while (queue_.size() > capacity_) {
      queue_.pop_front();
      ++dropped_;
    }
  }

  void unsubscribe() {
    std::lock_guard lock(mu_);
    subscribed_ = false;
    queue_.clear();
    dropped_ = 0;
    ++epoch_;
    cv_.notify_all();
  }

  Result<std::string> next(std::int64_t timeout_ms) {
    std::unique_lock lock(mu_);
    if (!subscribed_) return Status(Code::unavailable, "not subscribed to events");
    const auto epoch = epoch_;
    if (timeout_ms > 0 && queue_.empty()) {
      cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                   [&] { return !queue_.empty() || epoch_ != epoch || !subscribed_; });
    }
    if (epoch_ != epoch || !subscribed_) return Status(Code::unavailable, "events unsubscribed");
    json::JsonWriter w;
    w.begin_object().key("events").begin_array();
    for (const auto& e : queue_) w.raw(e);
    w.end_array();
    w.field("dropped", static_cast<std::int64_t>(dropped_));
    w.end_object();
    queue_.clear();
    dropped_ = 0;
    return std::move(w).take();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<CallbackSlot> callback_;
  bool subscribed_ = false;
  std::size_t capacity_ = 1;
  std::deque<std::string> queue_;
  std::uint64_t dropped_ = 0;
  std::uint64_t epoch_ = 0;
};

}  // namespace
}  // namespace babysea::capi

// Declared first, destroyed last: the runtime (and with it the engine and its
// workers) goes before the hub, so no event is delivered into a dead hub.
struct babysea_engine {
  babysea::capi::EventHub events;
  std::unique_ptr<babysea::Runtime> runtime;
  babysea::Engine* engine = nullptr;
};

namespace babysea::capi {
namespace {

using json::JsonWriter;
using json::Value;

Status null_engine() { return null_argument("engine"); }

Result<Principal> principal_for(babysea_engine* h, const char* api_key, bool rate_limit = true) {
  BABYSEA_RETURN_IF_ERROR(text_argument(api_key, "api_key"));
  auto principal = h->engine->authenticate(api_key);
  if (!principal.ok()) return principal;
  if (rate_limit) BABYSEA_RETURN_IF_ERROR(h->engine->acquire(*principal));
  return principal;
}

void write_scopes(JsonWriter& w, ScopeSet scopes) {
  w.begin_array();
  for (std::uint32_t bit = 1; bit <= ScopeSet::kAllBits; bit <<= 1) {
    if ((scopes.bits() & bit) != 0) w.value(scope_name(static_cast<Scope>(bit)));
  }
  w.end_array();
}

void write_key_info(JsonWriter& w, const ApiKeyInfo& k) {
  w.field("id", k.id);
  w.field("account", k.account);
  w.key("scopes");
  write_scopes(w, k.scopes);
  w.field("region", k.region);
  w.field("name", k.name);
  w.field("prefix", k.prefix);
  w.field("created_ms", k.created_ms);
  w.field("expires_ms", k.expires_ms);
  w.field("last_used_ms", k.last_used_ms);
  w.field("revoked_ms", k.revoked_ms);
}

void write_credits(JsonWriter& w, std::string_view name, Micros micros) {
  w.field(name, format_credits(micros));
  w.field(std::string(name) + "_micros", static_cast<std::int64_t>(micros));
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

std::string_view stripe_effect_name(StripeEffect e) {
  switch (e) {
    case StripeEffect::granted: return "granted";
    case StripeEffect::clawed_back: return "clawed_back";
    case StripeEffect::no_effect: return "no_effect";
    case StripeEffect::duplicate: return "duplicate";
  }
  return "unknown";
}

Status unknown_key(std::string_view what, std::string_view key) {
  return Status(Code::invalid_request, std::string(what) + ": unknown key " + std::string(key),
                {FieldIssue{std::string(key), "unknown_field", "unknown field"}});
}

Status wrong_type(std::string_view what, std::string_view key, std::string_view type) {
  return Status(Code::invalid_request, std::string(what) + ": " + std::string(key) + " must be " + std::string(type),
                {FieldIssue{std::string(key), "invalid_type", std::string(key) + " must be " + std::string(type)}});
}

// Runs `fn(handle)` for an engine call (refusing a NULL handle).
template <typename Fn>
int engine_call(babysea_engine_t* engine, char** out, Fn&& fn) noexcept {
  if (engine == nullptr) {
    if (out != nullptr) *out = nullptr;
    return fail(nullptr, out, null_engine());
  }
  return guarded(engine, out, [&]() -> Result<std::string> { return fn(engine); });
}

// For calls that must produce output: `out` must not be NULL.
template <typename Fn>
int engine_query(babysea_engine_t* engine, char** out, Fn&& fn) noexcept {
  if (out == nullptr) return fail(engine, nullptr, null_argument("out"));
  return engine_call(engine, out, std::forward<Fn>(fn));
}

std::string generation_page_json(const GenerationPage& page) {
  JsonWriter w;
  w.begin_object().key("generations").begin_array();
  for (const auto& g : page.generations) w.raw(generation_json(g));
  w.end_array();
  w.field("total", page.total);
  w.field("limit", page.limit);
  w.field("offset", page.offset);
  w.end_object();
  return std::move(w).take();
}

Result<EstimateParams> estimate_params(const char* params_json) {
  auto parsed = parse_object_arg(params_json, "params_json", true);
  if (!parsed.ok()) return parsed.status();
  EstimateParams p;
  for (const auto& m : parsed->object) {
    const Value& v = m.second;
    if (m.first == "count") {
      if (!v.is_integer()) return wrong_type("params_json", m.first, "an integer");
      p.count = v.integer;
    } else if (m.first == "duration") {
      if (!v.is_integer()) return wrong_type("params_json", m.first, "an integer");
      p.duration_seconds = v.integer;
    } else if (m.first == "resolution") {
      if (!v.is_string()) return wrong_type("params_json", m.first, "a string");
      p.resolution = v.string;
    } else if (m.first == "audio") {
      if (!v.is_bool()) return wrong_type("params_json", m.first, "a boolean");
      p.audio = v.boolean;
    } else {
      return unknown_key("params_json", m.first);
    }
  }
  return p;
}

Result<SubmitOptions> submit_options(const char* options_json) {
  auto parsed = parse_object_arg(options_json, "options_json", true);
  if (!parsed.ok()) return parsed.status();
  SubmitOptions o;
  for (const auto& m : parsed->object) {
    const Value& v = m.second;
    if (m.first == "type") {
      if (!v.is_string()) return wrong_type("options_json", m.first, "a string");
      if (v.string == "image") {
        o.expected_type = ModelType::image;
      } else if (v.string == "video") {
        o.expected_type = ModelType::video;
      } else {
        return Status(Code::invalid_request, "options_json: type must be \"image\" or \"video\"",
                      {FieldIssue{"type", "unsupported_value", "type must be image or video"}});
      }
    } else if (m.first == "wait_for_ack_ms") {
      if (!v.is_integer() || v.integer < 0 || v.integer > 600'000) {
        return wrong_type("options_json", m.first, "an integer in 0..600000");
      }
      o.wait_for_ack = std::chrono::milliseconds(v.integer);
    } else {
      return unknown_key("options_json", m.first);
    }
  }
  return o;
}

// Headers as {"name":"value"} or [["name","value"],...]; `store` owns the text.
Status parse_headers(const char* headers_json, std::vector<std::pair<std::string, std::string>>& store) {
  if (headers_json == nullptr || *headers_json == '\0') return Status();
  auto parsed = json::parse_strict(headers_json);
  if (!parsed.ok()) {
    return Status(Code::invalid_request, "headers_json: " + std::string(parsed.status().message()));
  }
  if (parsed->is_object()) {
    for (const auto& m : parsed->object) {
      if (!m.second.is_string()) return wrong_type("headers_json", m.first, "a string");
      store.emplace_back(m.first, m.second.string);
    }
    return Status();
  }
  if (parsed->is_array()) {
    for (const auto& item : parsed->array) {
      if (!item.is_array() || item.array.size() != 2 || !item.array[0].is_string() || !item.array[1].is_string()) {
        return Status(Code::invalid_request, "headers_json: each header must be a [name, value] pair of strings");
      }
      store.emplace_back(item.array[0].string, item.array[1].string);
    }
    return Status();
  }
  return Status(Code::invalid_request, "headers_json must be a JSON object or array");
}

struct IssueArgs {
  ScopeSet scopes = kFullAccess;
  std::string name;
  std::int64_t expires_ms = 0;
};

Result<IssueArgs> issue_args(const char* request_json) {
  auto parsed = parse_object_arg(request_json, "request_json", true);
  if (!parsed.ok()) return parsed.status();
  IssueArgs a;
  for (const auto& m : parsed->object) {
    const Value& v = m.second;
    if (m.first == "scopes") {
      std::string text;
      if (v.is_string()) {
        text = v.string;
      } else if (v.is_array()) {
        for (const auto& s : v.array) {
          if (!s.is_string()) return wrong_type("request_json", m.first, "a string or an array of strings");
          if (!text.empty()) text += ',';
          text += s.string;
        }
      } else {
        return wrong_type("request_json", m.first, "a string or an array of strings");
      }
      auto scopes = parse_scopes(text);
      if (!scopes.ok()) return scopes.status();
      a.scopes = *scopes;
    } else if (m.first == "name") {
      if (!v.is_string()) return wrong_type("request_json", m.first, "a string");
      a.name = v.string;
    } else if (m.first == "expires_ms") {
      if (!v.is_integer() || v.integer < 0) return wrong_type("request_json", m.first, "a non-negative integer");
      a.expires_ms = v.integer;
    } else {
      return unknown_key("request_json", m.first);
    }
  }
  return a;
}

std::string_view signing_name(WebhookSigning s) {
  switch (s) {
    case WebhookSigning::babysea: return "babysea";
    case WebhookSigning::standard_webhooks: return "standard_webhooks";
    case WebhookSigning::both: return "both";
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
  w.key("events").begin_array();
  for (std::string_view e : endpoint_events(r)) w.value(e);
  w.end_array();
  w.field("enabled", r.enabled);
  w.field("disabled_reason", r.disabled_reason);
  w.field("created_ms", r.created_ms);
  w.field("updated_ms", r.updated_ms);
  w.end_object();
}

Result<WebhookEndpointSpec> endpoint_spec(const char* spec_json) {
  auto parsed = parse_object_arg(spec_json, "spec_json", false);
  if (!parsed.ok()) return parsed.status();
  WebhookEndpointSpec spec;
  for (const auto& m : parsed->object) {
    const Value& v = m.second;
    if (m.first == "url") {
      if (!v.is_string()) return wrong_type("spec_json", m.first, "a string");
      spec.url = v.string;
    } else if (m.first == "secret") {
      if (!v.is_string()) return wrong_type("spec_json", m.first, "a string");
      spec.secret = v.string;
    } else if (m.first == "signing") {
      if (v.is_string() && v.string == "babysea") {
        spec.signing = WebhookSigning::babysea;
      } else if (v.is_string() && v.string == "standard_webhooks") {
        spec.signing = WebhookSigning::standard_webhooks;
      } else if (v.is_string() && v.string == "both") {
        spec.signing = WebhookSigning::both;
      } else {
        return wrong_type("spec_json", m.first, "\"babysea\", \"standard_webhooks\" or \"both\"");
      }
    } else if (m.first == "events") {
      if (!v.is_array()) return wrong_type("spec_json", m.first, "an array of strings");
      for (const auto& e : v.array) {
        if (!e.is_string()) return wrong_type("spec_json", m.first, "an array of strings");
        spec.events.push_back(e.string);
      }
    } else {
      return unknown_key("spec_json", m.first);
    }
  }
  if (spec.url.empty()) {
    return Status(Code::invalid_request, "spec_json: url is required", {FieldIssue{"url", "required", "is required"}});
  }
  return spec;
}

// Required text arguments: non-NULL, valid UTF-8.
Status require(const char* p, std::string_view what) { return text_argument(p, what); }

}  // namespace
}  // namespace babysea::capi

using babysea::Code;
using babysea::Result;
using babysea::Status;
using babysea::capi::engine_call;
using babysea::capi::engine_query;
using babysea::capi::require;
using babysea::json::JsonWriter;

namespace babysea::capi {
namespace {

// Builds the handle; `engine` receives it on success.
Result<std::string> open_engine(const char* config_json, babysea_engine_t** engine) {
  BABYSEA_RETURN_IF_ERROR(require(config_json, "config_json"));
  auto runtime = babysea::Runtime::open(config_json);
  if (!runtime.ok()) return runtime.status();
  if (!(*runtime)->has_engine()) return Status(Code::invalid_request, "the configuration builds no engine");
  auto handle = std::make_unique<babysea_engine>();
  handle->runtime = std::move(runtime).value();
  handle->engine = &handle->runtime->engine();
  auto* hub = &handle->events;
  handle->engine->set_event_callback([hub](const babysea::LifecycleEvent& e) { hub->deliver(e); });
  *engine = handle.release();
  return std::string("{}");
}

}  // namespace
}  // namespace babysea::capi

extern "C" {

int babysea_engine_create(const char* config_json, babysea_engine_t** engine) {
  if (engine == nullptr) {
    return babysea::capi::fail(nullptr, nullptr, babysea::capi::null_argument("engine (the output handle)"));
  }
  *engine = nullptr;
  return babysea::capi::guarded(nullptr, nullptr, [&] { return babysea::capi::open_engine(config_json, engine); });
}

int babysea_engine_open(const char* config_json, babysea_engine_t** engine, char** out) {
  if (engine == nullptr) {
    return babysea::capi::fail(nullptr, out, babysea::capi::null_argument("engine (the output handle)"));
  }
  *engine = nullptr;
  return babysea::capi::guarded(nullptr, out, [&] { return babysea::capi::open_engine(config_json, engine); });
}

void babysea_engine_destroy(babysea_engine_t* engine) {
  if (engine == nullptr) return;
  try {
    engine->events.unsubscribe();
    engine->runtime.reset();  // stops the dispatcher and the engine's workers
    delete engine;            // the hub last: the callback's destroy runs here
  } catch (...) {
    // Nothing sensible to report from a destructor path; the handle is gone.
  }
}

int babysea_engine_set_event_callback(babysea_engine_t* engine, babysea_event_fn fn, void* user_data,
                                      void (*destroy)(void* user_data)) {
  if (engine == nullptr) {
    if (destroy != nullptr) destroy(user_data);
    return babysea::capi::fail(nullptr, nullptr, babysea::capi::null_engine());
  }
  // Allocate before anything else so a failure can still call destroy once.
  std::shared_ptr<babysea::capi::CallbackSlot> slot;
  try {
    if (fn != nullptr) slot = std::make_shared<babysea::capi::CallbackSlot>(fn, user_data, destroy);
  } catch (...) {
    if (destroy != nullptr) destroy(user_data);
    return babysea::capi::fail(engine, nullptr, Status(Code::internal, "out of memory"));
  }
  if (fn == nullptr && destroy != nullptr) destroy(user_data);  // nothing to keep
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    h->events.set_callback(std::move(slot));
    return std::string();
  });
}

int babysea_events_subscribe(babysea_engine_t* engine, size_t capacity) {
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    if (capacity == 0 || capacity > (1u << 20)) {
      return Status(Code::invalid_request, "capacity must be in 1..1048576");
    }
    h->events.subscribe(capacity);
    return std::string();
  });
}

int babysea_events_next(babysea_engine_t* engine, int64_t timeout_ms, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    if (timeout_ms < 0) return Status(Code::invalid_request, "timeout_ms must be >= 0");
    return h->events.next(timeout_ms);
  });
}

int babysea_events_unsubscribe(babysea_engine_t* engine) {
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    h->events.unsubscribe();
    return std::string();
  });
}

int babysea_authenticate(babysea_engine_t* engine, const char* api_key, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    auto p = babysea::capi::principal_for(h, api_key, /*rate_limit=*/false);
    if (!p.ok()) return p.status();
    JsonWriter w;
    w.begin_object();
    w.field("account", p->account);
    w.field("key_id", p->key_id);
    w.key("scopes");
    babysea::capi::write_scopes(w, p->scopes);
    w.field("region", p->region);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_generation_submit(babysea_engine_t* engine, const char* api_key, const char* model,
                              const char* params_json, const char* idempotency_key, const char* options_json,
                              char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    BABYSEA_RETURN_IF_ERROR(require(model, "model"));
    BABYSEA_RETURN_IF_ERROR(require(params_json, "params_json"));
    if (idempotency_key != nullptr) BABYSEA_RETURN_IF_ERROR(require(idempotency_key, "idempotency_key"));
    auto options = babysea::capi::submit_options(options_json);
    if (!options.ok()) return options.status();
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto r = h->engine->submit(*p, model, params_json, idempotency_key == nullptr ? "" : idempotency_key, *options);
    if (!r.ok()) return r.status();
    JsonWriter w;
    w.begin_object();
    w.field("replayed", r->replayed);
    w.key("data");
    if (r->response_json.empty()) {
      w.null();
    } else {
      w.raw(r->response_json);
    }
    w.key("generation").raw(babysea::generation_json(r->generation));
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_generation_get(babysea_engine_t* engine, const char* api_key, const char* generation_id, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    BABYSEA_RETURN_IF_ERROR(require(generation_id, "generation_id"));
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto g = h->engine->get(*p, generation_id);
    if (!g.ok()) return g.status();
    return babysea::generation_json(*g);
  });
}

int babysea_generation_list(babysea_engine_t* engine, const char* api_key, int64_t limit, int64_t offset,
                            char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto page = h->engine->list(*p, limit, offset);
    if (!page.ok()) return page.status();
    return babysea::capi::generation_page_json(*page);
  });
}

int babysea_generation_cancel(babysea_engine_t* engine, const char* api_key, const char* generation_id,
                              char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    BABYSEA_RETURN_IF_ERROR(require(generation_id, "generation_id"));
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto r = h->engine->cancel(*p, generation_id);
    if (!r.ok()) return r.status();
    JsonWriter w;
    w.begin_object();
    w.field("generation_id", r->generation_id);
    w.field("generation_status", "canceled");
    w.field("provider_cancel_sent", r->provider_cancel_sent);
    w.field("credits_refunded", r->credits_refunded);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_generation_delete(babysea_engine_t* engine, const char* api_key, const char* generation_id,
                              char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    BABYSEA_RETURN_IF_ERROR(require(generation_id, "generation_id"));
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto r = h->engine->remove(*p, generation_id);
    if (!r.ok()) return r.status();
    JsonWriter w;
    w.begin_object();
    w.field("generation_id", r->generation_id);
    w.field("files_deleted", static_cast<std::uint64_t>(r->files_deleted));
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_estimate(babysea_engine_t* engine, const char* api_key, const char* model, const char* params_json,
                     char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    BABYSEA_RETURN_IF_ERROR(require(model, "model"));
    auto params = babysea::capi::estimate_params(params_json);
    if (!params.ok()) return params.status();
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto e = h->engine->estimate(*p, model, std::move(params).value());
    if (!e.ok()) return e.status();
    return babysea::estimate_json(*e);
  });
}

int babysea_usage(babysea_engine_t* engine, const char* api_key, int64_t days, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(api_key, "api_key"));
    auto p = babysea::capi::principal_for(h, api_key);
    if (!p.ok()) return p.status();
    auto u = h->engine->usage(*p, days);
    if (!u.ok()) return u.status();
    return babysea::usage_json(*u);
  });
}

int babysea_provider_callback(babysea_engine_t* engine, const char* provider, const char* headers_json,
                              const void* body, size_t body_len, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(provider, "provider"));
    if (body == nullptr && body_len != 0) return babysea::capi::null_argument("body");
    std::vector<std::pair<std::string, std::string>> owned;
    BABYSEA_RETURN_IF_ERROR(babysea::capi::parse_headers(headers_json, owned));
    std::vector<babysea::CallbackHeader> headers;
    headers.reserve(owned.size());
    for (const auto& [name, value] : owned) headers.push_back({name, value});
    std::string_view raw(body == nullptr ? "" : static_cast<const char*>(body), body_len);
    auto r = h->engine->handle_provider_callback(provider, headers, raw);
    if (!r.ok()) return r.status();
    JsonWriter w;
    w.begin_object();
    w.field("applied", r->applied);
    w.field("generation_id", r->generation_id);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_stripe_event(babysea_engine_t* engine, const char* signature_header, const void* body,
                         size_t body_len, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(signature_header, "signature_header"));
    if (body == nullptr && body_len != 0) return babysea::capi::null_argument("body");
    std::string_view raw(body == nullptr ? "" : static_cast<const char*>(body), body_len);
    auto r = h->runtime->handle_stripe_webhook(signature_header, raw);
    if (!r.ok()) return r.status();
    JsonWriter w;
    w.begin_object();
    w.field("event_id", r->event_id);
    w.field("type", r->type);
    w.field("effect", babysea::capi::stripe_effect_name(r->effect));
    w.field("account", r->account);
    babysea::capi::write_credits(w, "amount", r->amount);
    babysea::capi::write_credits(w, "shortfall", r->shortfall);
    w.field("detail", r->detail);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_account_create(babysea_engine_t* engine, const char* account, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    BABYSEA_RETURN_IF_ERROR(h->runtime->create_account(account));
    JsonWriter w;
    w.begin_object().field("account", account).end_object();
    return std::move(w).take();
  });
}

int babysea_api_key_issue(babysea_engine_t* engine, const char* account, const char* request_json, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    auto args = babysea::capi::issue_args(request_json);
    if (!args.ok()) return args.status();
    auto k = h->runtime->issue_api_key(account, args->scopes, args->name, args->expires_ms);
    if (!k.ok()) return k.status();
    JsonWriter w;
    w.begin_object();
    w.field("key", k->key);
    babysea::capi::write_key_info(w, k->info);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_api_key_list(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    auto keys = h->runtime->list_api_keys(account);
    if (!keys.ok()) return keys.status();
    JsonWriter w;
    w.begin_object().key("keys").begin_array();
    for (const auto& k : *keys) {
      w.begin_object();
      babysea::capi::write_key_info(w, k);
      w.end_object();
    }
    w.end_array().end_object();
    return std::move(w).take();
  });
}

int babysea_api_key_revoke(babysea_engine_t* engine, const char* account, const char* key_id, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    BABYSEA_RETURN_IF_ERROR(require(key_id, "key_id"));
    BABYSEA_RETURN_IF_ERROR(h->runtime->revoke_api_key(account, key_id));
    JsonWriter w;
    w.begin_object().field("key_id", key_id).field("revoked", true).end_object();
    return std::move(w).take();
  });
}

int babysea_credits_grant(babysea_engine_t* engine, const char* account, const char* amount, const char* key,
                          char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    BABYSEA_RETURN_IF_ERROR(require(amount, "amount"));
    if (key != nullptr) BABYSEA_RETURN_IF_ERROR(require(key, "key"));
    auto micros = babysea::parse_credits(amount);
    if (!micros.ok()) return micros.status();
    auto g = h->runtime->grant_credits(account, *micros, key == nullptr ? "" : key);
    if (!g.ok()) return g.status();
    JsonWriter w;
    w.begin_object();
    w.field("entry_id", g->entry.seq);
    w.field("account", g->entry.credit_account);
    babysea::capi::write_credits(w, "amount", g->entry.amount);
    w.field("key", g->entry.idem_key);
    w.field("replayed", g->replayed);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_credits_balance(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    auto b = h->runtime->balance(account);
    if (!b.ok()) return b.status();
    JsonWriter w;
    w.begin_object();
    w.field("account", b->account);
    babysea::capi::write_credits(w, "available", b->available());
    babysea::capi::write_credits(w, "posted", b->posted());
    babysea::capi::write_credits(w, "pending", b->pending_debits);
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_credits_statement(babysea_engine_t* engine, const char* account, int64_t limit, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    if (limit < 1 || limit > 1000) return Status(Code::invalid_request, "limit must be in 1..1000");
    auto s = h->runtime->statement(account, static_cast<std::size_t>(limit));
    if (!s.ok()) return s.status();
    JsonWriter w;
    w.begin_object();
    w.field("account", account);
    w.key("entries").begin_array();
    for (const auto& e : *s) {
      w.begin_object();
      w.field("id", e.entry.seq);
      w.field("kind", babysea::capi::entry_kind_name(e.entry.kind));
      w.field("debit", e.entry.debit_account);
      w.field("credit", e.entry.credit_account);
      babysea::capi::write_credits(w, "amount", e.entry.amount);
      babysea::capi::write_credits(w, "delta", e.delta);
      w.field("hold_id", e.entry.hold_id);
      w.field("ref", e.entry.ref);
      w.field("created_ms", e.entry.created_ms);
      w.end_object();
    }
    w.end_array().end_object();
    return std::move(w).take();
  });
}

int babysea_webhook_endpoint_create(babysea_engine_t* engine, const char* account, const char* spec_json,
                                    char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    auto spec = babysea::capi::endpoint_spec(spec_json);
    if (!spec.ok()) return spec.status();
    auto row = h->runtime->webhook_endpoints().create(account, std::move(spec).value());
    if (!row.ok()) return row.status();
    JsonWriter w;
    babysea::capi::write_endpoint(w, *row, /*with_secret=*/true);
    return std::move(w).take();
  });
}

int babysea_webhook_endpoint_list(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    auto rows = h->runtime->webhook_endpoints().list(account);
    if (!rows.ok()) return rows.status();
    JsonWriter w;
    w.begin_object().key("endpoints").begin_array();
    for (const auto& r : *rows) babysea::capi::write_endpoint(w, r, /*with_secret=*/false);
    w.end_array().end_object();
    return std::move(w).take();
  });
}

int babysea_webhook_endpoint_set_enabled(babysea_engine_t* engine, const char* account, const char* endpoint_id,
                                         int enabled, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    BABYSEA_RETURN_IF_ERROR(require(endpoint_id, "endpoint_id"));
    auto& endpoints = h->runtime->webhook_endpoints();
    BABYSEA_RETURN_IF_ERROR(enabled != 0 ? endpoints.enable(account, endpoint_id)
                                         : endpoints.disable(account, endpoint_id));
    JsonWriter w;
    w.begin_object().field("id", endpoint_id).field("enabled", enabled != 0).end_object();
    return std::move(w).take();
  });
}

int babysea_webhook_endpoint_test(babysea_engine_t* engine, const char* account, const char* endpoint_id,
                                  char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(require(account, "account"));
    BABYSEA_RETURN_IF_ERROR(require(endpoint_id, "endpoint_id"));
    auto id = h->runtime->webhook_endpoints().send_test(account, endpoint_id);
    if (!id.ok()) return id.status();
    if (auto* d = h->runtime->webhook_dispatcher()) d->notify();
    JsonWriter w;
    w.begin_object().field("delivery_id", *id).end_object();
    return std::move(w).take();
  });
}

int babysea_ledger_audit(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    auto a = h->runtime->audit();
    if (!a.ok()) return a.status();
    JsonWriter w;
    w.begin_object();
    w.field("clean", a->clean());
    w.key("violations").begin_array();
    for (const auto& v : a->violations) w.value(v.to_string());
    w.end_array();
    w.field("accounts", static_cast<std::uint64_t>(a->accounts));
    w.field("entries", static_cast<std::uint64_t>(a->entries));
    w.field("holds", static_cast<std::uint64_t>(a->holds));
    w.field("pending_holds", static_cast<std::uint64_t>(a->pending_holds));
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_health(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> {
    auto health = h->engine->health();
    JsonWriter w;
    w.begin_object();
    w.field("healthy", health.healthy);
    w.key("providers").raw(babysea::health_providers_json(health));
    w.key("models").raw(babysea::health_models_json(health));
    w.end_object();
    return std::move(w).take();
  });
}

int babysea_metrics_text(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Result<std::string> { return h->engine->metrics_text(); });
}

int babysea_engine_run_due(babysea_engine_t* engine, int64_t* steps) {
  if (steps != nullptr) *steps = 0;
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    auto n = h->engine->run_due();
    if (!n.ok()) return n.status();
    if (auto* d = h->runtime->webhook_dispatcher()) d->notify();
    if (steps != nullptr) *steps = static_cast<int64_t>(*n);
    return std::string();
  });
}

int babysea_engine_drain(babysea_engine_t* engine) {
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    h->engine->drain();
    return std::string();
  });
}

}  // extern "C"
