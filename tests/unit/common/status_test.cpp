#include <catch2/catch.hpp>

#include "babysea/status.hpp"

using namespace babysea;

TEST_CASE("status: ok is free and empty") {
  Status s;
  CHECK(s.ok());
  CHECK(s.code() == Code::ok);
  CHECK(s.message().empty());
  CHECK(s.issues().empty());
  CHECK(s.to_string() == "ok");
  CHECK_FALSE(s.retryable());
}

TEST_CASE("status: error carries code, message, issues, retryable") {
  Status s(Code::invalid_request, "bad", {{"generation_ratio", "unsupported_value", "nope"}});
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::invalid_request);
  CHECK(s.message() == "bad");
  REQUIRE(s.issues().size() == 1);
  CHECK(s.issues()[0].field == "generation_ratio");
  CHECK_FALSE(s.retryable());
  s.set_retryable(true);
  CHECK(s.retryable());
  Status copy = s;
  CHECK(copy.code() == Code::invalid_request);
  CHECK(copy.retryable());
  CHECK(copy.to_string().find("invalid_request: bad") == 0);
}

TEST_CASE("status: code names are stable") {
  CHECK(code_name(Code::ok) == "ok");
  CHECK(code_name(Code::insufficient_credits) == "insufficient_credits");
  CHECK(code_name(Code::idempotency_conflict) == "idempotency_conflict");
  CHECK(code_name(Code::idempotency_in_progress) == "idempotency_in_progress");
  CHECK(code_name(Code::invalid_state) == "invalid_state");
  CHECK(code_name(Code::invalid_amount) == "invalid_amount");
  CHECK(code_name(static_cast<Code>(9999)) == "unknown");
  // Pinned numbers: the C ABI depends on them.
  CHECK(static_cast<int>(Code::insufficient_credits) == 3);
  CHECK(static_cast<int>(Code::unsupported) == 24);
  CHECK(code_is_retryable(Code::rate_limited));
  CHECK_FALSE(code_is_retryable(Code::insufficient_credits));
}

TEST_CASE("result: value or status") {
  Result<int> r = 5;
  CHECK(r.ok());
  CHECK(*r == 5);
  Result<int> e = Status(Code::not_found, "x");
  CHECK_FALSE(e.ok());
  CHECK(e.code() == Code::not_found);
  Result<int> bogus = Status();  // OK status without a value is a bug, reported as internal
  CHECK(bogus.code() == Code::internal);
}

static Result<int> half(int x) {
  if (x % 2) return Status(Code::invalid_request, "odd");
  return x / 2;
}
static Result<int> quarter(int x) {
  BABYSEA_ASSIGN_OR_RETURN(int h, half(x));
  BABYSEA_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST_CASE("result: propagation macros") {
  CHECK(*quarter(8) == 2);
  CHECK(quarter(6).code() == Code::invalid_request);
}
