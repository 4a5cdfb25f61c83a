// Internal: compiled provider bridges and value checks shared by the catalog
// loader (defaults) and the normalizer (requests).
//
// A bridge is a tree of nodes evaluated against a model's canonical field
// values to produce one provider-native JSON payload:
//   field    {"from": "generation_x", "index"?, "map"?, "map_partial"?,
//             "negate"?, "scale"?, "as"?, "format"?}
//   constant {"const": <any JSON>}
//   object   {"object": {"native_key": node, ...}}   (absent members dropped)
//   array    {"array": [node, ...]}                   (absent items dropped)
// A node is absent when its source field is absent (or the indexed element
// does not exist, or the list is empty); an object/array whose field-derived
// members are all absent is absent (constants alone do not keep it; a
// container of constants only is always present). The payload root is an
// object node and is always written.
//
// Thread safety: compiled bridges are immutable after load.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/catalog.hpp"
#include "json/json.hpp"

namespace babysea::detail {

struct CompiledPattern {
  std::regex regex;
};

struct BridgeMember;

struct BridgeNode {
  enum class Kind { field, constant, object, array };
  enum class As { keep, string, integer, number };
  Kind kind = Kind::constant;
  // field
  int field = -1;
  std::optional<std::size_t> index;
  std::vector<std::pair<std::string, std::string>> map;  // canonical text -> raw JSON
  bool map_partial = false;
  bool negate = false;
  std::int64_t scale = 1;
  As as = As::keep;
  std::string format;  // contains "{}"
  // constant
  std::string raw;
  // object
  std::vector<BridgeMember> members;
  // array
  std::vector<BridgeNode> items;
};

struct BridgeMember {
  std::string first;  // native key
  BridgeNode second;
};

struct Bridge {
  BridgeNode payload;  // Kind::object
};

// Whether `node` yields a value for `values` (indexed like Model::fields).
bool node_present(const BridgeNode& node, const FieldValue* values) noexcept;
// Writes the payload object for `values`.
void write_payload(const Bridge& bridge, const FieldValue* values, json::JsonWriter& writer);

// Canonical text of a scalar value used for bridge map keys ("5", "2.5",
// "true", "jpg").
std::string canonical_text(const FieldValue& value);

// Checks a typed value against a field's domain, appending issues with the
// codes of specs/normalizer.md (the value already has the field's kind,
// except that an integer value is accepted for number fields).
void check_value(const FieldSpec& spec, const FieldValue& value, std::vector<FieldIssue>& issues);

// babysea's syntactic URL rule: http:// or https:// (case-insensitive), a
// non-empty host without spaces, no userinfo, no CR/LF, RFC 3986 syntax
// (Boost.URL), at most kMaxUrlBytes. Returns an empty string when valid, else
// the reason.
inline constexpr std::size_t kMaxUrlBytes = 2048;
std::string_view url_syntax_problem(std::string_view url) noexcept;

// Whether a key names something a customer may never set (webhook secrets,
// provider keys, regions, prices, accounts...).
bool is_server_controlled_name(std::string_view name) noexcept;

}  // namespace babysea::detail
