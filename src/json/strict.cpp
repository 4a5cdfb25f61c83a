#include "json/strict.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace babysea::json {

namespace od = simdjson::ondemand;

simdjson::padded_string_view pad_into(std::string& buffer, std::string_view text) {
  const std::size_t need = text.size() + simdjson::SIMDJSON_PADDING;
  if (buffer.size() < need) buffer.resize(need);
  if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
  std::memset(buffer.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  return simdjson::padded_string_view(buffer.data(), text.size(), buffer.size());
}

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

std::size_t utf8_code_points(std::string_view text) noexcept {
  std::size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

namespace {

struct Builder {
  const StrictLimits& limits;
  std::string error;

  bool fail(std::string_view path, std::string_view what) {
    error = std::string(what);
    if (!path.empty()) error += " at " + std::string(path);
    return false;
  }
  bool fail(std::string_view path, simdjson::error_code code) {
    return fail(path, simdjson::error_message(code));
  }

  bool read(od::value v, Value& out, std::size_t depth, const std::string& path) {
    if (depth > limits.max_depth) return fail(path, "nesting deeper than the limit");
    od::json_type type;
    if (auto e = v.type().get(type)) return fail(path, e);
    switch (type) {
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return fail(path, e);
        if (!is_null) return fail(path, "invalid literal");
        out.kind = Value::Kind::null;
        return true;
      }
      case od::json_type::boolean: {
        if (auto e = v.get_bool().get(out.boolean)) return fail(path, e);
        out.kind = Value::Kind::boolean;
        return true;
      }
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return fail(path, e);
        switch (n.get_number_type()) {
          case od::number_type::signed_integer:
            out.kind = Value::Kind::integer;
            out.integer = n.get_int64();
            out.number = static_cast<double>(out.integer);
            return true;
          case od::number_type::unsigned_integer:
            out.kind = Value::Kind::number;
            out.number = static_cast<double>(n.get_uint64());
            return true;
          default:
            out.kind = Value::Kind::number;
            out.number = n.get_double();
            if (!std::isfinite(out.number)) return fail(path, "number out of range");
            return true;
        }
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail(path, e);
        if (s.size() > limits.max_string_bytes) return fail(path, "string longer than the limit");
        if (s.find('\0') != std::string_view::npos) return fail(path, "NUL character in string");
        out.kind = Value::Kind::string;
        out.string.assign(s);
        return true;
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return fail(path, e);
        out.kind = Value::Kind::array;
        std::size_t i = 0;
        for (auto item : arr) {
          od::value iv;
          if (auto e = item.get(iv)) return fail(path, e);
          if (++i > limits.max_array_items) return fail(path, "array longer than the limit");
          out.array.emplace_back();
          if (!read(iv, out.array.back(), depth + 1, path + "[" + std::to_string(i - 1) + "]"))
            return false;
        }
        return true;
      }
      case od::json_type::object: {
        od::object obj;
        if (auto e = v.get_object().get(obj)) return fail(path, e);
        out.kind = Value::Kind::object;
        for (auto field : obj) {
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return fail(path, e);
          if (key.find('\0') != std::string_view::npos) return fail(path, "NUL character in key");
          std::string child_path = path.empty() ? std::string(key) : path + "." + std::string(key);
          if (out.find(key) != nullptr) return fail(child_path, "duplicate key");
          std::string owned(key);
          od::value fv;
          if (auto e = field.value().get(fv)) return fail(child_path, e);
          out.object.push_back(Member{std::move(owned), Value{}});
          if (!read(fv, out.object.back().second, depth + 1, child_path)) return false;
        }
        return true;
      }
    }
    return fail(path, "unknown JSON type");
  }
};

}  // namespace

Result<Value> parse_strict(std::string_view text, const StrictLimits& limits) {
  if (text.size() > limits.max_bytes)
    return Status(Code::payload_too_large, "JSON document larger than the limit");
  std::string buffer;
  auto padded = pad_into(buffer, text);
  od::parser parser(std::max<std::size_t>(text.size(), 64));
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc))
    return Status(Code::invalid_request, std::string("invalid JSON: ") + simdjson::error_message(e));
  Builder b{limits, {}};
  Value out;
  // A document that is a bare scalar is read through the document itself.
  od::json_type type;
  if (auto e = doc.type().get(type))
    return Status(Code::invalid_request, std::string("invalid JSON: ") + simdjson::error_message(e));
  if (type != od::json_type::object && type != od::json_type::array)
    return Status(Code::invalid_request, "invalid JSON: top level must be an object or array");
  od::value root;
  if (auto e = doc.get_value().get(root))
    return Status(Code::invalid_request, std::string("invalid JSON: ") + simdjson::error_message(e));
  if (!b.read(root, out, 1, ""))
    return Status(Code::invalid_request, "invalid JSON: " + b.error);
  const char* loc = nullptr;
  if (!doc.current_location().get(loc))
    return Status(Code::invalid_request, "invalid JSON: trailing content after the document");
  return out;
}

void write_value(JsonWriter& w, const Value& v) {
  switch (v.kind) {
    case Value::Kind::null: w.null(); break;
    case Value::Kind::boolean: w.value(v.boolean); break;
    case Value::Kind::integer: w.value(v.integer); break;
    case Value::Kind::number: w.value(v.number); break;
    case Value::Kind::string: w.value(std::string_view(v.string)); break;
    case Value::Kind::array:
      w.begin_array();
      for (const auto& item : v.array) write_value(w, item);
      w.end_array();
      break;
    case Value::Kind::object:
      w.begin_object();
      for (const auto& [k, item] : v.object) {
        w.key(k);
        write_value(w, item);
      }
      w.end_object();
      break;
  }
}

std::string to_json(const Value& v) {
  JsonWriter w;
  write_value(w, v);
  return std::move(w).take();
}

}  // namespace babysea::json
