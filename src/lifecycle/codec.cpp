// The storage document of a Generation: a compact, versioned binary encoding
// (little-endian fixed integers, length-prefixed strings). Decoding checks
// every length against the input and refuses unknown versions and trailing
// bytes as corruption.
#include <cstring>
#include <string>

#include "babysea/lifecycle.hpp"

namespace babysea {
namespace {

constexpr std::uint8_t kVersion = 1;

class Out {
 public:
  Out() { s_.reserve(1024); }  // a typical document fits; larger ones grow
  void u8(std::uint8_t v) { s_.push_back(static_cast<char>(v)); }
  void i64(std::int64_t v) {
    const std::uint64_t u = static_cast<std::uint64_t>(v);
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((u >> (8 * i)) & 0xff);  // little-endian on every host
    s_.append(b, sizeof b);
  }
  void str(std::string_view v) {
    i64(static_cast<std::int64_t>(v.size()));
    s_.append(v);
  }
  void strs(const std::vector<std::string>& v) {
    i64(static_cast<std::int64_t>(v.size()));
    for (const auto& x : v) str(x);
  }
  std::string take() && { return std::move(s_); }

 private:
  std::string s_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == s_.size(); }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(s_[pos_++]);
  }
  std::int64_t i64() {
    if (!need(8)) return 0;
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(s_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return static_cast<std::int64_t>(u);
  }
  std::string str() {
    const std::int64_t n = i64();
    if (n < 0 || !need(static_cast<std::size_t>(n))) {
      ok_ = false;
      return {};
    }
    std::string v(s_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  std::vector<std::string> strs() {
    const std::int64_t n = count();
    std::vector<std::string> v;
    for (std::int64_t i = 0; i < n && ok_; ++i) v.push_back(str());
    return v;
  }
  // A element count, bounded by the bytes left (each element takes >= 8).
  std::int64_t count() {
    const std::int64_t n = i64();
    if (n < 0 || static_cast<std::uint64_t>(n) > (s_.size() - pos_) / 8 + 1) {
      ok_ = false;
      return 0;
    }
    return n;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || s_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view s_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

template <typename E>
bool in_range(std::int64_t v, E last) {
  return v >= 0 && v <= static_cast<std::int64_t>(last);
}

}  // namespace

std::string encode_generation(const Generation& g) {
  Out o;
  o.u8(kVersion);
  o.str(g.id);
  o.str(g.account);
  o.str(g.region);
  o.str(g.model);
  o.i64(static_cast<std::int64_t>(g.type));
  o.i64(static_cast<std::int64_t>(g.status));
  o.str(g.params_json);
  o.strs(g.chain);
  o.str(g.hold_id);
  o.i64(g.held);
  o.i64(g.cost_per_output);
  o.i64(g.max_outputs);
  o.i64(g.settled);
  o.u8(g.credits_refunded ? 1 : 0);
  o.u8(g.started_emitted ? 1 : 0);
  o.i64(g.created_ms);
  o.i64(g.started_ms);
  o.i64(g.completed_ms);
  o.i64(g.deadline_ms);
  o.str(g.prediction_id);
  o.str(g.provider_used);
  o.str(g.error);
  o.str(g.error_code);
  o.strs(g.outputs);
  o.u8(g.removed ? 1 : 0);
  o.i64(g.predict_ms);
  o.strs(g.audit);
  o.i64(g.audit_dropped);
  o.i64(static_cast<std::int64_t>(g.attempts.size()));
  for (const auto& a : g.attempts) {
    o.str(a.id);
    o.i64(a.order);
    o.str(a.provider);
    o.i64(static_cast<std::int64_t>(a.status));
    o.str(a.job.job_id);
    o.str(a.job.handle);
    o.i64(a.created_ms);
    o.i64(a.submitted_ms);
    o.i64(a.started_ms);
    o.i64(a.finished_ms);
    o.i64(a.submits);
    o.u8(a.submit_in_flight ? 1 : 0);
    o.u8(a.resubmitted ? 1 : 0);
    o.i64(a.submit_due_ms);
    o.i64(a.deadline_ms);
    o.i64(a.next_poll_ms);
    o.i64(a.poll_failures);
    o.i64(static_cast<std::int64_t>(a.error));
    o.str(a.error_code);
    o.str(a.error_message);
    o.i64(a.outcome ? static_cast<std::int64_t>(*a.outcome) : -1);
    o.i64(static_cast<std::int64_t>(a.cancel));
    o.i64(a.cancel_tries);
    o.i64(a.next_cancel_ms);
    o.strs(a.output_urls);
    o.i64(a.inline_outputs);
    o.i64(a.asset_tries);
    o.u8(a.asset_in_flight ? 1 : 0);
    o.i64(a.asset_due_ms);
    o.i64(a.predict_ms);
  }
  return std::move(o).take();
}

Result<Generation> decode_generation(std::string_view bytes) {
  In in(bytes);
  if (in.u8() != kVersion) return Status(Code::corruption, "generation document: unknown version");
  Generation g;
  g.id = in.str();
  g.account = in.str();
  g.region = in.str();
  g.model = in.str();
  const std::int64_t type = in.i64();
  const std::int64_t status = in.i64();
  if (!in_range(type, ModelType::video) || !in_range(status, GenerationStatus::canceled))
    return Status(Code::corruption, "generation document: bad enum");
  g.type = static_cast<ModelType>(type);
  g.status = static_cast<GenerationStatus>(status);
  g.params_json = in.str();
  g.chain = in.strs();
  g.hold_id = in.str();
  g.held = in.i64();
  g.cost_per_output = in.i64();
  g.max_outputs = in.i64();
  g.settled = in.i64();
  g.credits_refunded = in.u8() != 0;
  g.started_emitted = in.u8() != 0;
  g.created_ms = in.i64();
  g.started_ms = in.i64();
  g.completed_ms = in.i64();
  g.deadline_ms = in.i64();
  g.prediction_id = in.str();
  g.provider_used = in.str();
  g.error = in.str();
  g.error_code = in.str();
  g.outputs = in.strs();
  g.removed = in.u8() != 0;
  g.predict_ms = in.i64();
  g.audit = in.strs();
  g.audit_dropped = in.i64();
  const std::int64_t n = in.count();
  for (std::int64_t i = 0; i < n && in.ok(); ++i) {
    Attempt a;
    a.id = in.str();
    a.order = static_cast<int>(in.i64());
    a.provider = in.str();
    const std::int64_t st = in.i64();
    if (!in_range(st, AttemptStatus::discarded)) return Status(Code::corruption, "generation document: bad attempt status");
    a.status = static_cast<AttemptStatus>(st);
    a.job.job_id = in.str();
    a.job.handle = in.str();
    a.created_ms = in.i64();
    a.submitted_ms = in.i64();
    a.started_ms = in.i64();
    a.finished_ms = in.i64();
    a.submits = static_cast<int>(in.i64());
    a.submit_in_flight = in.u8() != 0;
    a.resubmitted = in.u8() != 0;
    a.submit_due_ms = in.i64();
    a.deadline_ms = in.i64();
    a.next_poll_ms = in.i64();
    a.poll_failures = static_cast<int>(in.i64());
    const std::int64_t err = in.i64();
    if (!in_range(err, ErrorKind::unknown)) return Status(Code::corruption, "generation document: bad error kind");
    a.error = static_cast<ErrorKind>(err);
    a.error_code = in.str();
    a.error_message = in.str();
    const std::int64_t outcome = in.i64();
    if (outcome >= 0) {
      if (!in_range(outcome, AttemptOutcome::cancelled)) return Status(Code::corruption, "generation document: bad outcome");
      a.outcome = static_cast<AttemptOutcome>(outcome);
    }
    const std::int64_t cancel = in.i64();
    if (!in_range(cancel, CancelState::unsupported)) return Status(Code::corruption, "generation document: bad cancel state");
    a.cancel = static_cast<CancelState>(cancel);
    a.cancel_tries = static_cast<int>(in.i64());
    a.next_cancel_ms = in.i64();
    a.output_urls = in.strs();
    a.inline_outputs = static_cast<int>(in.i64());
    a.asset_tries = static_cast<int>(in.i64());
    a.asset_in_flight = in.u8() != 0;
    a.asset_due_ms = in.i64();
    a.predict_ms = in.i64();
    g.attempts.push_back(std::move(a));
  }
  if (!in.done()) return Status(Code::corruption, "generation document: truncated or trailing bytes");
  return g;
}

}  // namespace babysea
