// OpenAI Images adapter (providers.hpp, specs/providers.md §4).
//
// Synchronous: POST {base}{endpoint} (the payload's endpoint, else
// /v1/images/generations) with a Bearer key and the native body ("model" set
// to the native model when the body has none). The answer {created, data:
// [{b64_json | url}], output_format?} is the final status: b64_json is
// decoded (libsodium, standard alphabet) into ProviderOutput::data, URLs are
// passed on. The job id is the x-request-id header (else the attempt id).
// Errors {"error":{"code","type","message"}}: moderation_blocked /
// content_policy_violation -> moderation; 429 insufficient_quota ->
// provider_quota (OpenAI's "out of credit" is a 429); model_not_found ->
// model_unavailable; other statuses by error_kind_from_http_status. There is
// no job to poll (lost) or cancel (unsupported), and no callback.
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "openai";
constexpr std::size_t kMaxAnswerBytes = 64u << 20;  // up to 10 inline images

std::string content_type_of(std::string_view format) {
  const std::string f = lower(format);
  if (f == "png") return "image/png";
  if (f == "jpeg" || f == "jpg") return "image/jpeg";
  if (f == "webp") return "image/webp";
  return {};
}

class OpenAIImagesProvider final : public JsonHttpAdapter {
 public:
  OpenAIImagesProvider(OpenAIImagesProviderOptions o, std::unique_ptr<HttpClient> http)
      : JsonHttpAdapter({kId, DeliveryMode::synchronous, false, "request"}, o.timing, std::move(http)),
        options_(std::move(o)) {}

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader>, std::string_view) override {
    return Status(Code::unsupported, "openai images sends no callbacks");
  }

 private:
  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Bearer " + options_.api_key}}; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    std::string path = request.payload->endpoint.empty() ? "/v1/images/generations" : request.payload->endpoint;
    if (path != "/v1/images/generations" && path != "/v1/images/edits" && path != "/v1/images/variations")
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "not an OpenAI Images endpoint");
    plan.url = http().url(path);
    plan.max_answer_bytes = kMaxAnswerBytes;
    return default_model(request, plan);
  }

  ProviderError add_submit_headers(const SubmitRequest&, std::vector<HttpHeader>& headers) const override {
    if (!options_.organization.empty()) headers.push_back({"OpenAI-Organization", options_.organization});
    if (!options_.project.empty()) headers.push_back({"OpenAI-Project", options_.project});
    return {};
  }

  // The answer is the final status.
  void read_submit(const SubmitRequest& request, const SubmitPlan& plan, const Answer& a,
                   SubmitResult& out) const override {
    const json::Value* data = member(a.body, "data");
    if (!data || !data->is_array() || data->array.empty()) {
      out.error = make_error(ErrorKind::malformed_response, "no_data", "answer carries no images");
      return;
    }
    std::string ct = content_type_of(string_member(a.body, "output_format"));
    if (ct.empty()) ct = content_type_of(string_member(plan.payload, "output_format"));
    if (ct.empty()) ct = options_.default_content_type;
    ProviderStatus st;
    st.kind = ProviderStatusKind::succeeded;
    for (const auto& item : data->array) {
      if (!item.is_object()) {
        out.error = make_error(ErrorKind::malformed_response, "bad_item", "image entry is not an object");
        return;
      }
      std::string_view b64 = string_member(item, "b64_json");
      std::string_view url = string_member(item, "url");
      if (!b64.empty()) {
        auto bytes = base64_decode(b64);
        if (!bytes || bytes->empty()) {
          out.error = make_error(ErrorKind::malformed_response, "bad_base64", "b64_json does not decode");
          return;
        }
        st.outputs.push_back(ProviderOutput{{}, std::move(*bytes), ct});
      } else if (is_http_url(url)) {
        st.outputs.push_back(ProviderOutput{std::string(url), {}, {}});
      } else {
        out.error = make_error(ErrorKind::malformed_response, "bad_item", "image entry has neither b64_json nor url");
        return;
      }
    }
    auto rid = a.response.header("x-request-id");
    out.job.job_id = rid && is_path_segment(*rid) ? std::string(*rid) : request.attempt_id;
    out.status = std::move(st);
  }

  ProviderError refine(Op, const Answer& a) const override {
    ProviderError e = a.error;
    const std::string code = lower(e.code);
    if (code == "moderation_blocked" || code == "content_policy_violation" || contains_ci(e.message, "safety system"))
      e.kind = ErrorKind::moderation;
    else if (code == "insufficient_quota" || code == "billing_hard_limit_reached")
      e.kind = ErrorKind::provider_quota;
    else if (code == "model_not_found")
      e.kind = ErrorKind::model_unavailable;
    return e;
  }

  OpenAIImagesProviderOptions options_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_openai_images_provider(OpenAIImagesProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "openai: api_key is required");
  return providers::make_adapter<providers::OpenAIImagesProvider>(std::move(options), providers::kMaxAnswerBytes);
}

}  // namespace babysea
