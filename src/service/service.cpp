// The service layer (babysea/service.hpp): every host operation once.
#include "babysea/service.hpp"

#include <sodium.h>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <unordered_map>

#include "babysea/engine.hpp"
#include "babysea/ids.hpp"
#include "babysea/money.hpp"
#include "babysea/request_log.hpp"
#include "babysea/runtime.hpp"
#include "babysea/storage.hpp"
#include "babysea/webhook_delivery.hpp"
#include "json/json.hpp"
#include "service/object_reader.hpp"
#include "service/render.hpp"
#include "service/text.hpp"

namespace babysea {

// ------------------------------------------------------------ operations

namespace {

constexpr std::array<OperationInfo, 19> kOperations{{
    {Operation::generate_image, "generate.image", "POST", "/v1/generate/image/{model}", Scope::generation_write},
    {Operation::generate_video, "generate.video", "POST", "/v1/generate/video/{model}", Scope::generation_write},
    {Operation::generate, "generate", "POST", "/v1/generate/{type}/{model}", Scope::generation_write},
    {Operation::content_get, "content.get", "GET", "/v1/content/{id}", Scope::generation_read},
    {Operation::content_list, "content.list", "GET", "/v1/content/list", Scope::generation_read},
    {Operation::content_cancel, "content.cancel", "POST", "/v1/content/generation/cancel/{id}",
     Scope::generation_delete},
    {Operation::content_delete, "content.delete", "DELETE", "/v1/content/{id}", Scope::generation_delete},
    {Operation::estimate, "estimate", "GET", "/v1/estimate/{model}", Scope::library_read},
    {Operation::status, "status", "GET", "/v1/status", Scope::account_read},
    {Operation::usage, "usage", "GET", "/v1/usage", Scope::account_read},
    {Operation::account, "user.account", "GET", "/v1/user/account", Scope::account_read},
    {Operation::billing, "user.billing", "GET", "/v1/user/billing", Scope::account_read},
    {Operation::library_models, "library.models", "GET", "/v1/library/models", Scope::library_read},
    {Operation::library_providers, "library.providers", "GET", "/v1/library/providers", Scope::library_read},
    {Operation::health_providers, "health.providers", "GET", "/v1/health/inference/providers", Scope::health_read},
    {Operation::health_models, "health.models", "GET", "/v1/health/inference/models", Scope::health_read},
    {Operation::health_storage, "health.storage", "GET", "/v1/health/storage", Scope::health_read},
    {Operation::health_cache, "health.cache", "GET", "/v1/health/cache", Scope::health_read},
    {Operation::openai_images, "openai.images", "POST", "/v1/images/generations", Scope::generation_write},
}};

constexpr bool operations_in_enum_order() {
  for (std::size_t i = 0; i < kOperations.size(); ++i)
    if (static_cast<std::size_t>(kOperations[i].op) != i) return false;
  return true;
}
static_assert(operations_in_enum_order(), "kOperations is indexed by Operation");

}  // namespace

std::span<const OperationInfo> operations() noexcept { return kOperations; }

const OperationInfo& operation_info(Operation op) noexcept { return kOperations[static_cast<std::size_t>(op)]; }

std::optional<Operation> operation_named(std::string_view name) noexcept {
  for (const auto& o : kOperations)
    if (o.name == name) return o.op;
  return std::nullopt;
}

// --------------------------------------------------------------- context

namespace {

// A generation that failed before the create answer (api.md §8.2).
Status failed_at_create(const GenerationView& g) {
  std::vector<FieldIssue> tried;
  for (const auto& a : g.attempts)
    tried.push_back(FieldIssue{a.provider, a.error_kind.empty() ? "provider_error" : a.error_kind,
                               a.error_message.empty() ? "the provider failed" : a.error_message});
  const std::string message = g.error.empty() ? "every provider failed" : g.error;
  return Status(Code::providers_failed, "generation " + g.id + " failed: " + message, std::move(tried));
}

// What one operation produced before rendering.
struct Answer {
  std::string message;
  std::string data;  // rendered document
  std::optional<render::Paging> paging;
  int http_status = 200;
  bool replayed = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

// An OpenAI-compatible call waiting for its generation's terminal state.
struct OpenAiWait {
  std::string generation_id;
  std::string response_format;  // "url" or "b64_json"
  std::string prompt;           // echoed as revised_prompt
};

// One call in flight.
struct Ctx {
  std::int64_t now_ms = 0;
  std::string request_id;
};

Ctx new_ctx(const Clock& clock) {
  Ctx c;
  c.now_ms = clock.now_ms();
  c.request_id = "req_" + new_id(c.now_ms);
  return c;
}

Reply success_reply(const Ctx& ctx, Answer a) {
  Reply r;
  r.http_status = a.http_status;
  r.request_id = ctx.request_id;
  r.replayed = a.replayed;
  r.message = a.message;
  r.headers = std::move(a.headers);
  r.body = render::success_document(ctx.request_id, ctx.now_ms, a.message, a.data, a.paging);
  return r;
}

// The BSE code and status of a Status; the route/model mismatch (issue code
// "route_mismatch") is BSE2006 (api.md decisions).
WireError wire_error_of(const Status& s) {
  if (s.code() == Code::invalid_request && !s.issues().empty() && s.issues().front().code == "route_mismatch")
    return {400, "BSE2006"};
  return wire_error(s.code());
}

Reply error_reply(const Ctx& ctx, const Status& s, int override_status = 0, std::string_view override_type = {}) {
  const WireError k = wire_error_of(s);
  Reply r;
  r.http_status = override_status != 0 ? override_status : k.http;
  r.code = s.ok() ? Code::internal : s.code();
  r.request_id = ctx.request_id;
  r.error_code = k.bse;
  r.message = render::is_internal(s.code()) ? "internal error" : std::string(s.message());
  r.body = render::error_document(ctx.request_id, ctx.now_ms, s, k.bse, override_type);
  return r;
}

// OpenAI's error shape for a Status (the OpenAI-compatible route).
Reply openai_error_reply(const Ctx& ctx, const Status& s) {
  const WireError k = wire_error_of(s);
  const std::string message = render::is_internal(s.code()) ? "internal error" : std::string(s.message());
  std::string_view type = "invalid_request_error";
  std::string_view code = code_name(s.code());
  std::string param;
  switch (s.code()) {
    case Code::unauthenticated: code = "invalid_api_key"; break;
    case Code::forbidden: type = "permission_error"; break;
    case Code::rate_limited:
      type = "requests";
      code = "rate_limit_exceeded";
      break;
    case Code::insufficient_credits:
      type = "insufficient_quota";
      code = "insufficient_quota";
      break;
    case Code::model_not_found:
      code = "model_not_found";
      param = "model";
      break;
    default:
      if (k.http >= 500) type = "server_error";
  }
  if (param.empty() && !s.issues().empty()) param = s.issues().front().field;
  Reply r;
  r.http_status = k.http;
  r.code = s.ok() ? Code::internal : s.code();
  r.request_id = ctx.request_id;
  r.error_code = k.bse;
  r.message = message;
  r.body = render::openai_error(type, code, message, param);
  return r;
}

// A refusal the OpenAI-compatible route makes itself, in OpenAI's shape, with
// its own `code` ("invalid_size", "missing_prompt", ...).
Reply openai_refusal_reply(const Ctx& ctx, int http, std::string_view code, std::string_view message,
                           std::string_view param) {
  Reply r;
  r.http_status = http;
  r.code = http == 415 ? Code::unsupported_media_type : http == 404 ? Code::model_not_found : Code::invalid_request;
  r.request_id = ctx.request_id;
  r.error_code = render::generic_bse(http);
  r.message = std::string(message);
  r.body = render::openai_error("invalid_request_error", code, message, param);
  return r;
}

// Whether the body's media type is acceptable: exactly one Content-Type, JSON
// in UTF-8, when the door asks for the check (HTTP).
bool media_ok(const Call& c) {
  return !c.check_media_type || (c.content_type.size() == 1 && text::json_media_type(c.content_type.front()));
}

std::optional<std::string_view> query(const Call& c, std::string_view name) {
  for (const auto& [k, v] : c.query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

// An integer query parameter within [min, max]; `issue` names the range.
Status int_param(const Call& c, std::string_view name, std::int64_t min, std::int64_t max, std::int64_t& out,
                 std::string_view range_text) {
  auto v = query(c, name);
  if (!v) return Status();
  auto n = text::parse_int(*v);
  if (!n || *n < min || *n > max) {
    const std::string message = "must be " + std::string(range_text);
    return Status(Code::invalid_request, std::string(name) + " " + message,
                  {FieldIssue{std::string(name), "out_of_range", message}});
  }
  out = *n;
  return Status();
}

bool safe_component(std::string_view s, bool allow_dot) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> read_file(const std::filesystem::path& p, std::size_t max_bytes = std::size_t{256} << 20) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return std::nullopt;
  const auto size = std::filesystem::file_size(p, ec);
  if (ec || size > max_bytes) return std::nullopt;
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  std::string data(size, '\0');
  const std::size_t got = size == 0 ? 0 : std::fread(data.data(), 1, size, f);
  std::fclose(f);
  if (got != size) return std::nullopt;
  return data;
}

std::string content_type_for(std::string_view file) {
  const auto dot = file.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view() : file.substr(dot + 1);
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "webp") return "image/webp";
  if (ext == "gif") return "image/gif";
  if (ext == "mp4") return "video/mp4";
  if (ext == "webm") return "video/webm";
  if (ext == "mov") return "video/quicktime";
  return "application/octet-stream";
}

// The path of an absolute URL ("" for the root), without a trailing '/'.
std::string url_path(std::string_view url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return {};
  std::string p(u->encoded_path());
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

// ------------------------------------------------------------------ Impl

struct Service::Impl {
  explicit Impl(Runtime& r) : rt(r), assets_prefix(url_path(r.assets_public_base_url())) {}

  Runtime& rt;
  const std::string assets_prefix;

  Engine& engine() { return rt.engine(); }

  Result<Principal> authenticate(const Call& c) {
    if (c.api_key) return rt.api_keys().authenticate(*c.api_key);
    if (c.authorization.size() == 1) return rt.api_keys().authenticate_bearer(c.authorization.front());
    return invalid_api_key();
  }

  // The stored file behind an output URL of this deployment, if it is one.
  std::optional<std::string> stored_output(std::string_view url) {
    std::string base = rt.assets_public_base_url();
    while (!base.empty() && base.back() == '/') base.pop_back();
    const std::string_view plain = url.substr(0, url.find_first_of("?#"));  // a signed link
    if (base.empty() || plain.substr(0, base.size() + 1) != base + "/") return std::nullopt;
    return file_at(plain.substr(base.size() + 1));
  }

  // `<generation>/<file>` under the asset directory, both parts safe.
  std::optional<std::string> file_at(std::string_view rel) {
    const auto slash = rel.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const auto gen = rel.substr(0, slash), file = rel.substr(slash + 1);
    if (!safe_component(gen, false) || !safe_component(file, true) || file.front() == '.') return std::nullopt;
    return read_file(std::filesystem::path(rt.assets_directory()) / std::string(gen) / std::string(file));
  }

  // ------------------------------------------------ calls waiting on the engine
  // The calls waiting for a generation's milestone (Engine::watch), so
  // close() can answer them and ~Service never leaves a watch behind that
  // would call into it. A wait is answered exactly once: by its watch, or by
  // close() when it takes the watch out first.
  struct Wait {
    WatchId watch = 0;
    bool fired = false;                           // its watch is answering it
    std::function<void(Result<GenerationView>)> answer;
  };
  std::mutex waits_mu;
  std::condition_variable waits_cv;
  std::unordered_map<std::uint64_t, Wait> waits;  // by serial
  std::uint64_t next_wait = 1;
  int registering = 0;  // engine.watch() calls in progress
  bool closed = false;

  // Calls `answer` once with the generation when `id` reaches `milestone`,
  // or as it stands after `timeout`, or an error (unavailable once closed).
  void wait_for(const Principal& p, const std::string& id, Milestone milestone, std::chrono::milliseconds timeout,
                std::function<void(Result<GenerationView>)> answer);
  // Answers a submitted generation: `render` of it as submitted when `now`,
  // else of it once it reaches `milestone` (or as it stands after
  // `timeout`). The Idempotency-Key's claim is held until the reply is
  // rendered, and released before `finish` sends it (a concurrent duplicate
  // meanwhile is BSE2016, api.md §5; a retry after the answer replays).
  void answer_when(const Principal& p, SubmitOutcome out, bool now, Milestone milestone,
                   std::chrono::milliseconds timeout, std::function<Reply(Result<GenerationView>)> render,
                   std::function<void(Reply)> finish);
  void close();

  // ------------------------------------------------------------ the routes
  // The submit of generate_*, without waiting: the generation as accepted.
  Result<SubmitOutcome> submit_generation(Operation op, const Principal& p, const Call& c);
  void generate(Operation op, const Ctx& ctx, const Principal& p, const Call& c, std::function<void(Reply)> finish);
  Result<Answer> content_list(const Principal& p, const Call& c);
  Result<Answer> estimate(const Principal& p, const Call& c);
  Result<Answer> usage(const Principal& p, const Call& c);
  Result<Answer> status(const Principal& p);
  Result<Answer> account(const Principal& p);
  Result<Answer> health_storage();
  Result<Answer> route(Operation op, const Principal& p, const Call& c);
  void openai_images(const Ctx& ctx, const Principal& p, const Call& c, std::function<void(Reply)> finish);
  Reply openai_answer(const Ctx& ctx, const Principal& p, const OpenAiWait& w, Result<GenerationView> g);

  // An operator call: `fn` returns the data document.
  Reply operate(std::string_view message, const std::function<Result<std::string>()>& fn) {
    const Ctx ctx = new_ctx(rt.clock());
    Result<std::string> data = fn();
    if (!data.ok()) return error_reply(ctx, data.status());
    Answer a;
    a.message = std::string(message);
    a.data = std::move(data).value();
    return success_reply(ctx, std::move(a));
  }
};

Result<SubmitOutcome> Service::Impl::submit_generation(Operation op, const Principal& p, const Call& c) {
  const std::string& model = c.path_param;
  const Model* m = rt.catalog()->find(model);
  std::optional<ModelType> type;
  if (op == Operation::generate_image) type = ModelType::image;
  if (op == Operation::generate_video) type = ModelType::video;
  if (m && type && m->type != *type) {
    const std::string t(model_type_name(m->type));
    return Status(Code::invalid_request,
                  model + (m->type == ModelType::image ? " is an " : " is a ") + t + " model; use the " + t + " route",
                  {FieldIssue{"model_identifier", "route_mismatch", "model type does not match the route"}});
  }
  std::string_view idem;
  if (!c.idempotency_key.empty()) {
    if (c.idempotency_key.size() != 1 || !valid_idempotency_key(c.idempotency_key.front()))
      return Status(Code::invalid_request, "invalid Idempotency-Key",
                    {FieldIssue{"Idempotency-Key", "invalid_format", "1-255 characters of A-Z a-z 0-9 _ - : ."}});
    idem = c.idempotency_key.front();
  }
  if (!c.body.empty() && !media_ok(c))
    return Status(Code::unsupported_media_type, "Content-Type must be application/json (charset utf-8 if any)");
  SubmitOptions so;
  so.expected_type = type;
  so.keep_key_claim = true;  // held through the create wait (see generate)
  return engine().submit(p, model, c.body.empty() ? std::string_view("{}") : c.body, idem, so);
}

namespace {

// The create answer for a generation as it stands (api.md §8.2):
//  - failed within the create wait: the error envelope with one
//    provider_errors item per provider tried, under the record's own code
//    (the record stays readable);
//  - acknowledged (or terminal): 200 "Generation created";
//  - not yet acknowledged by a provider: 202 "Generation accepted" with
//    generation_prediction_id "" (the record carries it once known);
//  - a replay: 200 "Generation replayed".
Result<Answer> created_answer(const GenerationView& g, bool replayed) {
  if (g.status == GenerationStatus::failed) return failed_at_create(g);
  Answer a;
  a.replayed = replayed;
  const bool pending = g.prediction_id.empty() && g.status != GenerationStatus::canceled &&
                       (g.status == GenerationStatus::pending || g.status == GenerationStatus::processing);
  a.message = replayed ? std::string(kReplayedMessage) : pending ? "Generation accepted" : "Generation created";
  a.http_status = pending && !replayed ? 202 : 200;
  a.data = render::create_response(g);
  return a;
}

bool acknowledged(const GenerationView& g) { return !g.prediction_id.empty() || is_terminal(g.status); }

}  // namespace

void Service::Impl::generate(Operation op, const Ctx& ctx, const Principal& p, const Call& c,
                             std::function<void(Reply)> finish) {
  auto out = submit_generation(op, p, c);
  if (!out.ok()) return finish(error_reply(ctx, out.status()));
  auto reply = [ctx](const GenerationView& g, bool replayed) {
    Result<Answer> a = created_answer(g, replayed);
    return a.ok() ? success_reply(ctx, std::move(a).value()) : error_reply(ctx, a.status());
  };
  const auto wait = std::chrono::milliseconds(c.wait_for_ack_ms.value_or(rt.server_settings().create_wait_ms));
  // The create wait: bounded, for the first provider's acknowledgement, on
  // no thread (the engine's watch answers it), and only where something in
  // the background can acknowledge (not when the host drives the work).
  const bool now = out->replayed || wait.count() <= 0 || acknowledged(out->generation) || !engine().works_in_background();
  auto render = [reply, accepted = out->generation, replayed = out->replayed](Result<GenerationView> g) {
    return reply(g.ok() ? *g : accepted, replayed);
  };
  answer_when(p, std::move(out).value(), now, Milestone::acknowledged, wait, std::move(render), std::move(finish));
}

void Service::Impl::answer_when(const Principal& p, SubmitOutcome out, bool now, Milestone milestone,
                                std::chrono::milliseconds timeout,
                                std::function<Reply(Result<GenerationView>)> render,
                                std::function<void(Reply)> finish) {
  auto answer = [render = std::move(render), finish = std::move(finish),
                 claim = std::move(out.key_claim)](Result<GenerationView> g) mutable {
    Reply r = render(std::move(g));
    claim.reset();
    finish(std::move(r));
  };
  if (now) return answer(std::move(out.generation));
  wait_for(p, out.generation.id, milestone, timeout, std::move(answer));
}

void Service::Impl::wait_for(const Principal& p, const std::string& id, Milestone milestone,
                             std::chrono::milliseconds timeout, std::function<void(Result<GenerationView>)> answer) {
  std::uint64_t serial = 0;
  {
    std::lock_guard lock(waits_mu);
    if (!closed) {
      serial = next_wait++;
      waits.emplace(serial, Wait{0, false, std::move(answer)});
      ++registering;
    }
  }
  if (serial == 0) return answer(Status(Code::unavailable, "the service is closing"));
  const WatchId watch = engine().watch(p, id, milestone, timeout, [this, serial](Result<GenerationView> g) {
    std::function<void(Result<GenerationView>)> fn;
    {
      std::lock_guard lock(waits_mu);
      auto it = waits.find(serial);
      if (it == waits.end()) return;  // close() answered it
      it->second.fired = true;
      fn = std::move(it->second.answer);  // the only copy: what it holds ends with it
    }
    fn(std::move(g));
    std::lock_guard lock(waits_mu);
    waits.erase(serial);
    waits_cv.notify_all();
  });
  std::lock_guard lock(waits_mu);
  if (auto it = waits.find(serial); it != waits.end()) it->second.watch = watch;
  --registering;
  waits_cv.notify_all();
}

void Service::Impl::close() {
  std::vector<Wait> open;
  {
    std::unique_lock lock(waits_mu);
    closed = true;
    waits_cv.wait(lock, [this] { return registering == 0; });
    for (auto it = waits.begin(); it != waits.end();) {
      // A wait whose watch is not firing and can be taken out is answered
      // here; the others are being answered by their watch.
      if (!it->second.fired && engine().unwatch(it->second.watch)) {
        open.push_back(std::move(it->second));
        it = waits.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : open) w.answer(Status(Code::unavailable, "the server is stopping"));
  std::unique_lock lock(waits_mu);
  waits_cv.wait(lock, [this] { return waits.empty(); });
}

Result<Answer> Service::Impl::content_list(const Principal& p, const Call& c) {
  std::int64_t limit = 50, offset = 0;
  BABYSEA_RETURN_IF_ERROR(int_param(c, "limit", 1, 100, limit, "an integer 1..100"));
  BABYSEA_RETURN_IF_ERROR(int_param(c, "offset", 0, std::int64_t{1} << 40, offset, "a non-negative integer"));
  auto page = engine().list(p, limit, offset);
  if (!page.ok()) return page.status();
  Answer a;
  a.message = "Generations listed";
  a.data = render::generation_list(*page);
  a.paging = render::Paging{page->total, page->limit, page->offset};
  return a;
}

Result<Answer> Service::Impl::estimate(const Principal& p, const Call& c) {
  EstimateParams ep;
  std::vector<FieldIssue> issues;
  if (auto v = query(c, "count")) {
    auto n = text::parse_int(*v);
    if (!n || *n < 1 || *n > 1000)
      issues.push_back({"count", "out_of_range", "must be an integer 1..1000"});
    else
      ep.count = *n;
  }
  if (auto v = query(c, "duration")) {
    auto n = text::parse_int(*v);
    if (!n || *n < 1 || *n > 3600)
      issues.push_back({"duration", "out_of_range", "must be an integer number of seconds"});
    else
      ep.duration_seconds = *n;
  }
  if (auto v = query(c, "resolution")) ep.resolution = std::string(*v);
  if (auto v = query(c, "audio")) {
    if (*v == "true")
      ep.audio = true;
    else if (*v == "false")
      ep.audio = false;
    else
      issues.push_back({"audio", "invalid_type", "must be true or false"});
  }
  if (!issues.empty()) return Status(Code::invalid_request, "invalid estimate parameters", issues);
  if (auto b = rt.ledger().balance(p.account); b.ok()) ep.balance = b->available();
  auto e = engine().estimate(p, c.path_param, ep);
  if (!e.ok()) return e.status();
  Answer a;
  a.message = "Estimate computed";
  a.data = render::estimate(*e);
  return a;
}

Result<Answer> Service::Impl::usage(const Principal& p, const Call& c) {
  std::int64_t days = 30;
  BABYSEA_RETURN_IF_ERROR(int_param(c, "days", 1, 90, days, "an integer 1..90"));
  auto u = engine().usage(p, days);
  if (!u.ok()) return u.status();
  std::optional<Micros> balance;
  if (auto b = rt.ledger().balance(p.account); b.ok()) balance = b->available();
  Answer a;
  a.message = "Usage retrieved";
  a.data = render::usage(*u, p.account, balance);
  return a;
}

Result<Answer> Service::Impl::status(const Principal& p) {
  auto keys = rt.api_keys().list(p.account);
  if (!keys.ok()) return keys.status();
  const ApiKeyInfo* info = nullptr;
  for (const auto& k : *keys)
    if (k.id == p.key_id) info = &k;
  Answer a;
  a.message = "Status retrieved";
  a.data = render::key_status(p, info);
  return a;
}

Result<Answer> Service::Impl::account(const Principal& p) {
  std::int64_t created = 0;
  BABYSEA_RETURN_IF_ERROR(rt.store().read([&](UnitOfWork& u) {
    AccountRow row;
    if (u.ledger().get_account(p.account, row).ok()) created = row.created_ms;
    return Status();
  }));
  Answer a;
  a.message = "Account retrieved";
  a.data = render::account(p.account, created);
  return a;
}

Result<Answer> Service::Impl::health_storage() {
  const auto t0 = std::chrono::steady_clock::now();
  const Status s = rt.store().read([](UnitOfWork& u) {
    AccountRow row;
    const Status g = u.ledger().get_account("system:escrow", row);
    return g.code() == Code::not_found ? Status() : g;
  });
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::error_code ec;
  const bool dir_ok = std::filesystem::is_directory(rt.assets_directory(), ec);
  Answer a;
  a.message = "Storage health";
  a.data = render::health_storage(s.ok() && dir_ok, ms, rt.assets_public_base_url(),
                                  !s.ok()    ? "database unavailable"
                                  : !dir_ok ? "asset directory unavailable"
                                            : "");
  return a;
}

Result<Answer> Service::Impl::route(Operation op, const Principal& p, const Call& c) {
  Answer a;
  switch (op) {
    case Operation::generate_image:
    case Operation::generate_video:
    case Operation::generate: return Status(Code::internal, "generate is answered by Service::call");
    case Operation::content_get: {
      auto g = engine().get(p, c.path_param);
      if (!g.ok()) return g.status();
      a.message = "Generation retrieved";
      a.data = render::generation(*g);
      return a;
    }
    case Operation::content_list: return content_list(p, c);
    case Operation::content_cancel: {
      auto r = engine().cancel(p, c.path_param);
      if (!r.ok()) return r.status();
      a.message = "Generation canceled";
      a.data = render::cancel_receipt(*r);
      return a;
    }
    case Operation::content_delete: {
      auto r = engine().remove(p, c.path_param);
      if (!r.ok()) return r.status();
      a.message = "Generation deleted";
      a.data = render::delete_receipt(*r);
      return a;
    }
    case Operation::estimate: return estimate(p, c);
    case Operation::status: return status(p);
    case Operation::usage: return usage(p, c);
    case Operation::account: return account(p);
    case Operation::billing: {
      auto b = rt.ledger().balance(p.account);
      if (!b.ok() && b.code() != Code::not_found) return b.status();
      a.message = "Billing retrieved";
      a.data = render::billing(p.account, b.ok() ? b->available() : 0);
      return a;
    }
    case Operation::library_models:
      a.message = "Models listed";
      a.data = render::models(*rt.catalog());
      return a;
    case Operation::library_providers:
      a.message = "Providers listed";
      a.data = render::providers(*rt.catalog(), rt.provider_ids());
      return a;
    case Operation::health_providers:
      a.message = "Provider health";
      a.data = render::health_providers(engine().health());
      return a;
    case Operation::health_models:
      a.message = "Model health";
      a.data = render::health_models(engine().health());
      return a;
    case Operation::health_storage: return health_storage();
    case Operation::health_cache:
      a.message = "Cache health";
      a.data = render::health_cache(engine().health().cache);
      return a;
    case Operation::openai_images: break;  // its own shapes: Impl::openai_images
  }
  return Status(Code::internal, "operation without a handler");
}

// ------------------------------------------------------ OpenAI-compatible

void Service::Impl::openai_images(const Ctx& ctx, const Principal& p, const Call& c,
                                  std::function<void(Reply)> finish) {
  auto refuse = [&](int http, std::string_view code, const std::string& message, std::string_view param = {}) {
    return finish(openai_refusal_reply(ctx, http, code, message, param));
  };
  if (!media_ok(c))
    return refuse(415, "unsupported_media_type", "Content-Type must be application/json (charset utf-8 if any)");
  auto body = json::parse_strict(c.body.empty() ? std::string_view("null") : c.body);
  if (!body.ok() || !body->is_object()) return refuse(400, "invalid_json", "request body must be a JSON object");
  const json::Value& doc = *body;
  // A string member: nullopt when absent or null, nullptr-like error when not a string.
  auto str = [&](std::string_view k, bool& wrong) -> std::optional<std::string> {
    const json::Value* v = doc.find(k);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) {
      wrong = true;
      return std::nullopt;
    }
    return v->string;
  };
  bool wrong = false;
  auto prompt = str("prompt", wrong);
  if (wrong || !prompt || prompt->empty()) return refuse(400, "missing_prompt", "prompt is required", "prompt");
  std::string model_id;
  if (auto m = str("model", wrong)) {
    model_id = *m;
  } else if (wrong) {
    return refuse(400, "invalid_type", "model must be a string", "model");
  } else {
    for (const Model& candidate : rt.catalog()->models())
      if (candidate.type == ModelType::image) {
        model_id = candidate.identifier;
        break;
      }
  }
  const Model* model = rt.catalog()->find(model_id);
  if (!model || model->type != ModelType::image)
    return refuse(404, "model_not_found",
                  "The model '" + model_id.substr(0, 200) + "' does not exist or is not an image model", "model");
  std::int64_t n = 1;
  if (const json::Value* v = doc.find("n"); v && !v->is_null()) {
    if (!v->is_integer() || v->integer < 1 || v->integer > 10)
      return refuse(400, "invalid_value", "n must be an integer 1..10", "n");
    n = v->integer;
  }
  std::string response_format = "url";
  if (auto f = str("response_format", wrong); f || wrong) {
    if (wrong || (*f != "url" && *f != "b64_json"))
      return refuse(400, "invalid_value", "response_format must be url or b64_json", "response_format");
    response_format = *f;
  }
  std::optional<std::string> ratio;
  if (auto s = str("size", wrong); (s && *s != "auto") || wrong) {
    const std::string size = s.value_or("");
    const auto x = size.find('x');
    const auto w = x == std::string::npos ? std::nullopt : text::parse_int(std::string_view(size).substr(0, x));
    const auto h = x == std::string::npos ? std::nullopt : text::parse_int(std::string_view(size).substr(x + 1));
    if (!w || !h || *w <= 0 || *h <= 0) return refuse(400, "invalid_size", "size must be WIDTHxHEIGHT", "size");
    const auto g = std::gcd(*w, *h);
    const std::string r = std::to_string(*w / g) + ":" + std::to_string(*h / g);
    const auto& ratios = model->capabilities.ratios;
    if (std::find(ratios.begin(), ratios.end(), r) == ratios.end())
      return refuse(400, "invalid_size", "size " + size + " (ratio " + r + ") is not supported by " + model_id,
                    "size");
    ratio = r;
  }
  std::optional<std::string> format;
  if (auto f = str("output_format", wrong)) format = *f == "jpeg" ? std::string("jpg") : *f;

  json::JsonWriter pw;
  pw.begin_object().field("generation_prompt", *prompt);
  if (ratio) pw.field("generation_ratio", *ratio);
  if (n != 1 || model->capabilities.max_outputs > 1) pw.field("generation_output_number", n);
  if (format) pw.field("generation_output_format", *format);
  pw.end_object();
  const std::string params = std::move(pw).take();

  std::string_view idem;
  if (c.idempotency_key.size() == 1 && valid_idempotency_key(c.idempotency_key.front())) idem = c.idempotency_key.front();
  SubmitOptions so;
  so.expected_type = ModelType::image;
  so.keep_key_claim = true;  // held until the answer is out
  auto out = engine().submit(p, model_id, params, idem, so);
  if (!out.ok()) return finish(openai_error_reply(ctx, out.status()));
  OpenAiWait w{out->generation.id, response_format, *prompt};
  // The answer waits for the terminal state on no thread: the engine's watch
  // answers it (or its deadline, openai_wait_ms).
  const bool now = is_terminal(out->generation.status) || !engine().works_in_background();
  answer_when(p, std::move(out).value(), now, Milestone::terminal,
              std::chrono::milliseconds(rt.server_settings().openai_wait_ms),
              [this, ctx, p, w](Result<GenerationView> g) { return openai_answer(ctx, p, w, std::move(g)); },
              std::move(finish));
}

Reply Service::Impl::openai_answer(const Ctx& ctx, const Principal& p, const OpenAiWait& w, Result<GenerationView> g) {
  if (!g.ok()) return openai_error_reply(ctx, g.status());
  if (!is_terminal(g->status)) {
    (void)engine().cancel(p, w.generation_id);
    Reply r = openai_error_reply(ctx, Status(Code::provider_timeout, "the generation did not finish in time"));
    r.body = render::openai_error("server_error", "timeout", "the generation did not finish in time", "");
    return r;
  }
  if (g->status != GenerationStatus::succeeded) {
    const std::string msg =
        g->error.empty() ? "the generation " + std::string(generation_status_name(g->status)) : g->error;
    Reply r;
    r.http_status = g->status == GenerationStatus::canceled ? 409 : 500;
    r.code = g->status == GenerationStatus::canceled ? Code::canceled : Code::providers_failed;
    r.request_id = ctx.request_id;
    r.error_code = g->error_code.empty() ? render::generic_bse(r.http_status) : g->error_code;
    r.body = render::openai_error("server_error", g->error_code.empty() ? "generation_failed" : g->error_code, msg, "");
    return r;
  }
  std::vector<render::OpenAiImage> images;
  for (const auto& url : g->outputs) {
    render::OpenAiImage img;
    if (w.response_format == "b64_json") {
      auto bytes = stored_output(url);
      if (!bytes) {
        Reply r = openai_error_reply(ctx, Status(Code::internal, "stored output is unavailable"));
        r.body = render::openai_error("server_error", "asset_unavailable", "stored output is unavailable", "");
        return r;
      }
      img.b64_json = text::base64(*bytes);
    } else {
      img.url = url;
    }
    images.push_back(std::move(img));
  }
  Reply r;
  r.request_id = ctx.request_id;
  const std::int64_t created = g->completed_ms > 0 ? g->completed_ms / 1000 : ctx.now_ms / 1000;
  r.body = render::openai_images(created, images, w.prompt);
  r.headers.emplace_back("X-BabySea-Generation-Id", w.generation_id);
  return r;
}

// --------------------------------------------------------------- Service

Service::Service(Runtime& runtime) : impl_(new Impl(runtime)) {}
Service::~Service() {
  impl_->close();
  delete impl_;
}

void Service::close() { impl_->close(); }

Reply Service::call(Operation op, const Call& c) {
  std::promise<Reply> promise;
  std::future<Reply> reply = promise.get_future();
  call_async(op, c, [&promise](Reply r) { promise.set_value(std::move(r)); });
  return reply.get();
}

void Service::call_async(Operation op, const Call& c, std::function<void(Reply)> done) {
  Impl& I = *impl_;
  const auto started = std::chrono::steady_clock::now();
  const Ctx ctx = new_ctx(I.rt.clock());
  if (op == Operation::generate) {  // the model's own type picks the route
    const Model* m = I.rt.catalog()->find(c.path_param);
    op = m && m->type == ModelType::video ? Operation::generate_video : Operation::generate_image;
  }
  const OperationInfo& info = operation_info(op);
  const bool openai = op == Operation::openai_images;
  auto fail = [&](const Status& s) { return openai ? openai_error_reply(ctx, s) : error_reply(ctx, s); };

  Result<Principal> who = I.authenticate(c);
  if (!who.ok()) {
    Reply r = fail(who.status());
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return done(std::move(r));
  }
  const Principal& p = *who;
  RateInfo rate;
  const Status limited = I.engine().acquire(p, &rate);
  if (!limited.ok() && rate.retry_after_s <= 0) rate.retry_after_s = 1;
  // The answer, now or once the call's wait ends: the caller's rate figures
  // and one usage-log row per authenticated call (security.md I13), only
  // enqueued: the log's own thread writes it.
  auto finish = [&I, now_ms = ctx.now_ms, account = p.account, key_id = p.key_id, &info, started, rate,
                 done = std::move(done)](Reply r) {
    r.rate = rate;
    if (RequestLog* log = I.rt.request_log()) {
      RequestLogRow row;
      row.time_ms = now_ms;
      row.account = account;
      row.key_id = key_id;
      row.method = std::string(info.method);
      row.route = std::string(info.route);
      row.status = r.http_status;
      if (r.http_status >= 400)
        row.error_code = r.error_code.empty() ? render::generic_bse(r.http_status) : r.error_code;
      row.latency_us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
      (void)log->record(std::move(row));
    }
    done(std::move(r));
  };
  if (!limited.ok()) return finish(fail(limited));
  if (Status s = require_scope(p, info.scope); !s.ok()) return finish(fail(s));
  if (openai) return I.openai_images(ctx, p, c, std::move(finish));
  if (op == Operation::generate_image || op == Operation::generate_video)
    return I.generate(op, ctx, p, c, std::move(finish));
  Result<Answer> a = I.route(op, p, c);
  finish(a.ok() ? success_reply(ctx, std::move(a).value()) : error_reply(ctx, a.status()));
}

Reply Service::error(const Status& status, int override_status, std::string_view override_type) const {
  return error_reply(new_ctx(impl_->rt.clock()), status, override_status, override_type);
}

Reply Service::acknowledge(std::string_view message) const {
  Answer a;
  a.message = std::string(message);
  a.data = "{}";
  return success_reply(new_ctx(impl_->rt.clock()), std::move(a));
}

Reply Service::openai_refusal(int http_status, std::string_view code, std::string_view message) const {
  return openai_refusal_reply(new_ctx(impl_->rt.clock()), http_status, code, message, "");
}

std::string Service::refusal_body(int http_status, std::string_view type, std::string_view message) {
  const std::int64_t now = SystemClock::instance().now_ms();
  return render::error_document("req_" + new_id(now), now, render::generic_bse(http_status), type, message,
                                http_status >= 500);
}

std::string Service::listening_document(std::string_view host, std::uint16_t port, std::string_view base_url) {
  json::JsonWriter w;
  w.begin_object()
      .field("event", "listening")
      .field("host", host)
      .field("port", static_cast<std::int64_t>(port))
      .field("base_url", base_url)
      .end_object();
  return std::move(w).take();
}

Reply Service::metrics(const std::vector<std::string_view>& authorization) const {
  const std::string& token = impl_->rt.server_settings().metrics_token;
  if (token.empty()) return error(Status(Code::not_found, "no such route"));
  // Compared in constant time over fixed-size digests (the length leaks nothing).
  auto presented = authorization.size() == 1 ? bearer_credential(authorization.front()) : std::nullopt;
  bool match = false;
  if (presented) {
    unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
    crypto_generichash(a, sizeof a, reinterpret_cast<const unsigned char*>(presented->data()), presented->size(),
                       nullptr, 0);
    crypto_generichash(b, sizeof b, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
    match = crypto_verify_32(a, b) == 0;
  }
  if (!match) {
    Reply r = error(Status(Code::unauthenticated, "a valid metrics token is required"));
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"metrics\"");
    return r;
  }
  Reply r;
  r.body = impl_->rt.engine().metrics_text();
  if (const RequestLog* log = impl_->rt.request_log()) r.body += log->metrics_text();
  r.body += render::store_metrics(impl_->rt.store_counters());
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

std::optional<std::string> Service::callback_provider(std::string_view path) const {
  std::string prefix = url_path(impl_->rt.callback_base_url());
  if (impl_->rt.callback_base_url().empty()) return std::nullopt;
  prefix += "/";
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(path.substr(prefix.size()));
}

bool Service::is_asset_path(std::string_view path) const {
  const std::string& prefix = impl_->assets_prefix;
  return !prefix.empty() && path.size() > prefix.size() + 1 && path.substr(0, prefix.size()) == prefix &&
         path[prefix.size()] == '/';
}

Reply Service::asset(std::string_view path, std::optional<std::string_view> expires,
                     std::optional<std::string_view> signature) const {
  Impl& I = *impl_;
  const std::int64_t now = I.rt.clock().now_ms();
  const Status no_file(Code::not_found, "file not found");
  if (!is_asset_path(path)) return error(no_file);
  // Unless assets are public, the link must be signed for this exact path
  // (else the very answer of a missing file: no oracle) and not expired.
  std::string cache_control = "public, max-age=3600";
  if (const AssetUrlSigner* signer = I.rt.asset_url_signer()) {
    const auto check = expires && signature ? signer->verify(path, *expires, *signature, now)
                                            : AssetUrlSigner::Check::invalid;
    if (check == AssetUrlSigner::Check::invalid) return error(no_file);
    if (check == AssetUrlSigner::Check::expired)
      return error(Status(Code::forbidden, "this asset link has expired; fetch the generation again for a fresh link"));
    // Cached privately, never past the link's expiry.
    const std::int64_t left_ms = text::parse_int(*expires).value_or(0) * 1000 - now;
    cache_control = "private, max-age=" + std::to_string(std::max<std::int64_t>(0, left_ms / 1000));
  }
  const std::string_view rel = path.substr(I.assets_prefix.size() + 1);
  auto data = I.file_at(rel);
  if (!data) return error(no_file);
  Reply r;
  r.body = std::move(*data);
  r.content_type = content_type_for(rel);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", cache_control);
  return r;
}

// ---------------------------------------------------------- operator calls

Reply Service::authenticate(std::string_view api_key) {
  return impl_->operate("Authenticated", [&]() -> Result<std::string> {
    auto p = impl_->rt.api_keys().authenticate(api_key);
    if (!p.ok()) return p.status();
    return render::principal(*p);
  });
}

Reply Service::provider_callback(std::string_view provider,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view body) {
  return impl_->operate("Callback received", [&]() -> Result<std::string> {
    if (!safe_component(provider, false)) return Status(Code::not_found, "unknown provider");
    std::vector<CallbackHeader> hs;
    hs.reserve(headers.size());
    for (const auto& [k, v] : headers) hs.push_back(CallbackHeader{k, v});
    auto r = impl_->engine().handle_provider_callback(provider, hs, body);
    if (!r.ok()) return r.status();
    return render::callback_result(*r);
  });
}

Reply Service::stripe_event(std::string_view signature_header, std::string_view body) {
  Reply r = impl_->operate("Stripe event received", [&]() -> Result<std::string> {
    if (body.size() > kStripeMaxBodyBytes) return Status(Code::payload_too_large, "body too large");
    auto o = impl_->rt.handle_stripe_webhook(signature_header, body);
    if (!o.ok()) return o.status();
    return render::stripe_outcome(*o);
  });
  if (r.code == Code::invalid_signature) r.http_status = 400;  // Stripe retries only on 4xx/5xx; 400 is its norm
  return r;
}

Reply Service::account_create(std::string_view account) {
  return impl_->operate("Account created", [&]() -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(impl_->rt.create_account(account));
    return render::account_created(account);
  });
}

Reply Service::api_key_issue(std::string_view account, std::string_view request_json) {
  auto doc = service::parse_object(request_json, "request_json", true);
  if (!doc.ok()) return error(doc.status());
  service::ReadErrors errors("request_json");
  service::ObjectReader in(&*doc, "", errors);
  ApiKeyArgs args;
  in.str_or_strings("scopes", args.scopes, ',');
  in.str("name", args.name);
  in.integer("expires_ms", args.expires_ms, 0, std::int64_t{1} << 52);
  in.finish();
  if (!errors.ok()) return error(errors.status());
  return api_key_issue(account, args);
}

Reply Service::api_key_issue(std::string_view account, const ApiKeyArgs& args) {
  return impl_->operate("API key issued", [&]() -> Result<std::string> {
    auto scopes = parse_scopes(args.scopes);
    if (!scopes.ok()) return scopes.status();
    auto k = impl_->rt.issue_api_key(account, *scopes, args.name, args.expires_ms);
    if (!k.ok()) return k.status();
    return render::issued_key(*k);
  });
}

Reply Service::api_key_list(std::string_view account) {
  return impl_->operate("API keys listed", [&]() -> Result<std::string> {
    auto keys = impl_->rt.list_api_keys(account);
    if (!keys.ok()) return keys.status();
    return render::api_key_list(*keys);
  });
}

Reply Service::api_key_revoke(std::string_view account, std::string_view key_id) {
  return impl_->operate("API key revoked", [&]() -> Result<std::string> {
    BABYSEA_RETURN_IF_ERROR(impl_->rt.revoke_api_key(account, key_id));
    return render::key_revoked(key_id);
  });
}

Reply Service::credits_grant(std::string_view account, std::string_view amount, std::string_view key,
                             std::string_view ref) {
  return impl_->operate("Credits granted", [&]() -> Result<std::string> {
    auto micros = parse_credits(amount);
    if (!micros.ok()) return micros.status();
    auto g = impl_->rt.grant_credits(account, *micros, key, ref);
    if (!g.ok()) return g.status();
    auto b = impl_->rt.balance(account);
    if (!b.ok()) return b.status();
    return render::grant(*g, *b);
  });
}

Reply Service::credits_balance(std::string_view account) {
  return impl_->operate("Balance retrieved", [&]() -> Result<std::string> {
    auto b = impl_->rt.balance(account);
    if (!b.ok()) return b.status();
    return render::balance(*b);
  });
}

Reply Service::credits_statement(std::string_view account, std::int64_t limit) {
  return impl_->operate("Statement retrieved", [&]() -> Result<std::string> {
    if (limit < 1 || limit > 1000)
      return Status(Code::invalid_request, "limit must be in 1..1000",
                    {FieldIssue{"limit", "out_of_range", "must be an integer 1..1000"}});
    auto s = impl_->rt.statement(account, static_cast<std::size_t>(limit));
    if (!s.ok()) return s.status();
    return render::statement(account, *s);
  });
}

namespace {

Result<WebhookSigning> signing_named(std::string_view s) {
  if (s.empty() || s == "babysea") return WebhookSigning::babysea;
  if (s == "standard_webhooks") return WebhookSigning::standard_webhooks;
  if (s == "both") return WebhookSigning::both;
  return Status(Code::invalid_request, "signing must be babysea, standard_webhooks or both",
                {FieldIssue{"signing", "unsupported_value", "must be babysea, standard_webhooks or both"}});
}

}  // namespace

Reply Service::webhook_endpoint_create(std::string_view account, std::string_view spec_json) {
  auto doc = service::parse_object(spec_json, "spec_json", false);
  if (!doc.ok()) return error(doc.status());
  service::ReadErrors errors("spec_json");
  service::ObjectReader in(&*doc, "", errors);
  WebhookEndpointArgs args;
  in.str("url", args.url, /*required=*/true);
  in.str("secret", args.secret);
  in.str("signing", args.signing);
  in.strings("events", args.events);
  in.finish();
  if (!errors.ok()) return error(errors.status());
  return webhook_endpoint_create(account, args);
}

Reply Service::webhook_endpoint_create(std::string_view account, const WebhookEndpointArgs& args) {
  return impl_->operate("Webhook endpoint created", [&]() -> Result<std::string> {
    auto signing = signing_named(args.signing);
    if (!signing.ok()) return signing.status();
    WebhookEndpointSpec spec;
    spec.url = args.url;
    spec.secret = args.secret;
    spec.signing = *signing;
    spec.events = args.events;
    auto row = impl_->rt.webhook_endpoints().create(account, std::move(spec));
    if (!row.ok()) return row.status();
    return render::webhook_endpoint(*row, /*with_secret=*/true);
  });
}

Reply Service::webhook_endpoint_list(std::string_view account) {
  return impl_->operate("Webhook endpoints listed", [&]() -> Result<std::string> {
    auto rows = impl_->rt.webhook_endpoints().list(account);
    if (!rows.ok()) return rows.status();
    return render::webhook_endpoint_list(*rows);
  });
}

Reply Service::webhook_endpoint_set_enabled(std::string_view account, std::string_view endpoint_id, bool enabled) {
  return impl_->operate(enabled ? "Webhook endpoint enabled" : "Webhook endpoint disabled",
                        [&]() -> Result<std::string> {
                          auto& endpoints = impl_->rt.webhook_endpoints();
                          BABYSEA_RETURN_IF_ERROR(enabled ? endpoints.enable(account, endpoint_id)
                                                          : endpoints.disable(account, endpoint_id));
                          return render::webhook_endpoint_enabled(endpoint_id, enabled);
                        });
}

Reply Service::webhook_endpoint_test(std::string_view account, std::string_view endpoint_id) {
  return impl_->operate("Test event queued", [&]() -> Result<std::string> {
    auto id = impl_->rt.webhook_endpoints().send_test(account, endpoint_id);
    if (!id.ok()) return id.status();
    if (auto* d = impl_->rt.webhook_dispatcher()) d->notify();
    return render::webhook_test(*id);
  });
}

Reply Service::ledger_audit() {
  return impl_->operate("Ledger audited", [&]() -> Result<std::string> {
    auto a = impl_->rt.audit();
    if (!a.ok()) return a.status();
    return render::audit(*a);
  });
}

Reply Service::health() {
  return impl_->operate("Health", [&]() -> Result<std::string> { return render::health(impl_->engine().health()); });
}

}  // namespace babysea
