// Scripted Transport and Resolver (fake_transport.hpp).
#include "support/fake_transport.hpp"

#include <utility>

namespace babysea::testing {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& h : request.headers)
    if (iequals(h.name, name)) return h.value;
  return std::nullopt;
}

FakeTransport& FakeTransport::respond(int status, std::string body, std::vector<HttpHeader> headers) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  std::lock_guard lock(mu_);
  script_.push_back(Step{std::move(r), Status()});
  return *this;
}

FakeTransport& FakeTransport::json(int status, std::string body) {
  return respond(status, std::move(body), {{"Content-Type", "application/json"}});
}

FakeTransport& FakeTransport::fail(Code code, std::string message) {
  std::lock_guard lock(mu_);
  script_.push_back(Step{std::nullopt, Status(code, std::move(message))});
  return *this;
}

void FakeTransport::async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) {
  std::optional<Step> step;
  {
    std::lock_guard lock(mu_);
    recorded_.push_back(RecordedRequest{std::move(request), target});
    if (!script_.empty()) {
      step = std::move(script_.front());
      script_.pop_front();
    }
  }
  if (!step) return done(Status(Code::internal, "fake transport: no scripted answer"));
  if (step->response) return done(std::move(*step->response));
  done(std::move(step->error));
}

std::vector<RecordedRequest> FakeTransport::requests() const {
  std::lock_guard lock(mu_);
  return recorded_;
}

std::size_t FakeTransport::count() const {
  std::lock_guard lock(mu_);
  return recorded_.size();
}

RecordedRequest FakeTransport::last() const {
  std::lock_guard lock(mu_);
  return recorded_.back();
}

std::size_t FakeTransport::pending() const {
  std::lock_guard lock(mu_);
  return script_.size();
}

void FakeTransport::clear() {
  std::lock_guard lock(mu_);
  script_.clear();
  recorded_.clear();
}

void FakeResolver::set(std::string host, std::vector<IpAddress> addresses) {
  std::lock_guard lock(mu_);
  table_[std::move(host)] = std::move(addresses);
}

void FakeResolver::fail_next(int n) {
  std::lock_guard lock(mu_);
  fail_ = n;
}

Result<std::vector<IpAddress>> FakeResolver::resolve(std::string_view host) {
  std::lock_guard lock(mu_);
  ++lookups_;
  if (fail_ > 0) {
    --fail_;
    return Status(Code::unavailable, "fake resolver: scripted failure");
  }
  auto it = table_.find(host);
  if (it == table_.end()) return std::vector<IpAddress>{};
  return it->second;
}

int FakeResolver::lookups() const {
  std::lock_guard lock(mu_);
  return lookups_;
}

}  // namespace babysea::testing
