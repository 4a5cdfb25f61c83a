#include "service/object_reader.hpp"

namespace babysea::service {

void ReadErrors::fail(const std::string& field, std::string_view code, const std::string& message) {
  if (first_) return;
  first_ = Status(Code::invalid_request, prefix_ + ": " + field + ": " + message,
                  {FieldIssue{field, std::string(code), message}});
}

ObjectReader::ObjectReader(const json::Value* v, std::string path, ReadErrors& errors)
    : v_(v), path_(std::move(path)), errors_(errors) {
  if (v_ && !v_->is_object()) {
    errors_.fail(path_.empty() ? std::string("(document)") : path_, "type", "expected an object");
    v_ = nullptr;
  }
}

std::string ObjectReader::field(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const json::Value* ObjectReader::get(std::string_view key) {
  used_.emplace_back(key);
  return v_ ? v_->find(key) : nullptr;
}

void ObjectReader::str(std::string_view key, std::string& out, bool required, bool non_empty) {
  const json::Value* x = get(key);
  if (!x) {
    if (required) errors_.fail(field(key), "required", "is required");
    return;
  }
  if (!x->is_string()) return errors_.fail(field(key), "type", "expected a string");
  if ((required || non_empty) && x->string.empty()) return errors_.fail(field(key), "empty", "must not be empty");
  out = x->string;
}

void ObjectReader::boolean(std::string_view key, bool& out) {
  const json::Value* x = get(key);
  if (!x) return;
  if (!x->is_bool()) return errors_.fail(field(key), "type", "expected true or false");
  out = x->boolean;
}

bool ObjectReader::read_integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max) {
  const json::Value* x = get(key);
  if (!x) return false;
  if (!x->is_integer()) {
    errors_.fail(field(key), "type", "expected an integer");
    return false;
  }
  if (x->integer < min || x->integer > max) {
    errors_.fail(field(key), "range", "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  out = x->integer;
  return true;
}

void ObjectReader::millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t min, std::int64_t max) {
  std::int64_t v = out.count();
  integer(key, v, min, max);
  out = std::chrono::milliseconds(v);
}

void ObjectReader::strings(std::string_view key, std::vector<std::string>& out, bool non_empty_items) {
  const json::Value* x = get(key);
  if (!x) return;
  if (!x->is_array()) return errors_.fail(field(key), "type", "expected an array of strings");
  std::vector<std::string> got;
  for (std::size_t i = 0; i < x->array.size(); ++i) {
    const json::Value& e = x->array[i];
    const std::string f = field(key) + "[" + std::to_string(i) + "]";
    if (!e.is_string()) return errors_.fail(f, "type", "expected a string");
    if (non_empty_items && e.string.empty()) return errors_.fail(f, "empty", "must not be empty");
    got.push_back(e.string);
  }
  out = std::move(got);
}

void ObjectReader::str_or_strings(std::string_view key, std::string& out, char sep) {
  const json::Value* x = get(key);
  if (!x) return;
  if (x->is_string()) {
    out = x->string;
    return;
  }
  if (!x->is_array()) return errors_.fail(field(key), "type", "expected a string or an array of strings");
  std::string joined;
  for (const auto& e : x->array) {
    if (!e.is_string()) return errors_.fail(field(key), "type", "expected a string or an array of strings");
    if (!joined.empty()) joined += sep;
    joined += e.string;
  }
  out = std::move(joined);
}

void ObjectReader::finish() {
  if (!v_) return;
  for (const auto& m : v_->object)
    if (std::find(used_.begin(), used_.end(), m.first) == used_.end())
      return errors_.fail(field(m.first), "unknown_key", "unknown key");
}

Result<json::Value> parse_object(std::string_view text, std::string_view what, bool optional) {
  if (text.empty()) {
    if (!optional) return Status(Code::invalid_request, std::string(what) + " is required");
    json::Value empty;
    empty.kind = json::Value::Kind::object;
    return empty;
  }
  auto v = json::parse_strict(text);
  if (!v.ok()) return Status(Code::invalid_request, std::string(what) + ": " + std::string(v.status().message()));
  if (!v->is_object()) return Status(Code::invalid_request, std::string(what) + " must be a JSON object");
  return v;
}

}  // namespace babysea::service
