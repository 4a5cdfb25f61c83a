// Internal: ranking.v1 JSON (adaptive-island cache value) read and write.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/router.hpp"

namespace babysea::router_detail {

struct ImportedRanking {
  std::vector<std::string> providers_ranked;  // de-duplicated, first wins
  std::int64_t attempts_total = 0;
  std::int64_t window_hours = 0;
  std::int64_t computed_ms = 0;
};

// Strict RFC 3339 date-time with explicit offset (specs/router.md §3.4) → unix ms.
bool parse_rfc3339_ms(std::string_view text, std::int64_t& out_ms);
// (Formatting: text::rfc3339_ms in service/text.hpp.)

// Validates as specs/router.md §3.3; invalid_request with a reason otherwise.
Result<ImportedRanking> parse_ranking_v1(std::string_view json);
std::string write_ranking_v1(const Ranking& ranking, std::int64_t window_hours);

}  // namespace babysea::router_detail
