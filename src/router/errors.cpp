// Error classification shared by the lifecycle and the router.
#include "babysea/errors.hpp"

#include <array>
#include <cstddef>

namespace babysea {
namespace {

struct KindInfo {
  ErrorKind kind;
  std::string_view name;
  ErrorClass cls;
  bool counts;
};

constexpr std::array<KindInfo, 14> kKinds = {{
    {ErrorKind::none, "none", ErrorClass::none, false},
    {ErrorKind::rate_limited, "rate_limited", ErrorClass::retry_same, true},
    {ErrorKind::server_error, "server_error", ErrorClass::retry_same, true},
    {ErrorKind::connection, "connection", ErrorClass::retry_same, true},
    {ErrorKind::timeout, "timeout", ErrorClass::fail_over, true},
    {ErrorKind::provider_unavailable, "provider_unavailable", ErrorClass::fail_over, true},
    {ErrorKind::breaker_open, "breaker_open", ErrorClass::fail_over, false},
    {ErrorKind::malformed_response, "malformed_response", ErrorClass::fail_over, true},
    {ErrorKind::model_unavailable, "model_unavailable", ErrorClass::fail_over, true},
    {ErrorKind::moderation, "moderation", ErrorClass::fail_fast, false},
    {ErrorKind::invalid_input, "invalid_input", ErrorClass::fail_fast, false},
    {ErrorKind::provider_auth, "provider_auth", ErrorClass::fail_fast, true},
    {ErrorKind::provider_quota, "provider_quota", ErrorClass::fail_fast, true},
    {ErrorKind::unknown, "unknown", ErrorClass::fail_over, true},
}};

const KindInfo* info(ErrorKind k) noexcept {
  auto i = static_cast<std::size_t>(k);
  if (i >= kKinds.size()) return nullptr;
  return &kKinds[i];
}

constexpr std::int64_t kMaxRetryAfterMs = 86'400'000;

bool parse_uint(std::string_view s, std::int64_t& out) noexcept {
  if (s.empty() || s.size() > 12) return false;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" → unix ms.
std::optional<std::int64_t> parse_imf_fixdate(std::string_view s) noexcept {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29) return std::nullopt;
  bool day_ok = false;
  for (auto d : kDays) day_ok = day_ok || s.substr(0, 3) == d;
  if (!day_ok || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  std::int64_t day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  if (!parse_uint(s.substr(5, 2), day) || !parse_uint(s.substr(12, 4), year) ||
      !parse_uint(s.substr(17, 2), hh) || !parse_uint(s.substr(20, 2), mm) || !parse_uint(s.substr(23, 2), ss))
    return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i)
    if (s.substr(8, 3) == kMonths[i]) month = i + 1;
  if (month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  const std::int64_t days = days_from_civil(year, month, static_cast<unsigned>(day));
  return ((days * 24 + hh) * 60 + mm) * 60'000 + ss * 1000;
}

}  // namespace

std::string_view error_class_name(ErrorClass c) noexcept {
  switch (c) {
    case ErrorClass::none: return "none";
    case ErrorClass::retry_same: return "retry_same";
    case ErrorClass::fail_over: return "fail_over";
    case ErrorClass::fail_fast: return "fail_fast";
  }
  return "unknown";
}

std::string_view error_kind_name(ErrorKind k) noexcept {
  const KindInfo* i = info(k);
  return i ? i->name : std::string_view("unknown");
}

std::optional<ErrorKind> parse_error_kind(std::string_view name) noexcept {
  for (const auto& i : kKinds)
    if (i.name == name) return i.kind;
  return std::nullopt;
}

ErrorClass error_class_of(ErrorKind k) noexcept {
  const KindInfo* i = info(k);
  return i ? i->cls : ErrorClass::fail_over;
}

bool counts_against_provider(ErrorKind k) noexcept {
  const KindInfo* i = info(k);
  return i ? i->counts : true;
}

ErrorClassification classify(ErrorKind kind, std::int64_t retry_after_ms) noexcept {
  ErrorClassification c;
  c.kind = kind;
  c.error_class = error_class_of(kind);
  c.retry_after_ms = retry_after_ms < 0 ? 0 : (retry_after_ms > kMaxRetryAfterMs ? kMaxRetryAfterMs : retry_after_ms);
  c.counts_against_provider = counts_against_provider(kind);
  return c;
}

ErrorKind error_kind_from_http_status(int status) noexcept {
  if (status >= 200 && status < 400) return ErrorKind::none;
  switch (status) {
    case 401:
    case 403: return ErrorKind::provider_auth;
    case 402: return ErrorKind::provider_quota;
    case 404:
    case 410: return ErrorKind::model_unavailable;
    case 408: return ErrorKind::timeout;
    case 429: return ErrorKind::rate_limited;
    case 503:
    case 529: return ErrorKind::provider_unavailable;
    default: break;
  }
  if (status >= 400 && status < 500) return ErrorKind::invalid_input;
  if (status >= 500 && status < 600) return ErrorKind::server_error;
  return ErrorKind::unknown;
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_ms) noexcept {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::int64_t seconds = 0;
  if (parse_uint(value, seconds)) {
    if (seconds > kMaxRetryAfterMs / 1000) return kMaxRetryAfterMs;
    return seconds * 1000;
  }
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos)
    return kMaxRetryAfterMs;  // all digits but too long for parse_uint: clamp
  auto at = parse_imf_fixdate(value);
  if (!at) return std::nullopt;
  std::int64_t d = *at - now_ms;
  if (d < 0) return 0;
  return d > kMaxRetryAfterMs ? kMaxRetryAfterMs : d;
}

}  // namespace babysea
