// Text helpers shared by every front door and the service layer: RFC 3339
// timestamps, ASCII case-insensitive comparison, strict decimal integers,
// header values, base64. One place for each (DESIGN.md §7).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace babysea::text {

// "2026-12-04T21:01:49.123Z" (UTC, milliseconds) from unix milliseconds.
std::string rfc3339_ms(std::int64_t unix_ms);

// ASCII case-insensitive equality (header names, media types, schemes).
bool iequals(std::string_view a, std::string_view b) noexcept;
// ASCII case-insensitive prefix test.
bool istarts_with(std::string_view s, std::string_view prefix) noexcept;

// `s` without leading and trailing spaces and tabs (HTTP optional whitespace).
std::string_view trim_ows(std::string_view s) noexcept;

// A decimal integer of at most 18 digits (optional leading '-'), the whole
// text; nullopt for anything else ("", "+1", "1.0", " 1", "0x1").
std::optional<std::int64_t> parse_int(std::string_view s) noexcept;

// Whether a Content-Type value names JSON in UTF-8: `application/json`,
// optionally with one `charset=utf-8` parameter (case-insensitive, bare or
// quoted). Another charset, another parameter or a malformed list is refused.
bool json_media_type(std::string_view value) noexcept;

// `text` with every invalid UTF-8 sequence replaced by U+FFFD, so documents
// built from it are always valid JSON text.
std::string valid_utf8(std::string_view text);

// Standard base64 (RFC 4648 §4, padded), through libsodium.
std::string base64(std::string_view bytes);

}  // namespace babysea::text
