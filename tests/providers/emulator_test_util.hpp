// Helpers shared by the provider adapter tests that run against the
// provider emulators (tests/emulators) over real HTTP.
#pragma once

#include <chrono>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/providers.hpp"
#include "emulator_test_support.hpp"
#include "provider_test_util.hpp"

namespace babysea::provider_tests {

using emu::testing::fast;

// Polls until the status is final (or `tries` polls passed), sleeping
// `pause` between polls and advancing `clock` (when given) by `advance`.
inline PollResult poll_until_final(Provider& p, const ProviderJob& job, int tries = 100,
                                   std::chrono::milliseconds pause = std::chrono::milliseconds(30),
                                   ManualClock* clock = nullptr,
                                   std::chrono::milliseconds advance = std::chrono::milliseconds(0)) {
  PollResult last;
  for (int i = 0; i < tries; ++i) {
    last = p.poll(job);
    if (last.error.ok() && is_final(last.status.kind)) return last;
    std::this_thread::sleep_for(pause);
    if (clock) clock->advance(advance);
  }
  return last;
}

}  // namespace babysea::provider_tests
