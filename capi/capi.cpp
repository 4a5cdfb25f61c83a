// Implementation of the C ABI's process-wide functions and of the boundary
// helpers (capi_internal.hpp): no exception crosses the boundary.
#include <cstdlib>

#include "babysea.h"
#include "babysea/status.hpp"
#include "capi_internal.hpp"
#include "json/json.hpp"

namespace babysea::capi {

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

std::string valid_utf8(std::string_view text) {
  if (simdjson::validate_utf8(text.data(), text.size())) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    // The longest valid sequence starting here (1..4 bytes), else one bad byte.
    std::size_t len = 0;
    for (std::size_t n = 1; n <= 4 && i + n <= text.size(); ++n) {
      if (simdjson::validate_utf8(text.data() + i, n)) {
        len = n;
        break;
      }
    }
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string error_document(const Status& status) {
  json::JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("code", static_cast<int>(status.code()));
  w.field("type", code_name(status.code()));
  w.field("message", valid_utf8(status.message()));
  w.field("retryable", status.retryable());
  w.key("issues").begin_array();
  for (const auto& issue : status.issues()) {
    w.begin_object();
    w.field("field", valid_utf8(issue.field));
    w.field("code", valid_utf8(issue.code));
    w.field("message", valid_utf8(issue.message));
    w.end_object();
  }
  w.end_array();
  w.end_object().end_object();
  return std::move(w).take();
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
    last.message = valid_utf8(status.message());
    last.json = error_document(status);
  } catch (...) {
    // Out of memory while describing the error: keep the code, drop the text.
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

Result<json::Value> parse_object_arg(const char* text, std::string_view what, bool optional) {
  if (text == nullptr || *text == '\0') {
    if (!optional) return null_argument(what);
    json::Value empty;
    empty.kind = json::Value::Kind::object;
    return empty;
  }
  auto parsed = json::parse_strict(text);
  if (!parsed.ok()) {
    return Status(Code::invalid_request, std::string(what) + ": " + std::string(parsed.status().message()));
  }
  if (!parsed->is_object()) return Status(Code::invalid_request, std::string(what) + " must be a JSON object");
  return std::move(parsed).value();
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
