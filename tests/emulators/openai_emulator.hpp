// openai_emulator.hpp — OpenAI Images (synchronous) on loopback.
//
//   POST /v1/images/generations  `Authorization: Bearer <api_key>`;
//        body {model, prompt, n (1..10), size, response_format "url"|"b64_json",
//              output_format "png"|"jpeg"|"webp", ...}
//        -> 200 {"created", "data":[{"b64_json"}|{"url"}], "output_format", "size", "usage"}
// The answer is held for the job timing (queued + running): the whole job is
// one HTTP exchange. gpt-image-* models default to b64_json, others to url
// (URLs served at /files/, expiring per the output TTL).
// Errors in OpenAI's shape {"error":{"message","type","param","code"}}:
// moderation (either kind) 400 code "moderation_blocked"; a failed job 500
// server_error; 401 invalid_api_key; 400 invalid_request_error; 429
// rate_limit_exceeded with Retry-After and x-ratelimit-* headers.
#pragma once

#include "emulator_base.hpp"

namespace babysea::emu {

class OpenAiEmulator : public EmulatorBase {
 public:
  explicit OpenAiEmulator(EmulatorOptions options = {});
  ~OpenAiEmulator() override;

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse generate(const EmuRequest& r);
  EmuResponse error(int status, std::string_view message, std::string_view type, std::string_view code);
};

}  // namespace babysea::emu
