// Internal JSON adapter: the one place babysea reads and writes JSON.
//
// Reading: simdjson On-Demand with one reused parser per thread
// (`thread_parser()`), capped capacity, and padded input. Writing: JsonWriter
// appends tokens to a std::string with correct escaping and commas; nothing in
// babysea builds JSON by concatenating strings.
//
// Thread safety: JsonWriter is a value type (distinct objects safe); the
// thread parser belongs to the calling thread.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace babysea::json {

// Bodies larger than this are refused before parsing.
inline constexpr std::size_t kMaxDocumentBytes = 4u << 20;

// A per-thread On-Demand parser whose capacity is capped at kMaxDocumentBytes.
simdjson::ondemand::parser& thread_parser();

// Copies `text` into a buffer with SIMDJSON_PADDING spare bytes.
simdjson::padded_string pad(std::string_view text);

// Appends `text` to `out` as a quoted JSON string (UTF-8 passed through,
// control characters, quote and backslash escaped).
void append_quoted(std::string& out, std::string_view text);

class JsonWriter {
 public:
  JsonWriter() = default;
  explicit JsonWriter(std::string&& reuse) : out_(std::move(reuse)) { out_.clear(); }

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(double v);
  JsonWriter& value(bool v);
  JsonWriter& null();
  // Inserts already-serialised JSON (e.g. a raw_json() pass-through) as a value.
  JsonWriter& raw(std::string_view json);

  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  const std::string& str() const& { return out_; }
  std::string take() && { return std::move(out_); }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace babysea::json
