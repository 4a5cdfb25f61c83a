// Internal: one circuit breaker (closed → open → half-open → closed).
//
// Transitions run under a mutex; a packed atomic view (state, probes-full
// flag, open deadline) lets plan() read the breaker without locking.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/router.hpp"

namespace babysea::router_detail {

enum class BreakerEvent { success, failure, neutral };

class Breaker {
 public:
  explicit Breaker(const BreakerOptions& options) : opt_(options) {}
  Breaker(const Breaker&) = delete;
  Breaker& operator=(const Breaker&) = delete;

  // Wait-free: whether plan() should move this provider to the end at `now`.
  bool blocks(std::int64_t now_ms) const noexcept {
    const std::uint64_t v = view_.load(std::memory_order_acquire);
    const auto st = static_cast<BreakerState>(v & 3u);
    if (st == BreakerState::closed) return false;
    if (st == BreakerState::open) return now_ms < static_cast<std::int64_t>(v >> 3);
    return (v & 4u) != 0;  // half-open with every probe slot taken
  }

  Admission admit(std::string_view attempt_id, std::int64_t now_ms);
  void on_result(std::string_view attempt_id, BreakerEvent event, std::int64_t retry_after_ms,
                 std::int64_t now_ms);
  // Open until `until_ms` unless already open at least that long (a shared
  // opening); false when nothing changed.
  bool force_open(std::int64_t until_ms, std::int64_t now_ms);
  // Reclaims probes past probe_timeout (each counts as a failure).
  void sweep(std::int64_t now_ms);
  BreakerInfo info(std::int64_t now_ms) const;

 private:
  void trip(std::int64_t now_ms, std::int64_t retry_after_ms);
  void close(std::int64_t now_ms);
  bool reclaim_expired(std::int64_t now_ms);
  void publish();
  double failure_share(std::int64_t now_ms, std::size_t& volume);

  const BreakerOptions& opt_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::closed;
  std::int64_t open_until_ms_ = 0;
  std::uint32_t trips_ = 0;
  std::int64_t closed_since_ms_ = 0;
  std::uint32_t consecutive_ = 0;
  std::uint32_t probe_successes_ = 0;
  std::deque<std::pair<std::int64_t, bool>> results_;  // (finished ms, failed)
  std::vector<std::pair<std::string, std::int64_t>> probes_;  // (attempt id, admitted ms)
  std::atomic<std::uint64_t> view_{0};
};

}  // namespace babysea::router_detail
