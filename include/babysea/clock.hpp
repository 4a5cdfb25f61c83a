// babysea/clock.hpp — the only source of time in babysea.
//
// Core logic never reads the wall clock; it asks a Clock that the host passes
// in. `SystemClock` reads the real time; `ManualClock` is set and advanced by
// tests and simulations. Times are unix milliseconds (`int64_t`) at rest.
//
// Thread safety: every Clock method is safe to call concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace babysea {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in milliseconds.
  virtual std::int64_t now_ms() const = 0;
  // Monotonic nanoseconds for measuring durations; never goes backwards.
  virtual std::int64_t monotonic_ns() const = 0;
};

// The process's real clock. `instance()` is a process-wide object that must
// never be deleted.
class SystemClock final : public Clock {
 public:
  static SystemClock& instance();
  std::int64_t now_ms() const override;
  std::int64_t monotonic_ns() const override;
};

// A clock that moves only when told to. Both readings advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : ms_(start_ms) {}
  std::int64_t now_ms() const override { return ms_.load(std::memory_order_acquire); }
  std::int64_t monotonic_ns() const override {
    return (ms_.load(std::memory_order_acquire) - base_) * 1'000'000;
  }
  void set_ms(std::int64_t ms) { ms_.store(ms, std::memory_order_release); }
  void advance(std::chrono::milliseconds d) { ms_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> ms_;
  const std::int64_t base_ = ms_.load();
};

}  // namespace babysea
