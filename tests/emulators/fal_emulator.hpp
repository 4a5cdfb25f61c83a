// fal_emulator.hpp — fal's queue API on loopback (the queue.fal.run host).
//
//   POST /{model_id...}[?fal_webhook=URL]         -> {request_id, gateway_request_id, status,
//                                                    status_url, response_url, cancel_url, queue_position}
//   GET  /{model_id...}/requests/{id}/status       202 {"status":"IN_QUEUE","queue_position":n}
//                                                  202 {"status":"IN_PROGRESS","logs":[]}
//                                                  200 {"status":"COMPLETED", ... [error, error_type]}
//                                                  404 {"detail":"Request not found"} (lost)
//   GET  /{model_id...}/requests/{id}              200 {"images":[{"url",...}],"seed",...};
//                                                  400 while in progress; 422 content_policy_violation;
//                                                  500 failure; 404 lost
//   PUT  /{model_id...}/requests/{id}/cancel       202 CANCELLATION_REQUESTED / 400 ALREADY_COMPLETED /
//                                                  404 NOT_FOUND
//   GET  /.well-known/jwks.json                    {"keys":[{"kty":"OKP","crv":"Ed25519","x":b64url,...}]}
// Auth: `Authorization: Key <api_key>`, else 401 {"detail":...}. The model id
// in status/result/cancel URLs is not checked against the submit's (fal lets
// the app id stand for the full path).
// Webhooks (terminal only, retried): body {request_id, gateway_request_id,
// status "OK"|"ERROR", payload, error?}; headers X-Fal-Webhook-Request-Id,
// -User-Id, -Timestamp (unix s), -Signature (hex Ed25519 over
// "<request id>\n<user id>\n<timestamp>\n<hex sha256(body)>") with a key pair
// generated at construction; rotate_key() makes a new one.
// A canceled request completes with error "Request cancelled"
// (error_type "request_cancelled"; the emulator's choice, fal does not
// document the shape) and an ERROR webhook.
#pragma once

#include <atomic>

#include "emulator_base.hpp"

namespace babysea::emu {

class FalEmulator : public EmulatorBase {
 public:
  explicit FalEmulator(EmulatorOptions options = {}, std::string user_id = "emulated-fal-user");
  ~FalEmulator() override;

  const std::string& user_id() const { return user_id_; }
  std::string jwks_url() const { return base_url() + "/.well-known/jwks.json"; }
  // Generates a new signing key; the JWKS keeps the old public key when
  // `keep_old` (rotation overlap), else lists only the new one.
  void rotate_key(bool keep_old);
  // The current public key (32 raw bytes) and how often the JWKS was served.
  std::string public_key() const;
  std::uint64_t jwks_requests() const { return jwks_requests_.load(); }

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  struct Key {
    std::string pk;  // 32 bytes
    std::string sk;  // 64 bytes
  };
  EmuResponse submit(const EmuRequest& r);
  EmuResponse status(const EmuRequest& r, const std::string& id);
  EmuResponse result(const std::string& id);
  EmuResponse cancel(const std::string& id);
  std::string webhook_body(const EmuJob& job, SteadyTime at) const;
  std::string result_body(const EmuJob& job) const;
  std::string jwks() const;

  std::string user_id_;
  mutable std::mutex keys_mu_;
  std::vector<Key> keys_;  // back() signs
  std::atomic<std::uint64_t> jwks_requests_{0};
};

}  // namespace babysea::emu
