// api.hpp — the public HTTP API of specs/api.md over a babysea Runtime.
//
// `Api::handle` maps one parsed request onto the engine: BabySea REST routes
// (envelopes, BSE error codes, Idempotency-Key / Idempotency-Replayed,
// X-RateLimit-* and Retry-After, X-Request-Id), provider callbacks under the
// path of callback_base_url, the Stripe webhook (POST /v1/webhooks/stripe),
// /metrics, the public asset files under the path of the assets public base
// URL, and the OpenAI-compatible POST /v1/images/generations.
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
  Runtime& rt_;
  std::string callback_prefix_;  // path of callback_base_url, no trailing '/'
  std::string assets_prefix_;    // path of assets.public_base_url, no trailing '/'
};

}  // namespace babysea::server
