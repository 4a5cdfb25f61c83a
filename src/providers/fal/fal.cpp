// fal queue adapter (providers.hpp, specs/providers.md §4).
//
// Submit: POST {queue}/{model}[?fal_webhook=<callback>] with the native body
// and `Authorization: Key ...`; the answer's request_id is the job id, and
// the handle is the app path ("owner/app") under which fal files the request
// (read from the returned status_url, which must be on the configured host;
// fal drops a model's sub-path there). Poll: GET .../requests/{id}/status:
// IN_QUEUE -> queued, IN_PROGRESS -> running, COMPLETED -> fetch the result
// (GET .../requests/{id}): 2xx -> succeeded with its URLs, an error answer
// -> failed (content_policy_violation -> moderation, request/startup
// timeout -> timeout, runner_* -> provider_unavailable, 4xx -> invalid
// input, else server_error); 404 -> lost. Cancel: PUT .../cancel ->
// CANCELLATION_REQUESTED / ALREADY_COMPLETED / NOT_FOUND; a request that
// completed with an error_type naming a cancellation is `canceled`.
// Callbacks: Ed25519 (FalVerifier, our user id pinned); body {request_id,
// status OK|ERROR, payload, error, payload_error}; the message id is
// "<request_id>:<sha256 of the body>" (a retried delivery is re-signed with
// a new timestamp, so the timestamp is not part of it).
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "fal";

// "a/b/c" with every segment usable in a path.
bool is_model_path(std::string_view m) {
  if (m.empty() || m.size() > 512) return false;
  std::size_t start = 0;
  while (true) {
    const auto slash = m.find('/', start);
    if (!is_path_segment(m.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start)))
      return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// owner/app of a model id (fal files requests without the sub-path).
std::string app_of(std::string_view model) {
  const auto first = model.find('/');
  if (first == std::string_view::npos) return std::string(model);
  const auto second = model.find('/', first + 1);
  return std::string(model.substr(0, second));
}

ProviderError fal_failure(int http_status, const ErrorBody& body, std::string_view fallback_message) {
  std::string message = body.message.empty() ? std::string(fallback_message) : body.message;
  for (const auto& t : body.detail_types)
    if (t == "content_policy_violation") return make_error(ErrorKind::moderation, t, message);
  const std::string& et = body.error_type;
  if (contains_ci(et, "content_policy") || contains_ci(body.code, "content_policy"))
    return make_error(ErrorKind::moderation, "content_policy_violation", message);
  if (et == "request_timeout" || et == "startup_timeout") return make_error(ErrorKind::timeout, et, message);
  if (starts_with(et, "runner_")) return make_error(ErrorKind::provider_unavailable, et, message);
  if (http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429)
    return make_error(ErrorKind::invalid_input, body.code.empty() ? "invalid_input" : body.code, message);
  return make_error(ErrorKind::server_error, et.empty() ? (body.code.empty() ? "request_failed" : body.code) : et,
                    message);
}

// "Invalid status code: 422" -> 422 (0 when absent).
int status_in(std::string_view text) {
  const auto p = text.find("status code: ");
  if (p == std::string_view::npos) return 0;
  int v = 0;
  for (std::size_t i = p + 13; i < text.size() && i < p + 16; ++i) {
    if (text[i] < '0' || text[i] > '9') break;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

class FalProvider final : public JsonHttpAdapter {
 public:
  FalProvider(FalProviderOptions o, std::unique_ptr<HttpClient> http, std::unique_ptr<JwksFetcher> owned_fetcher,
              std::unique_ptr<FalVerifier> verifier)
      : JsonHttpAdapter({kId, DeliveryMode::webhook, true, "request"}, o.timing, std::move(http)),
        options_(std::move(o)),
        owned_fetcher_(std::move(owned_fetcher)),
        verifier_(std::move(verifier)) {}

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers, std::string_view raw_body) override {
    if (!verifier_) return Status(Code::invalid_signature, "fal: no user id configured for callbacks");
    bool dup[4] = {false, false, false, false};
    FalHeaders h;
    h.request_id = callback_header(headers, "X-Fal-Webhook-Request-Id", &dup[0]).value_or("");
    h.user_id = callback_header(headers, "X-Fal-Webhook-User-Id", &dup[1]).value_or("");
    h.timestamp = callback_header(headers, "X-Fal-Webhook-Timestamp", &dup[2]).value_or("");
    h.signature = callback_header(headers, "X-Fal-Webhook-Signature", &dup[3]).value_or("");
    if (dup[0] || dup[1] || dup[2] || dup[3]) return Status(Code::invalid_signature, "fal: repeated signature header");
    BABYSEA_ASSIGN_OR_RETURN(VerifiedCallback v, verifier_->verify(h, raw_body));
    auto parsed = parse_json(raw_body);
    if (!parsed.ok() || !parsed->is_object()) return Status(Code::invalid_request, "fal: callback body is not a JSON object");
    const json::Value& body = *parsed;
    ProviderCallback cb;
    cb.job_id = std::string(string_member(body, "request_id"));
    if (cb.job_id != v.message_id()) return Status(Code::invalid_request, "fal: callback names another request");
    cb.message_id = cb.job_id + ":" + sha256_hex(raw_body);
    std::string_view status = string_member(body, "status");
    const json::Value* payload = member(body, "payload");
    const json::Value* payload_error = member(body, "payload_error");
    if (status == "OK" && payload && payload->is_object() && !(payload_error && !payload_error->is_null())) {
      cb.status.kind = ProviderStatusKind::succeeded;
      collect_url_outputs(*payload, cb.status.outputs, 4);
    } else if (status == "OK") {
      cb.status.kind = ProviderStatusKind::failed;
      cb.status.error = make_error(ErrorKind::malformed_response, "payload_error", "result payload could not be delivered");
    } else if (status == "ERROR") {
      ErrorBody eb;
      if (payload && (payload->is_object() || payload->is_array())) eb = read_error_body(json::to_json(*payload));
      const json::Value* err = member(body, "error");
      const std::string err_text = err && err->is_string() ? err->string : std::string();
      if (eb.message.empty()) eb.message = clip(err_text);
      const json::Value* et = member(body, "error_type");
      if (et && et->is_string() && eb.error_type.empty()) eb.error_type = et->string;
      if (contains_ci(eb.error_type, "cancel")) {
        cb.status.kind = ProviderStatusKind::canceled;
      } else {
        cb.status.kind = ProviderStatusKind::failed;
        cb.status.error = fal_failure(status_in(err_text), eb, "request failed");
      }
    } else {
      return Status(Code::invalid_request, "fal: unknown callback status");
    }
    return cb;
  }

 private:
  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Key " + options_.api_key}}; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    const std::string& model = request.payload->native_model;
    if (!is_model_path(model))
      return make_error(ErrorKind::invalid_input, "bad_model", "native model is not a fal model path");
    // The body goes as rendered (no members); the base still refuses a non-object.
    plan.url = http().url("/" + model);
    if (!request.callback_url.empty() && verifier_) plan.url += "?fal_webhook=" + percent_encode(request.callback_url);
    return {};
  }

  void read_submit(const SubmitRequest& request, const SubmitPlan&, const Answer& a, SubmitResult& out) const override {
    std::string_view rid = string_member(a.body, "request_id");
    if (!is_path_segment(rid)) {
      out.error = make_error(ErrorKind::malformed_response, "malformed", "submit answer without a request_id");
      return;
    }
    std::string app = app_of(request.payload->native_model);
    std::string_view status_url = string_member(a.body, "status_url");
    if (!status_url.empty()) {
      auto from_url = app_from_status_url(status_url, rid);
      if (!from_url) {
        out.error = make_error(ErrorKind::malformed_response, "foreign_status_url",
                               "status_url is not on the configured queue host");
        return;
      }
      app = std::move(*from_url);
    }
    out.job.job_id = std::string(rid);
    out.job.handle = std::move(app);
  }

  // {queue}{prefix}/{app}/requests/{id}[/status | /cancel]
  ProviderError locate(const ProviderJob& job, Op op, Call& call) const override {
    if (!is_path_segment(job.job_id) || !is_model_path(job.handle)) return bad_job("fal job");
    call.url = request_url(job);
    if (op == Op::cancel) {
      call.method = "PUT";
      call.url += "/cancel";
    } else if (op == Op::poll) {
      call.url += "/status";
    }
    return {};
  }

  // The queue status; a completed request is read further (result()).
  void read_poll(const ProviderJob& job, const json::Value& body, PollResult& out) const override {
    std::string_view status = string_member(body, "status");
    if (status == "IN_QUEUE") {
      out.status.kind = ProviderStatusKind::queued;
      return;
    }
    if (status == "IN_PROGRESS") {
      out.status.kind = ProviderStatusKind::running;
      return;
    }
    if (status != "COMPLETED") {
      out.error = make_error(ErrorKind::malformed_response, "unknown_status", "unknown fal queue status");
      return;
    }
    if (const json::Value* m = member(body, "metrics"); m && m->is_object())
      if (const json::Value* t = member(*m, "inference_time"); t && t->is_numeric() && t->number >= 0)
        out.status.predict_ms = static_cast<std::int64_t>(t->number * 1000.0 + 0.5);
    const json::Value* err = member(body, "error");
    if ((err && err->is_string() && !err->string.empty()) || !string_member(body, "error_type").empty()) {
      ErrorBody eb;
      eb.error_type = std::string(string_member(body, "error_type"));
      eb.message = err && err->is_string() ? clip(err->string) : std::string();
      if (contains_ci(eb.error_type, "cancel")) {  // completed because we canceled it
        out.status.kind = ProviderStatusKind::canceled;
        return;
      }
      out.status.kind = ProviderStatusKind::failed;
      out.status.error = fal_failure(status_in(eb.message), eb, "request failed");
      return;
    }
    result(request_url(job), out);
  }

  // fal names the outcome in the body ({"status": ...}), whatever the HTTP status.
  std::optional<CancelOutcome> read_cancel(const Answer& a) const override {
    std::string status;
    if (auto parsed = parse_json(a.response.body, 1u << 16); parsed.ok() && parsed->is_object())
      status = std::string(string_member(*parsed, "status"));
    if (status == "ALREADY_COMPLETED") return CancelOutcome::already_finished;
    if (status == "NOT_FOUND") return CancelOutcome::not_found;
    if (is_2xx(a.response.status)) return CancelOutcome::requested;
    return std::nullopt;
  }

  // A refused submit input may be a moderation.
  ProviderError refine(Op op, const Answer& a) const override {
    if (op == Op::submit && a.sent && (a.response.status == 400 || a.response.status == 422))
      return fal_failure(a.response.status, read_error_body(a.response.body), a.error.message);
    return a.error;
  }

  std::string request_url(const ProviderJob& job) const {
    return http().url("/" + job.handle + "/requests/" + job.job_id);
  }

  // The app path of a status URL ".../{app}/requests/{id}/status" on our host.
  std::optional<std::string> app_from_status_url(std::string_view url, std::string_view rid) const {
    if (!http().origin().same_origin(url)) return std::nullopt;
    const std::string head = http().origin().origin + http().origin().prefix + "/";
    const std::string tail = "/requests/" + std::string(rid) + "/status";
    std::string lowered_head = lower(url.substr(0, head.size()));
    if (url.size() <= head.size() + tail.size() || lowered_head != lower(head) ||
        url.substr(url.size() - tail.size()) != tail)
      return std::nullopt;
    std::string app(url.substr(head.size(), url.size() - head.size() - tail.size()));
    if (!is_model_path(app)) return std::nullopt;
    return app;
  }

  // GET {request}: the outputs, or the error the request ended with.
  void result(const std::string& url, PollResult& out) const {
    Answer a = call_json(http(), "GET", url, auth());
    if (a.error.ok()) {
      out.status.kind = ProviderStatusKind::succeeded;
      collect_url_outputs(a.body, out.status.outputs, 4);
      return;
    }
    if (!a.sent) {
      out.error = std::move(a.error);
      return;
    }
    const int s = a.response.status;
    if (s == 404 || s == 410) {
      mark_lost(out.status);
      return;
    }
    ErrorBody eb = read_error_body(a.response.body);
    const bool job_error = (s >= 400 && s < 500 && s != 408 && s != 429) ||
                           (s >= 500 && (!eb.error_type.empty() || a.response.header("X-Fal-Error-Type")));
    if (!job_error) {
      out.error = std::move(a.error);  // the result fetch itself failed: poll again later
      return;
    }
    if (eb.error_type.empty())
      if (auto h = a.response.header("X-Fal-Error-Type")) eb.error_type = std::string(*h);
    out.status.kind = ProviderStatusKind::failed;
    out.status.error = fal_failure(s, eb, "request failed");
  }

  FalProviderOptions options_;
  std::unique_ptr<JwksFetcher> owned_fetcher_;
  std::unique_ptr<FalVerifier> verifier_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_fal_provider(FalProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "fal: api_key is required");
  BABYSEA_ASSIGN_OR_RETURN(auto http, providers::HttpClient::create(options, options.base_url));
  std::unique_ptr<JwksFetcher> owned;
  std::unique_ptr<FalVerifier> verifier;
  if (!options.user_id.empty()) {
    JwksFetcher* fetcher = options.jwks_fetcher;
    if (!fetcher) {
      BABYSEA_ASSIGN_OR_RETURN(auto f, providers::HttpJwksFetcher::create(options, options.jwks_url));
      owned = std::move(f);
      fetcher = owned.get();
    }
    FalOptions v;
    v.source = "fal";
    v.jwks_url = options.jwks_url;
    v.user_id = options.user_id;
    v.tolerance_s = options.callback_tolerance_s;
    v.cache_ttl_ms = options.jwks_cache_ttl_ms;
    v.min_fetch_interval_ms = options.jwks_min_fetch_interval_ms;
    const Clock& clock = options.clock ? *options.clock : SystemClock::instance();
    BABYSEA_ASSIGN_OR_RETURN(verifier, FalVerifier::create(*fetcher, clock, std::move(v)));
  }
  return std::shared_ptr<Provider>(std::make_shared<providers::FalProvider>(std::move(options), std::move(http),
                                                                           std::move(owned), std::move(verifier)));
}

}  // namespace babysea
