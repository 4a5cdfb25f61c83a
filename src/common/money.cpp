#include "babysea/money.hpp"

#include <limits>

namespace babysea {
namespace {
__extension__ using i128 = __int128;
__extension__ using u128 = unsigned __int128;

Status overflow() { return Status(Code::invalid_amount, "amount overflows 64-bit micro-credits"); }
}  // namespace

Result<Micros> checked_add(Micros a, Micros b) {
  Micros out;
  if (__builtin_add_overflow(a, b, &out)) return overflow();
  return out;
}

Result<Micros> checked_sub(Micros a, Micros b) {
  Micros out;
  if (__builtin_sub_overflow(a, b, &out)) return overflow();
  return out;
}

Result<Micros> checked_mul(Micros a, std::int64_t n) {
  Micros out;
  if (__builtin_mul_overflow(a, n, &out)) return overflow();
  return out;
}

Result<Micros> checked_mul_div(Micros a, std::int64_t num, std::int64_t den) {
  if (den <= 0) return Status(Code::invalid_amount, "division by a non-positive number");
  i128 wide = static_cast<i128>(a) * num;
  i128 q = wide / den;
  if (wide % den != 0 && wide < 0) --q;  // floor for negatives
  if (q > std::numeric_limits<Micros>::max() || q < std::numeric_limits<Micros>::min())
    return overflow();
  return static_cast<Micros>(q);
}

Result<Micros> parse_credits(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status(Code::invalid_amount, std::string("invalid credit amount '") +
                                            std::string(text.substr(0, 64)) + "': " + why);
  };
  if (text.empty()) return bad("empty");
  bool negative = false;
  std::size_t i = 0;
  if (text[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i == text.size()) return bad("no digits");
  u128 whole = 0;
  std::size_t int_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return bad("not a decimal number");
    whole = whole * 10 + static_cast<unsigned>(c - '0');
    if (whole > static_cast<u128>(std::numeric_limits<Micros>::max())) return bad("too large");
    ++int_digits;
  }
  if (int_digits == 0) return bad("no integer digits");
  Micros frac = 0;
  if (i < text.size()) {  // at '.'
    ++i;
    std::size_t frac_digits = 0;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c < '0' || c > '9') return bad("not a decimal number");
      if (++frac_digits > 6) return bad("more than 6 fractional digits");
      frac = frac * 10 + (c - '0');
    }
    if (frac_digits == 0) return bad("no fractional digits after '.'");
    for (std::size_t k = frac_digits; k < 6; ++k) frac *= 10;
  }
  u128 total = whole * kMicrosPerCredit + static_cast<unsigned>(frac);
  if (total > static_cast<u128>(std::numeric_limits<Micros>::max())) return bad("too large");
  Micros v = static_cast<Micros>(total);
  return negative ? -v : v;
}

std::string format_credits(Micros micros) {
  bool negative = micros < 0;
  unsigned long long mag = negative ? 0ULL - static_cast<unsigned long long>(micros)
                                    : static_cast<unsigned long long>(micros);
  unsigned long long whole = mag / kMicrosPerCredit;
  unsigned long long frac = mag % kMicrosPerCredit;
  std::string out = negative ? "-" : "";
  out += std::to_string(whole);
  if (frac != 0) {
    char buf[8];
    int digits = 6;
    while (frac % 10 == 0) {
      frac /= 10;
      --digits;
    }
    for (int k = digits - 1; k >= 0; --k) {
      buf[k] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    out += '.';
    out.append(buf, static_cast<std::size_t>(digits));
  }
  return out;
}

}  // namespace babysea
