// faults.hpp — the fault-injection control shared by every provider emulator.
//
// A FaultControl is owned by an emulator (EmulatorBase::faults()) and set by
// tests while the emulator runs. Three kinds of faults:
//
//   request faults  the next N requests of one operation (or of any) answer
//                   differently: 429 + Retry-After, a 5xx (or 402, 503, ...),
//                   a connection reset, a silent hang, a malformed JSON body.
//                   For submits, `after_accept` makes the emulator create the
//                   job first and then fail the answer (the ambiguous case: a
//                   paid job whose acknowledgement was lost).
//   job outcomes    the next N submitted jobs fail, are moderated (on input or
//                   on output), or get lost (the provider forgets them: 404 /
//                   "Task not found" once they were accepted).
//   callback faults the next N jobs' callbacks are duplicated, delivered out
//                   of order (terminal first, older events after), or dropped.
// plus settings: latency added to every request, job timing (queued ->
// running -> final), and output expiry (output files served by the emulator
// at /files/<name> answer 410 after `output_ttl` past the job's end).
//
// Counters: submits (total and per attempt tag, to check that no attempt
// reached the provider twice), polls, result fetches, cancels, file fetches,
// callbacks sent / delivered / dropped.
//
// Thread safety: every method is safe to call concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace babysea::emu {

// What a request does at the provider. `any` in a fault matches every op.
enum class Op { any, submit, poll, result, cancel, file, other };
std::string_view op_name(Op op);

struct RequestFault {
  enum class Kind {
    rate_limit,      // 429 with Retry-After: retry_after_s (provider's error body)
    http_error,      // `status` (500, 502, 503, 402, ...) with the provider's error body
    reset,           // close the connection without answering
    hang,            // never answer; hold the connection
    malformed_json,  // 200, Content-Type application/json, a truncated body
  };
  Kind kind = Kind::http_error;
  int status = 500;
  int retry_after_s = 1;     // rate_limit (and http_error when > 0 and status is 429/503)
  bool after_accept = false;  // submit only: the job is created before the fault applies
};

enum class JobOutcome {
  succeed,         // outputs after the timing
  fail,            // a provider error (retryable-looking, e.g. out of memory)
  moderate,        // output moderation (NSFW result, Content Moderated, SAFETY.OUTPUT.*)
  moderate_input,  // input moderation (Request Moderated, SAFETY.INPUT.TEXT, moderation_blocked)
  lose,            // accepted, then forgotten: 404 / Task not found after `queued`
};
std::string_view outcome_name(JobOutcome o);

struct JobTiming {
  std::chrono::milliseconds queued{100};   // submit -> running
  std::chrono::milliseconds running{200};  // running -> final
};

struct CallbackPlan {
  int duplicates = 0;          // extra copies of the terminal callback (same message id)
  bool out_of_order = false;   // terminal first, earlier events after it
  bool drop = false;           // no callback at all for this job
};

struct Counters {
  std::uint64_t requests = 0;  // every request that reached a provider route
  std::uint64_t submits = 0;   // submits that created a job (including after_accept faults)
  std::uint64_t submit_requests = 0;  // every submit request, faulted or not
  std::uint64_t polls = 0;
  std::uint64_t results = 0;
  std::uint64_t cancels = 0;
  std::uint64_t files = 0;
  std::uint64_t callbacks_sent = 0;       // delivery attempts
  std::uint64_t callbacks_delivered = 0;  // 2xx answers
  std::uint64_t callbacks_dropped = 0;    // suppressed by a drop fault
  std::uint64_t faults_applied = 0;
  std::uint64_t poll_violations = 0;      // polls faster than the provider allows (Runway)
};

class FaultControl {
 public:
  // ------------------------------------------------------- request faults
  void inject(Op op, RequestFault fault, int n = 1);
  void rate_limit_next(int n, int retry_after_s = 1, Op op = Op::any);
  void http_error_next(int n, int status = 500, Op op = Op::any);
  void reset_next(int n, Op op = Op::any, bool after_accept = false);
  void hang_next(int n, Op op = Op::any, bool after_accept = false);
  void malformed_next(int n, Op op = Op::any);
  // Consumes the next fault for `op` (faults queued for exactly `op` first,
  // then those for `any`); nullopt when none is pending.
  std::optional<RequestFault> take(Op op);
  std::size_t pending_faults() const;

  void set_latency(std::chrono::milliseconds latency);
  std::chrono::milliseconds latency() const;

  // ---------------------------------------------------------- job outcomes
  void outcome_next(JobOutcome outcome, int n = 1);
  void fail_next(int n = 1) { outcome_next(JobOutcome::fail, n); }
  void moderate_next(int n = 1) { outcome_next(JobOutcome::moderate, n); }
  void moderate_input_next(int n = 1) { outcome_next(JobOutcome::moderate_input, n); }
  void lose_next(int n = 1) { outcome_next(JobOutcome::lose, n); }
  JobOutcome take_outcome();

  void set_job_timing(JobTiming timing);
  JobTiming job_timing() const;
  // Output files expire this long after the job finished (0: never).
  void set_output_ttl(std::chrono::milliseconds ttl);
  std::chrono::milliseconds output_ttl() const;

  // ------------------------------------------------------- callback faults
  void duplicate_callbacks_next(int jobs, int copies = 1);
  void reorder_callbacks_next(int jobs);
  void drop_callbacks_next(int jobs);
  CallbackPlan take_callback_plan();

  // --------------------------------------------------------------- counters
  void count(Op op);
  void count_submit(std::string_view tag);  // a job was created for `tag`
  void count_callback_sent();
  void count_callback_delivered();
  void count_callback_dropped();
  void count_poll_violation();
  void count_fault();
  Counters counters() const;
  std::uint64_t submits_for(std::string_view tag) const;
  std::map<std::string, std::uint64_t> submits_by_tag() const;
  // The largest per-tag submit count (tags "" excluded); > 1 means some
  // attempt reached the provider twice.
  std::uint64_t max_submits_per_tag() const;

  // Clears every pending fault and plan (not settings or counters).
  void clear();
  void reset_counters();

 private:
  mutable std::mutex mu_;
  std::map<Op, std::deque<RequestFault>> faults_;
  std::deque<JobOutcome> outcomes_;
  std::deque<CallbackPlan> callback_plans_;
  std::chrono::milliseconds latency_{0};
  JobTiming timing_{};
  std::chrono::milliseconds output_ttl_{0};
  Counters counters_{};
  std::map<std::string, std::uint64_t> by_tag_;
};

}  // namespace babysea::emu
