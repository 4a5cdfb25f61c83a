// babysea/schema.hpp — the request normalizer and cost estimates.
//
// `normalize()` turns one unified `generation_*` JSON body for one catalog
// model into an immutable `NormalizedRequest`: validated strictly (see
// specs/normalizer.md), defaults applied to absent fields only, a stable
// fingerprint, the resolved provider order and the provider-native payload
// JSON per provider. It is pure: no I/O, no clock, no randomness (the optional
// UrlPolicy is the caller's code). `estimate()` prices a model/request in
// integer micro-credits; the engine reserves exactly `cost_total`.
//
// Ownership: a NormalizedRequest keeps its catalog snapshot alive; views it
// returns live as long as the request. Options' `url_policy` is borrowed for
// the call.
//
// Thread safety: free functions are safe to call concurrently (each thread
// uses its own parser); a NormalizedRequest is immutable and safe to share.
//
// Codes: normalize → model_not_found (unknown model), payload_too_large (body
// over the limit), invalid_request (everything else, with issues()),
// url_forbidden (every issue came from the UrlPolicy). estimate →
// invalid_request (with issues), invalid_amount (overflow).
//
// Issue codes (FieldIssue::code), stable: invalid_json (body is not one
// strict JSON object: syntax, trailing bytes, invalid UTF-8, NUL, nesting,
// non-object), duplicate_field, invalid_type, unsupported_value,
// missing_required, unknown_field, min_value, max_value, min_length,
// max_length, min_items, max_items, pattern_mismatch, invalid_url,
// url_forbidden.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/catalog.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

// Extension point for URL fields (generation_input_file, ...): called for
// every URL that passed babysea's syntactic check (http/https, host, Boost.URL
// syntax). The network-level SSRF guard plugs in here. Return a non-OK Status
// to refuse the URL; its message becomes the issue message (issue code
// `url_forbidden`). Implementations must be safe for concurrent use and must
// not block for long: normalize() is on the request path.
class UrlPolicy {
 public:
  virtual ~UrlPolicy() = default;
  virtual Status check(std::string_view field, std::string_view url) const = 0;
  // What is checked is what is used: the normalizer stores and forwards the
  // URL this returns in place of the one the client sent. The default runs
  // check() and keeps `url` as is; the SSRF guard returns its normalized form.
  virtual Result<std::string> normalize(std::string_view field, std::string_view url) const {
    Status s = check(field, url);
    if (!s.ok()) return s;
    return std::string(url);
  }
};

enum class PayloadMode {
  all_providers,   // render the native payload of every provider in the order
  first_provider,  // only the first provider of the resolved order
  none,            // none (render later with render_native_payload)
};

struct NormalizeOptions {
  // Behaviour.
  bool strict = true;  // unknown fields are errors; false drops them silently
                       // (server-controlled names are refused either way)
  std::optional<ModelType> expected_type;  // route check: image vs video
  const UrlPolicy* url_policy = nullptr;   // borrowed; nullptr = syntax only
  PayloadMode payloads = PayloadMode::all_providers;
  // Limits (all refusals are precise issues, never truncation).
  std::size_t max_body_bytes = 64 * 1024;  // payload_too_large above
  std::size_t max_depth = 8;               // nesting of the body (object = 1)
  std::size_t max_string_bytes = 32 * 1024;
  std::size_t max_array_items = 64;
  std::size_t max_fields = 128;            // members of the top-level object
};

struct NativePayload {
  std::string provider;      // provider id
  std::string native_model;  // provider-native model id
  std::string endpoint;      // provider route hint (may be empty)
  std::string json;          // the provider-native request body
};

class NormalizedRequest {
 public:
  const Model& model() const noexcept { return *model_; }
  const std::shared_ptr<const Catalog>& catalog() const noexcept { return catalog_; }

  // Canonical value of a declared field after defaults; nullptr if the field
  // is unknown to the model, monostate if absent.
  const FieldValue* value(std::string_view field) const noexcept;
  const std::vector<FieldValue>& values() const noexcept { return values_; }

  // Typed views of the common fields (empty/absent when the model lacks them).
  std::string_view prompt() const noexcept;
  std::string_view ratio() const noexcept;
  std::string_view output_format() const noexcept;
  std::int64_t output_number() const noexcept;
  const std::vector<std::string>& input_files() const noexcept;
  std::optional<std::int64_t> duration_seconds() const noexcept;
  std::string_view resolution() const noexcept;
  bool generate_audio() const noexcept;

  // Resolved failover order. `fastest` → the model's default order (the
  // router may re-rank it); an explicit list is pinned exactly as given.
  const std::vector<std::string>& provider_order() const noexcept { return provider_order_; }
  bool provider_order_fastest() const noexcept { return fastest_; }

  // The normalized body: every present field in declaration order (defaults
  // applied, provider order normalised to "fastest" or "a,b"). Key order of
  // the input never changes it.
  const std::string& canonical_json() const noexcept { return canonical_; }
  // BLAKE2b-256 of "babysea.request.v1\n" + model id + "\n" + canonical_json().
  const std::array<std::uint8_t, 32>& fingerprint() const noexcept { return fingerprint_; }
  std::string fingerprint_hex() const;

  // Payloads rendered per NormalizeOptions::payloads, in provider order.
  const std::vector<NativePayload>& native_payloads() const noexcept { return payloads_; }
  const NativePayload* native_payload(std::string_view provider) const noexcept;

 private:
  friend struct NormalizerImpl;
  std::shared_ptr<const Catalog> catalog_;
  const Model* model_ = nullptr;
  std::vector<FieldValue> values_;
  std::vector<std::string> provider_order_;
  bool fastest_ = true;
  std::string canonical_;
  std::array<std::uint8_t, 32> fingerprint_{};
  std::vector<NativePayload> payloads_;
};

// Validates `body` (one JSON object) for `model_identifier` in `catalog`.
// REQUIRES: catalog != nullptr.
Result<NormalizedRequest> normalize(const std::shared_ptr<const Catalog>& catalog,
                                    std::string_view model_identifier, std::string_view body,
                                    const NormalizeOptions& options = {});

// Renders the native payload of `provider` for an already-normalized request.
// Codes: invalid_request (issue unsupported_value, field "provider") when the
// model has no such provider.
Result<NativePayload> render_native_payload(const NormalizedRequest& request, std::string_view provider);

// --- estimates ---------------------------------------------------------------

struct EstimateParams {
  std::int64_t count = 1;                         // outputs (generation_output_number)
  std::optional<std::int64_t> duration_seconds;   // required for per-second pricing
  std::optional<std::string> resolution;          // default: the model's default
  std::optional<bool> audio;                      // default: false
  std::optional<Micros> balance;                  // account available balance
};

struct Estimate {
  std::string model_identifier;
  ModelType model_type = ModelType::image;
  std::int64_t assets_count = 1;
  std::string tier;                               // "" for flat pricing
  std::optional<Micros> cost_per_second;          // per-second pricing only
  std::optional<std::int64_t> duration_seconds;   // per-second pricing only
  std::optional<std::string> resolution;          // models with resolutions
  std::optional<bool> audio;                      // models with audio
  Micros cost_per_generation = 0;                 // one output
  Micros cost_total = 0;                          // cost_per_generation × count: the hold
  std::optional<Micros> balance;
  std::optional<bool> can_afford;                 // balance ≥ cost_total
  std::optional<std::int64_t> max_affordable;     // floor(balance / cost_per_generation), ≥ 0
};

// Prices `params` for `model`. Issues use the generation_* field names.
Result<Estimate> estimate(const Model& model, const EstimateParams& params);
// Prices a normalized request (count, duration, resolution, audio from it).
Result<Estimate> estimate(const NormalizedRequest& request, std::optional<Micros> balance = std::nullopt);

}  // namespace babysea
