#include "catalog/bridge.hpp"

#include <boost/url/parse.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <string>

#include "json/strict.hpp"
#include "service/text.hpp"

namespace babysea::detail {

namespace {

void number_text(std::string& out, double v) {
  char buf[40];
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    out.append(buf, r.ptr);
    return;
  }
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_text(std::string& out, const FieldValue& value) {
  switch (value.index()) {
    case 1: out += std::get<bool>(value) ? "true" : "false"; break;
    case 2: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, std::get<std::int64_t>(value));
      out.append(buf, r.ptr);
      break;
    }
    case 3: number_text(out, std::get<double>(value)); break;
    case 4: out += std::get<std::string>(value); break;
    default: break;
  }
}

// Resolves a field node's source to a scalar (or list) value; monostate when absent.
const FieldValue* source(const BridgeNode& node, const FieldValue* values, FieldValue& tmp) {
  const FieldValue& v = values[node.field];
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (const auto* list = std::get_if<std::vector<std::string>>(&v)) {
    if (node.index) {
      if (*node.index >= list->size()) return nullptr;
      tmp = (*list)[*node.index];
      return &tmp;
    }
    if (list->empty()) return nullptr;
  }
  return &v;
}

void write_plain(const FieldValue& v, json::JsonWriter& w);

void write_scalar(const BridgeNode& node, const FieldValue& v, json::JsonWriter& w) {
  if (node.map.empty() && !node.negate && node.scale == 1 && node.as == BridgeNode::As::keep && node.format.empty()) {
    write_plain(v, w);  // plain rename: no copy
    return;
  }
  if (!node.map.empty()) {
    std::string key;
    append_text(key, v);
    for (const auto& [from, raw] : node.map)
      if (from == key) {
        w.raw(raw);
        return;
      }
  }
  FieldValue cur = v;
  if (node.negate)
    if (auto* b = std::get_if<bool>(&cur)) *b = !*b;
  if (node.scale != 1) {
    if (auto* i = std::get_if<std::int64_t>(&cur)) *i *= node.scale;
    else if (auto* d = std::get_if<double>(&cur)) *d *= static_cast<double>(node.scale);
  }
  switch (node.as) {
    case BridgeNode::As::keep: break;
    case BridgeNode::As::integer:
      if (auto* d = std::get_if<double>(&cur)) cur = static_cast<std::int64_t>(std::llround(*d));
      break;
    case BridgeNode::As::number:
      if (auto* i = std::get_if<std::int64_t>(&cur)) cur = static_cast<double>(*i);
      break;
    case BridgeNode::As::string: {
      if (!std::holds_alternative<std::string>(cur)) {
        std::string s;
        append_text(s, cur);
        cur = std::move(s);
      }
      break;
    }
  }
  if (!node.format.empty()) {
    std::string text;
    append_text(text, cur);
    std::string out;
    auto pos = node.format.find("{}");
    out.append(node.format, 0, pos);
    out += text;
    out.append(node.format, pos + 2);
    w.value(std::string_view(out));
    return;
  }
  write_plain(cur, w);
}

void write_plain(const FieldValue& cur, json::JsonWriter& w) {
  switch (cur.index()) {
    case 1: w.value(std::get<bool>(cur)); break;
    case 2: w.value(std::get<std::int64_t>(cur)); break;
    case 3: {
      double d = std::get<double>(cur);
      if (d == std::trunc(d) && std::fabs(d) < 9.0e15) w.value(static_cast<std::int64_t>(d));
      else w.value(d);
      break;
    }
    case 4: w.value(std::string_view(std::get<std::string>(cur))); break;
    case 5:
      w.begin_array();
      for (const auto& s : std::get<std::vector<std::string>>(cur)) w.value(std::string_view(s));
      w.end_array();
      break;
    default: w.null(); break;
  }
}

void write_node(const BridgeNode& node, const FieldValue* values, json::JsonWriter& w) {
  switch (node.kind) {
    case BridgeNode::Kind::constant: w.raw(node.raw); return;
    case BridgeNode::Kind::field: {
      FieldValue tmp;
      const FieldValue* v = source(node, values, tmp);
      if (v) write_scalar(node, *v, w);
      else w.null();
      return;
    }
    case BridgeNode::Kind::object:
      w.begin_object();
      for (const auto& [key, child] : node.members) {
        if (!node_present(child, values)) continue;
        w.key(key);
        write_node(child, values, w);
      }
      w.end_object();
      return;
    case BridgeNode::Kind::array:
      w.begin_array();
      for (const auto& child : node.items)
        if (node_present(child, values)) write_node(child, values, w);
      w.end_array();
      return;
  }
}


}  // namespace

bool node_present(const BridgeNode& node, const FieldValue* values) noexcept {
  switch (node.kind) {
    case BridgeNode::Kind::constant: return true;
    case BridgeNode::Kind::field: {
      const FieldValue& v = values[node.field];
      if (std::holds_alternative<std::monostate>(v)) return false;
      if (const auto* list = std::get_if<std::vector<std::string>>(&v))
        return node.index ? *node.index < list->size() : !list->empty();
      return true;
    }
    case BridgeNode::Kind::object: {
      // Present when any field-derived member is present; constants alone
      // keep a container only if it has no field-derived member at all.
      bool has_field = false;
      for (const auto& m : node.members) {
        if (m.second.kind == BridgeNode::Kind::constant) continue;
        has_field = true;
        if (node_present(m.second, values)) return true;
      }
      return !has_field;
    }
    case BridgeNode::Kind::array: {
      bool has_field = false;
      for (const auto& item : node.items) {
        if (item.kind == BridgeNode::Kind::constant) continue;
        has_field = true;
        if (node_present(item, values)) return true;
      }
      return !has_field;
    }
  }
  return false;
}

void write_payload(const Bridge& bridge, const FieldValue* values, json::JsonWriter& writer) {
  write_node(bridge.payload, values, writer);
}

std::string canonical_text(const FieldValue& value) {
  std::string out;
  append_text(out, value);
  return out;
}

std::string_view url_syntax_problem(std::string_view url) noexcept {
  if (url.size() > kMaxUrlBytes) return "is longer than 2048 bytes";
  std::size_t rest;
  if (text::istarts_with(url, "https://")) rest = 8;
  else if (text::istarts_with(url, "http://")) rest = 7;
  else return "must start with http:// or https://";
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "must not contain spaces or control characters";
  std::string_view authority = url.substr(rest);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return "must not contain user information";
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return "is not a valid URL";
  if (!parsed->has_authority() || parsed->encoded_host().empty()) return "must have a host";
  if (parsed->has_userinfo()) return "must not contain user information";
  return {};
}

bool is_server_controlled_name(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 20> kWords = {
      "webhook", "secret",  "key",     "apikey",   "token",  "region",  "regions",
      "price",   "pricing", "cost",    "credit",   "credits", "account", "password",
      "signature", "callback", "billing", "provider", "auth", "authorization"};
  if (name == "generation_provider_order") return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find_first_of("_-.", start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view word = name.substr(start, end - start);
    char lower[24];
    if (!word.empty() && word.size() < sizeof lower) {
      for (std::size_t i = 0; i < word.size(); ++i) {
        char c = word[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      std::string_view lw(lower, word.size());
      for (auto w : kWords)
        if (lw == w) return true;
    }
    start = end + 1;
  }
  return false;
}

void check_value(const FieldSpec& spec, const FieldValue& value, std::vector<FieldIssue>& issues) {
  auto add = [&](const char* code, std::string message) {
    issues.push_back(FieldIssue{spec.name, code, spec.name + " " + std::move(message)});
  };
  switch (spec.type) {
    case FieldType::boolean:
      if (!std::holds_alternative<bool>(value)) add("invalid_type", "must be a boolean.");
      return;
    case FieldType::enumeration: {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) return add("invalid_type", "must be a string.");
      for (const auto& v : spec.values)
        if (v == *s) return;
      std::string allowed;
      for (const auto& v : spec.values) allowed += (allowed.empty() ? "" : ", ") + v;
      return add("unsupported_value", "is not one of " + allowed + ".");
    }
    case FieldType::number_enum: {
      double d;
      if (const auto* pd = std::get_if<double>(&value)) d = *pd;
      else if (const auto* pi = std::get_if<std::int64_t>(&value)) d = static_cast<double>(*pi);
      else return add("invalid_type", "must be a number.");
      for (double v : spec.number_values)
        if (v == d) return;
      std::string allowed;
      for (double v : spec.number_values) {
        if (!allowed.empty()) allowed += ", ";
        number_text(allowed, v);
      }
      return add("unsupported_value", "is not one of " + allowed + ".");
    }
    case FieldType::integer:
    case FieldType::number: {
      double d;
      if (const auto* pi = std::get_if<std::int64_t>(&value)) d = static_cast<double>(*pi);
      else if (const auto* pd = std::get_if<double>(&value); pd && spec.type == FieldType::number) d = *pd;
      else return add("invalid_type", spec.type == FieldType::integer ? "must be an integer." : "must be a number.");
      if (!std::isfinite(d)) return add("invalid_type", "must be a finite number.");
      if (spec.min && d < *spec.min) {
        std::string m = "must be at least ";
        number_text(m, *spec.min);
        add("min_value", m + ".");
      }
      if (spec.max && d > *spec.max) {
        std::string m = "must be at most ";
        number_text(m, *spec.max);
        add("max_value", m + ".");
      }
      return;
    }
    case FieldType::string: {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) return add("invalid_type", "must be a string.");
      std::size_t n = json::utf8_code_points(*s);
      if (spec.min_length && n < *spec.min_length)
        add("min_length", "must have at least " + std::to_string(*spec.min_length) + " characters.");
      bool too_long = spec.max_length && n > *spec.max_length;
      if (too_long) add("max_length", "must have at most " + std::to_string(*spec.max_length) + " characters.");
      // The regex engine recurses per character: never run it on an over-long value.
      if (spec.compiled_pattern && !too_long && s->size() <= 4096 &&
          !std::regex_search(*s, spec.compiled_pattern->regex))
        add("pattern_mismatch", "does not match " + spec.pattern + ".");
      return;
    }
    case FieldType::url: {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) return add("invalid_type", "must be a URL string.");
      if (auto problem = url_syntax_problem(*s); !problem.empty()) add("invalid_url", std::string(problem) + ".");
      return;
    }
    case FieldType::url_array: {
      const auto* list = std::get_if<std::vector<std::string>>(&value);
      if (!list) return add("invalid_type", "must be an array of URLs.");
      if (spec.min_items && list->size() < *spec.min_items)
        add("min_items", "must have at least " + std::to_string(*spec.min_items) + " items.");
      if (spec.max_items && list->size() > *spec.max_items)
        add("max_items", "must have at most " + std::to_string(*spec.max_items) + " items.");
      for (std::size_t i = 0; i < list->size(); ++i)
        if (auto problem = url_syntax_problem((*list)[i]); !problem.empty()) {
          add("invalid_url", "item " + std::to_string(i) + " " + std::string(problem) + ".");
          break;
        }
      return;
    }
  }
}

}  // namespace babysea::detail
