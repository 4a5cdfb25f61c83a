// cloudflare_emulator.hpp — Cloudflare Workers AI text-to-image (synchronous) on loopback.
//
//   POST /client/v4/accounts/{account_id}/ai/run/{model}
//        `Authorization: Bearer <api_key>`; body: the model's input JSON (no "model")
//        JSON-output models   -> 200 application/json
//                                {"result":{"image":"<base64>"},"success":true,"errors":[],"messages":[]}
//        binary-output models -> 200 image/png or image/jpeg, the raw bytes
// Every answer carries a `cf-ray` header (16 hex digits + "-EMU"), which is
// also the emulated job's id. The answer is held for the job timing (queued
// + running): the whole run is one HTTP exchange.
// Models (their output as Cloudflare's schema files describe it):
//   @cf/black-forest-labs/flux-1-schnell  JSON, JPEG; input {prompt, steps <= 8} and nothing else
//   @cf/leonardo/lucid-origin             JSON, JPEG; num_steps/steps <= 40, sides <= 2500
//   @cf/stabilityai/stable-diffusion-xl-base-1.0, @cf/bytedance/stable-diffusion-xl-lightning,
//   @cf/lykon/dreamshaper-8-lcm, @cf/runwayml/stable-diffusion-v1-5-img2img,
//   @cf/runwayml/stable-diffusion-v1-5-inpainting
//                                         raw PNG; num_steps <= 20, sides 256..2048
//   @cf/leonardo/phoenix-1.0              raw JPEG; num_steps <= 50, sides <= 2048
// Every model requires "prompt" (a string of 1..2048 characters).
// Errors in the v4 envelope {"result":null,"success":false,"errors":[{"code",
// "message"}],"messages":[]}: 401 code 10000 for a wrong token, 403 code
// 10000 for another account, 404 code 3042 for a name without "@cf/", 400
// code 5007 for an unknown model, 400 code 5006 ("AiError: Bad input: ...")
// for a body the model's schema refuses, 404 code 7000 for other paths.
// Job outcomes (FaultControl): moderation (input or output) -> 400 code 3030
// "AiError: ... contains NSFW content"; fail and lose (there is no job to
// lose) -> 500 code 3043. With set_failures_in_2xx(true) those come as a 200
// envelope with success:false instead. Request faults through the base:
// rate_limit -> 429 code 971 with Retry-After; http_error -> that status in
// the envelope. error_next() scripts any Cloudflare error (daily allocation
// 3036, out of capacity 3040, private model 5018, ...) for the next runs.
// Codes 3030, 3043 and 971 and the messages of the moderation errors are
// taken from client reports, not from Cloudflare's error table.
#pragma once

#include <atomic>
#include <deque>

#include "emulator_base.hpp"

namespace babysea::emu {

// A Cloudflare error to answer: HTTP status, internal code, message.
struct CfError {
  int status = 400;
  int code = 0;
  std::string message;

  static CfError daily_limit();      // 429 3036 (free allocation of neurons used up)
  static CfError out_of_capacity();  // 429 3040
  static CfError private_model();    // 403 5018
};

class CloudflareEmulator : public EmulatorBase {
 public:
  static constexpr const char* kDefaultAccount = "0123456789abcdef0123456789abcdef";
  explicit CloudflareEmulator(EmulatorOptions options = {}, std::string account_id = kDefaultAccount);
  ~CloudflareEmulator() override;

  const std::string& account_id() const { return account_id_; }
  // The next n runs (after auth and input checks) answer `error`; no job is created.
  void error_next(CfError error, int n = 1);
  // Model failures and moderation as a 200 envelope with success:false (default: 4xx/5xx).
  void set_failures_in_2xx(bool on) { failures_in_2xx_ = on; }
  // Images are padded (after their end marker) to at least this many bytes (default: none).
  void set_image_size(std::size_t bytes) { image_size_ = bytes; }
  // The bytes a JPEG model answers (a 1x1 grayscale baseline JPEG, before padding).
  static const std::string& jpeg_bytes();

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse run(const EmuRequest& r);
  EmuResponse error(CfError e, std::string ray = {});
  EmuResponse outcome_error(JobOutcome outcome, std::string ray);
  std::optional<CfError> take_error();

  std::string account_id_;
  std::atomic<bool> failures_in_2xx_{false};
  std::atomic<std::size_t> image_size_{0};
  std::mutex mu_;
  std::deque<CfError> errors_;
};

}  // namespace babysea::emu
