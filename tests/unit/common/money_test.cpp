#include <catch2/catch.hpp>

#include <limits>

#include "babysea/money.hpp"

using namespace babysea;

TEST_CASE("money: parse credits exactly") {
  CHECK(*parse_credits("0") == 0);
  CHECK(*parse_credits("12") == 12'000'000);
  CHECK(*parse_credits("0.5") == 500'000);
  CHECK(*parse_credits("1.000001") == 1'000'001);
  CHECK(*parse_credits("-3.25") == -3'250'000);
  CHECK(*parse_credits("9223372036854.775807") == std::numeric_limits<Micros>::max());
}

TEST_CASE("money: refuse what cannot be represented exactly") {
  for (const char* bad : {"", "-", ".5", "1.", "1.0000001", "1e3", "+1", "1,5", " 1", "abc",
                          "9223372036854.775808", "99999999999999999999"}) {
    INFO(bad);
    auto r = parse_credits(bad);
    CHECK(r.code() == Code::invalid_amount);
  }
}

TEST_CASE("money: format round-trips") {
  for (Micros m : {Micros{0}, Micros{1}, Micros{500'000}, Micros{12'000'000}, Micros{-3'250'000},
                   std::numeric_limits<Micros>::max()}) {
    INFO(m);
    CHECK(*parse_credits(format_credits(m)) == m);
  }
  CHECK(format_credits(1'500'000) == "1.5");
  CHECK(format_credits(1) == "0.000001");
  CHECK(format_credits(std::numeric_limits<Micros>::min()) == "-9223372036854.775808");
}

TEST_CASE("money: checked arithmetic") {
  constexpr Micros kMax = std::numeric_limits<Micros>::max();
  CHECK(*checked_add(1, 2) == 3);
  CHECK(checked_add(kMax, 1).code() == Code::invalid_amount);
  CHECK(*checked_sub(1, 2) == -1);
  CHECK(checked_sub(std::numeric_limits<Micros>::min(), 1).code() == Code::invalid_amount);
  CHECK(*checked_mul(3, 4) == 12);
  CHECK(checked_mul(kMax, 2).code() == Code::invalid_amount);
  CHECK(*checked_mul_div(kMax, 3, 3) == kMax);  // no intermediate overflow
  CHECK(*checked_mul_div(10, 1, 3) == 3);
  CHECK(*checked_mul_div(-10, 1, 3) == -4);  // floor
  CHECK(checked_mul_div(1, 1, 0).code() == Code::invalid_amount);
}
