// replicate_emulator.hpp — Replicate's predictions API on loopback.
//
//   POST /v1/predictions                     {version, input, webhook?, webhook_events_filter?}
//   POST /v1/models/{owner}/{name}/predictions {input, webhook?, webhook_events_filter?}
//   GET  /v1/predictions/{id}
//   POST /v1/predictions/{id}/cancel
//   GET  /v1/webhooks/default/secret         -> {"key":"whsec_..."}
// Auth: `Authorization: Bearer <api_key>` (or `Token <api_key>`), else 401.
// Headers: `Prefer: wait[=n]` (answer held until the prediction finishes,
// at most n <= 60 s), `Cancel-After: <duration>` (e.g. 30s, 1m, 1m30s, 500ms;
// not started by then: "aborted", running: "canceled").
// Statuses: starting (queued), processing, succeeded (output: array of URLs
// served at /files/), failed (error text; moderation says "NSFW content
// detected..."), canceled, aborted. A lost prediction answers 404.
// Errors are problem+json: {"title","detail","status"}.
// Webhooks: Standard Webhooks (webhook-id, webhook-timestamp,
// webhook-signature "v1,<base64 HMAC-SHA256>") signed with the account's
// `whsec_` secret; events `start` (at submit), `output` (outputs ready,
// status still processing), `completed` (terminal; retried on failure);
// default filter: output + completed. `logs` is accepted and never sent.
#pragma once

#include "emulator_base.hpp"

namespace babysea::emu {

class ReplicateEmulator : public EmulatorBase {
 public:
  // An empty `webhook_secret` generates a random 32-byte "whsec_" secret.
  explicit ReplicateEmulator(EmulatorOptions options = {}, std::string webhook_secret = {});
  ~ReplicateEmulator() override;

  const std::string& webhook_secret() const { return secret_; }

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse submit(const EmuRequest& r, std::string model, bool needs_version);
  std::string render(const EmuJob& job, SteadyTime at, bool output_event = false) const;
  bool authorized(const EmuRequest& r) const;

  std::string secret_;
};

}  // namespace babysea::emu
