// emulator_base.hpp — what every provider emulator shares.
//
// EmulatorBase owns an EmulatorServer, a FaultControl, the jobs, the output
// files it serves itself at GET /files/<name>, a scheduler thread for timed
// events, and a babysea Transport (make_beast_transport) that delivers
// callbacks to the URL given at submit time. A provider emulator derives from
// it, registers its routes through `guarded()` (which applies latency, counts
// the operation and applies pending request faults), creates jobs with
// `create_job()` and schedules callbacks with `schedule_callback()`.
//
// Job timing: a job is queued for `JobTiming::queued`, running for
// `JobTiming::running`, then final according to its JobOutcome; states are a
// function of time (and of cancel/delete), so a poll never waits on a timer.
//
// Callbacks: built when they fire (so a cancel in between is reflected),
// signed by the emulator's `sign_callback()` with a fresh timestamp on every
// delivery attempt; terminal callbacks are retried `callback_retries` times
// on a non-2xx answer or transport error. CallbackPlan faults (duplicate,
// out of order, drop) apply per job.
//
// Attempt tags (for "no attempt reached the provider twice"): by default the
// first of: header `X-Babysea-Attempt-Id`, query `attempt_id`/`attempt` of the
// request or of the callback URL, body fields `attempt_id`,
// `metadata.attempt_id`, `input.attempt_id`; "" when none. Replace with
// set_tag_extractor().
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "emulator_server.hpp"
#include "faults.hpp"

namespace babysea {
class Transport;
}

namespace babysea::emu {

using SteadyTime = std::chrono::steady_clock::time_point;

struct EmulatorOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  int threads = 2;
  std::string api_key = "test-key";  // the credential the emulator expects
  int callback_retries = 2;          // extra attempts for a failed terminal callback
  std::chrono::milliseconds callback_retry_delay{200};
  std::chrono::milliseconds callback_timeout{5'000};
};

struct EmuJob {
  enum class Phase { queued, running, succeeded, failed, moderated, canceled, lost };

  std::string id;
  std::string model;
  std::string tag;           // attempt tag, "" when none
  std::string callback_url;  // "" when none
  std::string body;          // the raw submit body
  SteadyTime created{};
  SteadyTime start_at{};
  SteadyTime finish_at{};
  std::int64_t created_unix_ms = 0;
  JobOutcome outcome = JobOutcome::succeed;
  CallbackPlan callbacks;
  bool canceled = false;
  SteadyTime canceled_at{};
  bool deleted = false;  // forgotten on purpose (Runway DELETE of a finished task)
  bool aborted = false;  // Replicate: deadline passed before start
  std::vector<std::string> outputs;  // output file URLs
  std::vector<std::string> files;    // their names under /files/
  std::uint64_t version = 0;         // bumped on cancel: stale scheduled callbacks skip
  int polls = 0;
  std::optional<SteadyTime> last_poll;
  std::map<std::string, std::string> extra;  // provider-specific notes

  Phase phase(SteadyTime now) const;
  bool is_final(SteadyTime now) const;
  // 0..1 while running.
  double progress(SteadyTime now) const;
};
std::string_view phase_name(EmuJob::Phase p);

// One callback to deliver.
struct Outgoing {
  std::string url;
  std::string message_id;  // same on duplicates and retries
  std::string body;
  bool terminal = false;
  std::vector<std::pair<std::string, std::string>> headers;  // unsigned extras (Content-Type added)
};

struct CallbackRecord {
  std::string url;
  std::string message_id;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, signed
  int status = 0;  // receiver's answer; 0 on a transport error
  bool terminal = false;
};

class EmulatorBase {
 public:
  EmulatorBase(std::string provider, EmulatorOptions options);
  virtual ~EmulatorBase();
  EmulatorBase(const EmulatorBase&) = delete;
  EmulatorBase& operator=(const EmulatorBase&) = delete;

  // Registers the routes (once) and starts listening.
  void start();
  // Stops the server, the scheduler and the callback transport. Idempotent.
  // Subclasses' destructors must call it first.
  void stop();

  const std::string& provider() const { return provider_; }
  const EmulatorOptions& options() const { return options_; }
  std::string base_url() const { return server_.base_url(); }
  std::uint16_t port() const { return server_.port(); }
  FaultControl& faults() { return faults_; }
  EmulatorServer& server() { return server_; }

  // A copy of a job's current record; nullopt when unknown.
  std::optional<EmuJob> job(const std::string& id) const;
  std::vector<std::string> job_ids() const;
  // Callbacks delivered or attempted so far, in order of completion.
  std::vector<CallbackRecord> callbacks() const;
  // Waits until at least `n` callback attempts completed; false on timeout.
  bool wait_callbacks(std::size_t n, std::chrono::milliseconds timeout) const;

  using TagExtractor = std::function<std::string(const EmuRequest&, std::string_view callback_url)>;
  void set_tag_extractor(TagExtractor fn);

  // Publishes a file at /files/<name>, available from `from`, expiring at
  // `until` (nullopt: never). Returns its absolute URL.
  std::string publish_file(const std::string& name, std::string bytes, std::string content_type, SteadyTime from,
                           std::optional<SteadyTime> until);
  // Status the file route answers after expiry (410 by default; 404 possible).
  void set_expired_status(int status);
  // The bytes every output file carries (a 1x1 PNG), for tests.
  static const std::string& png_bytes();

 protected:
  virtual void install_routes() = 0;
  // The provider's own error body for `status`.
  virtual EmuResponse error_response(int status, std::string_view message) = 0;
  // Headers that sign `body` for delivery at `unix_s` (the provider's scheme).
  virtual std::vector<std::pair<std::string, std::string>> sign_callback(const Outgoing& out, std::int64_t unix_s) = 0;

  using GuardedHandler = std::function<EmuResponse(const EmuRequest&)>;
  // Wraps a handler: counts `op`, adds the configured latency, applies a
  // pending fault for `op` (before the handler, or after it for a submit
  // fault with after_accept).
  EmuHandler guarded(Op op, GuardedHandler handler);
  EmuResponse fault_response(const RequestFault& fault);

  // Creates, stores and counts a job with timing, outcome and callback plan
  // taken from the fault control; publishes `n_outputs` output files.
  std::shared_ptr<EmuJob> create_job(std::string id, std::string model, const EmuRequest& request,
                                     std::string callback_url, int n_outputs = 1);
  // The live job (locked access through with_job), nullptr when unknown.
  template <typename Fn>
  auto with_job(const std::string& id, Fn&& fn) {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    auto it = jobs_.find(id);
    return fn(it == jobs_.end() ? nullptr : it->second.get());
  }
  // Marks a job canceled now (if not final) and bumps its version; returns
  // the phase before the cancel (nullopt when unknown).
  std::optional<EmuJob::Phase> cancel_job(const std::string& id);

  // Runs `fn` on the scheduler thread at `at`.
  void schedule(SteadyTime at, std::function<void()> fn);
  // At `at`, calls `build(job)` (under no lock, on a copy) if the job still
  // has the version it has now, and delivers the result per the job's plan.
  void schedule_callback(const std::string& job_id, SteadyTime at, bool terminal,
                         std::function<std::optional<Outgoing>(const EmuJob&)> build);
  // Delivers now (on the scheduler thread), with retries when terminal.
  void deliver(Outgoing out, int attempts_left);

  static std::string random_hex(std::size_t bytes);
  static std::int64_t unix_ms();
  static std::string iso8601(std::int64_t unix_ms);

 private:
  struct Timed {
    SteadyTime at;
    std::uint64_t seq;
    std::function<void()> fn;
  };
  struct FileEntry {
    std::string bytes;
    std::string content_type;
    SteadyTime from;
    std::optional<SteadyTime> until;
  };
  void scheduler_loop();
  void dispatch_callback(const std::string& job_id, bool terminal, std::optional<Outgoing> out);
  std::string extract_tag(const EmuRequest& r, std::string_view callback_url) const;

  std::string provider_;
  EmulatorOptions options_;
  EmulatorServer server_;
  FaultControl faults_;
  bool routes_installed_ = false;
  bool stopped_ = false;

  mutable std::mutex jobs_mu_;
  std::map<std::string, std::shared_ptr<EmuJob>> jobs_;
  std::map<std::string, std::vector<Outgoing>> held_;  // out-of-order: events held back until the terminal one

  mutable std::mutex files_mu_;
  std::map<std::string, FileEntry> files_;
  int expired_status_ = 410;

  mutable std::mutex tag_mu_;
  TagExtractor tag_extractor_;

  std::mutex sched_mu_;
  std::condition_variable sched_cv_;
  std::vector<Timed> timed_;  // heap by (at, seq)
  std::uint64_t seq_ = 0;
  bool sched_stop_ = false;
  std::thread sched_thread_;

  mutable std::mutex cb_mu_;
  mutable std::condition_variable cb_cv_;
  std::vector<CallbackRecord> records_;
  std::unique_ptr<Transport> transport_;
};

// "http://127.0.0.1:8080/x" -> address and port (IPv4 literals, "localhost",
// "[::1]"); nullopt otherwise.
struct UrlTarget {
  std::string host;
  std::uint16_t port = 0;
  bool https = false;
};
std::optional<UrlTarget> parse_http_url(std::string_view url);

}  // namespace babysea::emu
