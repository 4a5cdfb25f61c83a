// bfl_emulator.hpp — Black Forest Labs' API on loopback.
//
//   POST /v1/{model}          header x-key; body {prompt, ..., webhook_url?, webhook_secret?}
//                             -> 200 {"id","polling_url","cost"}; polling_url points back here:
//   GET  /v1/get_result?id=.. -> {"id","status","result","progress","details"}
// Statuses: Pending (queued and running; progress 0..1 while running),
// Ready (result.sample: an output URL served at /files/, which expires per
// the fault control's output TTL — BFL's own is 10 min), Error, Request
// Moderated (input; final at once), Content Moderated (output), Task not
// found (unknown or lost id; HTTP 200 with that status, as BFL reports it in
// the body). No cancel endpoint. Errors: {"detail": "..."}; faults 402
// (credits), 429, 503 through FaultControl::http_error_next / rate_limit_next.
// Webhook (terminal only, when webhook_url is given): the get_result body
// plus "task_id", signed when webhook_secret is given with
// `X-BFL-Signature: sha256=<hex HMAC-SHA256(body)>` keyed with the secret
// text as is.
#pragma once

#include "emulator_base.hpp"

namespace babysea::emu {

class BflEmulator : public EmulatorBase {
 public:
  explicit BflEmulator(EmulatorOptions options = {});
  ~BflEmulator() override;

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse submit(const EmuRequest& r);
  std::string render(const std::string& id, const EmuJob* job, SteadyTime at, bool webhook) const;
};

}  // namespace babysea::emu
