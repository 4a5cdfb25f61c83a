#include "router/ranking_json.hpp"

#include <cmath>
#include <cstdio>
#include <optional>
#include <unordered_set>

#include "json/json.hpp"
#include "service/text.hpp"

namespace babysea::router_detail {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

Status bad(std::string message) { return Status(Code::invalid_request, "ranking.v1: " + std::move(message)); }

}  // namespace

bool parse_rfc3339_ms(std::string_view s, std::int64_t& out_ms) {
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || s[10] != 'T' || !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) ||
      s[16] != ':' || !digits(s, 17, 2, se))
    return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1) return false;
  const int dim = kDays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0);
  if (d > dim || h > 23 || mi > 59 || se > 59) return false;
  std::size_t pos = 19;
  std::int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;
  std::int64_t offset_min = 0;
  if (s[pos] == 'Z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return false;
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  out_ms = (((days * 24 + h) * 60 + mi) * 60 + se) * 1000 + frac_ms - offset_min * 60'000;
  return true;
}

Result<ImportedRanking> parse_ranking_v1(std::string_view text) {
  if (text.empty()) return bad("empty value");
  if (text.size() > json::kMaxDocumentBytes) return bad("too large");
  simdjson::padded_string padded = json::pad(text);
  simdjson::ondemand::parser& parser = json::thread_parser();
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return bad("not JSON");
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return bad("top level is not an object");

  ImportedRanking r;
  bool have_ranked = false, have_scores = false, have_total = false, have_window = false, have_at = false;
  std::unordered_set<std::string> scored;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return bad("bad key");
    simdjson::ondemand::value v;
    if (field.value().get(v)) return bad("bad value");
    if (key == "providers_ranked") {
      simdjson::ondemand::array arr;
      if (v.get_array().get(arr)) return bad("providers_ranked is not an array");
      std::unordered_set<std::string> seen;
      for (auto item : arr) {
        std::string_view name;
        if (item.get_string().get(name)) return bad("providers_ranked holds a non-string");
        if (name.empty()) return bad("empty provider name");
        if (seen.insert(std::string(name)).second) r.providers_ranked.emplace_back(name);
      }
      if (r.providers_ranked.empty()) return bad("providers_ranked is empty");
      have_ranked = true;
    } else if (key == "scores") {
      simdjson::ondemand::object sc;
      if (v.get_object().get(sc)) return bad("scores is not an object");
      for (auto s : sc) {
        std::string_view name;
        if (s.unescaped_key().get(name)) return bad("bad score key");
        std::string owned(name);
        simdjson::ondemand::value sv;
        if (s.value().get(sv)) return bad("bad score");
        simdjson::ondemand::json_type t;
        if (sv.type().get(t) || t != simdjson::ondemand::json_type::number) return bad("score is not a number");
        double d = 0;
        if (sv.get_double().get(d) || !std::isfinite(d)) return bad("score is not finite");
        scored.insert(std::move(owned));
      }
      have_scores = true;
    } else if (key == "attempts_total" || key == "window_hours") {
      simdjson::ondemand::json_type t;
      if (v.type().get(t) || t != simdjson::ondemand::json_type::number) return bad(std::string(key) + " is not an integer");
      std::int64_t n = 0;
      if (v.get_int64().get(n)) return bad(std::string(key) + " is not an integer");
      if (key == "attempts_total") {
        if (n < 0) return bad("attempts_total < 0");
        r.attempts_total = n;
        have_total = true;
      } else {
        if (n < 1) return bad("window_hours < 1");
        r.window_hours = n;
        have_window = true;
      }
    } else if (key == "computed_at") {
      std::string_view at;
      if (v.get_string().get(at)) return bad("computed_at is not a string");
      if (!parse_rfc3339_ms(at, r.computed_ms)) return bad("computed_at is not RFC 3339 with an offset");
      have_at = true;
    }
    // Extra keys are tolerated (as both adaptive-island SDKs do).
  }
  // simdjson 3.0 has no document::at_end(); a readable current location
  // after the object means bytes follow it.
  const char* loc = nullptr;
  if (!doc.current_location().get(loc)) return bad("trailing content");
  if (!have_ranked || !have_scores || !have_total || !have_window || !have_at) return bad("missing field");
  for (const auto& p : r.providers_ranked)
    if (!scored.contains(p)) return bad("ranked provider without a score: " + p);
  return r;
}

std::string write_ranking_v1(const Ranking& ranking, std::int64_t window_hours) {
  json::JsonWriter w;
  w.begin_object();
  w.key("attempts_total").value(ranking.attempts_total);
  w.key("computed_at").value(text::rfc3339_ms(ranking.computed_ms));
  w.key("providers_ranked").begin_array();
  for (const auto& p : ranking.providers)
    if (p.ranked) w.value(p.provider);
  w.end_array();
  w.key("scores").begin_object();
  for (const auto& p : ranking.providers)
    if (p.ranked) w.key(p.provider).value(std::round(p.score * 1e6) / 1e6);
  w.end_object();
  w.key("window_hours").value(window_hours);
  w.end_object();
  return std::move(w).take();
}

}  // namespace babysea::router_detail
