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
#include "providers/common.hpp"

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

class RunwayProvider final : public Provider {
 public:
  RunwayProvider(RunwayProviderOptions o, std::unique_ptr<HttpClient> http)
      : options_(std::move(o)), http_(std::move(http)) {
    if (options_.min_poll_interval < std::chrono::milliseconds{5'000})
      options_.min_poll_interval = std::chrono::milliseconds{5'000};
    if (options_.timing.min_poll_interval < options_.min_poll_interval)
      options_.timing.min_poll_interval = options_.min_poll_interval;
    if (options_.timing.poll_interval < options_.timing.min_poll_interval)
      options_.timing.poll_interval = options_.timing.min_poll_interval;
  }

  std::string_view id() const noexcept override { return kId; }
  DeliveryMode delivery() const noexcept override { return DeliveryMode::polling; }
  bool can_cancel() const noexcept override { return true; }
  ProviderTiming timing() const override { return options_.timing; }

  SubmitResult submit(const SubmitRequest& request) override {
    SubmitResult out;
    out.error = check_submit(request, kId);
    if (!out.error.ok()) return out;
    std::string endpoint = request.payload->endpoint;
    while (!endpoint.empty() && endpoint.front() == '/') endpoint.erase(endpoint.begin());
    if (starts_with(endpoint, "v1/")) endpoint.erase(0, 3);
    if (!is_path_segment(endpoint)) {
      out.error = make_error(ErrorKind::invalid_input, "bad_endpoint", "Runway endpoint is not one path segment");
      return out;
    }
    auto payload = parse_json(request.payload->json, json::kMaxDocumentBytes);
    if (!payload.ok() || !payload->is_object()) {
      out.error = make_error(ErrorKind::invalid_input, "bad_payload", "native payload is not a JSON object");
      return out;
    }
    std::vector<json::Member> extra;
    if (!member(*payload, "model") && !request.payload->native_model.empty())
      extra.push_back({"model", json_string(request.payload->native_model)});
    auto body = merge_members(request.payload->json, std::move(extra));
    if (!body.ok()) {
      out.error = make_error(ErrorKind::invalid_input, "bad_payload", std::string(body.status().message()));
      return out;
    }
    auto headers = auth();
    headers.push_back({"Content-Type", "application/json"});
    add_attempt_header(headers, request);
    Answer a = call_json(*http_, "POST", http_->url("/v1/" + endpoint), std::move(headers), std::move(*body));
    if (!a.error.ok()) {
      out.error = refine(std::move(a.error));
      return out;
    }
    std::string_view id = string_member(a.body, "id");
    if (!is_path_segment(id)) {
      out.error = make_error(ErrorKind::malformed_response, "malformed", "submit answer without an id");
      return out;
    }
    out.job.job_id = std::string(id);
    return out;
  }

  PollResult poll(const ProviderJob& job) override {
    if (!is_path_segment(job.job_id)) {
      PollResult out;
      out.error = make_error(ErrorKind::invalid_input, "bad_job", "malformed task id");
      return out;
    }
    const std::int64_t now = http_->clock().monotonic_ns();
    const std::int64_t min_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.min_poll_interval).count();
    {
      std::lock_guard lock(mu_);
      auto it = last_.find(job.job_id);
      if (it != last_.end() && now - it->second.at_ns < min_ns) return it->second.result;
    }
    PollResult out = fetch(job.job_id);
    std::lock_guard lock(mu_);
    if (out.error.ok())
      remember(job.job_id, now, out);  // answered again (without I/O) until the interval has passed
    else
      last_.erase(job.job_id);  // a failed poll is not remembered: the engine backs off itself
    return out;
  }

  CancelResult cancel(const ProviderJob& job) override {
    CancelResult out;
    if (!is_path_segment(job.job_id)) {
      out.error = make_error(ErrorKind::invalid_input, "bad_job", "malformed task id");
      return out;
    }
    PollResult current = fetch(job.job_id);
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
    auto r = http_->send("DELETE", http_->url("/v1/tasks/" + job.job_id), auth());
    if (!r.ok()) {
      out.error = transport_error(r.status());
      return out;
    }
    if (r->status == 404) {
      out.outcome = CancelOutcome::not_found;
    } else if (is_2xx(r->status)) {
      out.outcome = CancelOutcome::requested;
      std::lock_guard lock(mu_);
      last_.erase(job.job_id);  // the next poll sees the cancellation
    } else {
      out.error = http_error(*r, http_->now_ms());
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

  std::vector<HttpHeader> auth() const {
    return {{"Authorization", "Bearer " + options_.api_key}, {"X-Runway-Version", options_.api_version}};
  }

  static ProviderError refine(ProviderError e) {
    if (e.kind == ErrorKind::invalid_input && (starts_with(e.code, "SAFETY.") || contains_ci(e.message, "moderation")))
      e.kind = ErrorKind::moderation;
    return e;
  }

  PollResult fetch(const std::string& id) const {
    PollResult out;
    Answer a = call_json(*http_, "GET", http_->url("/v1/tasks/" + id), auth());
    if (a.sent && (a.response.status == 404 || a.response.status == 410)) {
      out.status.kind = ProviderStatusKind::lost;
      out.status.error = make_error(ErrorKind::malformed_response, "job_lost", "the provider does not know the task");
      return out;
    }
    if (!a.error.ok()) {
      out.error = std::move(a.error);
      return out;
    }
    out.error = read_task(a.body, out.status);
    return out;
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
  std::unique_ptr<HttpClient> http_;
  std::mutex mu_;
  std::unordered_map<std::string, Seen> last_;
};

}  // namespace
}  // namespace babysea::providers

namespace babysea {

Result<std::shared_ptr<Provider>> make_runway_provider(RunwayProviderOptions options) {
  if (options.api_key.empty()) return Status(Code::invalid_request, "runway: api_key is required");
  if (options.api_version.empty()) return Status(Code::invalid_request, "runway: api_version is required");
  BABYSEA_ASSIGN_OR_RETURN(auto http, providers::HttpClient::create(options, options.base_url));
  return std::shared_ptr<Provider>(std::make_shared<providers::RunwayProvider>(std::move(options), std::move(http)));
}

}  // namespace babysea
