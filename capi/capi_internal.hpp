// Internals of the C ABI shared by its translation units: the boundary guard
// (no exception crosses it, every outcome recorded as the thread's last
// error), output strings, and strict parsing of JSON arguments.
//
// Thread safety: the last-error record is thread-local; everything else is
// stateless.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "babysea.h"
#include "babysea/status.hpp"
#include "json/strict.hpp"

namespace babysea::capi {

// The calling thread's outcome of its most recent call.
struct LastError {
  const void* engine = nullptr;
  int code = 0;
  std::string message;
  std::string json;  // the error document, "" on success
};
LastError& last_error() noexcept;

// {"error":{"code":..,"type":..,"message":..,"retryable":..,"issues":[..]}}
std::string error_document(const Status& status);

// malloc'd copy of `text` (NUL-terminated), or nullptr when memory ran out.
char* dup_out(std::string_view text) noexcept;

// Records `status` as the thread's last outcome for `engine` and, when `out`
// is non-null, stores the error document there. Returns the code. noexcept:
// out-of-memory degrades to a static message and a null *out.
int fail(const void* engine, char** out, const Status& status) noexcept;

// Records success for `engine`, stores `result` in *out (if `out` is non-null).
int succeed(const void* engine, char** out, std::string_view result) noexcept;

// Runs `fn` (returning Result<std::string>) behind the boundary: exceptions
// become `internal` errors, out-of-memory included.
template <typename Fn>
int guarded(const void* engine, char** out, Fn&& fn) noexcept {
  if (out != nullptr) *out = nullptr;
  try {
    Result<std::string> r = std::forward<Fn>(fn)();
    if (!r.ok()) return fail(engine, out, r.status());
    return succeed(engine, out, r.value());
  } catch (const std::bad_alloc&) {
    return fail(engine, out, Status(Code::internal, "out of memory"));
  } catch (const std::exception& e) {
    return fail(engine, out, Status(Code::internal, std::string("unexpected exception: ") + e.what()));
  } catch (...) {
    return fail(engine, out, Status(Code::internal, "unexpected exception"));
  }
}

// invalid_request "<what> must not be NULL".
Status null_argument(std::string_view what);

// OK for a non-NULL, valid UTF-8 string argument; invalid_request otherwise.
Status text_argument(const char* text, std::string_view what);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD, so documents
// built from it are always valid JSON text.
std::string valid_utf8(std::string_view text);

// Parses an optional JSON object argument (NULL or "" -> empty object).
Result<json::Value> parse_object_arg(const char* text, std::string_view what, bool optional);

}  // namespace babysea::capi
