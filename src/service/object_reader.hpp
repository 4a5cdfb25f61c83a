// The one strict reader of JSON objects given as input (the runtime's config
// document, the C ABI's and the admin CLI's argument objects): typed members
// with ranges, dotted field paths ("providers.fal.api_key",
// "webhooks.endpoints[0].url"), and the first problem reported as an
// invalid_request Status with one FieldIssue {field, code, message}.
// Codes: "required", "type", "empty", "range", "unknown_key".
//
// Usage: parse with json::parse_strict, make one ReadErrors, read each
// member through an ObjectReader, call finish() on each reader (it refuses
// the members nobody read), then errors.status().
//
// Ownership: an ObjectReader borrows the Value and the ReadErrors.
// Thread safety: none; one reader per call.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/status.hpp"
#include "json/strict.hpp"

namespace babysea::service {

// The first problem found, shared by every reader of one document.
class ReadErrors {
 public:
  // `prefix` starts every message ("config", "request_json").
  explicit ReadErrors(std::string prefix) : prefix_(std::move(prefix)) {}
  void fail(const std::string& field, std::string_view code, const std::string& message);
  bool ok() const { return !first_.has_value(); }
  // OK, or the first problem.
  Status status() const { return first_ ? *first_ : Status(); }

 private:
  std::string prefix_;
  std::optional<Status> first_;
};

class ObjectReader {
 public:
  // `v` may be null (an absent section: every read finds nothing); a value
  // that is not an object is reported at `path`.
  ObjectReader(const json::Value* v, std::string path, ReadErrors& errors);

  bool present() const { return v_ != nullptr; }
  // The dotted path of member `key`.
  std::string field(std::string_view key) const;
  // The member (marked as read), nullptr when absent.
  const json::Value* get(std::string_view key);
  bool has(std::string_view key) const { return v_ && v_->find(key) != nullptr; }

  void str(std::string_view key, std::string& out, bool required = false, bool non_empty = false);
  void boolean(std::string_view key, bool& out);
  template <typename T>
  void integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    std::int64_t v = 0;
    if (read_integer(key, v, min, max)) out = static_cast<T>(v);
  }
  void millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t min = 0,
              std::int64_t max = 366LL * 24 * 3'600'000);
  // An array of strings (each non-empty unless told otherwise).
  void strings(std::string_view key, std::vector<std::string>& out, bool non_empty_items = true);
  // A string, or an array of strings joined by `sep` (scope lists).
  void str_or_strings(std::string_view key, std::string& out, char sep);
  ObjectReader object(std::string_view key) { return ObjectReader(get(key), field(key), errors_); }
  // Refuses the members nobody read (unknown_key).
  void finish();
  ReadErrors& errors() { return errors_; }

 private:
  bool read_integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max);

  const json::Value* v_;
  std::string path_;
  ReadErrors& errors_;
  std::vector<std::string> used_;
};

// Parses `text` as one JSON object for a reader: "" reads as {} when
// `optional`, anything that is not an object is invalid_request naming `what`.
Result<json::Value> parse_object(std::string_view text, std::string_view what, bool optional);

}  // namespace babysea::service
