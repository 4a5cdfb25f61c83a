// faults.cpp — FaultControl: queues of pending faults and counters.
#include "faults.hpp"

#include <algorithm>

namespace babysea::emu {

std::string_view op_name(Op op) {
  switch (op) {
    case Op::any: return "any";
    case Op::submit: return "submit";
    case Op::poll: return "poll";
    case Op::result: return "result";
    case Op::cancel: return "cancel";
    case Op::file: return "file";
    case Op::other: return "other";
  }
  return "?";
}

std::string_view outcome_name(JobOutcome o) {
  switch (o) {
    case JobOutcome::succeed: return "succeed";
    case JobOutcome::fail: return "fail";
    case JobOutcome::moderate: return "moderate";
    case JobOutcome::moderate_input: return "moderate_input";
    case JobOutcome::lose: return "lose";
  }
  return "?";
}

void FaultControl::inject(Op op, RequestFault fault, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) faults_[op].push_back(fault);
}

void FaultControl::rate_limit_next(int n, int retry_after_s, Op op) {
  RequestFault f;
  f.kind = RequestFault::Kind::rate_limit;
  f.status = 429;
  f.retry_after_s = retry_after_s;
  inject(op, f, n);
}

void FaultControl::http_error_next(int n, int status, Op op) {
  RequestFault f;
  f.kind = RequestFault::Kind::http_error;
  f.status = status;
  f.retry_after_s = 0;
  inject(op, f, n);
}

void FaultControl::reset_next(int n, Op op, bool after_accept) {
  RequestFault f;
  f.kind = RequestFault::Kind::reset;
  f.after_accept = after_accept;
  inject(op, f, n);
}

void FaultControl::hang_next(int n, Op op, bool after_accept) {
  RequestFault f;
  f.kind = RequestFault::Kind::hang;
  f.after_accept = after_accept;
  inject(op, f, n);
}

void FaultControl::malformed_next(int n, Op op) {
  RequestFault f;
  f.kind = RequestFault::Kind::malformed_json;
  f.status = 200;
  inject(op, f, n);
}

std::optional<RequestFault> FaultControl::take(Op op) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Op key : {op, Op::any}) {
    auto it = faults_.find(key);
    if (it != faults_.end() && !it->second.empty()) {
      RequestFault f = it->second.front();
      it->second.pop_front();
      ++counters_.faults_applied;
      return f;
    }
  }
  return std::nullopt;
}

std::size_t FaultControl::pending_faults() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [op, q] : faults_) n += q.size();
  return n;
}

void FaultControl::set_latency(std::chrono::milliseconds latency) {
  std::lock_guard<std::mutex> lock(mu_);
  latency_ = latency;
}

std::chrono::milliseconds FaultControl::latency() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latency_;
}

void FaultControl::outcome_next(JobOutcome outcome, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) outcomes_.push_back(outcome);
}

JobOutcome FaultControl::take_outcome() {
  std::lock_guard<std::mutex> lock(mu_);
  if (outcomes_.empty()) return JobOutcome::succeed;
  JobOutcome o = outcomes_.front();
  outcomes_.pop_front();
  return o;
}

void FaultControl::set_job_timing(JobTiming timing) {
  std::lock_guard<std::mutex> lock(mu_);
  timing_ = timing;
}

JobTiming FaultControl::job_timing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timing_;
}

void FaultControl::set_output_ttl(std::chrono::milliseconds ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  output_ttl_ = ttl;
}

std::chrono::milliseconds FaultControl::output_ttl() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_ttl_;
}

void FaultControl::duplicate_callbacks_next(int jobs, int copies) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < jobs; ++i) callback_plans_.push_back(CallbackPlan{copies, false, false});
}

void FaultControl::reorder_callbacks_next(int jobs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < jobs; ++i) callback_plans_.push_back(CallbackPlan{0, true, false});
}

void FaultControl::drop_callbacks_next(int jobs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < jobs; ++i) callback_plans_.push_back(CallbackPlan{0, false, true});
}

CallbackPlan FaultControl::take_callback_plan() {
  std::lock_guard<std::mutex> lock(mu_);
  if (callback_plans_.empty()) return {};
  CallbackPlan p = callback_plans_.front();
  callback_plans_.pop_front();
  return p;
}

void FaultControl::count(Op op) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.requests;
  switch (op) {
    case Op::submit: ++counters_.submit_requests; break;
    case Op::poll: ++counters_.polls; break;
    case Op::result: ++counters_.results; break;
    case Op::cancel: ++counters_.cancels; break;
    case Op::file: ++counters_.files; break;
    case Op::any:
    case Op::other: break;
  }
}

void FaultControl::count_submit(std::string_view tag) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.submits;
  ++by_tag_[std::string(tag)];
}

void FaultControl::count_callback_sent() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.callbacks_sent;
}

void FaultControl::count_callback_delivered() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.callbacks_delivered;
}

void FaultControl::count_callback_dropped() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.callbacks_dropped;
}

void FaultControl::count_poll_violation() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.poll_violations;
}

void FaultControl::count_fault() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.faults_applied;
}

Counters FaultControl::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

std::uint64_t FaultControl::submits_for(std::string_view tag) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_tag_.find(std::string(tag));
  return it == by_tag_.end() ? 0 : it->second;
}

std::map<std::string, std::uint64_t> FaultControl::submits_by_tag() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_tag_;
}

std::uint64_t FaultControl::max_submits_per_tag() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t m = 0;
  for (const auto& [tag, n] : by_tag_) {
    if (!tag.empty()) m = std::max(m, n);
  }
  return m;
}

void FaultControl::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.clear();
  outcomes_.clear();
  callback_plans_.clear();
}

void FaultControl::reset_counters() {
  std::lock_guard<std::mutex> lock(mu_);
  counters_ = {};
  by_tag_.clear();
}

}  // namespace babysea::emu
