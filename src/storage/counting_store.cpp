// counting_store.cpp — count_units (babysea/storage.hpp): a Store decorator.
#include "babysea/storage.hpp"

namespace babysea {
namespace {

class CountingStore final : public Store {
 public:
  CountingStore(std::unique_ptr<Store> inner, StoreCounterCells& counters)
      : inner_(std::move(inner)), counters_(counters) {}

  std::string_view name() const override { return inner_->name(); }
  bool shared() const override { return inner_->shared(); }

  Status transact(Work work) override {
    Status st = inner_->transact(work);
    (st.ok() ? counters_.units : counters_.failed_units).fetch_add(1, std::memory_order_relaxed);
    return st;
  }

  Status read(Work work) override {
    counters_.reads.fetch_add(1, std::memory_order_relaxed);
    return inner_->read(work);
  }

 private:
  std::unique_ptr<Store> inner_;
  StoreCounterCells& counters_;
};

}  // namespace

StoreCounters StoreCounterCells::load() const {
  return StoreCounters{units.load(std::memory_order_relaxed), failed_units.load(std::memory_order_relaxed),
                       reads.load(std::memory_order_relaxed)};
}

std::unique_ptr<Store> count_units(std::unique_ptr<Store> inner, StoreCounterCells& counters) {
  return std::make_unique<CountingStore>(std::move(inner), counters);
}

}  // namespace babysea
