// Alibaba Cloud Model Studio (DashScope) adapter (providers.hpp, specs/providers.md §4).
//
// Submit: POST {base}{endpoint} with `Authorization: Bearer <key>` and the
// native body ({"input":{...},"parameters":{...}}; "model" set to the native
// model when the body has none). Endpoints (anything else: invalid_input
// "bad_endpoint"):
//   /api/v1/services/aigc/text2image/image-synthesis        async (Wan text-to-image)
//   /api/v1/services/aigc/video-generation/video-synthesis  async (Wan t2v / i2v)
//   /api/v1/services/aigc/multimodal-generation/generation  synchronous (Qwen-Image)
// The async endpoints get `X-DashScope-Async: enable` (HTTP supports only
// asynchronous calls there) and answer {"output":{"task_id","task_status":
// "PENDING"},"request_id"}: the task id is the job id. The synchronous
// endpoint answers the final result: output.choices[].message.content[]
// items with an "image" URL become the outputs; the job id is the
// request_id (else the attempt id).
//
// Poll: GET /api/v1/tasks/{task_id} -> output.task_status: PENDING (and the
// SDK's SUSPENDED) -> queued, RUNNING -> running, SUCCEEDED -> outputs
// (output.results[].url for images, output.video_url for video; a results
// entry carrying code/message instead of a url is one failed image, and a
// task none of whose images succeeded is failed by the first such code),
// FAILED -> failed by output.code/message, CANCELED -> canceled, UNKNOWN ->
// lost (DashScope's answer for a task that does not exist or whose 24 h
// retention passed); a 404/410 -> lost as well. Usage (image_count, video
// duration) is not money and is ignored.
//
// Cancel: POST /api/v1/tasks/{task_id}/cancel, which DashScope allows only
// while the task is PENDING. 2xx -> requested; 404 -> not_found; a refusal
// (a 400/409/422 that is not an auth, quota or rate-limit code, or a 2xx
// body carrying a "code") is not guessed from its wording: the task is read
// once more and UNKNOWN -> not_found, RUNNING or final -> already_finished,
// still PENDING -> an error (the engine retries the cancel later).
//
// Errors: {"request_id","code","message"} at the top level. Codes refine
// the HTTP status class: DataInspectionFailed (or "inappropriate content")
// -> moderation; Throttling* -> rate_limited (Retry-After kept);
// Arrearage / AllocationQuota* / PrepaidBillOverdue -> provider_quota;
// InvalidApiKey / AccessDenied* -> provider_auth; ModelNotFound,
// Model.AccessDenied, AccessDenied.Unpurchased, "model not exist" ->
// model_unavailable; InvalidParameter*, BadRequest.*, InvalidURL,
// InvalidFile.* -> invalid_input; other statuses per
// error_kind_from_http_status. Failed tasks: moderation and invalid-input
// codes as above, anything else server_error.
//
// No callbacks are asked for (parse_callback: unsupported) and the task list
// cannot be filtered by anything we set (find_job: unsupported).
//
// Sources:
//   async tasks, query, cancel (queued only), 24 h retention, Bearer key:
//     https://www.alibabacloud.com/help/en/model-studio/manage-asynchronous-tasks
//   endpoints, X-DashScope-Async, submit answer, FAILED code/message,
//   UNKNOWN = "task does not exist or status unknown" (also the answer once
//   the 24 h task_id validity passed), video_url, error body
//   {"code":"InvalidApiKey","message","request_id"}:
//     https://www.alibabacloud.com/help/en/model-studio/text-to-video-api-reference
//     https://help.aliyun.com/zh/model-studio/image-to-video-general-api-reference
//   text-to-image endpoint and output.results[].url:
//     https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference
//   Qwen-Image synchronous endpoint and output.choices[].message.content[].image:
//     https://www.alibabacloud.com/help/en/model-studio/qwen-image-api
//   status codes (InvalidParameter, DataInspectionFailed, Arrearage,
//   UnsupportedOperation, ...): https://www.alibabacloud.com/help/en/model-studio/developer-reference/error-code
//   429 on rate limiting: https://www.alibabacloud.com/help/en/model-studio/rate-limiting-best-practices
//   task statuses incl. SUSPENDED, cancel "PENDING task" only, task list
//   filters (time, model, api key id, region, status): dashscope/dashscope-sdk-python
//   dashscope/common/constants.py, dashscope/client/base_api.py
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "alibabacloud";
constexpr std::string_view kImagePath = "/api/v1/services/aigc/text2image/image-synthesis";
constexpr std::string_view kVideoPath = "/api/v1/services/aigc/video-generation/video-synthesis";
constexpr std::string_view kSyncPath = "/api/v1/services/aigc/multimodal-generation/generation";

bool is_moderation(std::string_view code, std::string_view message) {
  return code == "DataInspectionFailed" || contains_ci(code, "DataInspection") ||
         contains_ci(message, "inappropriate content");
}

bool is_bad_input(std::string_view code) {
  return starts_with(code, "InvalidParameter") || starts_with(code, "BadRequest.") || code == "InvalidURL" ||
         starts_with(code, "InvalidFile.") || starts_with(code, "InvalidImage");
}

// What a DashScope error code says, when it says more than the HTTP status.
std::optional<ErrorKind> kind_of_code(std::string_view code, std::string_view message) {
  if (is_moderation(code, message)) return ErrorKind::moderation;
  if (starts_with(code, "Throttling")) return ErrorKind::rate_limited;
  if (code == "Arrearage" || starts_with(code, "AllocationQuota") || code == "PrepaidBillOverdue")
    return ErrorKind::provider_quota;
  if (code == "ModelNotFound" || code == "Model.AccessDenied" || code == "AccessDenied.Unpurchased" ||
      contains_ci(message, "model not exist"))
    return ErrorKind::model_unavailable;
  if (code == "InvalidApiKey" || starts_with(code, "AccessDenied")) return ErrorKind::provider_auth;
  if (is_bad_input(code)) return ErrorKind::invalid_input;
  return std::nullopt;
}

// A failed task (or a failed image of one).
ProviderError failure_of(std::string_view code, std::string_view text) {
  std::string message = text.empty() ? std::string("task failed") : clip(text);
  std::string c = code.empty() ? std::string("task_failed") : clip(code, 100);
  if (is_moderation(code, text)) return make_error(ErrorKind::moderation, std::move(c), std::move(message));
  if (is_bad_input(code)) return make_error(ErrorKind::invalid_input, std::move(c), std::move(message));
  return make_error(ErrorKind::server_error, std::move(c), std::move(message));
}

ProviderError malformed(std::string code, std::string message) {
  return make_error(ErrorKind::malformed_response, std::move(code), std::move(message));
}

// output.results[] (images) and output.video_url of a SUCCEEDED task.
void read_success(const json::Value& output, ProviderStatus& st) {
  ProviderError first_failure;
  if (const json::Value* results = member(output, "results"); results && results->is_array()) {
    for (const auto& item : results->array) {
      if (!item.is_object()) continue;
      std::string_view url = string_member(item, "url");
      if (is_http_url(url)) {
        st.outputs.push_back(ProviderOutput{std::string(url), {}, {}});
      } else if (first_failure.ok()) {
        first_failure = failure_of(string_member(item, "code"), string_member(item, "message"));
      }
    }
  }
  if (std::string_view video = string_member(output, "video_url"); is_http_url(video))
    st.outputs.push_back(ProviderOutput{std::string(video), {}, {}});
  if (!st.outputs.empty()) {
    st.kind = ProviderStatusKind::succeeded;
  } else if (!first_failure.ok()) {
    st.kind = ProviderStatusKind::failed;  // every image failed
    st.error = std::move(first_failure);
  } else {
    st.kind = ProviderStatusKind::failed;
    st.error = malformed("no_outputs", "succeeded task without a result URL");
  }
}

// output.choices[].message.content[].image of a synchronous answer.
void collect_choice_images(const json::Value& output, std::vector<ProviderOutput>& out) {
  const json::Value* choices = member(output, "choices");
  if (!choices || !choices->is_array()) return;
  for (const auto& choice : choices->array) {
    const json::Value* message = member(choice, "message");
    const json::Value* content = message ? member(*message, "content") : nullptr;
    if (!content || !content->is_array()) continue;
    for (const auto& item : content->array)
      if (std::string_view url = string_member(item, "image"); is_http_url(url))
        out.push_back(ProviderOutput{std::string(url), {}, {}});
  }
}

class AlibabaCloudProvider final : public JsonHttpAdapter {
 public:
  AlibabaCloudProvider(AlibabaCloudProviderOptions o, std::unique_ptr<HttpClient> http)
      : JsonHttpAdapter({kId, DeliveryMode::polling, true, "task"}, o.timing, std::move(http)),
        options_(std::move(o)) {}

  // A refused cancel is settled by reading the task (see the header comment).
  CancelResult cancel(const ProviderJob& job) override {
    CancelResult out = JsonHttpAdapter::cancel(job);
    if (!out.error.ok() || out.outcome != CancelOutcome::already_finished) return out;
    PollResult now = JsonHttpAdapter::poll(job);
    if (!now.error.ok()) {
      out.error = std::move(now.error);
    } else if (now.status.kind == ProviderStatusKind::lost) {
      out.outcome = CancelOutcome::not_found;
    } else if (now.status.kind == ProviderStatusKind::queued) {
      out.error = make_error(ErrorKind::server_error, "cancel_refused", "DashScope refused to cancel a pending task");
    }
    return out;
  }

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader>, std::string_view) override {
    return Status(Code::unsupported, "alibabacloud sends no callbacks to us");
  }

 private:
  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Bearer " + options_.api_key}}; }

  static bool is_sync(const SubmitRequest& request) { return request.payload->endpoint == kSyncPath; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    const std::string& path = request.payload->endpoint;
    if (path != kImagePath && path != kVideoPath && path != kSyncPath)
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "not a DashScope image or video endpoint");
    plan.url = http().url(path);
    return default_model(request, plan);
  }

  ProviderError add_submit_headers(const SubmitRequest& request, std::vector<HttpHeader>& headers) const override {
    if (!is_sync(request)) headers.push_back({"X-DashScope-Async", "enable"});
    return {};
  }

  void read_submit(const SubmitRequest& request, const SubmitPlan&, const Answer& a, SubmitResult& out) const override {
    const json::Value* output = a.body.is_object() ? member(a.body, "output") : nullptr;
    if (!output || !output->is_object()) {
      std::string_view code = a.body.is_object() ? string_member(a.body, "code") : std::string_view{};
      out.error = code.empty() ? malformed("malformed", "submit answer without output")
                               : refine_code(make_error(ErrorKind::invalid_input, clip(code, 100),
                                                        clip(string_member(a.body, "message"))));
      return;
    }
    if (!is_sync(request)) {
      std::string_view id = string_member(*output, "task_id");
      if (!is_path_segment(id)) {
        out.error = malformed("malformed", "submit answer without a task_id");
        return;
      }
      out.job.job_id = std::string(id);
      return;
    }
    ProviderStatus st;
    st.kind = ProviderStatusKind::succeeded;
    collect_choice_images(*output, st.outputs);
    if (st.outputs.empty()) {
      out.error = malformed("no_images", "answer carries no image URL");
      return;
    }
    std::string_view rid = string_member(a.body, "request_id");
    out.job.job_id = is_path_segment(rid) ? std::string(rid) : request.attempt_id;
    out.status = std::move(st);
  }

  ProviderError locate(const ProviderJob& job, Op op, Call& call) const override {
    if (!is_path_segment(job.job_id)) return bad_job("task id");
    call.url = http().url("/api/v1/tasks/" + job.job_id + (op == Op::cancel ? "/cancel" : ""));
    return {};
  }

  void read_poll(const ProviderJob&, const json::Value& body, PollResult& out) const override {
    const json::Value* output = body.is_object() ? member(body, "output") : nullptr;
    if (!output || !output->is_object()) {
      out.error = malformed("malformed", "task answer without output");
      return;
    }
    ProviderStatus& st = out.status;
    std::string_view status = string_member(*output, "task_status");
    if (status == "PENDING" || status == "SUSPENDED") {
      st.kind = ProviderStatusKind::queued;
    } else if (status == "RUNNING") {
      st.kind = ProviderStatusKind::running;
    } else if (status == "SUCCEEDED") {
      read_success(*output, st);
    } else if (status == "FAILED") {
      st.kind = ProviderStatusKind::failed;
      st.error = failure_of(string_member(*output, "code"), string_member(*output, "message"));
    } else if (status == "CANCELED") {
      st.kind = ProviderStatusKind::canceled;
    } else if (status == "UNKNOWN") {
      mark_lost(st);
    } else {
      out.error = malformed("unknown_status", "unknown task status");
    }
  }

  // 2xx: accepted unless the body names an error; a refusal becomes
  // already_finished here and is checked against the task in cancel().
  std::optional<CancelOutcome> read_cancel(const Answer& a) const override {
    const int s = a.response.status;
    if (is_2xx(s)) {
      bool named = a.error.ok() && a.body.is_object() && !string_member(a.body, "code").empty();
      return named ? CancelOutcome::already_finished : CancelOutcome::requested;
    }
    if (s != 400 && s != 409 && s != 422) return std::nullopt;
    auto kind = kind_of_code(a.error.code, a.error.message);
    if (kind && *kind != ErrorKind::invalid_input && *kind != ErrorKind::moderation) return std::nullopt;
    return CancelOutcome::already_finished;
  }

  ProviderError refine(Op, const Answer& a) const override { return refine_code(a.error); }

  static ProviderError refine_code(ProviderError e) {
    if (auto kind = kind_of_code(e.code, e.message)) e.kind = *kind;
    return e;
  }

  AlibabaCloudProviderOptions options_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_alibabacloud_provider(AlibabaCloudProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "alibabacloud: api_key is required");
  return providers::make_adapter<providers::AlibabaCloudProvider>(std::move(options));
}

}  // namespace babysea
