// The engine handle of the C ABI: a babysea::Runtime (the whole deployment
// from one JSON config), the service layer over it, and the event fan-out to
// the host's callback and to the pull queue. Every entry point only marshals
// its arguments into a service call (babysea/service.hpp) and runs behind
// capi::guarded; the documents are the service's, the same as the HTTP
// server's bodies.
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
#include "babysea/engine.hpp"
#include "babysea/runtime.hpp"
#include "babysea/service.hpp"
#include "babysea/status.hpp"
#include "babysea/webhook_delivery.hpp"
#include "capi_internal.hpp"
#include "json/strict.hpp"
#include "service/object_reader.hpp"
#include "service/render.hpp"

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
      std::string text = render::event(e);
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
    std::string doc = render::event_batch({queue_.begin(), queue_.end()}, dropped_);
    queue_.clear();
    dropped_ = 0;
    return doc;
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
  std::unique_ptr<babysea::Service> service;
};

namespace babysea::capi {
namespace {

using json::Value;

// Runs `fn(handle)` for an engine call (refusing a NULL handle).
template <typename Fn>
int engine_call(babysea_engine_t* engine, char** out, Fn&& fn) noexcept {
  if (engine == nullptr) {
    if (out != nullptr) *out = nullptr;
    return fail(nullptr, out, null_argument("engine"));
  }
  return guarded(engine, out, [&] { return fn(engine); });
}

// For calls that must produce output: `out` must not be NULL.
template <typename Fn>
int engine_query(babysea_engine_t* engine, char** out, Fn&& fn) noexcept {
  if (out == nullptr) return fail(engine, nullptr, null_argument("out"));
  return engine_call(engine, out, std::forward<Fn>(fn));
}

// Required text arguments: non-NULL, valid UTF-8.
Status require(const char* p, std::string_view what) { return text_argument(p, what); }
std::string_view text(const char* p) { return p == nullptr ? std::string_view() : std::string_view(p); }

// An API call with the raw key `api_key`.
Call keyed(const char* api_key) {
  Call c;
  c.api_key = text(api_key);
  return c;
}

// {"type": "image"|"video", "wait_for_ack_ms": 0..600000} → the operation and the wait.
Status read_submit_options(const char* options_json, Operation& op, Call& c) {
  auto doc = service::parse_object(text(options_json), "options_json", true);
  if (!doc.ok()) return doc.status();
  service::ReadErrors errors("options_json");
  service::ObjectReader in(&*doc, "", errors);
  std::string type;
  std::int64_t wait_ms = 0;
  in.str("type", type);
  in.integer("wait_for_ack_ms", wait_ms, 0, 600'000);
  in.finish();
  BABYSEA_RETURN_IF_ERROR(errors.status());
  if (!type.empty() && type != "image" && type != "video")
    return Status(Code::invalid_request, "options_json: type must be \"image\" or \"video\"",
                  {FieldIssue{"type", "unsupported_value", "type must be image or video"}});
  op = type == "image" ? Operation::generate_image : type == "video" ? Operation::generate_video : Operation::generate;
  c.wait_for_ack_ms = wait_ms;
  return Status();
}

// A JSON scalar as the text a query string would carry.
Result<std::string> query_text(const Value& v, std::string_view key) {
  if (v.is_string()) return v.string;
  if (v.is_integer()) return std::to_string(v.integer);
  if (v.is_bool()) return std::string(v.boolean ? "true" : "false");
  return Status(Code::invalid_request, std::string(key) + " must be a string, an integer or a boolean",
                {FieldIssue{std::string(key), "type", "expected a string, an integer or a boolean"}});
}

// An object of parameters ({"count": 2, "audio": true}) as query pairs.
Status read_query(const Value* v, std::string_view what, Call& c) {
  if (v == nullptr) return Status();
  if (!v->is_object()) return Status(Code::invalid_request, std::string(what) + " must be a JSON object");
  for (const auto& m : v->object) {
    auto t = query_text(m.second, m.first);
    if (!t.ok()) return t.status();
    c.query.emplace_back(m.first, std::move(t).value());
  }
  return Status();
}

// Headers as {"name":"value"} or [["name","value"],...].
Status parse_headers(const char* headers_json, std::vector<std::pair<std::string, std::string>>& store) {
  if (headers_json == nullptr || *headers_json == '\0') return Status();
  auto parsed = json::parse_strict(headers_json);
  if (!parsed.ok()) return Status(Code::invalid_request, "headers_json: " + std::string(parsed.status().message()));
  if (parsed->is_object()) {
    for (const auto& m : parsed->object) {
      if (!m.second.is_string())
        return Status(Code::invalid_request, "headers_json: " + m.first + " must be a string",
                      {FieldIssue{m.first, "type", "expected a string"}});
      store.emplace_back(m.first, m.second.string);
    }
    return Status();
  }
  if (parsed->is_array()) {
    for (const auto& item : parsed->array) {
      if (!item.is_array() || item.array.size() != 2 || !item.array[0].is_string() || !item.array[1].is_string())
        return Status(Code::invalid_request, "headers_json: each header must be a [name, value] pair of strings");
      store.emplace_back(item.array[0].string, item.array[1].string);
    }
    return Status();
  }
  return Status(Code::invalid_request, "headers_json must be a JSON object or array");
}

// An API operation on one generation of the caller's (get, cancel, delete).
int on_generation(babysea_engine_t* engine, const char* api_key, const char* generation_id, Operation op,
                  char** out) noexcept {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(api_key, "api_key");
    if (s.ok()) s = require(generation_id, "generation_id");
    if (!s.ok()) return h->service->error(s);
    Call c = keyed(api_key);
    c.path_param = generation_id;
    return h->service->call(op, c);
  });
}

// Builds the handle; `engine` receives it on success.
Result<std::string> open_engine(const char* config_json, babysea_engine_t** engine) {
  BABYSEA_RETURN_IF_ERROR(require(config_json, "config_json"));
  auto runtime = Runtime::open(config_json);
  if (!runtime.ok()) return runtime.status();
  if (!(*runtime)->has_engine()) return Status(Code::invalid_request, "the configuration builds no engine");
  auto handle = std::make_unique<babysea_engine>();
  handle->runtime = std::move(runtime).value();
  handle->service = std::make_unique<Service>(*handle->runtime);
  auto* hub = &handle->events;
  handle->runtime->engine().set_event_callback([hub](const LifecycleEvent& e) { hub->deliver(e); });
  *engine = handle.release();
  return std::string("{}");
}

}  // namespace
}  // namespace babysea::capi

using babysea::Call;
using babysea::Code;
using babysea::Operation;
using babysea::Reply;
using babysea::Result;
using babysea::Status;
using babysea::capi::engine_call;
using babysea::capi::engine_query;
using babysea::capi::keyed;
using babysea::capi::require;
using babysea::capi::text;

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
    engine->service.reset();
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
    return babysea::capi::fail(nullptr, nullptr, babysea::capi::null_argument("engine"));
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
    if (capacity == 0 || capacity > (1u << 20)) return Status(Code::invalid_request, "capacity must be in 1..1048576");
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
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(api_key, "api_key"); !s.ok()) return h->service->error(s);
    return h->service->authenticate(api_key);
  });
}

int babysea_generation_submit(babysea_engine_t* engine, const char* api_key, const char* model,
                              const char* params_json, const char* idempotency_key, const char* options_json,
                              char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Call c = keyed(api_key);
    Operation op = Operation::generate;
    Status s = require(api_key, "api_key");
    if (s.ok()) s = require(model, "model");
    if (s.ok()) s = require(params_json, "params_json");
    if (s.ok() && idempotency_key != nullptr) s = require(idempotency_key, "idempotency_key");
    if (s.ok()) s = babysea::capi::read_submit_options(options_json, op, c);
    if (!s.ok()) return h->service->error(s);
    c.path_param = model;
    c.body = params_json;
    if (idempotency_key != nullptr) c.idempotency_key.push_back(idempotency_key);
    return h->service->call(op, c);
  });
}

int babysea_generation_get(babysea_engine_t* engine, const char* api_key, const char* generation_id, char** out) {
  return babysea::capi::on_generation(engine, api_key, generation_id, Operation::content_get, out);
}

int babysea_generation_list(babysea_engine_t* engine, const char* api_key, int64_t limit, int64_t offset,
                            char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(api_key, "api_key"); !s.ok()) return h->service->error(s);
    Call c = keyed(api_key);
    c.query = {{"limit", std::to_string(limit)}, {"offset", std::to_string(offset)}};
    return h->service->call(Operation::content_list, c);
  });
}

int babysea_generation_cancel(babysea_engine_t* engine, const char* api_key, const char* generation_id,
                              char** out) {
  return babysea::capi::on_generation(engine, api_key, generation_id, Operation::content_cancel, out);
}

int babysea_generation_delete(babysea_engine_t* engine, const char* api_key, const char* generation_id,
                              char** out) {
  return babysea::capi::on_generation(engine, api_key, generation_id, Operation::content_delete, out);
}

int babysea_estimate(babysea_engine_t* engine, const char* api_key, const char* model, const char* params_json,
                     char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Call c = keyed(api_key);
    Status s = require(api_key, "api_key");
    if (s.ok()) s = require(model, "model");
    if (s.ok()) {
      auto params = babysea::service::parse_object(text(params_json), "params_json", true);
      s = params.ok() ? babysea::capi::read_query(&*params, "params_json", c) : params.status();
    }
    if (!s.ok()) return h->service->error(s);
    c.path_param = model;
    return h->service->call(Operation::estimate, c);
  });
}

int babysea_usage(babysea_engine_t* engine, const char* api_key, int64_t days, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(api_key, "api_key"); !s.ok()) return h->service->error(s);
    Call c = keyed(api_key);
    c.query = {{"days", std::to_string(days)}};
    return h->service->call(Operation::usage, c);
  });
}

int babysea_api_call(babysea_engine_t* engine, const char* api_key, const char* operation, const char* args_json,
                     char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Call c = keyed(api_key);
    Status s = require(api_key, "api_key");
    if (s.ok()) s = require(operation, "operation");
    std::optional<Operation> op;
    if (s.ok() && !(op = babysea::operation_named(operation)))
      s = Status(Code::invalid_request, "unknown operation " + std::string(operation),
                 {babysea::FieldIssue{"operation", "unsupported_value", "not an operation name"}});
    auto args = s.ok() ? babysea::service::parse_object(text(args_json), "args_json", true)
                       : Result<babysea::json::Value>(s);
    std::string body;
    if (s.ok() && !args.ok()) s = args.status();
    if (s.ok()) {
      for (const auto& m : args->object) {
        const auto& v = m.second;
        if (m.first == "path_param" && v.is_string()) {
          c.path_param = v.string;
        } else if (m.first == "query") {
          s = babysea::capi::read_query(&v, "args_json.query", c);
        } else if (m.first == "body" && v.is_object()) {
          body = babysea::json::to_json(v);
        } else if (m.first == "idempotency_key" && v.is_string()) {
          c.idempotency_key.push_back(v.string);
        } else {
          s = Status(Code::invalid_request, "args_json: unexpected member " + m.first,
                     {babysea::FieldIssue{m.first, "unknown_key", "path_param (string), query (object), body "
                                                                  "(object) or idempotency_key (string)"}});
        }
        if (!s.ok()) break;
      }
    }
    if (!s.ok()) return h->service->error(s);
    c.body = body;
    if (*op == Operation::generate_image || *op == Operation::generate_video || *op == Operation::generate)
      c.wait_for_ack_ms = 0;
    return h->service->call(*op, c);
  });
}

int babysea_provider_callback(babysea_engine_t* engine, const char* provider, const char* headers_json,
                              const void* body, size_t body_len, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    std::vector<std::pair<std::string, std::string>> headers;
    Status s = require(provider, "provider");
    if (s.ok() && body == nullptr && body_len != 0) s = babysea::capi::null_argument("body");
    if (s.ok()) s = babysea::capi::parse_headers(headers_json, headers);
    if (!s.ok()) return h->service->error(s);
    return h->service->provider_callback(provider, headers,
                                         std::string_view(body == nullptr ? "" : static_cast<const char*>(body), body_len));
  });
}

int babysea_stripe_event(babysea_engine_t* engine, const char* signature_header, const void* body,
                         size_t body_len, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(signature_header, "signature_header");
    if (s.ok() && body == nullptr && body_len != 0) s = babysea::capi::null_argument("body");
    if (!s.ok()) return h->service->error(s);
    return h->service->stripe_event(signature_header,
                                    std::string_view(body == nullptr ? "" : static_cast<const char*>(body), body_len));
  });
}

int babysea_account_create(babysea_engine_t* engine, const char* account, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->account_create(account);
  });
}

int babysea_api_key_issue(babysea_engine_t* engine, const char* account, const char* request_json, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->api_key_issue(account, text(request_json));
  });
}

int babysea_api_key_list(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->api_key_list(account);
  });
}

int babysea_api_key_revoke(babysea_engine_t* engine, const char* account, const char* key_id, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(account, "account");
    if (s.ok()) s = require(key_id, "key_id");
    if (!s.ok()) return h->service->error(s);
    return h->service->api_key_revoke(account, key_id);
  });
}

int babysea_credits_grant(babysea_engine_t* engine, const char* account, const char* amount, const char* key,
                          char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(account, "account");
    if (s.ok()) s = require(amount, "amount");
    if (s.ok() && key != nullptr) s = require(key, "key");
    if (!s.ok()) return h->service->error(s);
    return h->service->credits_grant(account, amount, text(key));
  });
}

int babysea_credits_balance(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->credits_balance(account);
  });
}

int babysea_credits_statement(babysea_engine_t* engine, const char* account, int64_t limit, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->credits_statement(account, limit);
  });
}

int babysea_webhook_endpoint_create(babysea_engine_t* engine, const char* account, const char* spec_json,
                                    char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(account, "account");
    if (s.ok()) s = require(spec_json, "spec_json");
    if (!s.ok()) return h->service->error(s);
    return h->service->webhook_endpoint_create(account, std::string_view(spec_json));
  });
}

int babysea_webhook_endpoint_list(babysea_engine_t* engine, const char* account, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    if (Status s = require(account, "account"); !s.ok()) return h->service->error(s);
    return h->service->webhook_endpoint_list(account);
  });
}

int babysea_webhook_endpoint_set_enabled(babysea_engine_t* engine, const char* account, const char* endpoint_id,
                                         int enabled, char** out) {
  return engine_call(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(account, "account");
    if (s.ok()) s = require(endpoint_id, "endpoint_id");
    if (!s.ok()) return h->service->error(s);
    return h->service->webhook_endpoint_set_enabled(account, endpoint_id, enabled != 0);
  });
}

int babysea_webhook_endpoint_test(babysea_engine_t* engine, const char* account, const char* endpoint_id,
                                  char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply {
    Status s = require(account, "account");
    if (s.ok()) s = require(endpoint_id, "endpoint_id");
    if (!s.ok()) return h->service->error(s);
    return h->service->webhook_endpoint_test(account, endpoint_id);
  });
}

int babysea_ledger_audit(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply { return h->service->ledger_audit(); });
}

int babysea_health(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out, [&](babysea_engine* h) -> Reply { return h->service->health(); });
}

int babysea_metrics_text(babysea_engine_t* engine, char** out) {
  return engine_query(engine, out,
                      [&](babysea_engine* h) -> Result<std::string> { return h->runtime->engine().metrics_text(); });
}

int babysea_engine_run_due(babysea_engine_t* engine, int64_t* steps) {
  if (steps != nullptr) *steps = 0;
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    auto n = h->runtime->engine().run_due();
    if (!n.ok()) return n.status();
    if (auto* d = h->runtime->webhook_dispatcher()) d->notify();
    if (steps != nullptr) *steps = static_cast<int64_t>(*n);
    return std::string();
  });
}

int babysea_engine_drain(babysea_engine_t* engine) {
  return engine_call(engine, nullptr, [&](babysea_engine* h) -> Result<std::string> {
    h->runtime->engine().drain();
    return std::string();
  });
}

}  // extern "C"
