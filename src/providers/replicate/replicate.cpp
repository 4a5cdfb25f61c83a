// Replicate adapter (providers.hpp, specs/providers.md §4).
//
// Submit: POST /v1/predictions {"version", "input", ...} when the native
// model names a version ("owner/name:<version>" or a bare 64-hex version id),
// else POST /v1/models/{owner}/{name}/predictions {"input", ...}. With a
// callback URL and a webhook secret: "webhook" + "webhook_events_filter":
// ["start","completed"]. A deadline becomes `Cancel-After: <n>s`.
// Status: starting -> queued, processing -> running, succeeded, failed
// (NSFW / safety wording -> moderation, else server_error), canceled,
// aborted (deadline passed before start) -> failed/timeout; 404 -> lost.
// Callbacks: Standard Webhooks; the message id is webhook-id.
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "replicate";

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

ProviderError failure_of(std::string_view error_text) {
  static constexpr std::string_view kModeration[] = {"nsfw", "safety", "content moderation", "flagged",
                                                     "sensitive content", "content policy"};
  for (auto w : kModeration)
    if (contains_ci(error_text, w)) return make_error(ErrorKind::moderation, "moderation", std::string(error_text));
  return make_error(ErrorKind::server_error, "prediction_failed",
                    error_text.empty() ? std::string("prediction failed") : std::string(error_text));
}

// A prediction object -> our status. malformed_response when it is not one.
ProviderError read_prediction(const json::Value& v, ProviderStatus& st, std::string* id_out) {
  if (!v.is_object()) return make_error(ErrorKind::malformed_response, "malformed", "prediction is not an object");
  std::string_view id = string_member(v, "id");
  if (id_out) {
    if (!is_path_segment(id)) return make_error(ErrorKind::malformed_response, "malformed", "prediction without a usable id");
    *id_out = std::string(id);
  }
  std::string_view status = string_member(v, "status");
  std::string error_text;
  if (const json::Value* e = member(v, "error")) {
    if (e->is_string()) error_text = e->string;
    else if (e->is_object()) error_text = std::string(string_member(*e, "message"));
  }
  if (status == "starting") {
    st.kind = ProviderStatusKind::queued;
  } else if (status == "processing") {
    st.kind = ProviderStatusKind::running;
  } else if (status == "succeeded") {
    st.kind = ProviderStatusKind::succeeded;
    if (const json::Value* out = member(v, "output")) collect_url_outputs(*out, st.outputs, 3);
  } else if (status == "failed") {
    st.kind = ProviderStatusKind::failed;
    st.error = failure_of(error_text);
  } else if (status == "canceled") {
    st.kind = ProviderStatusKind::canceled;
  } else if (status == "aborted") {
    st.kind = ProviderStatusKind::failed;
    st.error = make_error(ErrorKind::timeout, "aborted", "deadline passed before the prediction started");
  } else {
    return make_error(ErrorKind::malformed_response, "unknown_status", "unknown prediction status");
  }
  if (const json::Value* m = member(v, "metrics"); m && m->is_object())
    if (const json::Value* t = member(*m, "predict_time"); t && t->is_numeric() && t->number >= 0)
      st.predict_ms = static_cast<std::int64_t>(t->number * 1000.0 + 0.5);
  return {};
}

class ReplicateProvider final : public JsonHttpAdapter {
 public:
  ReplicateProvider(ReplicateProviderOptions o, std::unique_ptr<HttpClient> http,
                    std::unique_ptr<StandardWebhookVerifier> verifier)
      : JsonHttpAdapter({kId, DeliveryMode::webhook, true, "prediction"}, o.timing, std::move(http)),
        options_(std::move(o)),
        verifier_(std::move(verifier)) {}

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers, std::string_view raw_body) override {
    if (!verifier_) return Status(Code::invalid_signature, "replicate: no webhook secret configured");
    bool d1 = false, d2 = false, d3 = false;
    StandardWebhookHeaders h;
    h.id = callback_header(headers, "webhook-id", &d1).value_or("");
    h.timestamp = callback_header(headers, "webhook-timestamp", &d2).value_or("");
    h.signature = callback_header(headers, "webhook-signature", &d3).value_or("");
    if (d1 || d2 || d3) return Status(Code::invalid_signature, "replicate: repeated signature header");
    BABYSEA_ASSIGN_OR_RETURN(VerifiedCallback v, verifier_->verify(h, raw_body, http().now_ms() / 1000));
    auto parsed = parse_json(raw_body);
    if (!parsed.ok()) return Status(Code::invalid_request, "replicate: callback body is not JSON");
    ProviderCallback cb;
    ProviderError e = read_prediction(*parsed, cb.status, &cb.job_id);
    if (!e.ok()) return Status(Code::invalid_request, "replicate: callback is not a prediction (" + e.message + ")");
    cb.message_id = v.message_id();
    return cb;
  }

 private:
  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Bearer " + options_.api_token}}; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    const std::string& model = request.payload->native_model;
    std::string path;
    const auto colon = model.find(':');
    if (colon != std::string::npos || is_hex64(model)) {
      std::string version = colon == std::string::npos ? model : model.substr(colon + 1);
      if (!is_hex64(version))
        return make_error(ErrorKind::invalid_input, "bad_model", "native model has a malformed version id");
      path = "/v1/predictions";
      plan.members.push_back({"version", json_string(version)});
    } else {
      const auto slash = model.find('/');
      if (slash == std::string::npos || !is_path_segment(model.substr(0, slash)) ||
          !is_path_segment(model.substr(slash + 1)))
        return make_error(ErrorKind::invalid_input, "bad_model", "native model is not owner/name");
      path = "/v1/models/" + model + "/predictions";
    }
    if (!request.callback_url.empty() && verifier_) {
      plan.members.push_back({"webhook", json_string(request.callback_url)});
      plan.members.push_back({"webhook_events_filter", json_array({json_string("start"), json_string("completed")})});
    }
    plan.url = http().url(path);
    return {};
  }

  ProviderError add_submit_headers(const SubmitRequest& request, std::vector<HttpHeader>& headers) const override {
    if (options_.send_cancel_after && request.deadline_ms > 0) {
      const std::int64_t left_s = (request.deadline_ms - http().now_ms()) / 1000;
      if (left_s <= 0) return make_error(ErrorKind::timeout, "deadline_passed", "the deadline passed before submit");
      headers.push_back({"Cancel-After", std::to_string(left_s) + "s"});
    }
    return {};
  }

  void read_submit(const SubmitRequest&, const SubmitPlan&, const Answer& a, SubmitResult& out) const override {
    ProviderStatus st;
    out.error = read_prediction(a.body, st, &out.job.job_id);
    if (out.error.ok() && is_final(st.kind)) out.status = std::move(st);
  }

  ProviderError locate(const ProviderJob& job, Op op, Call& call) const override {
    if (!is_path_segment(job.job_id)) return bad_job("prediction id");
    call.url = http().url("/v1/predictions/" + job.job_id + (op == Op::cancel ? "/cancel" : ""));
    return {};
  }

  void read_poll(const ProviderJob&, const json::Value& body, PollResult& out) const override {
    out.error = read_prediction(body, out.status, nullptr);
  }

  std::optional<CancelOutcome> read_cancel(const Answer& a) const override {
    if (a.response.status == 410) return CancelOutcome::not_found;
    if (a.error.ok() && a.body.is_object()) {
      ProviderStatus st;
      if (read_prediction(a.body, st, nullptr).ok() && is_final(st.kind) && st.kind != ProviderStatusKind::canceled)
        return CancelOutcome::already_finished;
    }
    return std::nullopt;
  }

  // Replicate answers errors as problem details {"title","detail","status"}.
  ProviderError refine(Op op, const Answer& a) const override {
    return moderation_if(a.error, op == Op::submit && (contains_ci(a.error.message, "nsfw") ||
                                                       contains_ci(a.error.message, "safety")));
  }

  ReplicateProviderOptions options_;
  std::unique_ptr<StandardWebhookVerifier> verifier_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_replicate_provider(ReplicateProviderOptions options) {
  if (options.api_token.empty()) return Status(Code::invalid_request, "replicate: api_token is required");
  BABYSEA_ASSIGN_OR_RETURN(auto http, providers::HttpClient::create(options, options.base_url));
  std::unique_ptr<StandardWebhookVerifier> verifier;
  if (!options.webhook_secrets.empty()) {
    StandardWebhookOptions w;
    w.source = "replicate";
    w.secrets = options.webhook_secrets;
    w.tolerance_s = options.callback_tolerance_s;
    BABYSEA_ASSIGN_OR_RETURN(verifier, StandardWebhookVerifier::create(std::move(w)));
  }
  return std::shared_ptr<Provider>(
      std::make_shared<providers::ReplicateProvider>(std::move(options), std::move(http), std::move(verifier)));
}

}  // namespace babysea
