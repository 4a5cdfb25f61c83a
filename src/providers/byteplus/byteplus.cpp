// BytePlus ModelArk adapter (providers.hpp, specs/providers.md §4).
//
// Auth: `Authorization: Bearer <api key>` on every call; the base URL is the
// region's host (ap-southeast-1 by default), paths carry /api/v3. The body
// is the catalog's native body with "model" set to the native model when it
// names none. No callback_url is ever added (BytePlus signs no callbacks):
// the adapter polls. Two endpoints (anything else: invalid_input
// "bad_endpoint", without I/O):
//
// Seedream images, POST /api/v3/images/generations: one exchange that
// answers the final result {model, created, data:[...], usage, error?}.
// Each data item is {url, size} or {b64_json, size} or, for an image that
// failed (group generation goes on after one fails), {error:{code,message}}.
// URL items are passed on as output URLs (never fetched here); b64_json is
// decoded into inline bytes typed by the payload's output_format (png ->
// image/png, else the documented default jpeg -> image/jpeg). Some image ->
// succeeded with those images; none -> failed with the first item error (or
// the top-level "error"); neither -> malformed. The job id is the
// X-Request-Id header, else an "id" member, else the attempt id; the handle
// "images" marks the job as answered: poll -> lost, cancel ->
// already_finished, both without I/O.
//
// Seedance video, POST /api/v3/contents/generations/tasks -> {"id"} (the job
// id). Poll GET /api/v3/contents/generations/tasks/{id}: queued -> queued,
// running -> running, succeeded -> content.video_url (plus
// content.last_frame_url, present when the body asked return_last_frame),
// failed -> failed by error.code, cancelled -> canceled, expired (the task
// outlived execution_expires_after) -> failed with timeout; 404 -> lost.
//
// Cancel: DELETE .../tasks/{id} cancels a task only while it is queued; on a
// running or cancelled task it is refused, and on a succeeded, failed or
// expired task it deletes the record. So the task is read first: queued ->
// DELETE -> requested; running -> unsupported (BytePlus cannot stop it: it
// runs to its end and is billed; already_finished would claim there was
// nothing left to run); final -> already_finished; 404 -> not_found. A
// DELETE refused because the task left the queue meanwhile is settled by
// reading the task once more.
//
// Errors {"error":{"code","message","param","type"}}: the code refines the
// HTTP status class: *SensitiveContentDetected* and *RiskDetection ->
// moderation; AccountOverdueError, OperationDenied.ServiceOverdue,
// QuotaExceeded, SetLimitExceeded -> provider_quota; AuthenticationError,
// AccessDenied -> provider_auth; ModelNotOpen, InvalidEndpointOrModel.*,
// InvalidEndpoint.*, OperationDenied.ServiceNotOpen -> model_unavailable;
// ServerOverloaded -> provider_unavailable; RateLimitExceeded* and
// *RateLimitExceeded -> rate_limited (Retry-After kept); MissingParameter*,
// InvalidParameter* -> invalid_input; OperationDenied.* on a cancel -> a
// refusal (invalid_input). Failed tasks and failed images: the same codes,
// anything else server_error. parse_callback: unsupported; find_job:
// unsupported (the task list filters by status and model only).
//
// Sources:
//   base URL, regions, model ids vs endpoint ids, Bearer key:
//     https://docs.byteplus.com/en/docs/modelark/1330310
//     https://docs.byteplus.com/api/docs/ModelArk/1366799
//   task create / query / list / delete, content[] items, queue limit:
//     https://docs.byteplus.com/ja/docs/ModelArk/1520757
//   task statuses (queued, running, succeeded, failed, cancelled),
//   content.video_url / last_frame_url, error{code,message}, the images
//   answer (data[].url / b64_json / size, error, usage), X-Request-Id,
//   status -> exception table (400/401/403/404/429/5xx): the official SDK
//     https://github.com/byteplus-sdk/byteplus-python-sdk-v2 (byteplussdkarkruntime:
//     types/content_generation/content_generation_task.py, types/images/images.py,
//     _constants.py, _exceptions.py, resources/content_generation/tasks.py)
//   "expired", and DELETE per status (queued -> cancelled; running and
//   cancelled refused; succeeded / failed / expired deleted), mirrors of the
//   official page:
//     https://docs.powertokens.ai/en/zmodelVideo/byteplus/seedance/cancel-delete-video-task
//     https://docs.ai-tokenhub.com/en/api-guides/Delete-video-generation-task
//   error codes (MissingParameter, InvalidParameter, InvalidEndpoint.*,
//   *SensitiveContentDetected*, AuthenticationError, AccountOverdueError,
//   AccessDenied, InvalidEndpoint.NotFound, 429 RateLimitExceeded.*):
//     https://docs.byteplus.com/en/docs/ModelArk/1299023
//   the same table on the China site (InvalidEndpointOrModel.NotFound,
//   ModelNotOpen, OperationDenied.ServiceOverdue / ServiceNotOpen /
//   UnsupportedPhase, *RiskDetection): https://volcengine.com/docs/82379/1299023
//   data[].error for a failed image, output_format jpeg (default) / png:
//     https://powower.mintlify.app/en/byteplus/image (mirror),
//     https://www.volcengine.com/docs/82379/1541523
// Not found in any page read (assumed, harmless when wrong): the codes
// QuotaExceeded, SetLimitExceeded and ServerOverloaded (429s of the China
// table as remembered); the status and code of a refused DELETE (handled
// whatever they are: any 4xx refusal is settled by reading the task); the
// code of a 404 for an unknown task (404 alone means lost).
#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "byteplus";
constexpr std::string_view kImagesPath = "/api/v3/images/generations";
constexpr std::string_view kTasksPath = "/api/v3/contents/generations/tasks";
constexpr std::string_view kImagesHandle = "images";  // ProviderJob::handle of an answered image request
constexpr std::size_t kMaxImagesAnswerBytes = 64u << 20;  // up to 15 inline images

// What a ModelArk error code says beyond the HTTP status; nullopt: nothing.
std::optional<ErrorKind> kind_of_code(std::string_view code) {
  if (code.find("SensitiveContentDetected") != std::string_view::npos || code.ends_with("RiskDetection"))
    return ErrorKind::moderation;
  if (code == "AccountOverdueError" || starts_with(code, "OperationDenied.ServiceOverdue") ||
      code == "QuotaExceeded" || code == "SetLimitExceeded")
    return ErrorKind::provider_quota;
  if (code == "AuthenticationError" || code == "AccessDenied") return ErrorKind::provider_auth;
  if (code == "ModelNotOpen" || starts_with(code, "InvalidEndpointOrModel") || starts_with(code, "InvalidEndpoint.") ||
      code == "OperationDenied.ServiceNotOpen")
    return ErrorKind::model_unavailable;
  if (code == "ServerOverloaded") return ErrorKind::provider_unavailable;
  if (starts_with(code, "RateLimitExceeded") || code.ends_with("RateLimitExceeded")) return ErrorKind::rate_limited;
  if (starts_with(code, "MissingParameter") || starts_with(code, "InvalidParameter")) return ErrorKind::invalid_input;
  return std::nullopt;
}

ProviderError malformed(std::string code, std::string message) {
  return make_error(ErrorKind::malformed_response, std::move(code), std::move(message));
}

// A failed task or image: {"code","message"} (either may be missing).
ProviderError failure_of(const json::Value* error, std::string_view what) {
  std::string_view code = error ? string_member(*error, "code") : std::string_view{};
  std::string_view text = error ? string_member(*error, "message") : std::string_view{};
  return make_error(kind_of_code(code).value_or(ErrorKind::server_error),
                    code.empty() ? std::string(what) + "_failed" : std::string(code),
                    text.empty() ? std::string(what) + " failed" : std::string(text));
}

std::string image_type(std::string_view output_format) {
  return lower(output_format) == "png" ? "image/png" : "image/jpeg";
}

// The final status a Seedream answer carries (see the header comment).
ProviderError read_images(const json::Value& body, std::string_view content_type, ProviderStatus& st) {
  static const std::vector<json::Value> kNone;
  const json::Value* data = member(body, "data");
  if (data && !data->is_array()) return malformed("bad_data", "data is not an array");
  ProviderError first_failure;
  for (const auto& item : data ? data->array : kNone) {
    if (!item.is_object()) return malformed("bad_item", "image entry is not an object");
    std::string_view b64 = string_member(item, "b64_json");
    std::string_view url = string_member(item, "url");
    if (!b64.empty()) {
      auto bytes = base64_decode(b64);
      if (!bytes || bytes->empty()) return malformed("bad_base64", "b64_json does not decode");
      st.outputs.push_back(ProviderOutput{{}, std::move(*bytes), std::string(content_type)});
    } else if (is_http_url(url)) {
      st.outputs.push_back(ProviderOutput{std::string(url), {}, {}});
    } else if (const json::Value* e = member(item, "error"); e && e->is_object()) {
      if (first_failure.ok()) first_failure = failure_of(e, "image");
    } else {
      return malformed("bad_item", "image entry has neither an image nor an error");
    }
  }
  if (!st.outputs.empty()) {
    st.kind = ProviderStatusKind::succeeded;
    return {};
  }
  if (const json::Value* e = member(body, "error"); first_failure.ok() && e && e->is_object())
    first_failure = failure_of(e, "image");
  if (first_failure.ok()) return malformed("no_data", "answer carries no images");
  st.kind = ProviderStatusKind::failed;
  st.error = std::move(first_failure);
  return {};
}

// A Seedance task as GET .../tasks/{id} answers it.
ProviderError read_task(const json::Value& v, ProviderStatus& st) {
  if (!v.is_object()) return malformed("malformed", "task is not an object");
  std::string_view status = string_member(v, "status");
  if (status == "queued") {
    st.kind = ProviderStatusKind::queued;
  } else if (status == "running") {
    st.kind = ProviderStatusKind::running;
  } else if (status == "succeeded") {
    const json::Value* content = member(v, "content");
    std::string_view video = content ? string_member(*content, "video_url") : std::string_view{};
    if (!is_http_url(video)) return malformed("no_output", "succeeded task without a video_url");
    st.kind = ProviderStatusKind::succeeded;
    st.outputs.push_back(ProviderOutput{std::string(video), {}, {}});
    if (std::string_view frame = string_member(*content, "last_frame_url"); is_http_url(frame))
      st.outputs.push_back(ProviderOutput{std::string(frame), {}, {}});
  } else if (status == "failed") {
    st.kind = ProviderStatusKind::failed;
    const json::Value* e = member(v, "error");
    st.error = failure_of(e && e->is_object() ? e : nullptr, "task");
  } else if (status == "cancelled") {
    st.kind = ProviderStatusKind::canceled;
  } else if (status == "expired") {
    st.kind = ProviderStatusKind::failed;
    st.error = make_error(ErrorKind::timeout, "expired", "the task expired before it finished");
  } else {
    return malformed("unknown_status", "unknown task status");
  }
  return {};
}

class BytePlusProvider final : public JsonHttpAdapter {
 public:
  BytePlusProvider(BytePlusProviderOptions o, std::unique_ptr<HttpClient> http)
      : JsonHttpAdapter({kId, DeliveryMode::polling, true, "task"}, o.timing, std::move(http)),
        options_(std::move(o)) {}

  PollResult poll(const ProviderJob& job) override {
    if (job.handle != kImagesHandle) return JsonHttpAdapter::poll(job);
    PollResult out;  // the submit answered it; there is no task to read
    out.status.kind = ProviderStatusKind::lost;
    out.status.error = malformed("job_lost", "an answered image request cannot be polled");
    return out;
  }

  // Only a queued task is deleted (see the header comment).
  CancelResult cancel(const ProviderJob& job) override {
    CancelResult out;
    if (job.handle == kImagesHandle) {
      out.outcome = CancelOutcome::already_finished;
      return out;
    }
    PollResult before = JsonHttpAdapter::poll(job);
    if (!before.error.ok() || before.status.kind != ProviderStatusKind::queued) return settled(std::move(before));
    out = JsonHttpAdapter::cancel(job);
    if (out.error.kind != ErrorKind::invalid_input) return out;
    // Refused: the task left the queue between the read and the DELETE.
    CancelResult now = settled(JsonHttpAdapter::poll(job));
    return now.error.ok() && now.outcome == CancelOutcome::requested ? out : now;
  }

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader>, std::string_view) override {
    return Status(Code::unsupported, "byteplus callbacks are unsigned; the adapter polls");
  }

 private:
  // The outcome a task read implies without a DELETE; requested for a task
  // still queued (the caller decides).
  static CancelResult settled(PollResult read) {
    CancelResult out;
    if (!read.error.ok()) {
      out.error = std::move(read.error);
    } else if (read.status.kind == ProviderStatusKind::lost) {
      out.outcome = CancelOutcome::not_found;
    } else if (read.status.kind == ProviderStatusKind::running) {
      out.outcome = CancelOutcome::unsupported;
    } else if (is_final(read.status.kind)) {
      out.outcome = CancelOutcome::already_finished;
    }
    return out;
  }

  static bool is_images(const SubmitRequest& request) { return request.payload->endpoint == kImagesPath; }

  std::vector<HttpHeader> auth() const override { return {{"Authorization", "Bearer " + options_.api_key}}; }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    const std::string& path = request.payload->endpoint;
    if (path != kImagesPath && path != kTasksPath)
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "not a ModelArk images or video-task endpoint");
    plan.url = http().url(path);
    if (is_images(request)) plan.max_answer_bytes = kMaxImagesAnswerBytes;
    return default_model(request, plan);
  }

  void read_submit(const SubmitRequest& request, const SubmitPlan& plan, const Answer& a,
                   SubmitResult& out) const override {
    if (!a.body.is_object()) {
      out.error = malformed("malformed", "submit answer is not an object");
      return;
    }
    std::string_view id = string_member(a.body, "id");
    if (!is_images(request)) {
      if (!is_path_segment(id)) {
        out.error = malformed("malformed", "task answer without an id");
        return;
      }
      out.job.job_id = std::string(id);
      return;
    }
    ProviderStatus st;
    out.error = read_images(a.body, image_type(string_member(plan.payload, "output_format")), st);
    if (!out.error.ok()) return;
    auto rid = a.response.header("X-Request-Id");
    out.job.job_id = rid && is_path_segment(*rid) ? std::string(*rid)
                     : is_path_segment(id)        ? std::string(id)
                                                  : request.attempt_id;
    out.job.handle = std::string(kImagesHandle);
    out.status = std::move(st);
  }

  ProviderError locate(const ProviderJob& job, Op op, Call& call) const override {
    if (!is_path_segment(job.job_id)) return bad_job("task id");
    if (op == Op::cancel) call.method = "DELETE";
    call.url = http().url(std::string(kTasksPath) + "/" + job.job_id);
    return {};
  }

  void read_poll(const ProviderJob&, const json::Value& body, PollResult& out) const override {
    out.error = read_task(body, out.status);
  }

  ProviderError refine(Op op, const Answer& a) const override {
    ProviderError e = a.error;
    if (!a.sent || is_2xx(a.response.status)) return e;  // transport failure or unparsable 2xx
    if (auto kind = kind_of_code(e.code)) e.kind = *kind;
    if (op == Op::cancel && starts_with(e.code, "OperationDenied.") && e.kind != ErrorKind::provider_quota &&
        e.kind != ErrorKind::model_unavailable)
      e.kind = ErrorKind::invalid_input;  // the task is in a phase that cannot be canceled
    return e;
  }

  BytePlusProviderOptions options_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_byteplus_provider(BytePlusProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "byteplus: api_key is required");
  return providers::make_adapter<providers::BytePlusProvider>(std::move(options), providers::kMaxImagesAnswerBytes);
}

}  // namespace babysea
