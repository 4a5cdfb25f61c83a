// Runway adapter (providers.hpp, specs/providers.md §4).
//
// Submit: POST /v1/{endpoint} (e.g. image_to_video) with a Bearer key and
// X-Runway-Version; "model" is set to the native model when the body has
// none. The answer's id is the job id. Poll: GET /v1/tasks/{id}: PENDING and
// THROTTLED -> queued, RUNNING -> running (progress), SUCCEEDED -> output
// URLs, FAILED -> failed by failureCode (SAFETY.* and
// INPUT_PREPROCESSING.SAFETY.* -> moderation, INPUT_PREPROCESSING.* and
// ASSET.* -> invalid_input, else server_error), CANCELLED -> canceled;
// 404 -> lost. A task is polled at most once per min_poll_interval (>= 5 s):
// an earlier poll answers the last result without I/O. Cancel: GET the task
// first and DELETE it only while it is not final (Runway's DELETE removes a
// finished task and its outputs); 404 -> not_found. No callbacks.
#include <unordered_map>

#include "babysea/schema.hpp"
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

constexpr std::string_view kId = "runway";
constexpr std::size_t kMaxRemembered = 4096;  // tasks whose last poll is kept for the rate rule

ProviderError failure_of(std::string_view code, std::string_view text) {
  std::string message = text.empty() ? std::string("task failed") : std::string(text);
  if (starts_with(code, "SAFETY.") || starts_with(code, "INPUT_PREPROCESSING.SAFETY"))
    return make_error(ErrorKind::moderation, std::string(code), message);
  if (starts_with(code, "INPUT_PREPROCESSING.") || starts_with(code, "ASSET."))
    return make_error(ErrorKind::invalid_input, std::string(code), message);
  return make_error(ErrorKind::server_error, code.empty() ? std::string("task_failed") : std::string(code), message);
}

ProviderError read_task(const json::Value& v, ProviderStatus& st) {
  if (!v.is_object()) return make_error(ErrorKind::malformed_response, "malformed", "task is not an object");
  std::string_view status = string_member(v, "status");
  if (status == "PENDING" || status == "THROTTLED") {
    st.kind = ProviderStatusKind::queued;
  } else if (status == "RUNNING") {
    st.kind = ProviderStatusKind::running;
    if (const json::Value* p = member(v, "progress"); p && p->is_numeric() && p->number >= 0 && p->number <= 1)
      st.progress = p->number;
  } else if (status == "SUCCEEDED") {
    st.kind = ProviderStatusKind::succeeded;
    if (const json::Value* o = member(v, "output")) collect_url_outputs(*o, st.outputs, 2);
  } else if (status == "FAILED") {
    st.kind = ProviderStatusKind::failed;
    st.error = failure_of(string_member(v, "failureCode"), string_member(v, "failure"));
  } else if (status == "CANCELLED") {
    st.kind = ProviderStatusKind::canceled;
  } else {
    return make_error(ErrorKind::malformed_response, "unknown_status", "unknown task status");
  }
  return {};
}

class RunwayProvider final : public JsonHttpAdapter {
 public:
  // REQUIRES: options went through with_poll_minimums().
  RunwayProvider(RunwayProviderOptions o, std::unique_ptr<HttpClient> http)
      : JsonHttpAdapter({kId, DeliveryMode::polling, true, "task"}, o.timing, std::move(http)),
        options_(std::move(o)) {}

  // Runway's minimum poll interval (>= 5 s) raises the reported timing.
  static RunwayProviderOptions with_poll_minimums(RunwayProviderOptions o) {
    if (o.min_poll_interval < std::chrono::milliseconds{5'000}) o.min_poll_interval = std::chrono::milliseconds{5'000};
    if (o.timing.min_poll_interval < o.min_poll_interval) o.timing.min_poll_interval = o.min_poll_interval;
    if (o.timing.poll_interval < o.timing.min_poll_interval) o.timing.poll_interval = o.timing.min_poll_interval;
    return o;
  }

  PollResult poll(const ProviderJob& job) override {
    const std::int64_t now = http().clock().monotonic_ns();
    const std::int64_t min_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.min_poll_interval).count();
    {
      std::lock_guard lock(mu_);
      auto it = last_.find(job.job_id);
      if (it != last_.end() && now - it->second.at_ns < min_ns) return it->second.result;
    }
    PollResult out = JsonHttpAdapter::poll(job);
    std::lock_guard lock(mu_);
    if (out.error.ok())
      remember(job.job_id, now, out);  // answered again (without I/O) until the interval has passed
    else
      last_.erase(job.job_id);  // a failed poll (or a malformed id) is not remembered: the engine backs off itself
    return out;
  }

  // Runway's DELETE removes a finished task and its outputs: look first.
  CancelResult cancel(const ProviderJob& job) override {
    CancelResult out;
    PollResult current = JsonHttpAdapter::poll(job);  // uncached
    if (!current.error.ok()) {
      out.error = std::move(current.error);
      return out;
    }
    if (current.status.kind == ProviderStatusKind::lost) {
      out.outcome = CancelOutcome::not_found;
      return out;
    }
    if (is_final(current.status.kind)) {
      out.outcome = CancelOutcome::already_finished;
      return out;
    }
    out = JsonHttpAdapter::cancel(job);
    if (out.error.ok() && out.outcome == CancelOutcome::requested) {
      std::lock_guard lock(mu_);
      last_.erase(job.job_id);  // the next poll sees the cancellation
    }
    return out;
  }

  Result<ProviderCallback> parse_callback(std::span<const CallbackHeader>, std::string_view) override {
    return Status(Code::unsupported, "runway sends no callbacks for tasks");
  }

 private:
  struct Seen {
    std::int64_t at_ns = 0;
    PollResult result;
  };

  std::vector<HttpHeader> auth() const override {
    return {{"Authorization", "Bearer " + options_.api_key}, {"X-Runway-Version", options_.api_version}};
  }

  ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const override {
    std::string endpoint = request.payload->endpoint;
    while (!endpoint.empty() && endpoint.front() == '/') endpoint.erase(endpoint.begin());
    if (starts_with(endpoint, "v1/")) endpoint.erase(0, 3);
    if (!is_path_segment(endpoint))
      return make_error(ErrorKind::invalid_input, "bad_endpoint", "Runway endpoint is not one path segment");
    plan.url = http().url("/v1/" + endpoint);
    return default_model(request, plan);
  }

  void read_submit(const SubmitRequest&, const SubmitPlan&, const Answer& a, SubmitResult& out) const override {
    std::string_view id = string_member(a.body, "id");
    if (!is_path_segment(id)) {
      out.error = make_error(ErrorKind::malformed_response, "malformed", "submit answer without an id");
      return;
    }
    out.job.job_id = std::string(id);
  }

  ProviderError locate(const ProviderJob& job, Op op, Call& call) const override {
    if (!is_path_segment(job.job_id)) return bad_job("task id");
    if (op == Op::cancel) call.method = "DELETE";
    call.url = http().url("/v1/tasks/" + job.job_id);
    return {};
  }

  void read_poll(const ProviderJob&, const json::Value& body, PollResult& out) const override {
    out.error = read_task(body, out.status);
  }

  // A 2xx DELETE is accepted whatever its body.
  std::optional<CancelOutcome> read_cancel(const Answer& a) const override {
    if (is_2xx(a.response.status)) return CancelOutcome::requested;
    return std::nullopt;
  }

  ProviderError refine(Op op, const Answer& a) const override {
    return moderation_if(a.error, op == Op::submit && (starts_with(a.error.code, "SAFETY.") ||
                                                       contains_ci(a.error.message, "moderation")));
  }

  void remember(const std::string& id, std::int64_t now, const PollResult& r) {
    if (last_.size() >= kMaxRemembered && !last_.count(id)) {
      // Drop everything older than the interval; if that frees nothing, start over.
      const std::int64_t min_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(options_.min_poll_interval).count();
      for (auto it = last_.begin(); it != last_.end();)
        it = now - it->second.at_ns >= min_ns ? last_.erase(it) : std::next(it);
      if (last_.size() >= kMaxRemembered) last_.clear();
    }
    last_[id] = Seen{now, r};
  }

  RunwayProviderOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Seen> last_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_runway_provider(RunwayProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "runway: api_key is required");
  if (options.api_version.empty()) return Status(Code::invalid_request, "runway: api_version is required");
  return providers::make_adapter<providers::RunwayProvider>(
      providers::RunwayProvider::with_poll_minimums(std::move(options)));
}

}  // namespace babysea
