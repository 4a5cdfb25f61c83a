#include <catch2/catch.hpp>

#include "babysea/errors.hpp"
#include "babysea/router.hpp"
#include "babysea/storage.hpp"

using namespace babysea;

TEST_CASE("error kinds map to classes", "[router][errors]") {
  CHECK(classify(ErrorKind::rate_limited, 30'000).error_class == ErrorClass::retry_same);
  CHECK(classify(ErrorKind::rate_limited, 30'000).retry_after_ms == 30'000);
  CHECK(classify(ErrorKind::server_error).error_class == ErrorClass::retry_same);
  CHECK(classify(ErrorKind::connection).error_class == ErrorClass::retry_same);
  CHECK(classify(ErrorKind::timeout).error_class == ErrorClass::fail_over);
  CHECK(classify(ErrorKind::provider_unavailable).error_class == ErrorClass::fail_over);
  CHECK(classify(ErrorKind::breaker_open).error_class == ErrorClass::fail_over);
  CHECK(classify(ErrorKind::model_unavailable).error_class == ErrorClass::fail_over);
  CHECK(classify(ErrorKind::unknown).error_class == ErrorClass::fail_over);
  // moderation and invalid input fail fast and do not blame the provider
  CHECK(classify(ErrorKind::moderation).error_class == ErrorClass::fail_fast);
  CHECK_FALSE(classify(ErrorKind::moderation).counts_against_provider);
  CHECK(classify(ErrorKind::invalid_input).error_class == ErrorClass::fail_fast);
  CHECK_FALSE(classify(ErrorKind::invalid_input).counts_against_provider);
  CHECK(classify(ErrorKind::provider_auth).error_class == ErrorClass::fail_fast);
  CHECK(classify(ErrorKind::provider_auth).counts_against_provider);
  CHECK_FALSE(classify(ErrorKind::breaker_open).counts_against_provider);
  CHECK(classify(ErrorKind::none).error_class == ErrorClass::none);
  CHECK(classify(ErrorKind::server_error, -5).retry_after_ms == 0);
}

TEST_CASE("http statuses map to kinds", "[router][errors]") {
  CHECK(error_kind_from_http_status(200) == ErrorKind::none);
  CHECK(error_kind_from_http_status(400) == ErrorKind::invalid_input);
  CHECK(error_kind_from_http_status(422) == ErrorKind::invalid_input);
  CHECK(error_kind_from_http_status(401) == ErrorKind::provider_auth);
  CHECK(error_kind_from_http_status(402) == ErrorKind::provider_quota);
  CHECK(error_kind_from_http_status(404) == ErrorKind::model_unavailable);
  CHECK(error_kind_from_http_status(408) == ErrorKind::timeout);
  CHECK(error_kind_from_http_status(429) == ErrorKind::rate_limited);
  CHECK(error_kind_from_http_status(500) == ErrorKind::server_error);
  CHECK(error_kind_from_http_status(502) == ErrorKind::server_error);
  CHECK(error_kind_from_http_status(503) == ErrorKind::provider_unavailable);
  CHECK(error_kind_from_http_status(529) == ErrorKind::provider_unavailable);
  CHECK(error_kind_from_http_status(700) == ErrorKind::unknown);
}

TEST_CASE("kind names round-trip", "[router][errors]") {
  for (int i = 0; i <= 13; ++i) {
    auto k = static_cast<ErrorKind>(i);
    auto back = parse_error_kind(error_kind_name(k));
    REQUIRE(back);
    CHECK(*back == k);
  }
  CHECK_FALSE(parse_error_kind("nope"));
  CHECK(error_class_name(ErrorClass::fail_fast) == "fail_fast");
}

TEST_CASE("Retry-After parsing", "[router][errors]") {
  const std::int64_t now = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("120", now) == 120'000);
  CHECK(parse_retry_after(" 0 ", now) == 0);
  CHECK(parse_retry_after("99999999999999999999", now) == 86'400'000);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == 60'000);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now) == 0);  // past → now
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("-5", now));
  CHECK_FALSE(parse_retry_after("1.5", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
}

TEST_CASE("attempt rows round-trip", "[router][errors]") {
  AttemptRecord r;
  r.attempt_id = "a1";
  r.region = "eu";
  r.model = "m";
  r.provider = "p";
  r.outcome = AttemptOutcome::failed;
  r.error = ErrorKind::rate_limited;
  r.latency_ms = 42;
  r.cost = 7;
  r.finished_ms = 99;
  AttemptStatRow row = attempt_to_row(r);
  CHECK(row.outcome == "failed");
  CHECK(row.error_class == "rate_limited");
  auto back = attempt_from_row(row);
  REQUIRE(back.ok());
  CHECK(back->attempt_id == "a1");
  CHECK(back->error == ErrorKind::rate_limited);
  CHECK(back->latency_ms == 42);
  CHECK(back->cost == 7);
  row.outcome = "pending";
  CHECK(attempt_from_row(row).code() == Code::invalid_request);
  row.outcome = "used";
  row.error_class = "weird";
  CHECK(attempt_from_row(row).code() == Code::invalid_request);
  CHECK_FALSE(parse_attempt_outcome("pending"));
}
