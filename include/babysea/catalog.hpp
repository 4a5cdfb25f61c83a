// babysea/catalog.hpp — models, capabilities, pricing and provider bridges.
//
// A `Catalog` is an immutable snapshot loaded from JSON data files (never
// hard-coded): `providers.json` (known provider ids), `models.json` (models,
// capabilities, model-specific fields, pricing, provider stacks) and
// `bridges.json` (one bridge per model × provider: the provider-native model
// id, what that provider supports, how the canonical request maps onto the
// provider's native payload, and `source`, the https page of the provider's
// documented schema the native field names were taken from). Loading validates everything and reports every
// problem at once; a catalog that loads is internally consistent (defaults
// inside their domains, prices > 0, model capabilities within every provider's
// limits, every declared field expressible by every bridge).
//
// Ownership: catalogs are shared as `std::shared_ptr<const Catalog>`; a
// `Model` pointer is valid as long as its catalog snapshot lives.
// `CatalogStore` publishes a new snapshot atomically; requests already holding
// the old snapshot keep it until they finish (reload never drops work).
//
// Thread safety: a Catalog is immutable and safe for concurrent use;
// CatalogStore is safe for concurrent use.
//
// Codes: load → invalid_request (with issues: field = JSON path in the data,
// code = definition_error | invalid_default), payload_too_large, not_found
// (missing file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "babysea/money.hpp"
#include "babysea/status.hpp"

namespace babysea {

namespace detail {
struct Bridge;          // compiled payload mapping (src/catalog/bridge.hpp)
struct CompiledPattern; // compiled ECMAScript regex
}  // namespace detail

enum class ModelType { image, video };
std::string_view model_type_name(ModelType type) noexcept;

// The eight field kinds of the normalizer (specs/normalizer.md §1.1).
enum class FieldType { string, url, enumeration, number_enum, number, integer, boolean, url_array };
std::string_view field_type_name(FieldType type) noexcept;

// A canonical field value. monostate = absent. integer fields hold int64;
// number and number_enum fields hold double; url_array holds the URL list.
using FieldValue =
    std::variant<std::monostate, bool, std::int64_t, double, std::string, std::vector<std::string>>;

// One public `generation_*` field of a model. Value type.
struct FieldSpec {
  std::string name;
  FieldType type = FieldType::string;
  bool required = false;
  bool core = true;                   // derived from capabilities (false: model-specific)
  FieldValue default_value;           // monostate: no default
  std::vector<std::string> values;    // enumeration
  std::vector<double> number_values;  // number_enum
  std::optional<double> min, max;     // number / integer, inclusive
  std::optional<std::size_t> min_length, max_length;  // string, in code points
  std::string pattern;                // string: ECMAScript regex, unanchored search
  std::optional<std::size_t> min_items, max_items;    // url_array
  std::string description;
  std::shared_ptr<const detail::CompiledPattern> compiled_pattern;  // set when pattern is
};

struct Capabilities {
  bool prompt_required = true;
  std::size_t prompt_max_length = 2000;  // code points
  std::vector<std::string> ratios;
  std::string default_ratio;
  std::vector<std::string> output_formats;
  std::string default_output_format;
  std::int64_t max_outputs = 1;
  std::int64_t min_input_files = 0;
  std::int64_t max_input_files = 0;
  bool last_frame = false;             // generation_input_file_last_content (video)
  std::vector<std::int64_t> durations; // seconds; non-empty for video
  std::vector<std::string> resolutions;
  std::string default_resolution;
  bool audio = false;                  // generation_generate_audio
};

enum class PriceUnit { per_generation, per_second };

// Prices are exact integers in micro-credits. Either flat (`flat` set) or
// per tier: the tier key is the resolution, suffixed `_audio`/`_noaudio`
// when the model supports audio (or just `audio`/`noaudio` without
// resolutions), e.g. "720p", "1080p_audio".
struct Pricing {
  PriceUnit unit = PriceUnit::per_generation;
  std::optional<Micros> flat;
  std::map<std::string, Micros, std::less<>> tiers;
};

// What one provider offers for one model (canonical values), used to check
// that the public capabilities are an intersection, never a union.
struct ProviderLimits {
  std::vector<std::string> ratios;
  std::vector<std::string> output_formats;
  std::int64_t max_outputs = 1;
  std::int64_t max_input_files = 0;
  bool last_frame = false;
  std::vector<std::int64_t> durations;
  std::vector<std::string> resolutions;
  bool audio = false;
  std::size_t prompt_max_length = 0;
};

struct ProviderBinding {
  std::string provider;      // e.g. "replicate"
  std::string native_model;  // provider-native model id, e.g. "black-forest-labs/flux-schnell"
  std::string endpoint;      // provider-specific route hint (may be empty), e.g. "image_to_video"
  ProviderLimits limits;
  std::shared_ptr<const detail::Bridge> bridge;
};

struct Model {
  std::string identifier;  // "<lab>/<model>", e.g. "bfl/flux-schnell"
  ModelType type = ModelType::image;
  std::string display_name;
  Capabilities capabilities;
  std::vector<FieldSpec> fields;  // core fields first, then model-specific, in order
  Pricing pricing;
  std::vector<std::string> providers;               // supported provider ids
  std::vector<std::string> default_provider_order;  // full order used for `fastest`
  std::vector<std::string> provider_orders;         // advertised order strings
  std::vector<ProviderBinding> bindings;            // same order as `providers`

  // Index into `fields`, or -1.
  int field_index(std::string_view name) const noexcept;
  const FieldSpec* field(std::string_view name) const noexcept;
  const ProviderBinding* binding(std::string_view provider) const noexcept;
  // Tier key for (resolution, audio) per Pricing's rule; "" for flat pricing.
  std::string tier_key(std::string_view resolution, bool audio) const;
};

// A provider's profile (data/providers.json; specs/api.md §8.1).
struct ProviderInfo {
  std::string id;
  std::string display_name;
  std::string description;
  std::string website;                // https URL
  std::string docs;                   // https URL
  std::string delivery_method;        // webhook_with_polling | synchronous | polling
  std::string cancel_method;          // prediction_cancel_api | queue_cancel_api | "" (none)
  std::string webhook_verification;   // hmac_sha256 | ed25519 | "" (no callbacks)
};

class Catalog {
 public:
  // Loads `providers.json`, `models.json` and `bridges.json` from `dir`.
  static Result<std::shared_ptr<const Catalog>> load_directory(const std::filesystem::path& dir);
  // Same, from the three documents' text.
  static Result<std::shared_ptr<const Catalog>> load_json(std::string_view providers_json,
                                                          std::string_view models_json,
                                                          std::string_view bridges_json);

  // nullptr when unknown.
  const Model* find(std::string_view model_identifier) const noexcept;
  const std::vector<Model>& models() const noexcept { return models_; }
  const std::vector<ProviderInfo>& providers() const noexcept { return providers_; }

 private:
  Catalog() = default;
  friend struct CatalogLoader;
  std::vector<ProviderInfo> providers_;
  std::vector<Model> models_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// Holds the current catalog snapshot and swaps it on reload.
class CatalogStore {
 public:
  explicit CatalogStore(std::shared_ptr<const Catalog> initial);
  CatalogStore(const CatalogStore&) = delete;
  CatalogStore& operator=(const CatalogStore&) = delete;

  // The current snapshot (never null).
  std::shared_ptr<const Catalog> snapshot() const;
  // Loads and validates `dir`; on success publishes it, on failure keeps the
  // current snapshot and returns the load error.
  Status reload_directory(const std::filesystem::path& dir);
  // Publishes `next` (ignored when null).
  void replace(std::shared_ptr<const Catalog> next);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Catalog> current_;
};

}  // namespace babysea
