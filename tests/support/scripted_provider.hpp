// An in-process provider whose answers the test scripts: queued submit /
// poll / cancel answers (default: accept, stay queued, cancel requested),
// per-attempt submit counts, and a trivially signed callback format so the
// engine's callback path can be driven without a network.
//
// Callback wire format (test-only): header "x-scripted-signature: valid" and
// the body "message_id|job_id|status[|output_url]" with status one of
// queued, running, succeeded, failed, canceled, lost, moderated.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "babysea/provider.hpp"

namespace babysea::testing {

class ScriptedProvider final : public Provider {
 public:
  using SubmitFn = std::function<SubmitResult(const SubmitRequest&)>;
  using PollFn = std::function<PollResult(const ProviderJob&)>;

  ScriptedProvider(std::string id, DeliveryMode mode, bool can_cancel = true, ProviderTiming timing = {})
      : id_(std::move(id)), mode_(mode), can_cancel_(can_cancel), timing_(timing) {}

  std::string_view id() const noexcept override { return id_; }
  DeliveryMode delivery() const noexcept override { return mode_; }
  bool can_cancel() const noexcept override { return can_cancel_; }
  ProviderTiming timing() const override { return timing_; }

  SubmitResult submit(const SubmitRequest& request) override;
  PollResult poll(const ProviderJob& job) override;
  CancelResult cancel(const ProviderJob& job) override;
  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers, std::string_view raw_body) override;

  // Scripting (thread-safe). Queued answers are used once, in order.
  void on_submit(SubmitFn fn);
  void on_poll(PollFn fn);
  void fail_submit(ErrorKind kind, std::int64_t retry_after_ms = 0);
  void poll_status(ProviderStatus status);
  void poll_error(ErrorKind kind);
  // What a synchronous provider answers (default: succeeded with one URL).
  void set_default_poll(ProviderStatus status);

  // Observations.
  int submit_calls() const;
  int submits_for(const std::string& attempt_id) const;
  int max_submits_per_attempt() const;
  int poll_calls() const;
  int cancel_calls() const;
  std::vector<std::string> jobs() const;  // job ids handed out, in order
  std::string last_callback_url() const;

  // Helpers for building statuses and callback bodies.
  static ProviderStatus succeeded(std::string url);
  static ProviderStatus status(ProviderStatusKind kind);
  static ProviderStatus failed(ErrorKind kind, std::string message = "scripted failure");
  static std::vector<CallbackHeader> signed_headers();

 private:
  std::string id_;
  DeliveryMode mode_;
  bool can_cancel_;
  ProviderTiming timing_;
  mutable std::mutex mu_;
  std::deque<SubmitFn> submits_;
  std::deque<PollFn> polls_;
  std::optional<ProviderStatus> default_poll_;
  std::map<std::string, int> per_attempt_;
  std::vector<std::string> jobs_;
  std::string last_callback_url_;
  int submit_calls_ = 0;
  int poll_calls_ = 0;
  int cancel_calls_ = 0;
  int next_job_ = 0;
};

// PNG bytes for fetchers of fake output URLs.
std::string tiny_png();

}  // namespace babysea::testing
