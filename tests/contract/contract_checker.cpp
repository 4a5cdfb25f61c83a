// The shape checker of the API contract (contract_checker.hpp).
#include "contract_checker.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace babysea::contract {
namespace bj = boost::json;

namespace {

const std::set<std::string> kKeywords = {"type",     "nullable", "enum",        "const",      "pattern",
                                         "min_length", "minimum", "maximum",    "items",      "min_items",
                                         "required", "optional", "values",      "key_pattern", "additional",
                                         "absent",   "one_of",   "switch",      "$ref",       "description"};
const std::set<std::string> kTypes = {"string", "integer", "number", "boolean", "object", "array", "null", "any"};

std::string type_of(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null: return "null";
    case bj::kind::bool_: return "boolean";
    case bj::kind::int64:
    case bj::kind::uint64: return "integer";
    case bj::kind::double_: return "number (non-integer literal)";
    case bj::kind::string: return "string";
    case bj::kind::array: return "array";
    case bj::kind::object: return "object";
  }
  return "?";
}

bool is_type(const bj::value& v, const std::string& t) {
  if (t == "any") return true;
  if (t == "string") return v.is_string();
  if (t == "integer") return v.is_int64() || v.is_uint64();
  if (t == "number") return v.is_number();
  if (t == "boolean") return v.is_bool();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "null") return v.is_null();
  return false;
}

// Numeric equality across int64/uint64/double; otherwise Boost.JSON equality.
bool same(const bj::value& a, const bj::value& b) {
  if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
  return a == b;
}

std::string brief(const bj::value& v) {
  std::string s = bj::serialize(v);
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

std::string member_path(const std::string& path, const std::string& name) {
  bool plain = !name.empty();
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) plain = false;
  return plain ? path + "." + name : path + "[" + bj::serialize(bj::value(name)) + "]";
}

}  // namespace

std::string to_string(const std::vector<Violation>& violations) {
  std::ostringstream o;
  for (const auto& v : violations) o << "  " << v.path << ": " << v.message << "\n";
  return o.str();
}

Contract Contract::parse(const std::string& json_text) {
  bj::error_code ec;
  bj::value v = bj::parse(json_text, ec);
  if (ec) throw std::invalid_argument("contract is not JSON: " + ec.message());
  if (!v.is_object()) throw std::invalid_argument("contract is not a JSON object");
  Contract c;
  c.root_ = std::move(v.as_object());
  for (const char* section : {"definitions", "envelopes", "operations", "error_cases"})
    if (!c.root_.contains(section) || !c.root_.at(section).is_object())
      throw std::invalid_argument(std::string("contract: missing object ") + section);
  // Compile every pattern and validate every shape up front.
  std::vector<std::pair<const bj::value*, std::string>> shapes;
  for (const auto& [name, s] : c.root_.at("definitions").as_object())
    shapes.emplace_back(&s, "definitions." + std::string(name));
  for (const auto& [name, s] : c.root_.at("envelopes").as_object())
    shapes.emplace_back(&s, "envelopes." + std::string(name));
  for (const auto& [name, op] : c.root_.at("operations").as_object()) {
    const std::string where = "operations." + std::string(name);
    if (!op.is_object()) throw std::invalid_argument(where + ": not an object");
    const auto& o = op.as_object();
    for (const char* k : {"method", "path", "scope", "envelope"})
      if (!o.contains(k) || !o.at(k).is_string()) throw std::invalid_argument(where + ": needs string " + k);
    if (!c.root_.at("envelopes").as_object().contains(o.at("envelope").as_string()))
      throw std::invalid_argument(where + ": unknown envelope");
    if (o.contains("error_envelope") && !c.root_.at("envelopes").as_object().contains(o.at("error_envelope").as_string()))
      throw std::invalid_argument(where + ": unknown error_envelope");
    if (!o.contains("http") || !o.at("http").is_array() || o.at("http").as_array().empty())
      throw std::invalid_argument(where + ": needs http [statuses]");
    if (!o.contains("data")) throw std::invalid_argument(where + ": needs data (a shape or null)");
    if (!o.at("data").is_null()) shapes.emplace_back(&o.at("data"), where + ".data");
    if (o.contains("accepted")) {
      const auto& a = o.at("accepted").as_object();
      if (a.contains("data")) shapes.emplace_back(&a.at("data"), where + ".accepted.data");
    }
  }
  for (const auto& [name, ec_] : c.root_.at("error_cases").as_object()) {
    const std::string where = "error_cases." + std::string(name);
    if (!ec_.is_object()) throw std::invalid_argument(where + ": not an object");
    const auto& o = ec_.as_object();
    for (const auto& member : o) {
      static const std::set<std::string> allowed = {"http", "code", "type", "retryable", "abi", "headers", "error",
                                                    "description"};
      if (!allowed.count(std::string(member.key())))
        throw std::invalid_argument(where + ": unknown member " + std::string(member.key()));
    }
    if (!o.contains("http") || !o.at("http").is_int64()) throw std::invalid_argument(where + ": needs http");
    if (o.contains("error")) shapes.emplace_back(&o.at("error"), where + ".error");
  }
  for (const auto& [s, where] : shapes) c.validate_shape(*s, where);
  return c;
}

Contract Contract::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read contract " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

void Contract::validate_shape(const bj::value& shape, const std::string& where) const {
  if (!shape.is_object()) throw std::invalid_argument(where + ": a shape must be an object");
  const auto& s = shape.as_object();
  for (const auto& [k, v] : s) {
    const std::string key(k);
    if (!kKeywords.count(key)) throw std::invalid_argument(where + ": unknown keyword " + key);
    if (key == "type") {
      std::vector<std::string> names;
      if (v.is_string()) names.emplace_back(v.as_string());
      else if (v.is_array())
        for (const auto& t : v.as_array()) names.emplace_back(t.is_string() ? std::string(t.as_string()) : "?");
      if (names.empty()) throw std::invalid_argument(where + ": bad type");
      for (const auto& n : names)
        if (!kTypes.count(n)) throw std::invalid_argument(where + ": unknown type " + n);
    } else if (key == "nullable" || key == "additional") {
      if (!v.is_bool()) throw std::invalid_argument(where + "." + key + ": must be a boolean");
    } else if (key == "enum") {
      if (!v.is_array() || v.as_array().empty()) throw std::invalid_argument(where + ".enum: must be a non-empty array");
    } else if (key == "pattern" || key == "key_pattern") {
      if (!v.is_string()) throw std::invalid_argument(where + "." + key + ": must be a string");
      const std::string p(v.as_string());
      if (!regex_cache_.count(p)) {
        try {
          regex_cache_.emplace(p, std::regex(p, std::regex::ECMAScript));
        } catch (const std::regex_error& e) {
          throw std::invalid_argument(where + "." + key + ": bad regex: " + e.what());
        }
      }
    } else if (key == "min_length" || key == "min_items") {
      if (!v.is_int64() || v.as_int64() < 0) throw std::invalid_argument(where + "." + key + ": must be an integer >= 0");
    } else if (key == "minimum" || key == "maximum") {
      if (!v.is_number()) throw std::invalid_argument(where + "." + key + ": must be a number");
    } else if (key == "items" || key == "values") {
      validate_shape(v, where + "." + key);
    } else if (key == "required" || key == "optional") {
      if (!v.is_object()) throw std::invalid_argument(where + "." + key + ": must be an object of shapes");
      for (const auto& [name, sub] : v.as_object()) validate_shape(sub, where + "." + key + "." + std::string(name));
    } else if (key == "absent") {
      if (!v.is_array()) throw std::invalid_argument(where + ".absent: must be an array of names");
      for (const auto& n : v.as_array())
        if (!n.is_string()) throw std::invalid_argument(where + ".absent: must be an array of names");
    } else if (key == "one_of") {
      if (!v.is_array() || v.as_array().size() < 2) throw std::invalid_argument(where + ".one_of: needs >= 2 shapes");
      int i = 0;
      for (const auto& sub : v.as_array()) validate_shape(sub, where + ".one_of[" + std::to_string(i++) + "]");
    } else if (key == "switch") {
      if (!v.is_object() || !v.as_object().contains("field") || !v.as_object().at("field").is_string() ||
          !v.as_object().contains("cases") || !v.as_object().at("cases").is_object() || v.as_object().size() != 2)
        throw std::invalid_argument(where + ".switch: needs {field, cases}");
      for (const auto& [val, sub] : v.as_object().at("cases").as_object())
        validate_shape(sub, where + ".switch." + std::string(val));
    } else if (key == "$ref") {
      if (!v.is_string() || !root_.at("definitions").as_object().contains(v.as_string()))
        throw std::invalid_argument(where + ": dangling $ref " + brief(v));
      for (const auto& [k2, v2] : s) {
        (void)v2;
        if (k2 != "$ref" && k2 != "nullable" && k2 != "description")
          throw std::invalid_argument(where + ": $ref takes only nullable and description beside it");
      }
    } else if (key == "description") {
      if (!v.is_string()) throw std::invalid_argument(where + ".description: must be a string");
    }
  }
}

const std::regex& Contract::regex(const std::string& pattern) const {
  auto it = regex_cache_.find(pattern);
  if (it == regex_cache_.end()) it = regex_cache_.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
  return it->second;
}

std::vector<Violation> Contract::check(const bj::value& doc, const bj::value& shape, const std::string& path) const {
  // Shapes handed in directly (e.g. by the checker's own tests) are validated too.
  validate_shape(shape, "shape");
  std::vector<Violation> out;
  check_into(doc, shape, path, out, 0);
  return out;
}

std::vector<Violation> Contract::check_definition(const bj::value& doc, const std::string& definition,
                                                  const std::string& path) const {
  const auto& defs = root_.at("definitions").as_object();
  if (!defs.contains(definition)) throw std::invalid_argument("no definition " + definition);
  std::vector<Violation> out;
  check_into(doc, defs.at(definition), path, out, 0);
  return out;
}

void Contract::check_into(const bj::value& doc, const bj::value& shape_v, const std::string& path,
                          std::vector<Violation>& out, int depth) const {
  if (depth > 64) {
    out.push_back({path, "contract nests too deep (a $ref cycle?)"});
    return;
  }
  const auto& s = shape_v.as_object();
  const bool nullable = s.contains("nullable") && s.at("nullable").as_bool();
  if (doc.is_null() && nullable) return;

  if (s.contains("$ref")) {
    check_into(doc, root_.at("definitions").as_object().at(s.at("$ref").as_string()), path, out, depth + 1);
    return;
  }

  if (s.contains("one_of")) {
    std::vector<Violation> best;
    bool matched = false;
    bool first = true;
    for (const auto& alt : s.at("one_of").as_array()) {
      std::vector<Violation> v;
      check_into(doc, alt, path, v, depth + 1);
      if (v.empty()) {
        matched = true;
        break;
      }
      if (first || v.size() < best.size()) best = std::move(v);
      first = false;
    }
    if (!matched) {
      out.push_back({path, "matches none of the one_of alternatives; the closest one fails:"});
      out.insert(out.end(), best.begin(), best.end());
      return;
    }
  }

  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s.at("type").is_string())
      types.emplace_back(s.at("type").as_string());
    else
      for (const auto& t : s.at("type").as_array()) types.emplace_back(t.as_string());
    bool ok = std::any_of(types.begin(), types.end(), [&](const std::string& t) { return is_type(doc, t); });
    if (!ok) {
      std::string want;
      for (const auto& t : types) want += (want.empty() ? "" : " or ") + t;
      if (doc.is_null())
        out.push_back({path, "null where the contract does not allow null (expected " + want + ")"});
      else
        out.push_back({path, "wrong type: expected " + want + ", got " + type_of(doc) + " " + brief(doc)});
      return;
    }
  } else if (doc.is_null() && !s.contains("const") && !s.contains("one_of")) {
    out.push_back({path, "null where the contract does not allow null"});
    return;
  }

  if (s.contains("const") && !same(doc, s.at("const"))) {
    out.push_back({path, "expected " + brief(s.at("const")) + ", got " + brief(doc)});
    return;
  }
  if (s.contains("enum")) {
    const auto& e = s.at("enum").as_array();
    if (std::none_of(e.begin(), e.end(), [&](const bj::value& x) { return same(doc, x); }))
      out.push_back({path, "value " + brief(doc) + " is outside the enum " + brief(s.at("enum"))});
  }
  if (doc.is_string()) {
    const std::string str(doc.as_string());
    if (s.contains("pattern") && !std::regex_search(str, regex(std::string(s.at("pattern").as_string()))))
      out.push_back({path, "string " + brief(doc) + " does not match /" + std::string(s.at("pattern").as_string()) + "/"});
    if (s.contains("min_length") && static_cast<std::int64_t>(str.size()) < s.at("min_length").as_int64())
      out.push_back({path, "string shorter than " + std::to_string(s.at("min_length").as_int64())});
  }
  if (doc.is_number()) {
    const double x = doc.to_number<double>();
    if (s.contains("minimum") && x < s.at("minimum").to_number<double>())
      out.push_back({path, "value " + brief(doc) + " is below the minimum " + brief(s.at("minimum"))});
    if (s.contains("maximum") && x > s.at("maximum").to_number<double>())
      out.push_back({path, "value " + brief(doc) + " is above the maximum " + brief(s.at("maximum"))});
  }
  if (doc.is_array()) {
    const auto& a = doc.as_array();
    if (s.contains("min_items") && static_cast<std::int64_t>(a.size()) < s.at("min_items").as_int64())
      out.push_back({path, "array has " + std::to_string(a.size()) + " items, fewer than " +
                               std::to_string(s.at("min_items").as_int64())});
    if (s.contains("items"))
      for (std::size_t i = 0; i < a.size(); ++i)
        check_into(a[i], s.at("items"), path + "[" + std::to_string(i) + "]", out, depth + 1);
  }
  if (doc.is_object()) {
    const auto& o = doc.as_object();
    std::set<std::string> named;
    if (s.contains("required"))
      for (const auto& [name, sub] : s.at("required").as_object()) {
        named.emplace(name);
        const std::string p = member_path(path, std::string(name));
        if (!o.contains(name))
          out.push_back({p, "missing required member"});
        else
          check_into(o.at(name), sub, p, out, depth + 1);
      }
    if (s.contains("optional"))
      for (const auto& [name, sub] : s.at("optional").as_object()) {
        named.emplace(name);
        if (o.contains(name)) check_into(o.at(name), sub, member_path(path, std::string(name)), out, depth + 1);
      }
    if (s.contains("absent"))
      for (const auto& n : s.at("absent").as_array())
        if (o.contains(n.as_string()))
          out.push_back({member_path(path, std::string(n.as_string())), "member must be absent here, got " +
                                                                           brief(o.at(n.as_string()))});
    const bool closed = s.contains("additional") && !s.at("additional").as_bool();
    for (const auto& [name, v] : o) {
      const std::string n(name);
      if (named.count(n)) continue;
      const std::string p = member_path(path, n);
      if (s.contains("key_pattern") && !std::regex_search(n, regex(std::string(s.at("key_pattern").as_string()))))
        out.push_back({p, "member name does not match /" + std::string(s.at("key_pattern").as_string()) + "/"});
      if (s.contains("values"))
        check_into(v, s.at("values"), p, out, depth + 1);
      else if (closed)
        out.push_back({p, "unexpected member"});
    }
    if (s.contains("switch")) {
      const auto& sw = s.at("switch").as_object();
      const auto& field = sw.at("field").as_string();
      const auto& cases = sw.at("cases").as_object();
      std::string key;
      if (!o.contains(field))
        key = "absent";
      else if (o.at(field).is_string())
        key = std::string(o.at(field).as_string());
      else if (o.at(field).is_bool())
        key = o.at(field).as_bool() ? "true" : "false";
      if (!key.empty() && cases.contains(key)) check_into(doc, cases.at(key), path, out, depth + 1);
    }
  }
}

const bj::object& Contract::operation(const std::string& name) const {
  const auto& ops = root_.at("operations").as_object();
  if (!ops.contains(name)) throw std::invalid_argument("the contract has no operation " + name);
  return ops.at(name).as_object();
}

const bj::object& Contract::error_case(const std::string& name) const {
  const auto& cases = root_.at("error_cases").as_object();
  if (!cases.contains(name)) throw std::invalid_argument("the contract has no error case " + name);
  return cases.at(name).as_object();
}

std::vector<Violation> Contract::check_success(const std::string& operation_name, const bj::value& doc,
                                               std::optional<int> http_status) const {
  const auto& op = operation(operation_name);
  std::vector<Violation> out;
  const auto& envelope = root_.at("envelopes").at(op.at("envelope").as_string());
  check_into(doc, envelope, "$", out, 0);
  if (!op.at("data").is_null() && doc.is_object() && doc.as_object().contains("data"))
    check_into(doc.at("data"), op.at("data"), "$.data", out, 0);
  if (http_status) {
    const auto& ok = op.at("http").as_array();
    if (std::none_of(ok.begin(), ok.end(), [&](const bj::value& s) { return s.as_int64() == *http_status; }))
      out.push_back({"(http status)", "HTTP " + std::to_string(*http_status) + " is not one of " + brief(op.at("http"))});
  }
  if (op.contains("accepted") && doc.is_object()) {
    const auto& acc = op.at("accepted").as_object();
    // 202 exactly when the provider has not acknowledged: the accepted
    // constraints hold on a 202 (HTTP) and on the "Generation accepted" message.
    const bool is_202 = http_status && acc.contains("http") && *http_status == acc.at("http").as_int64();
    const bool accepted_message = doc.as_object().contains("message") && acc.contains("message") &&
                                  doc.at("message") == acc.at("message");
    if (is_202 || accepted_message) {
      if (acc.contains("message") && !accepted_message)
        out.push_back({"$.message", "a 202 answers message " + brief(acc.at("message")) + ", got " +
                                        (doc.as_object().contains("message") ? brief(doc.at("message")) : "nothing")});
      if (http_status && acc.contains("http") && !is_202)
        out.push_back({"(http status)", "message " + brief(acc.at("message")) + " answers HTTP " +
                                            brief(acc.at("http")) + ", got " + std::to_string(*http_status)});
      if (acc.contains("data") && doc.as_object().contains("data"))
        check_into(doc.at("data"), acc.at("data"), "$.data", out, 0);
    }
  }
  return out;
}

std::vector<Violation> Contract::check_error(const std::string& case_name, const bj::value& doc,
                                             std::optional<int> http_status, std::optional<int> abi_code,
                                             const std::map<std::string, std::string>* headers,
                                             const std::string& operation_name) const {
  const auto& ec = error_case(case_name);
  std::vector<Violation> out;
  std::string envelope = "error";
  if (!operation_name.empty()) {
    const auto& op = operation(operation_name);
    if (op.contains("error_envelope")) envelope = op.at("error_envelope").as_string();
  }
  check_into(doc, root_.at("envelopes").at(envelope), "$", out, 0);
  if (http_status && *http_status != ec.at("http").as_int64())
    out.push_back({"(http status)", "expected HTTP " + brief(ec.at("http")) + " for " + case_name + ", got " +
                                        std::to_string(*http_status)});
  if (abi_code && ec.contains("abi") && *abi_code != ec.at("abi").as_int64())
    out.push_back({"(return value)", "expected C ABI code " + brief(ec.at("abi")) + " for " + case_name + ", got " +
                                         std::to_string(*abi_code)});
  if (headers && ec.contains("headers"))
    for (const auto& h : ec.at("headers").as_array())
      if (!headers->count(std::string(h.as_string())))
        out.push_back({"(headers)", "missing header " + std::string(h.as_string())});
  if (envelope != "error") return out;  // OpenAI's shape: no BSE members
  const bj::value* err = doc.is_object() && doc.as_object().contains("error") ? &doc.at("error") : nullptr;
  if (!err || !err->is_object()) return out;  // the envelope check reported it
  const auto& e = err->as_object();
  auto pin = [&](const char* member) {
    if (!ec.contains(member)) return;
    if (!e.contains(member))
      return;  // reported by the envelope check
    if (!same(e.at(member), ec.at(member)))
      out.push_back({std::string("$.error.") + member, "expected " + brief(ec.at(member)) + " for " + case_name +
                                                           ", got " + brief(e.at(member))});
  };
  pin("code");
  pin("type");
  pin("retryable");
  if (ec.contains("error")) check_into(*err, ec.at("error"), "$.error", out, 0);
  return out;
}

}  // namespace babysea::contract
