// Internal: an immutable-snapshot cell with wait-free readers.
//
// Readers enter a ReadGuard (two atomic stores, one load: no locks, no
// allocation, no retry loop), load the current pointer and use it until the
// guard ends. Writers publish a new snapshot under a mutex; the old one is
// retired with the epoch at which it stopped being reachable and freed once
// every reader that could still hold it has left (epoch-based reclamation).
//
// Thread safety: load() must be called inside a ReadGuard on the same
// thread; publish()/reclaim() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace babysea::router_detail {

// Process-wide reader registry shared by all cells.
class EpochDomain {
 public:
  static constexpr std::size_t kSlots = 256;

  struct alignas(64) Slot {
    std::atomic<std::uint64_t> epoch{0};  // 0 = not reading
    std::atomic<bool> owned{false};
  };

  static EpochDomain& instance();

  // The calling thread's slot, claimed on first use; nullptr when all slots
  // are taken (the thread then reads through the overflow counter).
  Slot* my_slot();

  std::atomic<std::uint64_t>& epoch() { return epoch_; }
  std::atomic<std::int64_t>& overflow() { return overflow_; }
  // Smallest epoch announced by an active reader (UINT64_MAX when none);
  // 0 when an overflow reader is active (nothing may be freed).
  std::uint64_t min_active();

 private:
  Slot slots_[kSlots];
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<std::int64_t> overflow_{0};
};

class ReadGuard {
 public:
  ReadGuard();
  ~ReadGuard();
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  EpochDomain::Slot* slot_ = nullptr;
  bool outer_ = false;
};

template <typename T>
class SnapshotCell {
 public:
  SnapshotCell() = default;
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;
  ~SnapshotCell() = default;  // REQUIRES: no reader active on this cell

  // REQUIRES: inside a ReadGuard. May be null before the first publish.
  const T* load() const noexcept { return ptr_.load(std::memory_order_seq_cst); }

  void publish(std::unique_ptr<const T> next) {
    std::lock_guard lock(mu_);
    std::unique_ptr<const T> old = std::move(current_);
    current_ = std::move(next);
    ptr_.store(current_.get(), std::memory_order_seq_cst);
    const std::uint64_t tag = EpochDomain::instance().epoch().fetch_add(1, std::memory_order_seq_cst) + 1;
    if (old) retired_.emplace_back(tag, std::move(old));
    reclaim_locked();
  }

  // Frees retired snapshots no reader can still see.
  void reclaim() {
    std::lock_guard lock(mu_);
    reclaim_locked();
  }

  std::size_t retired_count() {
    std::lock_guard lock(mu_);
    return retired_.size();
  }

 private:
  void reclaim_locked() {
    if (retired_.empty()) return;
    const std::uint64_t min = EpochDomain::instance().min_active();
    std::erase_if(retired_, [min](const auto& r) { return r.first <= min; });
  }

  std::atomic<const T*> ptr_{nullptr};
  std::mutex mu_;
  std::unique_ptr<const T> current_;
  std::vector<std::pair<std::uint64_t, std::unique_ptr<const T>>> retired_;
};

}  // namespace babysea::router_detail
