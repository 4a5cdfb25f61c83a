// babysea/status.hpp — errors as values.
//
// `Status` is the result of an operation that returns nothing else: OK costs a
// null pointer; an error carries a stable `Code`, a message, a retryable flag and
// optional field-level issues. `Result<T>` holds either a value or a non-OK
// Status. Nothing in the public C++ API throws; every failure is one of these.
//
// Codes are stable: the numeric value is pinned (the C ABI exposes it) and the
// string name is the `error.type` of the public API. Add codes, never renumber.
//
// Thread safety: const methods may be called concurrently; distinct objects are
// independent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace babysea {

enum class Code : int {
  ok = 0,
  invalid_request = 1,          // malformed or out-of-range input; see issues()
  not_found = 2,                // no such resource (or not visible to the caller)
  insufficient_credits = 3,     // available balance cannot cover the amount
  idempotency_conflict = 4,     // key reused with a different request
  idempotency_in_progress = 5,  // key's original request is still in flight
  invalid_state = 6,            // operation not allowed in the resource's state
  unauthenticated = 7,          // no valid credentials
  forbidden = 8,                // credentials lack the needed scope
  rate_limited = 9,             // too many requests; retryable
  model_not_found = 10,         // unknown model identifier
  payload_too_large = 11,       // body or field above its size cap
  unsupported_media_type = 12,  // wrong content type
  url_forbidden = 13,           // URL refused by the network guard
  invalid_signature = 14,       // a signed message failed verification
  providers_failed = 15,        // every provider in the chain failed
  provider_timeout = 16,        // provider did not answer in time; retryable
  unavailable = 17,             // transient: busy, shutting down; retryable
  storage_error = 18,           // the storage backend failed (I/O, constraint)
  corruption = 19,              // stored data or schema is not what we expect
  internal = 20,                // a bug: an invariant did not hold
  invalid_amount = 21,          // amount not a positive integer within limits
  canceled = 22,                // operation was canceled
  timeout = 23,                 // a local deadline passed; retryable
  unsupported = 24,             // not supported by this backend/provider
};

// Stable snake_case name of a code ("insufficient_credits"); "unknown" otherwise.
std::string_view code_name(Code code) noexcept;

// Whether callers may retry an operation that failed with this code by default.
bool code_is_retryable(Code code) noexcept;

// One problem with one input field, reported by validators.
struct FieldIssue {
  std::string field;    // dotted path of the field, e.g. "generation_ratio"
  std::string code;     // stable issue code, e.g. "unsupported_value"
  std::string message;  // human-readable explanation
  bool operator==(const FieldIssue&) const = default;
};

class Status {
 public:
  Status() noexcept = default;  // OK
  Status(Code code, std::string message);
  Status(Code code, std::string message, std::vector<FieldIssue> issues);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  static Status ok_status() noexcept { return Status(); }

  bool ok() const noexcept { return rep_ == nullptr; }
  explicit operator bool() const noexcept { return ok(); }
  Code code() const noexcept { return rep_ ? rep_->code : Code::ok; }
  std::string_view message() const noexcept;
  // Defaults to code_is_retryable(code()); may be overridden per status.
  bool retryable() const noexcept;
  Status& set_retryable(bool retryable);
  const std::vector<FieldIssue>& issues() const noexcept;
  // "code_name: message" (or "ok").
  std::string to_string() const;

 private:
  struct Rep {
    Code code;
    std::string message;
    std::vector<FieldIssue> issues;
    int retryable;  // -1 = default for code
  };
  std::unique_ptr<Rep> rep_;
};

// Either a T or a non-OK Status. Accessing value() of an error is a bug
// (asserts in debug, undefined otherwise); check ok() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok())
      v_ = Status(Code::internal, "Result constructed from an OK status");
  }
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  Code code() const noexcept { return ok() ? Code::ok : std::get<Status>(v_).code(); }

  const Status& status() const noexcept {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status take_status() && { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace babysea

// Propagate a non-OK Status from an expression returning Status.
#define BABYSEA_RETURN_IF_ERROR(expr)                    \
  do {                                                   \
    ::babysea::Status babysea_status_tmp_ = (expr);      \
    if (!babysea_status_tmp_.ok()) return babysea_status_tmp_; \
  } while (0)

#define BABYSEA_CONCAT_INNER_(a, b) a##b
#define BABYSEA_CONCAT_(a, b) BABYSEA_CONCAT_INNER_(a, b)

// Declare `lhs` from a Result<T> expression, or return its Status.
#define BABYSEA_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto BABYSEA_CONCAT_(babysea_result_, __LINE__) = (expr);                   \
  if (!BABYSEA_CONCAT_(babysea_result_, __LINE__).ok())                       \
    return std::move(BABYSEA_CONCAT_(babysea_result_, __LINE__)).take_status(); \
  lhs = std::move(BABYSEA_CONCAT_(babysea_result_, __LINE__)).value()
