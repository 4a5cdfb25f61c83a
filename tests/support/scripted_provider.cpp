#include "support/scripted_provider.hpp"

#include <algorithm>

namespace babysea::testing {

SubmitResult ScriptedProvider::submit(const SubmitRequest& request) {
  SubmitFn fn;
  std::string job;
  {
    std::lock_guard lock(mu_);
    ++submit_calls_;
    ++per_attempt_[request.attempt_id];
    last_callback_url_ = request.callback_url;
    if (!submits_.empty()) {
      fn = std::move(submits_.front());
      submits_.pop_front();
    }
    job = id_ + "-job-" + std::to_string(++next_job_);
  }
  SubmitResult r;
  if (fn) {
    r = fn(request);
  } else {
    r.job.job_id = job;
    if (mode_ == DeliveryMode::synchronous) {
      std::lock_guard lock(mu_);
      r.status = default_poll_ ? *default_poll_ : succeeded("https://cdn.provider.test/" + job + ".png");
    }
  }
  if (r.error.ok() && !r.job.job_id.empty()) {
    std::lock_guard lock(mu_);
    jobs_.push_back(r.job.job_id);
  }
  return r;
}

PollResult ScriptedProvider::poll(const ProviderJob& job) {
  PollFn fn;
  {
    std::lock_guard lock(mu_);
    ++poll_calls_;
    if (!polls_.empty()) {
      fn = std::move(polls_.front());
      polls_.pop_front();
    } else if (default_poll_) {
      PollResult r;
      r.status = *default_poll_;
      return r;
    }
  }
  if (fn) return fn(job);
  PollResult r;
  r.status.kind = ProviderStatusKind::queued;
  return r;
}

CancelResult ScriptedProvider::cancel(const ProviderJob&) {
  std::lock_guard lock(mu_);
  ++cancel_calls_;
  CancelResult r;
  r.outcome = can_cancel_ ? CancelOutcome::requested : CancelOutcome::unsupported;
  return r;
}

Result<ProviderCallback> ScriptedProvider::parse_callback(std::span<const CallbackHeader> headers,
                                                          std::string_view raw_body) {
  bool signed_ok = false;
  for (const auto& h : headers)
    if (h.name == "x-scripted-signature" && h.value == "valid") signed_ok = true;
  if (!signed_ok) return Status(Code::invalid_signature, "bad scripted signature");
  std::vector<std::string> parts;
  std::string cur;
  for (char c : raw_body) {
    if (c == '|') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  if (parts.size() < 3) return Status(Code::invalid_request, "scripted callback needs id|job|status");
  ProviderCallback cb;
  cb.message_id = parts[0];
  cb.job_id = parts[1];
  const std::string& s = parts[2];
  if (s == "queued") cb.status = status(ProviderStatusKind::queued);
  else if (s == "running") cb.status = status(ProviderStatusKind::running);
  else if (s == "succeeded") cb.status = succeeded(parts.size() > 3 ? parts[3] : "https://cdn.provider.test/" + parts[1] + ".png");
  else if (s == "failed") cb.status = failed(ErrorKind::server_error);
  else if (s == "moderated") cb.status = failed(ErrorKind::moderation, "content refused");
  else if (s == "canceled") cb.status = status(ProviderStatusKind::canceled);
  else if (s == "lost") cb.status = status(ProviderStatusKind::lost);
  else return Status(Code::invalid_request, "unknown scripted status");
  return cb;
}

void ScriptedProvider::on_submit(SubmitFn fn) {
  std::lock_guard lock(mu_);
  submits_.push_back(std::move(fn));
}

void ScriptedProvider::on_poll(PollFn fn) {
  std::lock_guard lock(mu_);
  polls_.push_back(std::move(fn));
}

void ScriptedProvider::fail_submit(ErrorKind kind, std::int64_t retry_after_ms) {
  on_submit([kind, retry_after_ms](const SubmitRequest&) {
    SubmitResult r;
    r.error = ProviderError{kind, retry_after_ms, "scripted", "scripted submit failure"};
    return r;
  });
}

void ScriptedProvider::poll_status(ProviderStatus st) {
  on_poll([st](const ProviderJob&) {
    PollResult r;
    r.status = st;
    return r;
  });
}

void ScriptedProvider::poll_error(ErrorKind kind) {
  on_poll([kind](const ProviderJob&) {
    PollResult r;
    r.error = ProviderError{kind, 0, {}, "scripted poll failure"};
    return r;
  });
}

void ScriptedProvider::set_default_poll(ProviderStatus st) {
  std::lock_guard lock(mu_);
  default_poll_ = std::move(st);
}

int ScriptedProvider::submit_calls() const {
  std::lock_guard lock(mu_);
  return submit_calls_;
}

int ScriptedProvider::submits_for(const std::string& attempt_id) const {
  std::lock_guard lock(mu_);
  auto it = per_attempt_.find(attempt_id);
  return it == per_attempt_.end() ? 0 : it->second;
}

int ScriptedProvider::max_submits_per_attempt() const {
  std::lock_guard lock(mu_);
  int m = 0;
  for (const auto& [k, v] : per_attempt_) m = std::max(m, v);
  return m;
}

int ScriptedProvider::poll_calls() const {
  std::lock_guard lock(mu_);
  return poll_calls_;
}

int ScriptedProvider::cancel_calls() const {
  std::lock_guard lock(mu_);
  return cancel_calls_;
}

std::vector<std::string> ScriptedProvider::jobs() const {
  std::lock_guard lock(mu_);
  return jobs_;
}

std::string ScriptedProvider::last_callback_url() const {
  std::lock_guard lock(mu_);
  return last_callback_url_;
}

ProviderStatus ScriptedProvider::succeeded(std::string url) {
  ProviderStatus s;
  s.kind = ProviderStatusKind::succeeded;
  ProviderOutput o;
  o.url = std::move(url);
  o.content_type = "image/png";
  s.outputs.push_back(std::move(o));
  s.predict_ms = 1500;
  return s;
}

ProviderStatus ScriptedProvider::status(ProviderStatusKind kind) {
  ProviderStatus s;
  s.kind = kind;
  return s;
}

ProviderStatus ScriptedProvider::failed(ErrorKind kind, std::string message) {
  ProviderStatus s;
  s.kind = ProviderStatusKind::failed;
  s.error = ProviderError{kind, 0, "scripted", std::move(message)};
  return s;
}

std::vector<CallbackHeader> ScriptedProvider::signed_headers() {
  return {CallbackHeader{"x-scripted-signature", "valid"}};
}

std::string tiny_png() {
  static const unsigned char kPng[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R',
                                       0,    0,   0,   1,   0,    0,    0,    1,    8, 6, 0, 0,    0,   0x1f, 0x15, 0xc4,
                                       0x89};
  return std::string(reinterpret_cast<const char*>(kPng), sizeof kPng);
}

}  // namespace babysea::testing
