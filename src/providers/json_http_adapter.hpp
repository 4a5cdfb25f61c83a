// JsonHttpAdapter: the submit / poll / cancel plumbing every JSON-over-HTTP
// provider adapter shares (bfl, fal, openai, replicate, runway, ...).
//
// The base runs each operation. submit() checks the request (payload present
// and rendered for this provider), merges the adapter's members into the
// native body (invalid_input "bad_payload" when it is not a JSON object) and
// POSTs it with auth() + Content-Type + X-Babysea-Attempt-Id. poll() GETs the
// job: 404/410 -> lost. cancel(): 404 -> not_found, 2xx -> requested.
// Transport failures, non-2xx answers and unparsable 2xx bodies become
// ProviderErrors as in call_json (common.hpp). Without I/O: a synchronous
// provider's poll answers lost, a provider that cannot cancel unsupported.
//
// Raw answers: a provider that may answer a submit with bytes instead of
// JSON (Cloudflare Workers AI image models return image/png) sets
// SubmitPlan::raw_answer. A 2xx submit answer whose Content-Type is present
// and not JSON is then handed to read_submit() unparsed: answer.body null,
// the bytes in answer.response.body (never empty: an empty one is
// malformed_response). JSON answers and non-2xx answers are read as usual.
// Without the flag (the default) nothing changes: every 2xx must be JSON.
//
// An adapter supplies only what differs, through these hooks:
//   auth()               headers on every call (credentials, API version)  required
//   plan_submit()        submit URL, members to merge, answer size cap     required
//   add_submit_headers() submit headers after the common ones              optional
//   read_submit()        job id, handle or final status from the answer    required
//   locate()             method and URL of a poll or cancel; refuses a     when it polls
//                        malformed job with bad_job(...) before any I/O    or cancels
//   read_poll()          status from a 2xx poll answer                     when it polls
//   read_cancel()        an outcome the answer names itself, read before   optional
//                        the 404 / error / requested defaults
//   refine()             the provider's reading of a failed exchange       optional
//                        (moderation, quota, ... from its codes and body)
// An adapter may still override poll() or cancel() to wrap the base's flow
// (Runway caches polls and looks at a task before deleting it).
//
// Ownership: the base owns the HttpClient (adapters reach it through
// http()); the traits' strings must be static. Thread safety: the base keeps
// no mutable state, so submit, poll and cancel are safe for concurrent use
// when the hooks are (they are const; an adapter with state locks it).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/common.hpp"

namespace babysea::providers {

// What a provider is, for Provider's accessors and messages.
struct AdapterTraits {
  std::string_view id;        // catalog id ("bfl", "fal", ...)
  DeliveryMode delivery = DeliveryMode::webhook;
  bool can_cancel = false;
  std::string_view job_noun;  // "task", "prediction", ...: "the provider does not know the <noun>"
};

class JsonHttpAdapter : public Provider {
 public:
  std::string_view id() const noexcept final { return traits_.id; }
  DeliveryMode delivery() const noexcept final { return traits_.delivery; }
  bool can_cancel() const noexcept final { return traits_.can_cancel; }
  ProviderTiming timing() const final { return timing_; }

  SubmitResult submit(const SubmitRequest& request) final;
  PollResult poll(const ProviderJob& job) override;
  CancelResult cancel(const ProviderJob& job) override;

 protected:
  enum class Op { submit, poll, cancel };

  // Where a submit goes and what it adds to the native body.
  struct SubmitPlan {
    std::string url;                    // absolute, on the configured origin: http().url(path)
    std::vector<json::Member> members;  // merged into the body, replacing members of the same name
    json::Value payload;                // the parsed native body, when the adapter read it (default_model)
    std::size_t max_answer_bytes = 4u << 20;
    bool raw_answer = false;            // a non-JSON 2xx goes to read_submit unparsed (see above)
  };

  // A poll or cancel request for one job (method preset: GET for poll, POST for cancel).
  struct Call {
    std::string method;
    std::string url;
  };

  JsonHttpAdapter(AdapterTraits traits, ProviderTiming timing, std::unique_ptr<HttpClient> http);

  const HttpClient& http() const { return *http_; }

  // ---- hooks (see the header comment)
  virtual std::vector<HttpHeader> auth() const = 0;
  virtual ProviderError plan_submit(const SubmitRequest& request, SubmitPlan& plan) const = 0;
  virtual ProviderError add_submit_headers(const SubmitRequest& request, std::vector<HttpHeader>& headers) const;
  // `answer` is a 2xx whose body parsed (or, with plan.raw_answer, a
  // non-JSON 2xx: body null, bytes in answer.response.body); sets out.job
  // (and out.status when the answer is final) or out.error.
  virtual void read_submit(const SubmitRequest& request, const SubmitPlan& plan, const Answer& answer,
                           SubmitResult& out) const = 0;
  virtual ProviderError locate(const ProviderJob& job, Op op, Call& call) const;
  // `body` is the parsed 2xx answer; sets out.status or out.error.
  virtual void read_poll(const ProviderJob& job, const json::Value& body, PollResult& out) const;
  // `answer` arrived (answer.sent); answer.body is set only when answer.error
  // is not (a 2xx that parsed). nullopt: the default reading applies.
  virtual std::optional<CancelOutcome> read_cancel(const Answer& answer) const;
  // `answer.error` is set; returns the error to report. Default: unchanged.
  virtual ProviderError refine(Op op, const Answer& answer) const;

  // ---- helpers for adapters
  // invalid_input "bad_job", "malformed <what>".
  static ProviderError bad_job(std::string_view what);
  // `e`, as a moderation when it is an invalid_input the provider `flagged` as one.
  static ProviderError moderation_if(ProviderError e, bool flagged);
  // Marks `st` lost ("the provider does not know the <job_noun>").
  void mark_lost(ProviderStatus& st) const;
  // Parses the native body into plan.payload (invalid_input "bad_payload"
  // when it is not an object) and adds "model" = the native model when the
  // body names none.
  static ProviderError default_model(const SubmitRequest& request, SubmitPlan& plan);

 private:
  AdapterTraits traits_;
  ProviderTiming timing_;
  std::unique_ptr<HttpClient> http_;
};

// The factory tail every simple adapter shares: an HttpClient for
// options.base_url whose answer cap is raised to `min_answer_bytes` (answers
// that carry images inline), then T(options, client). The caller has checked
// the options.
template <typename T, typename Options>
Result<std::shared_ptr<Provider>> make_adapter(Options options, std::size_t min_answer_bytes = 0) {
  ProviderHttpOptions http_options = options;
  if (http_options.max_response_bytes < min_answer_bytes) http_options.max_response_bytes = min_answer_bytes;
  BABYSEA_ASSIGN_OR_RETURN(auto http, HttpClient::create(http_options, options.base_url));
  return std::shared_ptr<Provider>(std::make_shared<T>(std::move(options), std::move(http)));
}

}  // namespace babysea::providers
