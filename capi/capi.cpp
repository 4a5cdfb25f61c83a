// Implementation of the C ABI's process-wide functions and of the boundary
// helpers (capi_internal.hpp): no exception crosses the boundary.
#include <simdjson.h>

#include <cstdlib>
#include <cstring>

#include "babysea.h"
#include "babysea/status.hpp"
#include "capi_internal.hpp"
#include "service/render.hpp"
#include "service/text.hpp"

namespace babysea::capi {

// The C ABI's numbers are babysea::Code's, pinned (babysea.h).
#define BABYSEA_PIN(c_name, code) \
  static_assert(static_cast<int>(c_name) == static_cast<int>(Code::code), #c_name " drifted from Code::" #code)
BABYSEA_PIN(BABYSEA_OK, ok);
BABYSEA_PIN(BABYSEA_INVALID_REQUEST, invalid_request);
BABYSEA_PIN(BABYSEA_NOT_FOUND, not_found);
BABYSEA_PIN(BABYSEA_INSUFFICIENT_CREDITS, insufficient_credits);
BABYSEA_PIN(BABYSEA_IDEMPOTENCY_CONFLICT, idempotency_conflict);
BABYSEA_PIN(BABYSEA_IDEMPOTENCY_IN_PROGRESS, idempotency_in_progress);
BABYSEA_PIN(BABYSEA_INVALID_STATE, invalid_state);
BABYSEA_PIN(BABYSEA_UNAUTHENTICATED, unauthenticated);
BABYSEA_PIN(BABYSEA_FORBIDDEN, forbidden);
BABYSEA_PIN(BABYSEA_RATE_LIMITED, rate_limited);
BABYSEA_PIN(BABYSEA_MODEL_NOT_FOUND, model_not_found);
BABYSEA_PIN(BABYSEA_PAYLOAD_TOO_LARGE, payload_too_large);
BABYSEA_PIN(BABYSEA_UNSUPPORTED_MEDIA_TYPE, unsupported_media_type);
BABYSEA_PIN(BABYSEA_URL_FORBIDDEN, url_forbidden);
BABYSEA_PIN(BABYSEA_INVALID_SIGNATURE, invalid_signature);
BABYSEA_PIN(BABYSEA_PROVIDERS_FAILED, providers_failed);
BABYSEA_PIN(BABYSEA_PROVIDER_TIMEOUT, provider_timeout);
BABYSEA_PIN(BABYSEA_UNAVAILABLE, unavailable);
BABYSEA_PIN(BABYSEA_STORAGE_ERROR, storage_error);
BABYSEA_PIN(BABYSEA_CORRUPTION, corruption);
BABYSEA_PIN(BABYSEA_INTERNAL, internal);
BABYSEA_PIN(BABYSEA_INVALID_AMOUNT, invalid_amount);
BABYSEA_PIN(BABYSEA_CANCELED, canceled);
BABYSEA_PIN(BABYSEA_TIMEOUT, timeout);
BABYSEA_PIN(BABYSEA_UNSUPPORTED, unsupported);
#undef BABYSEA_PIN

LastError& last_error() noexcept {
  thread_local LastError last;
  return last;
}

Status text_argument(const char* text, std::string_view what) {
  if (text == nullptr) return null_argument(what);
  if (!simdjson::validate_utf8(text, std::strlen(text))) {
    return Status(Code::invalid_request, std::string(what) + " must be valid UTF-8");
  }
  return Status();
}

std::string error_document(const Status& status) {
  return render::error_document({}, 0, status, wire_error(status.code()).bse);
}

char* dup_out(std::string_view text) noexcept {
  auto* p = static_cast<char*>(std::malloc(text.size() + 1));
  if (p == nullptr) return nullptr;
  if (!text.empty()) std::memcpy(p, text.data(), text.size());
  p[text.size()] = '\0';
  return p;
}

int fail(const void* engine, char** out, const Status& status) noexcept {
  int code = static_cast<int>(status.code());
  if (code == 0) code = static_cast<int>(Code::internal);  // a failure is never "ok"
  auto& last = last_error();
  last.engine = engine;
  last.code = code;
  try {
    last.message = text::valid_utf8(status.message());
    last.json = error_document(status);
  } catch (...) {
    // Out of memory while describing the error: keep the code, drop the text.
    last.message.clear();
    last.json.clear();
  }
  if (out != nullptr) *out = last.json.empty() ? nullptr : dup_out(last.json);
  return code;
}

int answer(const void* engine, char** out, const Reply& reply) noexcept {
  if (reply.ok()) return succeed(engine, out, reply.body);
  int code = static_cast<int>(reply.code);
  auto& last = last_error();
  last.engine = engine;
  last.code = code;
  try {
    last.message = reply.message;
    last.json = reply.body;
  } catch (...) {
    last.message.clear();
    last.json.clear();
  }
  if (out != nullptr) *out = last.json.empty() ? nullptr : dup_out(last.json);
  return code;
}

int succeed(const void* engine, char** out, std::string_view result) noexcept {
  auto& last = last_error();
  if (out != nullptr) {
    *out = dup_out(result);
    if (*out == nullptr) return fail(engine, nullptr, Status(Code::internal, "out of memory"));
  }
  last.engine = engine;
  last.code = 0;
  last.message.clear();
  last.json.clear();
  return 0;
}

Status null_argument(std::string_view what) {
  return Status(Code::invalid_request, std::string(what) + " must not be NULL");
}

}  // namespace babysea::capi

extern "C" {

const char* babysea_version(void) { return BABYSEA_VERSION_STRING; }

int babysea_version_number(void) { return BABYSEA_VERSION_NUMBER; }

const char* babysea_error_name(int code) {
  // code_name returns views of string literals, so data() is NUL-terminated.
  return babysea::code_name(static_cast<babysea::Code>(code)).data();
}

void babysea_free(void* ptr) { std::free(ptr); }

const char* babysea_engine_last_error(const babysea_engine_t* engine) {
  const auto& last = babysea::capi::last_error();
  if (last.engine != engine || last.code == 0) return "";
  return last.message.c_str();
}

int babysea_engine_last_error_code(const babysea_engine_t* engine) {
  const auto& last = babysea::capi::last_error();
  return last.engine == engine ? last.code : 0;
}

const char* babysea_engine_last_error_json(const babysea_engine_t* engine) {
  const auto& last = babysea::capi::last_error();
  if (last.engine != engine || last.code == 0) return "";
  return last.json.c_str();
}

}  // extern "C"
