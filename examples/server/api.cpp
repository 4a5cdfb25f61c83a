// api.cpp — the HTTP door of specs/api.md: a route table onto the service
// layer (babysea/service.hpp). Only marshalling lives here: path, query and
// headers into a babysea::Call, the Reply into an HTTP response.
#include "api.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <algorithm>
#include <array>
#include <vector>
#include <optional>

namespace babysea::server {
namespace {

// One API route. A pattern's last segment may be a parameter: `{id}` takes
// one path segment, `{model}` the rest of the path (a model identifier has a
// slash, "bfl/flux-schnell", and is sent unencoded: api.md §1.3).
struct Route {
  std::string_view method;   // GET also answers HEAD
  std::string_view pattern;  // "/v1/content/{id}"
  Operation op;
};

// Table order matters where patterns overlap: /v1/content/list before /v1/content/{id}.
constexpr std::array<Route, 18> kRoutes{{
    {"POST", "/v1/generate/image/{model}", Operation::generate_image},
    {"POST", "/v1/generate/video/{model}", Operation::generate_video},
    {"GET", "/v1/content/list", Operation::content_list},
    {"POST", "/v1/content/generation/cancel/{id}", Operation::content_cancel},
    {"GET", "/v1/content/{id}", Operation::content_get},
    {"DELETE", "/v1/content/{id}", Operation::content_delete},
    {"GET", "/v1/estimate/{model}", Operation::estimate},
    {"GET", "/v1/status", Operation::status},
    {"GET", "/v1/usage", Operation::usage},
    {"GET", "/v1/user/account", Operation::account},
    {"GET", "/v1/user/billing", Operation::billing},
    {"GET", "/v1/library/models", Operation::library_models},
    {"GET", "/v1/library/providers", Operation::library_providers},
    {"GET", "/v1/health/inference/providers", Operation::health_providers},
    {"GET", "/v1/health/inference/models", Operation::health_models},
    {"GET", "/v1/health/storage", Operation::health_storage},
    {"GET", "/v1/health/cache", Operation::health_cache},
    {"POST", "/v1/images/generations", Operation::openai_images},
}};

// Whether `path` matches `pattern`; the parameter's value goes to `param`.
bool match(std::string_view pattern, std::string_view path, std::string& param) {
  const auto brace = pattern.find('{');
  if (brace == std::string_view::npos) return path == pattern;
  const std::string_view prefix = pattern.substr(0, brace);
  if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  const std::string_view rest = path.substr(prefix.size());
  if (pattern.substr(brace) != "{model}" && rest.find('/') != std::string_view::npos) return false;
  param = std::string(rest);
  return true;
}

bool method_matches(std::string_view route_method, std::string_view method) {
  return route_method == method || (route_method == "GET" && method == "HEAD");
}

void add_api_headers(HttpResponse& r, const Reply& reply) {
  if (!reply.request_id.empty()) r.headers.emplace_back("X-Request-Id", reply.request_id);
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  r.headers.emplace_back("Access-Control-Expose-Headers",
                         "Idempotency-Replayed, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
                         "Retry-After, X-Request-Id");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (reply.rate) {
    r.headers.emplace_back("X-RateLimit-Limit", std::to_string(reply.rate->limit));
    r.headers.emplace_back("X-RateLimit-Remaining", std::to_string(reply.rate->remaining));
    r.headers.emplace_back("X-RateLimit-Reset", std::to_string(reply.rate->reset_unix_s));
    if (reply.rate->retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(reply.rate->retry_after_s));
  }
  if (reply.replayed) r.headers.emplace_back("Idempotency-Replayed", "true");
}

// A reply as an API response (JSON document, CORS, request id, rate limits).
HttpResponse api_response(Reply reply) {
  HttpResponse r;
  r.status = reply.http_status;
  r.headers.emplace_back("Content-Type", reply.content_type);
  add_api_headers(r, reply);
  for (auto& h : reply.headers) r.headers.push_back(std::move(h));
  r.body = std::move(reply.body);
  return r;
}

// A reply as a plain resource (an asset file, the metrics text).
HttpResponse resource_response(Reply reply) {
  if (!reply.ok()) return api_response(std::move(reply));
  HttpResponse r;
  r.status = reply.http_status;
  r.headers.emplace_back("Content-Type", reply.content_type);
  for (auto& h : reply.headers) r.headers.push_back(std::move(h));
  r.body = std::move(reply.body);
  return r;
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

}  // namespace

Api::Api(Runtime& runtime, std::optional<Playground> playground)
    : service_(runtime), playground_(std::move(playground)) {}

std::string Api::refusal_body(int status, std::string_view code, std::string_view message) {
  return Service::refusal_body(status, code, message);
}

void Api::close() { service_.close(); }

void Api::handle(const HttpRequest& req, Respond respond) {
  auto parsed = boost::urls::parse_origin_form(req.target);
  if (!parsed) return respond(api_response(service_.error(Status(Code::invalid_request, "malformed request target"))));
  const std::string path(parsed->encoded_path());
  const std::string& method = req.method;

  // CORS preflight: answered without credentials.
  if (method == "OPTIONS") return respond(preflight());
  if (path == "/metrics" && method_matches("GET", method))
    return respond(resource_response(service_.metrics(req.values("Authorization"))));
  if (service_.is_asset_path(path) && method_matches("GET", method)) {
    const auto expires = single_param(parsed->params(), "expires");
    const auto signature = single_param(parsed->params(), "signature");
    Reply r = service_.asset(path, expires ? std::optional<std::string_view>(*expires) : std::nullopt,
                             signature ? std::optional<std::string_view>(*signature) : std::nullopt);
    if (r.ok()) r.headers.emplace_back("Access-Control-Allow-Origin", "*");
    return respond(resource_response(std::move(r)));
  }
  if (playground_ && Playground::owns(path) && method_matches("GET", method)) {
    if (auto page = playground_->serve(path)) return respond(std::move(*page));
    HttpResponse missing = api_response(service_.error(Status(Code::not_found, "no such playground file")));
    Playground::add_security_headers(missing);
    return respond(std::move(missing));
  }
  if (method == "POST") {
    if (auto provider = service_.callback_provider(path)) return respond(provider_callback(*provider, req));
    if (path == "/v1/webhooks/stripe") {
      const std::string* sig = req.header("Stripe-Signature");
      return respond(api_response(service_.stripe_event(sig ? std::string_view(*sig) : std::string_view(), req.body)));
    }
  }
  route(path, *parsed, req, std::move(respond));
}

HttpResponse Api::preflight() {
  HttpResponse r = api_response(service_.acknowledge("ok"));
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  r.headers.emplace_back("Access-Control-Allow-Headers",
                         "Authorization, Content-Type, Idempotency-Key, X-BabySea-SDK-Name, X-BabySea-SDK-Version, "
                         "X-BabySea-SDK-Runtime, X-BabySea-SDK-Runtime-Version");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

HttpResponse Api::provider_callback(const std::string& provider, const HttpRequest& req) {
  return api_response(service_.provider_callback(provider, req.headers, req.body));
}

void Api::route(const std::string& path, const boost::urls::url_view& url, const HttpRequest& req, Respond respond) {
  // The routes whose pattern matches; a literal path hides the parameter
  // patterns it also matches (/v1/content/list is never content {id}).
  std::vector<const Route*> hits;
  std::string param;
  for (const Route& r : kRoutes)
    if (match(r.pattern, path, param)) hits.push_back(&r);
  if (std::any_of(hits.begin(), hits.end(), [](const Route* r) { return r->pattern.find('{') == std::string_view::npos; }))
    std::erase_if(hits, [](const Route* r) { return r->pattern.find('{') != std::string_view::npos; });
  if (hits.empty()) return respond(api_response(service_.error(Status(Code::not_found, "no such route"))));
  for (const Route* r : hits) {
    if (!method_matches(r->method, req.method)) continue;
    Call call;
    match(r->pattern, path, call.path_param);
    call.authorization = req.values("Authorization");
    call.idempotency_key = req.values("Idempotency-Key");
    call.content_type = req.values("Content-Type");
    call.check_media_type = true;
    call.body = req.body;
    for (auto p : url.params()) call.query.emplace_back(std::string(p.key), std::string(p.has_value ? p.value : ""));
    return service_.call_async(r->op, call,
                               [respond = std::move(respond)](Reply reply) { respond(api_response(std::move(reply))); });
  }
  std::string allow;
  for (const Route* r : hits) allow += (allow.empty() ? "" : ", ") + std::string(r->method);
  const Status s(Code::invalid_request, "method not allowed on this route");
  Reply r = hits.front()->op == Operation::openai_images ? service_.openai_refusal(405, "method_not_allowed", s.message())
                                                         : service_.error(s, 405, "method_not_allowed");
  r.headers.emplace_back("Allow", allow);
  respond(api_response(std::move(r)));
}

}  // namespace babysea::server
