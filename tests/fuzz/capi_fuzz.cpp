// Fuzz target: the JSON-taking entry points of the C ABI.
// Input: one selector byte, then the payload (for two-part entry points the
// payload is split at the first '\n'). Properties: never crashes; every call
// returns a pinned code (0..24); every output is one valid JSON document (the
// success envelope or the error envelope) whose BSE code matches the return value;
// the thread's last error agrees with the return value.
//
// The engine is built once over a memory store with no providers and no
// workers, and its only account has no credits, so submits stop at the
// normalizer, the estimate or the hold and the store does not grow.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "babysea.h"
#include "babysea/service.hpp"
#include "json/strict.hpp"

namespace {

constexpr const char* kConfig =
    R"({"api_key_pepper":"fuzz pepper, at least thirty-two bytes long",)"
    R"("database":{"engine":"memory"},)"
    R"("assets":{"directory":"/tmp/babysea-capi-fuzz-assets","public_base_url":"https://app.us.babysea.ai/f"},)"
    R"("stripe":{"endpoint_secrets":["whsec_fuzz"],"packs":[{"price_id":"price_1","credits":"1"}]},)"
    R"("engine":{"start_workers":false,"threads":1},"webhooks":{"enabled":false}})";

[[noreturn]] void broken(const char* what, int rc, const char* out) {
  std::fprintf(stderr, "capi_fuzz: %s (rc %d): %s\n", what, rc, out == nullptr ? "(null)" : out);
  std::abort();
}

struct Env {
  babysea_engine_t* engine = nullptr;
  std::string key;
  Env() {
    if (babysea_engine_create(kConfig, &engine) != 0) {
      std::fprintf(stderr, "capi_fuzz: engine_create: %s\n", babysea_engine_last_error(nullptr));
      std::abort();
    }
    char* out = nullptr;
    int rc = babysea_api_key_issue(engine, "acct_fuzz", R"({"scopes":"full_access"})", &out);
    if (rc != 0) broken("api_key_issue", rc, out);
    auto v = babysea::json::parse_strict(out);
    babysea_free(out);
    const auto* data = v.ok() ? v->find("data") : nullptr;
    if (data == nullptr || data->find("key") == nullptr) std::abort();
    key = data->find("key")->string;
  }
};

Env& env() {
  static Env e;
  return e;
}

// The output is valid JSON, and an error document exactly when rc != 0.
void check(babysea_engine_t* engine, int rc, char* out) {
  if (rc < 0 || rc > 24) broken("code out of range", rc, out);
  if (babysea_engine_last_error_code(engine) != rc) broken("last error code differs", rc, out);
  if (out == nullptr) broken("no output", rc, out);
  auto v = babysea::json::parse_strict(out);
  if (!v.ok() || !v->is_object()) broken("output is not a JSON object", rc, out);
  const auto* err = v->find("error");
  if ((rc != 0) != (err != nullptr)) broken("error document iff failure", rc, out);
  const auto* status = v->find("status");
  if (status == nullptr || status->string != (rc != 0 ? "error" : "success")) broken("envelope status", rc, out);
  if (err != nullptr) {
    // The BSE code of the returned Code (the REST API's error envelope).
    const auto* code = err->find("code");
    const std::string bse = babysea::wire_error(static_cast<babysea::Code>(rc)).bse;
    const bool route_mismatch = code != nullptr && code->string == "BSE2006" && rc == 1;  // api.md: a 400 of its own
    if (code == nullptr || !code->is_string() || (code->string != bse && !route_mismatch))
      broken("error code differs", rc, out);
    const auto* type = err->find("type");
    if (type == nullptr || !type->is_string() || type->string.empty()) broken("no error type", rc, out);
    if (const auto* details = err->find("details")) {
      const auto* issues = details->find("issues");
      if (issues == nullptr || !issues->is_array()) broken("details without an issues array", rc, out);
    }
    if (std::strcmp(babysea_engine_last_error_json(engine), out) != 0) broken("last error json differs", rc, out);
  }
  babysea_free(out);
}

// Configuration documents that name files or directories, or a PostgreSQL
// server, are not fuzzed (they would create them, or connect out and wait);
// everything else goes through Runtime::open.
bool names_files(std::string_view text) {
  for (std::string_view word : {"path", "directory", "ca_file", "sqlite", "postgres"}) {
    if (text.find(word) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Env& e = env();
  const int selector = data[0] % 10;
  std::string payload(reinterpret_cast<const char*>(data + 1), size - 1);
  if (payload.find('\0') != std::string::npos && selector != 7 && selector != 8) return 0;
  const auto nl = payload.find('\n');
  std::string first = nl == std::string::npos ? payload : payload.substr(0, nl);
  std::string second = nl == std::string::npos ? std::string() : payload.substr(nl + 1);
  char* out = nullptr;
  int rc = 0;
  switch (selector) {
    case 0: {
      if (names_files(payload)) return 0;
      babysea_engine_t* created = nullptr;
      rc = babysea_engine_create(payload.c_str(), &created);
      if ((rc == 0) != (created != nullptr)) std::abort();
      babysea_engine_destroy(created);
      break;
    }
    case 1:
      rc = babysea_generation_submit(e.engine, e.key.c_str(), "bfl/flux-schnell", payload.c_str(),
          nullptr, nullptr, &out);
      check(e.engine, rc, out);
      break;
    case 2:
      rc = babysea_generation_submit(e.engine, e.key.c_str(), first.c_str(), second.c_str(), "fz-1",
          R"({"type":"image"})", &out);
      check(e.engine, rc, out);
      break;
    case 3:
      rc = babysea_generation_submit(e.engine, e.key.c_str(), "bfl/flux-schnell",
          R"({"generation_prompt":"x"})", nullptr, payload.c_str(), &out);
      check(e.engine, rc, out);
      break;
    case 4:
      rc = babysea_estimate(e.engine, e.key.c_str(), first.c_str(), second.c_str(), &out);
      check(e.engine, rc, out);
      break;
    case 5:
      rc = babysea_api_key_issue(e.engine, "acct_fuzz_keys", payload.c_str(), &out);
      check(e.engine, rc, out);
      break;
    case 6:
      rc = babysea_credits_grant(e.engine, "acct_fuzz_grants", payload.c_str(), "fz-grant", &out);
      check(e.engine, rc, out);
      break;
    case 7:
      rc = babysea_provider_callback(e.engine, "replicate", first.c_str(), second.data(), second.size(),
          &out);
      check(e.engine, rc, out);
      break;
    case 8:
      rc = babysea_stripe_event(e.engine, first.c_str(), second.data(), second.size(), &out);
      check(e.engine, rc, out);
      break;
    case 9:
      // Any operation by name; not the OpenAI route, which waits for a
      // terminal state this engine (no workers) never reaches.
      if (first == "openai.images") return 0;
      rc = babysea_api_call(e.engine, e.key.c_str(), first.c_str(), second.c_str(), &out);
      check(e.engine, rc, out);
      break;
  }
  return 0;
}
