// byteplus_emulator.hpp — BytePlus ModelArk (Seedream images, Seedance video
// tasks) on loopback. Poll only: BytePlus signs no callbacks, so none is sent
// (a callback_url in a task body is recorded in EmuJob::callback_url, never called).
//
//   POST   /api/v3/images/generations  `Authorization: Bearer <api_key>`;
//          body {model, prompt, size?, seed?, watermark?, response_format "url"|"b64_json",
//                output_format "jpeg"|"png", sequential_image_generation "auto"|"disabled",
//                sequential_image_generation_options {max_images 1..15}, ...}
//          -> 200 {"model","created","data":[{"url"|"b64_json","size"}],"usage":{...}}
//          held for the job timing (queued + running): one exchange per generation.
//          Images: 1, or with sequential_image_generation "auto" max_images (1 when absent).
//   POST   /api/v3/contents/generations/tasks  body {model, content:[{type:"text",text} |
//          {type:"image_url",image_url:{url},role?} | ...], return_last_frame?, ...}
//          -> 200 {"id":"cgt-<date>-<hex>"}
//   GET    /api/v3/contents/generations/tasks/{id}
//          -> {id, model, status, created_at, updated_at, content?, error?, usage?, ...}
//   DELETE /api/v3/contents/generations/tasks/{id}
//          queued -> cancelled (200 {}); succeeded / failed / expired -> the record is
//          deleted (200 {}, later 404); running / cancelled -> 403
//          OperationDenied.UnsupportedPhase; unknown or lost -> 404.
// Every answer carries an X-Request-Id header.
//
// Task statuses: queued, running, succeeded (content.video_url: an MP4 file at
// /files/, plus content.last_frame_url, a PNG, when the body asked
// return_last_frame), failed (error InternalServiceError; input moderation
// InputTextSensitiveContentDetected; output moderation
// OutputVideoSensitiveContentDetected), cancelled, expired (tasks after
// expire_next: queued until the job's start time, then expired). Lost: 404.
// Images: a moderated input answers 400 InputTextSensitiveContentDetected; a
// moderated output answers 200 with every data item
// {"error":{"code":"OutputImageSensitiveContentDetected",...}}; after
// partial_moderation_next only the first image fails that way; a failed (or
// lost) job answers 500 InternalServiceError. Image files are PNG bytes
// whatever output_format says.
//
// Errors {"error":{"code","message","param","type"}}: 401 AuthenticationError,
// 400 MissingParameter / InvalidParameter, 403 AccountOverdueError (after
// overdue_next), 404 ModelNotOpen (a model outside set_open_models), 429
// RateLimitExceeded.EndpointRPMExceeded (with Retry-After from the fault),
// 5xx InternalServiceError / ServiceUnavailable.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <set>

#include "emulator_base.hpp"

namespace babysea::emu {

class BytePlusEmulator : public EmulatorBase {
 public:
  explicit BytePlusEmulator(EmulatorOptions options = {});
  ~BytePlusEmulator() override;

  // The next n video tasks expire (status "expired") instead of starting.
  void expire_next(int n) { expire_.fetch_add(n); }
  // The next n image requests lose only their first image to output moderation.
  void partial_moderation_next(int n) { partial_.fetch_add(n); }
  // The next n submits (either endpoint) answer 403 AccountOverdueError.
  void overdue_next(int n) { overdue_.fetch_add(n); }
  // Models the account has activated; empty (the default): every model.
  void set_open_models(std::set<std::string> models);
  // The bytes every video file carries (an MP4 header), for tests.
  static const std::string& mp4_bytes();

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse error(int status, std::string_view code, std::string_view message, std::string_view param = "");
  std::optional<EmuResponse> check_auth(const EmuRequest& r);
  // The account and the model: an error answer, or nullopt to go on.
  std::optional<EmuResponse> admit(const std::string& model);
  // A submit body after auth, JSON and admit(); nullopt with `refusal` set otherwise.
  std::optional<boost::json::object> read_body(const EmuRequest& r, EmuResponse& refusal);
  EmuResponse images(const EmuRequest& r);
  EmuResponse create_task(const EmuRequest& r);
  EmuResponse get_task(const EmuRequest& r);
  EmuResponse delete_task(const EmuRequest& r);
  std::string render(const EmuJob& job, SteadyTime at) const;
  static bool take(std::atomic<int>& counter);

  std::atomic<int> expire_{0};
  std::atomic<int> partial_{0};
  std::atomic<int> overdue_{0};
  mutable std::mutex models_mu_;
  std::set<std::string> open_models_;
};

}  // namespace babysea::emu
