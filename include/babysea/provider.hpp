// babysea/provider.hpp — the provider adapter interface.
//
// One adapter speaks one provider protocol (specs/providers.md): it turns the
// native payload the normalizer rendered into the provider's submit request,
// reads the job id, polls, cancels where the provider can, verifies and parses
// callbacks, and maps every provider status and error onto ours
// (`ProviderStatusKind` and `ErrorKind`, see errors.hpp). It never sees the
// ledger, the store or the customer: the engine records every attempt
// durably *before* calling submit() and feeds every answer back into the
// lifecycle machine (lifecycle.hpp).
//
// Calls are blocking and are made from the engine's worker threads; an
// adapter bounds each call by its own deadlines (the transport's). An adapter
// must be safe for concurrent use: the engine may poll one job while a
// callback for it is being parsed.
//
// Errors are values: every result carries a `ProviderError` whose kind is
// ErrorKind::none on success. Adapters never throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/errors.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

struct Model;
struct NativePayload;

// How a provider tells us a job finished.
enum class DeliveryMode : int {
  webhook = 0,      // callbacks, with a slower reconciliation poll as backup
  polling = 1,      // polling only (no callbacks)
  synchronous = 2,  // the submit call returns the final result
};
std::string_view delivery_mode_name(DeliveryMode m) noexcept;

// A provider failure as our classes see it.
struct ProviderError {
  ErrorKind kind = ErrorKind::none;
  std::int64_t retry_after_ms = 0;  // Retry-After, 0 when none
  std::string code;                 // the provider's own code (e.g. "SAFETY.INPUT.TEXT"), may be empty
  std::string message;              // short, secret-free
  bool ok() const noexcept { return kind == ErrorKind::none; }
};

// What the provider needs to find a job again. Persisted with the attempt.
struct ProviderJob {
  std::string job_id;  // the provider's id (request_id, prediction id, task id)
  std::string handle;  // adapter-private locator (polling URL, status URL), may be empty
};

// Canonical job states (specs/providers.md §4b).
enum class ProviderStatusKind : int {
  queued = 0,     // accepted, not started (includes throttled)
  running = 1,    // started
  succeeded = 2,  // finished with outputs
  failed = 3,     // finished with an error (see error; moderation is ErrorKind::moderation)
  canceled = 4,   // canceled at the provider
  lost = 5,       // the provider does not know the job (404, "Task not found")
};
std::string_view provider_status_name(ProviderStatusKind k) noexcept;
bool is_final(ProviderStatusKind k) noexcept;

// One output as the provider returned it: a URL to fetch, or inline bytes.
struct ProviderOutput {
  std::string url;           // http(s) URL (fetched through the SSRF guard), or empty
  std::string data;          // inline bytes (e.g. decoded b64_json), when url is empty
  std::string content_type;  // when known
};

struct ProviderStatus {
  ProviderStatusKind kind = ProviderStatusKind::queued;
  std::vector<ProviderOutput> outputs;  // succeeded only
  ProviderError error;                  // failed / lost
  double progress = -1;                 // 0..1 when reported
  std::int64_t predict_ms = -1;         // provider compute time when reported
  Micros reported_cost = -1;            // what the provider says it charged, when it says
};

struct SubmitRequest {
  std::string generation_id;
  std::string attempt_id;     // unique per attempt; adapters tag the job with it where they can
  const Model* model = nullptr;             // borrowed for the call
  const NativePayload* payload = nullptr;   // borrowed for the call: native model, endpoint, JSON body
  std::string callback_url;   // where callbacks for this attempt go (empty: do not ask for any)
  std::int64_t deadline_ms = 0;  // unix ms by which the job must finish (providers that take one)
};

struct SubmitResult {
  ProviderError error;  // none: accepted
  ProviderJob job;      // when accepted
  // Synchronous providers (and providers that answered at once): the final
  // status, so no poll is needed.
  std::optional<ProviderStatus> status;
};

struct PollResult {
  ProviderError error;    // the poll itself failed (transport, 5xx, 429); status is meaningless
  ProviderStatus status;
};

enum class CancelOutcome : int {
  requested = 0,         // the provider accepted the cancel (terminal state follows)
  already_finished = 1,  // nothing to cancel any more
  not_found = 2,         // the provider does not know the job
  unsupported = 3,       // the provider cannot cancel
};

struct CancelResult {
  ProviderError error;  // the cancel call failed (retry later)
  CancelOutcome outcome = CancelOutcome::requested;
};

// One inbound callback header (names compared case-insensitively).
struct CallbackHeader {
  std::string_view name;
  std::string_view value;
};

// A verified callback: which job, what it says, and a message id for
// de-duplication (unique per delivery content; retries of one delivery share it).
struct ProviderCallback {
  std::string message_id;
  std::string job_id;
  ProviderStatus status;
};

// Per-provider timing policy. Defaults suit a queue provider.
struct ProviderTiming {
  std::chrono::milliseconds poll_interval{2'000};          // polling-mode providers
  std::chrono::milliseconds backup_poll_interval{30'000};  // reconciliation under webhook mode
  std::chrono::milliseconds min_poll_interval{500};        // never poll faster (Runway: 5 s)
  std::chrono::milliseconds submit_ack_timeout{30'000};    // intent -> provider answered submit
  std::chrono::milliseconds start_timeout{300'000};        // submitted -> running
  std::chrono::milliseconds finish_timeout{1'800'000};     // running -> final
  int max_submit_retries = 2;  // retry_same on submit before failing over
  int max_poll_failures = 5;   // consecutive failed polls before abandoning the job
};

class Provider {
 public:
  virtual ~Provider() = default;

  // Stable provider id as in the catalog ("replicate", "fal", ...).
  virtual std::string_view id() const noexcept = 0;
  virtual DeliveryMode delivery() const noexcept = 0;
  virtual bool can_cancel() const noexcept = 0;
  virtual ProviderTiming timing() const { return {}; }

  // Sends the job. Must not be retried by the adapter on an ambiguous
  // failure (a timeout after the request was sent may have created a job):
  // report ErrorKind::timeout / connection and let the engine decide.
  virtual SubmitResult submit(const SubmitRequest& request) = 0;
  virtual PollResult poll(const ProviderJob& job) = 0;
  // Adapters whose provider cannot cancel return unsupported without I/O.
  virtual CancelResult cancel(const ProviderJob& job) = 0;

  // Verifies the signature of a callback and parses it. Codes:
  // invalid_signature (bad, stale, foreign or missing signature; nothing
  // parsed), invalid_request (verified but not understood), payload_too_large,
  // unsupported (the provider sends no callbacks).
  virtual Result<ProviderCallback> parse_callback(std::span<const CallbackHeader> headers,
                                                  std::string_view raw_body) = 0;

  // Crash recovery: looks up a job this adapter may have created for
  // `attempt_id` (providers that can list jobs by our metadata). nullopt: no
  // such job. unsupported (the default): the provider cannot tell.
  virtual Result<std::optional<ProviderJob>> find_job(std::string_view attempt_id) {
    (void)attempt_id;
    return Status(Code::unsupported, "provider cannot look jobs up");
  }
};

}  // namespace babysea
