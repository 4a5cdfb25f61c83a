// babysea/money.hpp — credits as integers.
//
// All money in babysea is `int64_t` micro-credits (1 credit = 1,000,000 micros);
// floating point never touches an amount. On the wire credits are decimal strings
// or numbers with at most 6 fractional digits; anything finer is refused, never
// rounded. Arithmetic is checked: overflow is an error, not a wrap.
//
// Thread safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "babysea/status.hpp"

namespace babysea {

using Micros = std::int64_t;

inline constexpr Micros kMicrosPerCredit = 1'000'000;

// a + b, or invalid_amount on overflow.
Result<Micros> checked_add(Micros a, Micros b);
// a - b, or invalid_amount on overflow.
Result<Micros> checked_sub(Micros a, Micros b);
// a * n, or invalid_amount on overflow.
Result<Micros> checked_mul(Micros a, std::int64_t n);
// floor(a * num / den) without intermediate overflow (128-bit), den > 0;
// invalid_amount when the result does not fit or den <= 0.
Result<Micros> checked_mul_div(Micros a, std::int64_t num, std::int64_t den);

// Parses a decimal credit amount ("12", "0.5", "1.000001", "-3") into micros.
// Refuses empty text, exponents, signs other than a leading '-', more than six
// fractional digits, and values that overflow. Code: invalid_amount.
Result<Micros> parse_credits(std::string_view text);

// Formats micros as a decimal credit string with trailing zeros trimmed
// ("1.5", "0.000001", "-2").
std::string format_credits(Micros micros);

}  // namespace babysea
