#include "router/breaker.hpp"

#include <algorithm>
#include <cmath>

namespace babysea::router_detail {

void Breaker::publish() {
  std::uint64_t v = static_cast<std::uint64_t>(state_);
  if (state_ == BreakerState::half_open && probes_.size() >= opt_.half_open_max_probes) v |= 4u;
  if (state_ == BreakerState::open) v |= static_cast<std::uint64_t>(std::max<std::int64_t>(open_until_ms_, 0)) << 3;
  view_.store(v, std::memory_order_release);
}

void Breaker::trip(std::int64_t now_ms, std::int64_t retry_after_ms) {
  if (state_ == BreakerState::closed && trips_ > 0 && now_ms - closed_since_ms_ >= opt_.trip_memory.count())
    trips_ = 0;
  ++trips_;
  const double base = static_cast<double>(opt_.base_open.count());
  const double grown = base * std::pow(opt_.open_multiplier, static_cast<double>(trips_ - 1));
  std::int64_t dur = grown >= static_cast<double>(opt_.max_open.count()) ? opt_.max_open.count()
                                                                          : static_cast<std::int64_t>(grown);
  const std::int64_t ra = std::clamp<std::int64_t>(retry_after_ms, 0, opt_.max_retry_after.count());
  dur = std::max(dur, ra);
  state_ = BreakerState::open;
  open_until_ms_ = now_ms + dur;
  probes_.clear();
  probe_successes_ = 0;
  results_.clear();
  consecutive_ = 0;
}

void Breaker::close(std::int64_t now_ms) {
  state_ = BreakerState::closed;
  open_until_ms_ = 0;
  closed_since_ms_ = now_ms;
  probes_.clear();
  probe_successes_ = 0;
  results_.clear();
  consecutive_ = 0;
}

bool Breaker::reclaim_expired(std::int64_t now_ms) {
  if (state_ != BreakerState::half_open) return false;
  for (const auto& p : probes_) {
    if (now_ms - p.second >= opt_.probe_timeout.count()) {
      trip(now_ms, 0);  // a silent probe is a failed probe
      return true;
    }
  }
  return false;
}

Admission Breaker::admit(std::string_view attempt_id, std::int64_t now_ms) {
  if (static_cast<BreakerState>(view_.load(std::memory_order_acquire) & 3u) == BreakerState::closed) {
    // Fast path without the lock; a concurrent trip is seen by the next caller.
    return Admission{};
  }
  std::lock_guard lock(mu_);
  Admission a;
  if (state_ == BreakerState::closed) return a;
  if (state_ == BreakerState::open) {
    if (now_ms < open_until_ms_) {
      a.allowed = false;
      a.state = BreakerState::open;
      a.retry_at_ms = open_until_ms_;
      return a;
    }
    state_ = BreakerState::half_open;
    probe_successes_ = 0;
    probes_.clear();
  }
  // half-open
  if (reclaim_expired(now_ms)) {
    publish();
    a.allowed = false;
    a.state = BreakerState::open;
    a.retry_at_ms = open_until_ms_;
    return a;
  }
  a.state = BreakerState::half_open;
  if (probes_.size() >= opt_.half_open_max_probes || attempt_id.empty()) {
    a.allowed = false;
    std::int64_t oldest = now_ms;
    for (const auto& p : probes_) oldest = std::min(oldest, p.second);
    a.retry_at_ms = probes_.empty() ? 0 : oldest + opt_.probe_timeout.count();
    publish();
    return a;
  }
  probes_.emplace_back(std::string(attempt_id), now_ms);
  a.allowed = true;
  a.probe = true;
  publish();
  return a;
}

double Breaker::failure_share(std::int64_t now_ms, std::size_t& volume) {
  const std::int64_t cutoff = now_ms - opt_.rate_window.count();
  std::size_t n = 0, failed = 0;
  for (const auto& r : results_) {
    if (r.first < cutoff) continue;
    ++n;
    failed += r.second ? 1 : 0;
  }
  volume = n;
  return n == 0 ? 0.0 : static_cast<double>(failed) / static_cast<double>(n);
}

void Breaker::on_result(std::string_view attempt_id, BreakerEvent event, std::int64_t retry_after_ms,
                        std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  switch (state_) {
    case BreakerState::closed: {
      if (event == BreakerEvent::neutral) return;
      const bool failed = event == BreakerEvent::failure;
      results_.emplace_back(now_ms, failed);
      while (results_.size() > opt_.rate_window_size) results_.pop_front();
      consecutive_ = failed ? consecutive_ + 1 : 0;
      if (!failed) return;
      std::size_t volume = 0;
      const double share = failure_share(now_ms, volume);
      if ((opt_.trip_on_retry_after && retry_after_ms > 0) || consecutive_ >= opt_.consecutive_failures ||
          (volume >= opt_.min_request_volume && share >= opt_.failure_rate_threshold)) {
        trip(now_ms, retry_after_ms);
        publish();
      }
      return;
    }
    case BreakerState::open:
      // Results of attempts admitted before the trip were already counted by
      // the trip; only a new Retry-After can lengthen the open time.
      if (event == BreakerEvent::failure && retry_after_ms > 0) {
        const std::int64_t ra = std::min<std::int64_t>(retry_after_ms, opt_.max_retry_after.count());
        if (now_ms + ra > open_until_ms_) {
          open_until_ms_ = now_ms + ra;
          publish();
        }
      }
      return;
    case BreakerState::half_open: {
      auto it = std::find_if(probes_.begin(), probes_.end(),
                             [&](const auto& p) { return p.first == attempt_id; });
      if (it == probes_.end()) return;  // a straggler from before the trip
      probes_.erase(it);
      if (event == BreakerEvent::failure) {
        trip(now_ms, retry_after_ms);
      } else if (event == BreakerEvent::success) {
        if (++probe_successes_ >= opt_.half_open_successes_to_close) close(now_ms);
      }
      publish();
      return;
    }
  }
}

bool Breaker::force_open(std::int64_t until_ms, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (until_ms <= now_ms) return false;
  if (state_ == BreakerState::open && open_until_ms_ >= until_ms) return false;
  state_ = BreakerState::open;
  open_until_ms_ = until_ms;
  probes_.clear();
  probe_successes_ = 0;
  results_.clear();
  consecutive_ = 0;
  publish();
  return true;
}

void Breaker::sweep(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (reclaim_expired(now_ms)) publish();
}

BreakerInfo Breaker::info(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  BreakerInfo i;
  i.state = state_;
  if (state_ == BreakerState::open && now_ms >= open_until_ms_) i.state = BreakerState::half_open;
  i.open_until_ms = state_ == BreakerState::open ? open_until_ms_ : 0;
  i.trips = trips_;
  i.probes_in_flight = static_cast<std::uint32_t>(probes_.size());
  i.probe_successes = probe_successes_;
  return i;
}

}  // namespace babysea::router_detail
