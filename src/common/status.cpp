#include "babysea/status.hpp"

namespace babysea {

std::string_view code_name(Code code) noexcept {
  switch (code) {
    case Code::ok: return "ok";
    case Code::invalid_request: return "invalid_request";
    case Code::not_found: return "not_found";
    case Code::insufficient_credits: return "insufficient_credits";
    case Code::idempotency_conflict: return "idempotency_conflict";
    case Code::idempotency_in_progress: return "idempotency_in_progress";
    case Code::invalid_state: return "invalid_state";
    case Code::unauthenticated: return "unauthenticated";
    case Code::forbidden: return "forbidden";
    case Code::rate_limited: return "rate_limited";
    case Code::model_not_found: return "model_not_found";
    case Code::payload_too_large: return "payload_too_large";
    case Code::unsupported_media_type: return "unsupported_media_type";
    case Code::url_forbidden: return "url_forbidden";
    case Code::invalid_signature: return "invalid_signature";
    case Code::providers_failed: return "providers_failed";
    case Code::provider_timeout: return "provider_timeout";
    case Code::unavailable: return "unavailable";
    case Code::storage_error: return "storage_error";
    case Code::corruption: return "corruption";
    case Code::internal: return "internal";
    case Code::invalid_amount: return "invalid_amount";
    case Code::canceled: return "canceled";
    case Code::timeout: return "timeout";
    case Code::unsupported: return "unsupported";
  }
  return "unknown";
}

bool code_is_retryable(Code code) noexcept {
  switch (code) {
    case Code::idempotency_in_progress:
    case Code::rate_limited:
    case Code::provider_timeout:
    case Code::unavailable:
    case Code::storage_error:
    case Code::internal:
    case Code::timeout:
      return true;
    default:
      return false;
  }
}

Status::Status(Code code, std::string message) : Status(code, std::move(message), {}) {}

Status::Status(Code code, std::string message, std::vector<FieldIssue> issues) {
  if (code == Code::ok) return;  // an OK status carries nothing
  rep_ = std::make_unique<Rep>(Rep{code, std::move(message), std::move(issues), -1});
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

std::string_view Status::message() const noexcept {
  return rep_ ? std::string_view(rep_->message) : std::string_view();
}

bool Status::retryable() const noexcept {
  if (!rep_) return false;
  if (rep_->retryable >= 0) return rep_->retryable == 1;
  return code_is_retryable(rep_->code);
}

Status& Status::set_retryable(bool retryable) {
  if (rep_) rep_->retryable = retryable ? 1 : 0;
  return *this;
}

const std::vector<FieldIssue>& Status::issues() const noexcept {
  static const std::vector<FieldIssue> kNone;
  return rep_ ? rep_->issues : kNone;
}

std::string Status::to_string() const {
  if (!rep_) return "ok";
  std::string out(code_name(rep_->code));
  if (!rep_->message.empty()) {
    out += ": ";
    out += rep_->message;
  }
  for (const auto& issue : rep_->issues) {
    out += " [" + issue.field + ": " + issue.code + "]";
  }
  return out;
}

}  // namespace babysea
