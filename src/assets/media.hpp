// Internal helpers shared by the asset stores: generation-id checks, media
// types (normalizing, allow-lists, magic-byte sniffing, file extensions) and
// the preparation of one output's bytes. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/assets.hpp"
#include "babysea/provider.hpp"
#include "babysea/status.hpp"

namespace babysea::assets {

// 1-128 characters of [A-Za-z0-9_-]: never ".", "..", a separator or empty.
bool safe_component(std::string_view id) noexcept;
Status check_generation_id(std::string_view id);

// "Image/PNG; charset=x" -> "image/png" (no parameters, trimmed, lowercase).
std::string media_type(std::string_view header_value);
bool type_allowed(const std::vector<std::string>& allowed, std::string_view type);

// The type the bytes' signature says ("image/png", "image/jpeg",
// "image/webp", "image/gif", "video/mp4", "video/quicktime", "video/webm"),
// or "" when unknown.
std::string_view sniff(std::string_view bytes) noexcept;
// Whether `bytes` may be of `type`: types with a known signature must have
// it (mp4 and quicktime share one family); other types are not checked.
bool matches_signature(std::string_view type, std::string_view bytes) noexcept;
// "png", "jpg", "webp", "gif", "mp4", "mov", "webm", ...; "bin" when unknown.
std::string_view extension_for(std::string_view type) noexcept;

struct Limits {
  std::size_t max_bytes = 0;
  std::vector<std::string> allowed;
};

// Checks one output's bytes against the limits; `declared` is the type the
// output or the HTTP answer gave ("" lets inline data be sniffed when
// `may_sniff`). Returns the media type to store it under.
// Codes: payload_too_large, unsupported_media_type, invalid_request (empty).
Result<std::string> classify(std::size_t index, std::string_view declared, std::string_view bytes, bool may_sniff,
                             const Limits& limits);

// base + "/" + generation + "/" + file, with trailing '/' of base dropped.
std::string public_url(std::string_view base, std::string_view generation, std::string_view file);

// "outputs[3]" (for FieldIssue.field and messages).
std::string output_field(std::size_t index);

// The stores' client_url(): `url` signed by `signer` at `now_ms`, or `url`
// unchanged when there is no signer (or it cannot be parsed: it then fails
// verification rather than being served unsigned).
std::string client_url(const AssetUrlSigner* signer, std::string_view url, std::int64_t now_ms);

// `url` without its query and fragment.
std::string_view without_query(std::string_view url) noexcept;

}  // namespace babysea::assets
