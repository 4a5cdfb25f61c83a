// runway_emulator.hpp — Runway's task API on loopback (poll only, no callbacks).
//
//   POST   /v1/{text_to_image|image_to_video|text_to_video|video_to_video|...}
//          `Authorization: Bearer <api_key>`, `X-Runway-Version: 2024-11-06`
//          (missing or other version: 400) -> 200 {"id": uuid}
//   GET    /v1/tasks/{id}  -> {id, status, createdAt, progress?, output?, failure?, failureCode?}
//   DELETE /v1/tasks/{id}  -> 204 (cancels pending/throttled/running; deletes finished: later 404)
// Statuses: PENDING (queued; THROTTLED instead for jobs after throttle_next),
// RUNNING (progress 0..1), SUCCEEDED (output: URLs at /files/), FAILED
// (failure + failureCode: INTERNAL, SAFETY.INPUT.TEXT for input moderation,
// SAFETY.OUTPUT.IMAGE for output moderation), CANCELLED. Lost or unknown:
// 404 {"error":"Task not found"}. Errors: {"error": "..."}.
// Polling cadence: a poll of one task sooner than `min_poll_interval` (5 s
// by default, like Runway asks) after the previous one is a violation,
// counted in Counters::poll_violations and answered 429 when enforced.
#pragma once

#include <atomic>

#include "emulator_base.hpp"

namespace babysea::emu {

class RunwayEmulator : public EmulatorBase {
 public:
  static constexpr const char* kVersion = "2024-11-06";
  explicit RunwayEmulator(EmulatorOptions options = {});
  ~RunwayEmulator() override;

  void set_min_poll_interval(std::chrono::milliseconds interval) { min_poll_ms_ = interval.count(); }
  std::chrono::milliseconds min_poll_interval() const { return std::chrono::milliseconds(min_poll_ms_.load()); }
  // Answer 429 to a poll that comes too soon (default: only count it).
  void set_enforce_poll_interval(bool enforce) { enforce_ = enforce; }
  // The next n tasks report THROTTLED (instead of PENDING) while queued.
  void throttle_next(int n) { throttle_.fetch_add(n); }

 protected:
  void install_routes() override;
  EmuResponse error_response(int status, std::string_view message) override;
  std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) override;

 private:
  EmuResponse submit(const EmuRequest& r);
  std::string render(const EmuJob& job, SteadyTime at) const;
  std::optional<EmuResponse> check_auth(const EmuRequest& r);

  std::atomic<std::int64_t> min_poll_ms_{5'000};
  std::atomic<bool> enforce_{false};
  std::atomic<int> throttle_{0};
};

}  // namespace babysea::emu
