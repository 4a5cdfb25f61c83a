// Cloudflare Workers AI adapter (providers.hpp, specs/providers.md §4).
//
// Synchronous: one POST runs the model and answers the image; there is no
// job to poll (lost), nothing to cancel (unsupported) and no callback.
//
// Submit: POST {base}/client/v4/accounts/{account_id}/ai/run/{model} with
// `Authorization: Bearer <api token>` and the native body exactly as the
// catalog rendered it (no "model" member: the model is in the path, and the
// image models' input schemas refuse extra properties).
//   https://developers.cloudflare.com/workers-ai/get-started/rest-api/
// The native model is the full name with its "@cf/" prefix
// ("@cf/black-forest-labs/flux-1-schnell"); every '/'-separated part after
// it must be one safe path segment, else invalid_input "bad_model" without
// I/O. The account id is checked the same way by the factory.
//
// Answers, by Content-Type (SubmitPlan::raw_answer, json_http_adapter.hpp):
//   JSON  the v4 envelope {"result":{"image":"<base64>"},"success":true,
//         "errors":[],"messages":[]} (models whose output schema is
//         application/json: flux-1-schnell, lucid-origin, ...). The image is
//         decoded (libsodium, standard alphabet) into one inline output whose
//         content type is sniffed from its magic bytes (PNG, JPEG, WebP),
//         else image/jpeg: flux-1-schnell's page serves its result as JPEG.
//           https://developers.cloudflare.com/workers-ai/models/flux-1-schnell/
//           cloudflare SDK (npm cloudflare 3.0.0) resources/workers/ai.mjs: run() POSTs
//           /accounts/{account_id}/ai/run/{model} and unwraps obj.result
//         A 2xx envelope with success:false or a non-empty errors[] is a
//         final failed status carrying the first error's code and message.
//   image/*  models whose output schema is binary (stable-diffusion-xl-*,
//         dreamshaper-8-lcm, phoenix-1.0, ...) answer the raw bytes: one
//         inline output with that content type. Empty bytes, or another
//         non-JSON type, -> malformed_response.
//           cloudflare-docs: src/content/workers-ai-models/<model>.json (schema.output),
//           .../workers-ai/guides/tutorials/explore-workers-ai-models-using-a-jupyter-notebook.mdx
// The job id is the cf-ray header when it is a safe path segment, else the
// attempt id (Ray IDs are not guaranteed unique; the id is informational).
//   https://developers.cloudflare.com/fundamentals/reference/cloudflare-ray-id/
//
// Errors: the v4 envelope {"success":false,"errors":[{"code":<int>,
// "message":"..."}]} (any status). The kind comes from the HTTP status
// (error_kind_from_http_status; 429 keeps Retry-After, which the API sends
// when a rate limit was hit), refined by the code:
//   https://developers.cloudflare.com/fundamentals/api/reference/limits/
//   https://developers.cloudflare.com/workers-ai/platform/errors/
//     3036 account limited (daily free neurons used, 429)  -> provider_quota
//     3040 out of capacity (429)                            -> provider_unavailable
//     3023 account blocked (403)                            -> provider_auth
//     5007 no such model, 3042 invalid model id,
//     5018 / 3041 private model, 5016 model agreement       -> model_unavailable
//     5004 invalid data, 3003 incomplete request, 3006 too
//     large, 3039, 5005 LoRA unsupported, 5019 old SDK      -> invalid_input
//     3007 timeout, 3008 aborted (408)                      -> timeout
//   https://developers.cloudflare.com/workers/tooling/api/requests/ (v4 envelope and
//   auth errors; read through a mirror of that page, https://www.kancloud.cn/orchie/cloudflare_worker/1627268)
//     10000 authentication error, 9106 missing auth headers -> provider_auth
//   not in Cloudflare's tables (seen in client code and community reports):
//     5006 "AiError: Bad input: ..." (schema validation)    -> invalid_input
//     9109 invalid access token                             -> provider_auth
//     3030 "Input prompt contains NSFW content", or any
//     message naming NSFW                                    -> moderation
//       https://community.cloudflare.com/t/image-rendering-issue-with-flux-api-nsfw-warning/729440
// A failure inside a 2xx with a code not listed is a server_error.
#include "babysea/schema.hpp"
#include "assets/media.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "cloudflare";
constexpr std::string_view kModelPrefix = "@cf/";
constexpr std::size_t kMaxAnswerBytes = 64u << 20;  // one image, base64 inflated

// "@cf/<segment>[/<segment>...]", each segment safe in a URL path.
bool is_model_path(std::string_view model) {
  if (!starts_with(model, kModelPrefix)) return false;
  std::string_view rest = model.substr(kModelPrefix.size());
  while (true) {
    const std::size_t slash = rest.find('/');
    if (!is_path_segment(rest.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

// The image type from its first bytes (the asset store's sniffer); JPEG
// when it is not a known image (flux-1-schnell answers JPEG).
std::string sniff_image_type(std::string_view bytes) {
  const std::string_view type = assets::sniff(bytes);
  return starts_with(type, "image/") ? std::string(type) : std::string("image/jpeg");
}

// The first entry of a v4 envelope's errors[], if any.
struct EnvelopeError {
  std::int64_t code = 0;  // 0 when absent or not a number
  std::string code_text;  // as reported ("" when absent)
  std::string message;
};

std::optional<EnvelopeError> first_error(const json::Value& envelope) {
  const json::Value* errors = member(envelope, "errors");
  if (!errors || !errors->is_array() || errors->array.empty()) return std::nullopt;
  EnvelopeError e;
  const json::Value& first = errors->array.front();
  if (const json::Value* c = member(first, "code")) {
    if (c->is_integer()) {
      e.code = c->integer;
      e.code_text = std::to_string(c->integer);
    } else if (c->is_string()) {
      e.code_text = clip(c->string, 100);
    }
  }
  e.message = clip(string_member(first, "message"));
  return e;
}

// The kind a Workers AI error code (or message) names; `fallback` otherwise.
ErrorKind kind_of(const EnvelopeError& e, ErrorKind fallback) {
  if (e.code == 3030 || contains_ci(e.message, "nsfw")) return ErrorKind::moderation;
  switch (e.code) {
    case 3036: return ErrorKind::provider_quota;
    case 3040: return ErrorKind::provider_unavailable;
    case 3023:
    case 9106:
    case 9109:
    case 10000: return ErrorKind::provider_auth;
    case 5007:
    case 3042:
    case 5018:
    case 3041:
    case 5016: return ErrorKind::model_unavailable;
    case 5004:
    case 5006:
    case 3003:
    case 3006:
    case 3039:
    case 5005:
    case 5019: return ErrorKind::invalid_input;
    case 3007:
    case 3008: return ErrorKind::timeout;
    default: return fallback;
  }
}

ProviderError malformed(std::string code, std::string message) {
  return make_error(ErrorKind::malformed_response, std::move(code), std::move(message));
}

class CloudflareProvider final : public JsonHttpAdapter {
 public:
  CloudflareProvider(CloudflareProviderOptions o, std::unique_ptr<HttpClient> http)
      : JsonHttpAdapter({kId, DeliveryMode::synchronous, false, "request"}, o.timing, std::move(http)),
        options_(std::move(o)) {}

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader>, std::string_view) override {
    return Status(Code::unsupported, "cloudflare workers ai sends no callbacks");
  }

 private:
  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Bearer " + options_.api_token}}; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    const std::string& model = request.payload->native_model;
    if (!is_model_path(model))
      return make_error(ErrorKind::invalid_input, "bad_model", "not a Workers AI model name (@cf/<author>/<model>)");
    if (!request.payload->endpoint.empty())
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "Workers AI payloads take no endpoint");
    plan.url = http().url("/client/v4/accounts/" + options_.account_id + "/ai/run/" + model);
    plan.max_answer_bytes = kMaxAnswerBytes;
    plan.raw_answer = true;
    return {};
  }

  // The answer is the final status: raw image bytes or the JSON envelope.
  void read_submit(const SubmitRequest& request, const SubmitPlan&, const Answer& a,
                   SubmitResult& out) const override {
    ProviderStatus st;
    auto type = a.response.header("Content-Type");
    if (type && !is_json_content_type(*type)) {
      out.error = read_raw(assets::media_type(*type), a.response.body, st);
    } else {
      out.error = read_envelope(a.body, st);
    }
    if (!out.error.ok()) return;
    auto ray = a.response.header("cf-ray");
    out.job.job_id = ray && is_path_segment(*ray) ? std::string(*ray) : request.attempt_id;
    out.status = std::move(st);
  }

  static ProviderError read_raw(std::string type, const std::string& bytes, ProviderStatus& st) {
    if (!starts_with(type, "image/"))
      return malformed("unexpected_content_type", "answer is neither JSON nor an image");
    if (type == "image/jpg") type = "image/jpeg";
    st.kind = ProviderStatusKind::succeeded;
    st.outputs.push_back(ProviderOutput{{}, bytes, std::move(type)});
    return {};
  }

  static ProviderError read_envelope(const json::Value& body, ProviderStatus& st) {
    if (!body.is_object()) return malformed("malformed", "answer is not a JSON object");
    const json::Value* success = member(body, "success");
    auto error = first_error(body);
    if (error || (success && success->is_bool() && !success->boolean)) {
      EnvelopeError e = error.value_or(EnvelopeError{});
      st.kind = ProviderStatusKind::failed;
      st.error = make_error(kind_of(e, ErrorKind::server_error), e.code_text.empty() ? "failed" : e.code_text,
                            e.message.empty() ? "the model run failed" : e.message);
      return {};
    }
    const json::Value* result = member(body, "result");
    std::string_view image = result ? string_member(*result, "image") : std::string_view();
    if (image.empty()) return malformed("no_image", "answer carries no result.image");
    auto bytes = base64_decode(image);
    if (!bytes || bytes->empty()) return malformed("bad_base64", "result.image does not decode");
    st.kind = ProviderStatusKind::succeeded;
    std::string ct = sniff_image_type(*bytes);
    st.outputs.push_back(ProviderOutput{{}, std::move(*bytes), std::move(ct)});
    return {};
  }

  // Cloudflare's envelope names the failure better than the status alone.
  ProviderError refine(Op, const Answer& a) const override {
    ProviderError e = a.error;
    if (!a.sent || is_2xx(a.response.status)) return e;
    auto body = parse_json(a.response.body, 1u << 20);
    if (!body.ok()) return e;
    auto error = first_error(*body);
    if (!error) return e;
    e.kind = kind_of(*error, e.kind);
    if (!error->code_text.empty()) e.code = error->code_text;
    if (!error->message.empty()) e.message = clip("HTTP " + std::to_string(a.response.status) + ": " + error->message);
    return e;
  }

  CloudflareProviderOptions options_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_cloudflare_provider(CloudflareProviderOptions options) {
  if (options.account_id.empty()) return Status(Code::invalid_request, "cloudflare: account_id is required");
  if (!providers::is_path_segment(options.account_id))
    return Status(Code::invalid_request, "cloudflare: account_id must be one path segment");
  if (options.api_token.empty()) return Status(Code::invalid_request, "cloudflare: api_token is required");
  return providers::make_adapter<providers::CloudflareProvider>(std::move(options), providers::kMaxAnswerBytes);
}

}  // namespace babysea
