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
#include <type_traits>
#include <utility>

#include "babysea.h"
#include "babysea/status.hpp"
#include "babysea/service.hpp"

namespace babysea::capi {

// The calling thread's outcome of its most recent call.
struct LastError {
  const void* engine = nullptr;
  int code = 0;
  std::string message;
  std::string json;  // the error document, "" on success
};
LastError& last_error() noexcept;

// The error document of the service layer (render.hpp), for failures the
// C ABI finds itself (a NULL or invalid argument) before any service call.
std::string error_document(const Status& status);

// malloc'd copy of `text` (NUL-terminated), or nullptr when memory ran out.
char* dup_out(std::string_view text) noexcept;

// Records `status` as the thread's last outcome for `engine` and, when `out`
// is non-null, stores the error document there. Returns the code. noexcept:
// out-of-memory degrades to a static message and a null *out.
int fail(const void* engine, char** out, const Status& status) noexcept;

// Records a service Reply: its body goes to *out, success or failure.
int answer(const void* engine, char** out, const Reply& reply) noexcept;

// Records success for `engine`, stores `result` in *out (if `out` is non-null).
int succeed(const void* engine, char** out, std::string_view result) noexcept;

// Runs `fn` (returning a service Reply, or Result<std::string>) behind the boundary: exceptions
// become `internal` errors, out-of-memory included.
template <typename Fn>
int guarded(const void* engine, char** out, Fn&& fn) noexcept {
  if (out != nullptr) *out = nullptr;
  try {
    auto r = std::forward<Fn>(fn)();
    if constexpr (std::is_same_v<decltype(r), Reply>) {
      return answer(engine, out, r);
    } else {
      if (!r.ok()) return fail(engine, out, r.status());
      return succeed(engine, out, r.value());
    }
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

}  // namespace babysea::capi
