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
// Everything but the marshalling is the service layer's (babysea/service.hpp):
// authentication, rate limits, scopes, the documents, the usage-log row of
// every authenticated request (security.md I13).
//
// Thread safety: handle() is safe to call concurrently.
#pragma once

#include <boost/url/url_view.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "babysea/runtime.hpp"
#include "babysea/service.hpp"
#include "http_server.hpp"
#include "playground.hpp"

namespace babysea::server {

class Api {
 public:
  // Borrows `runtime` (REQUIRES: runtime.has_engine()), which must outlive
  // it; serves `playground` at /playground/ when given.
  Api(Runtime& runtime, std::optional<Playground> playground);
  // Answers `request` through `respond`, at once or once the call's wait
  // for its generation ends (generate, the OpenAI-compatible route).
  void handle(const HttpRequest& request, Respond respond);
  // Answers every call still waiting now (Service::close).
  void close();
  // The JSON body of a protocol refusal (BabySea error envelope).
  static std::string refusal_body(int status, std::string_view code, std::string_view message);

 private:
  HttpResponse preflight();
  HttpResponse provider_callback(const std::string& provider, const HttpRequest& request);
  void route(const std::string& path, const boost::urls::url_view& url, const HttpRequest& request,
             Respond respond);

  Service service_;
  std::optional<Playground> playground_;
};

}  // namespace babysea::server
