// The shared submit / poll / cancel flow (json_http_adapter.hpp).
#include "providers/json_http_adapter.hpp"

namespace babysea::providers {
namespace {

// The attempt id as a request header on submits: none of these providers
// takes metadata on a job, so this is the only tag we can attach (providers
// ignore it; emulators and proxies can log it).
void add_attempt_header(std::vector<HttpHeader>& headers, const SubmitRequest& request) {
  if (is_path_segment(request.attempt_id)) headers.push_back({"X-Babysea-Attempt-Id", request.attempt_id});
}

// The common preconditions of submit(): payload present and for this provider.
ProviderError check_submit(const SubmitRequest& request, std::string_view provider_id) {
  if (!request.payload) return make_error(ErrorKind::invalid_input, "no_payload", "submit without a native payload");
  if (request.payload->provider != provider_id)
    return make_error(ErrorKind::invalid_input, "payload_mismatch", "native payload was rendered for another provider");
  return {};
}

ProviderError bad_payload(std::string message) {
  return make_error(ErrorKind::invalid_input, "bad_payload", std::move(message));
}

}  // namespace

JsonHttpAdapter::JsonHttpAdapter(AdapterTraits traits, ProviderTiming timing, std::unique_ptr<HttpClient> http)
    : traits_(traits), timing_(timing), http_(std::move(http)) {}

SubmitResult JsonHttpAdapter::submit(const SubmitRequest& request) {
  SubmitResult out;
  out.error = check_submit(request, traits_.id);
  if (!out.error.ok()) return out;
  SubmitPlan plan;
  out.error = plan_submit(request, plan);
  if (!out.error.ok()) return out;
  auto body = merge_members(request.payload->json, std::move(plan.members));
  if (!body.ok()) {
    out.error = bad_payload(std::string(body.status().message()));
    return out;
  }
  auto headers = auth();
  headers.push_back({"Content-Type", "application/json"});
  add_attempt_header(headers, request);
  out.error = add_submit_headers(request, headers);
  if (!out.error.ok()) return out;
  Answer a = call_json(*http_, "POST", std::move(plan.url), std::move(headers), std::move(*body), plan.max_answer_bytes,
                       /*body_required=*/true, plan.raw_answer);
  if (!a.error.ok()) {
    out.error = refine(Op::submit, a);
    return out;
  }
  read_submit(request, plan, a, out);
  return out;
}

PollResult JsonHttpAdapter::poll(const ProviderJob& job) {
  PollResult out;
  if (traits_.delivery == DeliveryMode::synchronous) {  // the submit answered; there is no job
    out.status.kind = ProviderStatusKind::lost;
    out.status.error = make_error(ErrorKind::malformed_response, "job_lost", "a synchronous request cannot be polled");
    return out;
  }
  Call call{"GET", {}};
  out.error = locate(job, Op::poll, call);
  if (!out.error.ok()) return out;
  Answer a = call_json(*http_, call.method, std::move(call.url), auth());
  if (a.sent && (a.response.status == 404 || a.response.status == 410)) {
    mark_lost(out.status);
    return out;
  }
  if (!a.error.ok()) {
    out.error = refine(Op::poll, a);
    return out;
  }
  read_poll(job, a.body, out);
  return out;
}

CancelResult JsonHttpAdapter::cancel(const ProviderJob& job) {
  CancelResult out;
  if (!traits_.can_cancel) {
    out.outcome = CancelOutcome::unsupported;
    return out;
  }
  Call call{"POST", {}};
  out.error = locate(job, Op::cancel, call);
  if (!out.error.ok()) return out;
  Answer a = call_json(*http_, call.method, std::move(call.url), auth(), {}, 4u << 20, /*body_required=*/false);
  if (a.sent) {
    if (auto named = read_cancel(a)) {
      out.outcome = *named;
      return out;
    }
    if (a.response.status == 404) {
      out.outcome = CancelOutcome::not_found;
      return out;
    }
  }
  if (!a.error.ok()) {
    out.error = refine(Op::cancel, a);
    return out;
  }
  out.outcome = CancelOutcome::requested;
  return out;
}

// ------------------------------------------------------------ default hooks

ProviderError JsonHttpAdapter::add_submit_headers(const SubmitRequest&, std::vector<HttpHeader>&) const { return {}; }

ProviderError JsonHttpAdapter::locate(const ProviderJob&, Op, Call&) const {
  return make_error(ErrorKind::invalid_input, "unsupported", "the provider has no job to address");
}

void JsonHttpAdapter::read_poll(const ProviderJob&, const json::Value&, PollResult& out) const {
  out.error = make_error(ErrorKind::malformed_response, "unsupported", "the provider has no job to poll");
}

std::optional<CancelOutcome> JsonHttpAdapter::read_cancel(const Answer&) const { return std::nullopt; }

ProviderError JsonHttpAdapter::refine(Op, const Answer& answer) const { return answer.error; }

// ------------------------------------------------------------------ helpers

ProviderError JsonHttpAdapter::bad_job(std::string_view what) {
  return make_error(ErrorKind::invalid_input, "bad_job", "malformed " + std::string(what));
}

ProviderError JsonHttpAdapter::moderation_if(ProviderError e, bool flagged) {
  if (flagged && e.kind == ErrorKind::invalid_input) e.kind = ErrorKind::moderation;
  return e;
}

void JsonHttpAdapter::mark_lost(ProviderStatus& st) const {
  st.kind = ProviderStatusKind::lost;
  st.error = make_error(ErrorKind::malformed_response, "job_lost",
                        "the provider does not know the " + std::string(traits_.job_noun));
}

ProviderError JsonHttpAdapter::default_model(const SubmitRequest& request, SubmitPlan& plan) {
  auto payload = parse_json(request.payload->json, json::kMaxDocumentBytes);
  if (!payload.ok() || !payload->is_object()) return bad_payload("native payload is not a JSON object");
  plan.payload = std::move(*payload);
  if (!member(plan.payload, "model") && !request.payload->native_model.empty())
    plan.members.push_back({"model", json_string(request.payload->native_model)});
  return {};
}

}  // namespace babysea::providers
