// Black Forest Labs adapter (providers.hpp, specs/providers.md §4).
//
// Submit: POST {base}{endpoint} (the payload's endpoint, else /v1/{model})
// with `x-key`; with a callback URL and a secret the body gets webhook_url +
// webhook_secret. The answer {id, polling_url, cost?}: the polling URL is the
// handle and must be on the configured scheme/host/port (BFL jobs are
// region-bound; a polling URL for another host is refused as malformed and
// never called). Poll: GET polling_url: Pending -> queued (running once a
// progress is reported), Ready -> succeeded (result.sample), Error / Failed
// -> failed (server_error), Request Moderated / Content Moderated ->
// moderation, Task not found (or HTTP 404) -> lost. `cost` (BFL credits) is
// reported as micros. No cancel. Callbacks: X-BFL-Signature
// "sha256=<hex HMAC-SHA256(secret, raw body)>"; the message id is
// "sha256:<hex of the body>".
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "bfl";

class BflProvider final : public JsonHttpAdapter {
 public:
  BflProvider(BflProviderOptions o, std::unique_ptr<HttpClient> http, std::unique_ptr<HmacHeaderVerifier> verifier)
      : JsonHttpAdapter({kId, DeliveryMode::webhook, false, "task"}, o.timing, std::move(http)),
        options_(std::move(o)),
        verifier_(std::move(verifier)) {}

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers, std::string_view raw_body) override {
    if (!verifier_) return Status(Code::invalid_signature, "bfl: no webhook secret configured");
    bool dup = false;
    auto sig = callback_header(headers, "X-BFL-Signature", &dup);
    if (!sig || dup) return Status(Code::invalid_signature, "bfl: missing or repeated X-BFL-Signature");
    BABYSEA_ASSIGN_OR_RETURN(VerifiedCallback v, verifier_->verify(*sig, raw_body));
    auto parsed = parse_json(raw_body);
    if (!parsed.ok() || !parsed->is_object()) return Status(Code::invalid_request, "bfl: callback body is not a JSON object");
    ProviderCallback cb;
    std::string_view id = string_member(*parsed, "id");
    if (!is_path_segment(id)) id = string_member(*parsed, "task_id");
    if (!is_path_segment(id)) return Status(Code::invalid_request, "bfl: callback without a task id");
    cb.job_id = std::string(id);
    ProviderError e = read_result(*parsed, cb.status);
    if (!e.ok()) return Status(Code::invalid_request, "bfl: callback not understood (" + e.message + ")");
    cb.message_id = v.message_id();
    return cb;
  }

 private:
  std::vector<HttpHeader> auth() const override {
    return {{"x-key", options_.api_key}, {"Accept", "application/json"}};
  }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    std::string path = request.payload->endpoint;
    if (path.empty()) {
      if (!is_path_segment(request.payload->native_model))
        return make_error(ErrorKind::invalid_input, "bad_model", "native model is not a BFL endpoint name");
      path = "/v1/" + request.payload->native_model;
    }
    if (!valid_path(path))
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "BFL endpoint is not a plain path");
    if (!request.callback_url.empty() && verifier_) {
      plan.members.push_back({"webhook_url", json_string(request.callback_url)});
      plan.members.push_back({"webhook_secret", json_string(options_.webhook_secret)});
    }
    plan.url = http().url(path);
    return {};
  }

  void read_submit(const SubmitRequest&, const SubmitPlan&, const Answer& a, SubmitResult& out) const override {
    std::string_view id = string_member(a.body, "id");
    if (!is_path_segment(id)) {
      out.error = make_error(ErrorKind::malformed_response, "malformed", "submit answer without an id");
      return;
    }
    std::string_view polling_url = string_member(a.body, "polling_url");
    if (polling_url.empty()) {
      out.job.handle = result_url(id);
    } else if (http().origin().same_origin(polling_url)) {
      out.job.handle = std::string(polling_url);
    } else {
      out.error = make_error(ErrorKind::malformed_response, "foreign_polling_url",
                             "polling_url is not on the configured BFL host");
      return;
    }
    out.job.job_id = std::string(id);
  }

  ProviderError locate(const ProviderJob& job, Op, Call& call) const override {
    if (!is_path_segment(job.job_id)) return bad_job("BFL id");
    call.url = job.handle.empty() ? result_url(job.job_id) : job.handle;
    if (!http().origin().same_origin(call.url))  // region-bound: never follow a job to another host
      return make_error(ErrorKind::malformed_response, "foreign_polling_url",
                        "polling URL is not on the configured BFL host");
    return {};
  }

  void read_poll(const ProviderJob&, const json::Value& body, PollResult& out) const override {
    out.error = read_result(body, out.status);
  }

  // BFL has no documented moderation code on HTTP errors; keep the status's kind.
  ProviderError refine(Op, const Answer& a) const override {
    return moderation_if(a.error, contains_ci(a.error.message, "moderat") || contains_ci(a.error.code, "moderat"));
  }

  std::string result_url(std::string_view id) const { return http().url("/v1/get_result?id=" + percent_encode(id)); }

  static bool valid_path(std::string_view p) {
    if (p.size() < 2 || p.front() != '/' || p.find("..") != std::string_view::npos) return false;
    for (char c : p) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || c == '/';
      if (!ok) return false;
    }
    return true;
  }

  ProviderError read_result(const json::Value& v, ProviderStatus& st) const {
    if (!v.is_object()) return make_error(ErrorKind::malformed_response, "malformed", "result is not an object");
    std::string_view status = string_member(v, "status");
    const json::Value* progress = member(v, "progress");
    if (progress && progress->is_numeric()) {
      double p = progress->number > 1.0 ? progress->number / 100.0 : progress->number;  // 0..1 or percent
      if (p >= 0 && p <= 1) st.progress = p;
    }
    std::string error_text;
    if (const json::Value* e = member(v, "error"); e && e->is_string()) error_text = e->string;
    if (error_text.empty()) error_text = std::string(string_member(v, "message"));
    if (const json::Value* c = member(v, "cost"); c && c->is_numeric() && c->number >= 0 &&
                                                  options_.micros_per_provider_credit > 0)
      st.reported_cost = static_cast<Micros>(c->number * static_cast<double>(options_.micros_per_provider_credit) + 0.5);
    if (status == "Pending") {
      st.kind = st.progress > 0 ? ProviderStatusKind::running : ProviderStatusKind::queued;
    } else if (status == "Ready") {
      st.kind = ProviderStatusKind::succeeded;
      if (const json::Value* r = member(v, "result"); r && r->is_object()) {
        if (const json::Value* s = member(*r, "sample")) collect_url_outputs(*s, st.outputs, 2);
        if (st.outputs.empty())
          if (const json::Value* s = member(*r, "samples")) collect_url_outputs(*s, st.outputs, 2);
      }
    } else if (status == "Error" || status == "Failed") {
      st.kind = ProviderStatusKind::failed;
      st.error = make_error(ErrorKind::server_error, "error", error_text.empty() ? "generation failed" : error_text);
    } else if (status == "Request Moderated") {
      st.kind = ProviderStatusKind::failed;
      st.error = make_error(ErrorKind::moderation, "request_moderated", "the request was moderated");
    } else if (status == "Content Moderated") {
      st.kind = ProviderStatusKind::failed;
      st.error = make_error(ErrorKind::moderation, "content_moderated", "the generated content was moderated");
    } else if (status == "Task not found") {
      mark_lost(st);
    } else {
      return make_error(ErrorKind::malformed_response, "unknown_status", "unknown BFL status");
    }
    return {};
  }

  BflProviderOptions options_;
  std::unique_ptr<HmacHeaderVerifier> verifier_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_bfl_provider(BflProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "bfl: api_key is required");
  if (options.webhook_secret.empty() && !options.previous_webhook_secrets.empty())
    return Status(Code::invalid_request, "bfl: previous webhook secrets without a current one");
  BABYSEA_ASSIGN_OR_RETURN(auto http, providers::HttpClient::create(options, options.base_url));
  std::unique_ptr<HmacHeaderVerifier> verifier;
  if (!options.webhook_secret.empty()) {
    HmacHeaderOptions h;
    h.source = "bfl";
    h.prefix = "sha256=";
    h.secrets.push_back(options.webhook_secret);
    for (const auto& s : options.previous_webhook_secrets) h.secrets.push_back(s);
    BABYSEA_ASSIGN_OR_RETURN(verifier, HmacHeaderVerifier::create(std::move(h)));
  }
  return std::shared_ptr<Provider>(
      std::make_shared<providers::BflProvider>(std::move(options), std::move(http), std::move(verifier)));
}

}  // namespace babysea
