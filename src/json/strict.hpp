// Strict JSON helpers on top of the simdjson adapter (json.hpp).
//
// `Scratch` pads caller bytes into a reused, thread-owned buffer so the hot
// path does not allocate per request. `parse_strict` builds a small owned tree
// (`Value`) from simdjson On-Demand while refusing what babysea never accepts:
// trailing bytes, duplicate keys, nesting deeper than a limit, oversized
// strings/arrays, NUL characters, invalid UTF-8, unescaped control characters
// and numbers that do not fit a binary64/int64. It is meant for configuration
// and data files (the catalog), not for request bodies, which the normalizer
// walks directly for speed.
//
// Thread safety: free functions use the calling thread's parser; `Value` is a
// plain value type.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/status.hpp"
#include "json/json.hpp"

namespace babysea::json {

// Copies `text` into `buffer` followed by SIMDJSON_PADDING zero bytes and
// returns a view usable by parser.iterate(). `buffer` keeps its capacity.
simdjson::padded_string_view pad_into(std::string& buffer, std::string_view text);

struct StrictLimits {
  std::size_t max_bytes = kMaxDocumentBytes;
  std::size_t max_depth = 32;
  std::size_t max_string_bytes = 1u << 20;
  std::size_t max_array_items = 100000;
};

struct Member;

// An owned JSON value. Objects keep their keys in document order.
struct Value {
  enum class Kind { null, boolean, integer, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::int64_t integer = 0;  // Kind::integer (fits int64)
  double number = 0;         // Kind::number, and a copy for Kind::integer
  std::string string;
  std::vector<Value> array;
  std::vector<Member> object;

  bool is_null() const { return kind == Kind::null; }
  bool is_bool() const { return kind == Kind::boolean; }
  bool is_integer() const { return kind == Kind::integer; }
  bool is_numeric() const { return kind == Kind::integer || kind == Kind::number; }
  bool is_string() const { return kind == Kind::string; }
  bool is_array() const { return kind == Kind::array; }
  bool is_object() const { return kind == Kind::object; }
  // Member lookup for objects; nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
};

struct Member {
  std::string first;  // key
  Value second;       // value
};

// Parses one JSON document strictly. Errors: invalid_request with a message
// naming the problem (and the JSON path where known).
Result<Value> parse_strict(std::string_view text, const StrictLimits& limits = {});

// Serialises `value` (object keys in stored order).
void write_value(JsonWriter& writer, const Value& value);
std::string to_json(const Value& value);

// Number of Unicode code points in valid UTF-8 text.
std::size_t utf8_code_points(std::string_view text) noexcept;

}  // namespace babysea::json
