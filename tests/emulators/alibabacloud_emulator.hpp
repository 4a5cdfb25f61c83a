// alibabacloud_emulator.hpp — Alibaba Cloud Model Studio (DashScope) on loopback (poll only, no callbacks).
//
//   POST /api/v1/services/aigc/text2image/image-synthesis        Wan text-to-image task
//   POST /api/v1/services/aigc/video-generation/video-synthesis  Wan text/image-to-video task
//        `Authorization: Bearer <api_key>`, `X-DashScope-Async: enable` (missing:
//        403 AccessDenied "current user api does not support synchronous calls");
//        body {"model", "input":{...}, "parameters":{...}}
//        -> 200 {"output":{"task_id","task_status":"PENDING"},"request_id"}
//   POST /api/v1/services/aigc/multimodal-generation/generation  Qwen-Image, synchronous:
//        body {"model","input":{"messages":[{"role":"user","content":[{"text"}]}]},"parameters"}
//        held for the job timing, then 200 {"output":{"choices":[{"finish_reason":"stop",
//        "message":{"role":"assistant","content":[{"image":url,"type":"image"}]}}],"finished":true},
//        "usage":{"image_count","size"},"request_id"}; moderation 400 DataInspectionFailed,
//        a failed job 500 InternalError.
//   GET  /api/v1/tasks/{id}         -> 200 {"request_id","output":{"task_id","task_status",
//        "submit_time","scheduled_time"?,"end_time"?, results[{url}] | video_url | code+message},
//        "usage"?}. Statuses PENDING, RUNNING, SUCCEEDED, FAILED (code InternalError;
//        DataInspectionFailed for input or output moderation), CANCELED, and UNKNOWN for a
//        task id it does not know or a lost task (DashScope answers an expired or missing
//        task that way, HTTP 200).
//   POST /api/v1/tasks/{id}/cancel  -> 200 {"request_id"} while PENDING; otherwise 400
//        UnsupportedOperation (unknown, running or finished task).
// Image tasks make parameters.n images (1..4, default 1); video tasks one MP4-named file.
// Outputs are served at /files/ and expire per the fault control's output TTL.
// partial_failure_next(n): the next n image tasks report their first result as
// {"code":"DataInspectionFailed","message"} instead of a url (a one-image task
// then has no image at all). No region check: one emulator is one region.
// Errors: {"request_id","code","message"}; faults through FaultControl (429
// Throttling.RateQuota + Retry-After, 5xx, resets, hangs, malformed JSON).
#pragma once

#include <atomic>
#include <variant>

#include <boost/json/object.hpp>

#include "emulator_base.hpp"

namespace babysea::emu {

class AlibabaCloudEmulator : public EmulatorBase {
 public:
  static constexpr const char* kImagePath = "/api/v1/services/aigc/text2image/image-synthesis";
  static constexpr const char* kVideoPath = "/api/v1/services/aigc/video-generation/video-synthesis";
  static constexpr const char* kSyncPath = "/api/v1/services/aigc/multimodal-generation/generation";

  explicit AlibabaCloudEmulator(EmulatorOptions options = {});
  ~AlibabaCloudEmulator() override;

  // The next n image tasks fail their first image (see the header comment).
  void partial_failure_next(int n) { partial_.fetch_add(n); }

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  static std::string request_id();
  EmuResponse error(int status, std::string_view code, std::string_view message);
  std::optional<EmuResponse> check_auth(const EmuRequest& r);
  // Auth, JSON object, model, input and size checks; the body or the error answer.
  std::variant<boost::json::object, EmuResponse> read_body(const EmuRequest& r);
  EmuResponse submit_task(const EmuRequest& r, bool video);
  EmuResponse generate(const EmuRequest& r);
  EmuResponse task(const EmuRequest& r);
  EmuResponse cancel(const EmuRequest& r);
  std::string render(const EmuJob& job, SteadyTime at) const;

  std::atomic<int> partial_{0};
};

}  // namespace babysea::emu
