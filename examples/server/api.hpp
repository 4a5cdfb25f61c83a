// api.hpp — the public HTTP API of specs/api.md over a babysea Runtime.
//
// `Api::handle` maps one parsed request onto the engine: BabySea REST routes
// (envelopes, BSE error codes, Idempotency-Key / Idempotency-Replayed,
// X-RateLimit-* and Retry-After, X-Request-Id), provider callbacks under the
// path of callback_base_url, the Stripe webhook (POST /v1/webhooks/stripe),
// /metrics, the asset files under the path of the assets public base URL
// (only through a valid signed link for the exact path unless assets.public:
// a missing or bad signature answers like a missing file, 404; an expired
// one 403), and the OpenAI-compatible POST /v1/images/generations.
//
// Every request that passes authentication, whatever it then answers (429,
// 403, any later error), leaves one usage-log row (Runtime::request_log:
// route template, status, BSE code, latency), enqueued without waiting;
// requests refused before authentication leave none (security.md I13).
//
// Thread safety: handle() is safe to call concurrently.
#pragma once

#include <string>
#include <string_view>

#include "babysea/runtime.hpp"
#include "http_server.hpp"

namespace babysea::server {

// How an error Code answers over HTTP: the status and the BSE code of
// specs/api.md §1.5. Every Code is mapped deliberately (client errors 4xx,
// transient ones 503); only internal failures (internal, storage_error,
// corruption) answer 500.
struct HttpErrorClass {
  int http;
  const char* bse;
};
HttpErrorClass http_error_class(Code code);

class Api {
 public:
  // Borrows `runtime` (REQUIRES: runtime.has_engine()), which must outlive it.
  explicit Api(Runtime& runtime);
  HttpResponse handle(const HttpRequest& request);
  // The JSON body of a protocol refusal (BabySea error envelope).
  static std::string refusal_body(int status, std::string_view code, std::string_view message);

 private:
  // Answers the request; fills `log_row` (time, account, key id, route
  // template, BSE code) once the caller is authenticated, and leaves
  // log_row.account empty otherwise.
  HttpResponse dispatch(const HttpRequest& request, RequestLogRow& log_row);
  Runtime& rt_;
  std::string callback_prefix_;  // path of callback_base_url, no trailing '/'
  std::string assets_prefix_;    // path of assets.public_base_url, no trailing '/'
};

}  // namespace babysea::server
