// Helpers for the router tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/router.hpp"

namespace babysea::router_test {

inline AttemptRecord rec(std::string id, std::string provider, AttemptOutcome outcome, std::int64_t latency_ms,
                         std::int64_t finished_ms, ErrorKind error = ErrorKind::none, std::string model = "m",
                         std::string region = "us") {
  AttemptRecord r;
  r.attempt_id = std::move(id);
  r.region = std::move(region);
  r.model = std::move(model);
  r.provider = std::move(provider);
  r.outcome = outcome;
  r.error = error;
  if (outcome == AttemptOutcome::failed && error == ErrorKind::none) r.error = ErrorKind::server_error;
  r.latency_ms = latency_ms;
  r.finished_ms = finished_ms;
  return r;
}

inline std::vector<std::string> names(const Plan& p) { return p.chain.names(); }

}  // namespace babysea::router_test
