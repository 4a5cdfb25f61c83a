#include "router/snapshot_cell.hpp"

#include <limits>

namespace babysea::router_detail {
namespace {

struct ThreadSlot {
  EpochDomain::Slot* slot = nullptr;
  bool claimed = false;
  int depth = 0;
  ~ThreadSlot() {
    if (slot) {
      slot->epoch.store(0, std::memory_order_seq_cst);
      slot->owned.store(false, std::memory_order_release);
    }
  }
};

thread_local ThreadSlot t_slot;

}  // namespace

EpochDomain& EpochDomain::instance() {
  static EpochDomain* domain = new EpochDomain();  // never destroyed: threads may outlive statics
  return *domain;
}

EpochDomain::Slot* EpochDomain::my_slot() {
  if (!t_slot.claimed) {
    t_slot.claimed = true;
    for (auto& s : slots_) {
      bool expected = false;
      if (!s.owned.load(std::memory_order_relaxed) &&
          s.owned.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
        t_slot.slot = &s;
        break;
      }
    }
  }
  return t_slot.slot;
}

std::uint64_t EpochDomain::min_active() {
  if (overflow_.load(std::memory_order_seq_cst) != 0) return 0;
  std::uint64_t min = std::numeric_limits<std::uint64_t>::max();
  for (auto& s : slots_) {
    const std::uint64_t e = s.epoch.load(std::memory_order_seq_cst);
    if (e != 0 && e < min) min = e;
  }
  return min;
}

// A retired snapshot tagged t (the epoch after its unlinking) may be freed
// when every active reader announced an epoch >= t: such a reader read the
// epoch after the new pointer was stored, so it cannot see the old one.
ReadGuard::ReadGuard() {
  if (t_slot.depth++ > 0) return;  // nested: the outer guard protects us
  outer_ = true;
  EpochDomain& d = EpochDomain::instance();
  slot_ = d.my_slot();
  if (slot_) {
    slot_->epoch.store(d.epoch().load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  } else {
    d.overflow().fetch_add(1, std::memory_order_seq_cst);
  }
}

ReadGuard::~ReadGuard() {
  --t_slot.depth;
  if (!outer_) return;
  if (slot_) {
    slot_->epoch.store(0, std::memory_order_release);
  } else {
    EpochDomain::instance().overflow().fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace babysea::router_detail
