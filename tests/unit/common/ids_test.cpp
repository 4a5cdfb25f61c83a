#include <catch2/catch.hpp>

#include <set>
#include <thread>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/ids.hpp"

using namespace babysea;

TEST_CASE("ids: uuidv7 format and embedded time") {
  std::string id = new_id(1'700'000'123'456);
  CHECK(id.size() == 36);
  CHECK(is_uuid_v7(id));
  CHECK(uuid_v7_time_ms(id) == 1'700'000'123'456);
  CHECK_FALSE(is_uuid_v7("not-an-id"));
  CHECK_FALSE(is_uuid_v7("0188c3b2-1234-4abc-8def-0123456789ab"));  // version 4
}

TEST_CASE("ids: strictly increasing within one millisecond and across threads") {
  IdGenerator gen;
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    std::string id = gen.next(1'700'000'000'000);
    REQUIRE(id > prev);
    prev = id;
  }
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> out(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) out[t].push_back(gen.next(1'700'000'000'001));
    });
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : out) {
    for (std::size_t i = 1; i < v.size(); ++i) REQUIRE(v[i] > v[i - 1]);
    all.insert(v.begin(), v.end());
  }
  CHECK(all.size() == 8000);
}

TEST_CASE("clock: manual clock moves only when told") {
  ManualClock clock(1000);
  CHECK(clock.now_ms() == 1000);
  clock.advance(std::chrono::milliseconds(250));
  CHECK(clock.now_ms() == 1250);
  CHECK(clock.monotonic_ns() == 250'000'000);
  clock.set_ms(5000);
  CHECK(clock.now_ms() == 5000);
  CHECK(SystemClock::instance().now_ms() > 1'700'000'000'000);
}
